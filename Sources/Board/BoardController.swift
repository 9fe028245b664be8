import Core
import Platform

/// What the LEDs and the amplifier show: the receiver as it is at a moment.
public struct SpeakerState: Equatable, Sendable {
    public var activity: SpeakerActivity
    /// How full the jitter buffer is against what the latency needs (0…1); nil: not playing.
    public var bufferHealth: Double?
    /// Underruns so far in this session.
    public var underruns: Int

    public init(activity: SpeakerActivity, bufferHealth: Double? = nil, underruns: Int = 0) {
        self.activity = activity
        self.bufferHealth = bufferHealth
        self.underruns = underruns
    }
}

/// A speaker's buttons, LEDs and amplifier line, driven from the receiver's reactor: the owner
/// waits on `inputs`' descriptors, calls `inputReady` when one wakes, `show` when the speaker's
/// state may have changed and `poll` at `nextDeadline`; what the buttons ask comes back as
/// actions. A line that fails is logged once and given up; the speaker plays on without it.
public final class BoardController {
    public struct Input {
        public let role: ButtonRole
        public let line: any GPIOLine
    }

    private enum OutputRole: String {
        case statusLED = "board.leds.status"
        case bufferLED = "board.leds.buffer"
        case amplifier = "board.amp_power"
    }

    private struct Output {
        let line: any GPIOLine
        var pattern = LEDPattern.off
        var since: Microseconds = 0
        /// What the line was last driven to.
        var driven = false
    }

    public private(set) var inputs: [Input?]
    private var outputs: [OutputRole: Output] = [:]
    private var buttons: Buttons
    private var bufferHealth = BufferHealthLED()
    private var amplifier: AmplifierPower
    private let log: Logger

    /// Opens every line `settings` names. One that cannot be had is logged with its key and why,
    /// and left out: the rest work. Nil when the board names no line.
    public static func open(_ settings: BoardSettings, log: Logger, timing: ButtonTiming = ButtonTiming()) -> BoardController? {
        guard !settings.isEmpty else { return nil }
        func line(_ key: String, _ spec: GPIOLineSpec?, output: Bool) -> (any GPIOLine)? {
            guard let spec else { return nil }
            do {
                return try openGPIOLine(spec, output: output, consumer: "msrecv")
            } catch {
                log.error("\(key): \(error); the speaker plays without it")
                return nil
            }
        }
        var inputs: [Input] = []
        for role in ButtonRole.allCases {
            if let l = line("board.buttons.\(role.rawValue)", settings.buttons[role.rawValue], output: false) { inputs.append(Input(role: role, line: l)) }
        }
        return BoardController(
            inputs: inputs,
            statusLED: line(OutputRole.statusLED.rawValue, settings.statusLED, output: true),
            bufferLED: line(OutputRole.bufferLED.rawValue, settings.bufferLED, output: true),
            amplifier: line(OutputRole.amplifier.rawValue, settings.amplifierPower, output: true),
            amplifierIdle: settings.amplifierIdle, timing: timing, log: log)
    }

    public init(
        inputs: [Input], statusLED: (any GPIOLine)?, bufferLED: (any GPIOLine)?, amplifier: (any GPIOLine)?,
        amplifierIdle: Microseconds, timing: ButtonTiming = ButtonTiming(), log: Logger
    ) {
        self.inputs = inputs
        self.log = log
        buttons = Buttons(timing: timing)
        self.amplifier = AmplifierPower(idle: amplifierIdle)
        for (role, line) in [(OutputRole.statusLED, statusLED), (.bufferLED, bufferLED), (.amplifier, amplifier)] {
            if let line { outputs[role] = Output(line: line) }
        }
    }

    /// Input `index`'s descriptor woke: the buttons' actions it brings. Nil when the line failed
    /// (logged): the owner stops waiting on it.
    public func inputReady(_ index: Int, now: Microseconds) -> [ButtonAction]? {
        guard let input = inputs[index] else { return nil }
        do {
            return buttons.level(input.role, pressed: try input.line.read(), at: now)
        } catch {
            log.error("board.buttons.\(input.role.rawValue): \(error); the button is given up")
            inputs[index] = nil
            return nil
        }
    }

    /// The speaker's state now: LEDs and the amplifier follow it.
    public func show(_ state: SpeakerState, now: Microseconds) {
        if state.activity == .playing { amplifier.sound() } else { amplifier.silence(at: now) }
        setPattern(.statusLED, state.activity.statusLED, now)
        setPattern(.bufferLED, bufferHealth.pattern(health: state.bufferHealth, underruns: state.underruns, now: now), now)
        drive(now)
    }

    /// What is due by `now`: button repeats and long presses, blinks, the amplifier's idle time.
    public func poll(_ now: Microseconds) -> [ButtonAction] {
        let actions = buttons.poll(now)
        amplifier.poll(now)
        drive(now)
        return actions
    }

    /// When `poll` next has something to do.
    public var nextDeadline: Microseconds? {
        let blinks = [OutputRole.statusLED, .bufferLED].compactMap { role in outputs[role].flatMap { $0.pattern.nextChange(after: lastDrive, since: $0.since) }
        }
        return (blinks + [buttons.nextDeadline, outputs[.amplifier] == nil ? nil : amplifier.nextDeadline].compactMap { $0 }).min()
    }

    private var lastDrive: Microseconds = 0

    private func setPattern(_ role: OutputRole, _ pattern: LEDPattern, _ now: Microseconds) {
        guard var output = outputs[role], output.pattern != pattern else { return }
        output.pattern = pattern
        output.since = now
        outputs[role] = output
    }

    /// Drives each output to what it should be at `now`, writing only lines that change.
    private func drive(_ now: Microseconds) {
        lastDrive = now
        for (role, var output) in outputs {
            let on = role == .amplifier ? amplifier.isOn : output.pattern.isLit(at: now, since: output.since)
            guard on != output.driven else { continue }
            do {
                try output.line.write(on)
                output.driven = on
                outputs[role] = output
            } catch {
                log.error("\(role.rawValue): \(error); the line is given up")
                outputs[role] = nil
            }
        }
    }
}
