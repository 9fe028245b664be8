import Core

/// What a speaker's buttons are for (`board.buttons`).
public enum ButtonRole: String, CaseIterable, Sendable {
    case volumeUp = "volume_up"
    case volumeDown = "volume_down"
    case playMute = "play_mute"
}

/// What the buttons ask of the speaker.
public enum ButtonAction: Equatable, Sendable {
    /// Volume up or down by this many steps of `VolumeScale`.
    case volumeStep(Int)
    /// A long press: mute, with the volume put back up by this many steps, where it was before
    /// the press stepped it down (so unmuting returns to it).
    case mute(restoringSteps: Int)
    case toggleMute
}

/// The buttons' timing, as people press them.
public struct ButtonTiming: Equatable, Sendable {
    /// A line must hold a level this long to count: contacts bounce for a few milliseconds.
    public var debounce: Microseconds = 20_000
    /// Holding volume up or down repeats its step after this long, and then this often.
    public var repeatDelay: Microseconds = 500_000
    public var repeatInterval: Microseconds = 150_000
    /// Holding volume down this long mutes.
    public var longPress: Microseconds = 2_000_000

    public init() {}
}

/// The buttons' state machine: raw line levels (with bounce) in, actions out. Time is a
/// parameter and the owner schedules `nextDeadline`, so tests drive it with a stepped clock and
/// the receiver with its reactor. No I/O.
public struct Buttons: Sendable {
    public let timing: ButtonTiming
    private var state: [ButtonRole: Line] = [:]

    private struct Line {
        /// The last level read from the line, and since when.
        var raw = false
        var rawSince: Microseconds = 0
        /// The debounced level.
        var pressed = false
        var pressedAt: Microseconds = 0
        var nextRepeat: Microseconds?
        /// Steps taken by this press (so a long press can undo them), and whether it muted.
        var steps = 0
        var muted = false
    }

    public init(timing: ButtonTiming = ButtonTiming()) { self.timing = timing }

    /// A line's level changed (true: pressed, after active-low is applied).
    public mutating func level(_ role: ButtonRole, pressed: Bool, at now: Microseconds) -> [ButtonAction] {
        var actions = poll(now)
        var line = state[role] ?? Line()
        if line.raw != pressed {
            line.raw = pressed
            line.rawSince = now
        }
        state[role] = line
        actions += settle(role, now)
        return actions
    }

    /// What is due by `now`: debounced changes, repeats, a long press.
    public mutating func poll(_ now: Microseconds) -> [ButtonAction] {
        var actions: [ButtonAction] = []
        for role in ButtonRole.allCases where state[role] != nil {
            actions += settle(role, now)
            guard var line = state[role], line.pressed, !line.muted else { continue }
            if role == .volumeDown, now - line.pressedAt >= timing.longPress {
                line.muted = true
                line.nextRepeat = nil
                state[role] = line
                actions.append(.mute(restoringSteps: line.steps))
                continue
            }
            while let due = line.nextRepeat, due <= now {
                line.steps += 1
                line.nextRepeat = due + timing.repeatInterval
                actions.append(.volumeStep(role == .volumeUp ? 1 : -1))
            }
            state[role] = line
        }
        return actions
    }

    /// The next moment `poll` has something to do, if any.
    public var nextDeadline: Microseconds? {
        var deadlines: [Microseconds] = []
        for (role, line) in state {
            if line.raw != line.pressed { deadlines.append(line.rawSince + timing.debounce) }
            guard line.pressed, !line.muted else { continue }
            if let due = line.nextRepeat { deadlines.append(due) }
            if role == .volumeDown { deadlines.append(line.pressedAt + timing.longPress) }
        }
        return deadlines.min()
    }

    /// A level that has held for the debounce time becomes the button's.
    private mutating func settle(_ role: ButtonRole, _ now: Microseconds) -> [ButtonAction] {
        guard var line = state[role], line.raw != line.pressed, now - line.rawSince >= timing.debounce else { return [] }
        line.pressed = line.raw
        var actions: [ButtonAction] = []
        if line.pressed {
            line.pressedAt = line.rawSince
            line.steps = 0
            line.muted = false
            switch role {
            case .volumeUp, .volumeDown:
                actions.append(.volumeStep(role == .volumeUp ? 1 : -1))
                line.steps = 1
                line.nextRepeat = line.pressedAt + timing.repeatDelay
            case .playMute:
                actions.append(.toggleMute)
            }
        } else {
            line.nextRepeat = nil
        }
        state[role] = line
        return actions
    }
}
