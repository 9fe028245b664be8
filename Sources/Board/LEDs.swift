import Core

/// How an LED shows something: lit or not at each moment, with the next moment that changes.
public enum LEDPattern: Equatable, Sendable {
    case off, on
    /// 1 Hz: searching.
    case slowBlink
    /// 4 Hz: connecting, or an authentication failure.
    case fastBlink

    private var halfPeriod: Microseconds? {
        switch self {
        case .off, .on: nil
        case .slowBlink: 500_000
        case .fastBlink: 125_000
        }
    }

    /// Lit at `now`; a blink is lit in the first half of each period, counted from `since`
    /// (when the pattern began), so a new pattern starts lit and is seen at once.
    public func isLit(at now: Microseconds, since: Microseconds) -> Bool {
        guard let half = halfPeriod else { return self == .on }
        return (max(0, now - since) / half) % 2 == 0
    }

    /// When the LED next changes, for the owner's timer; nil when it holds.
    public func nextChange(after now: Microseconds, since: Microseconds) -> Microseconds? {
        guard let half = halfPeriod else { return nil }
        return since + (max(0, now - since) / half + 1) * half
    }
}

/// What the receiver is doing, as its status LED shows it.
public enum SpeakerActivity: Equatable, Sendable {
    case idle, searching, connecting, authenticationFailed, playing

    public var statusLED: LEDPattern {
        switch self {
        case .idle: .off
        case .searching: .slowBlink
        case .connecting, .authenticationFailed: .fastBlink
        case .playing: .on
        }
    }
}

/// The buffer-health LED: solid while the buffer is healthy, blinking for a while after an
/// underrun, off while it holds less than a quarter of what it should.
public struct BufferHealthLED: Sendable {
    /// How long an underrun keeps the LED blinking.
    public static let underrunShown: Microseconds = 10_000_000
    private var lastUnderrun: Microseconds?
    private var underruns = 0

    public init() {}

    /// `health`: how full the buffer is, 0…1; `underruns`: the count so far (a rise is news).
    public mutating func pattern(health: Double?, underruns: Int, now: Microseconds) -> LEDPattern {
        if underruns > self.underruns { lastUnderrun = now }
        self.underruns = underruns
        guard let health else { return .off }
        if let last = lastUnderrun, now - last < Self.underrunShown { return .slowBlink }
        return health < 0.25 ? .off : .on
    }
}

/// The amplifier's power line: on before the first sound, off after `idle` without any.
public struct AmplifierPower: Sendable {
    public let idle: Microseconds
    public private(set) var isOn = false
    private var silentSince: Microseconds?

    public init(idle: Microseconds) { self.idle = idle }

    /// The stream is about to play (or plays): on now.
    public mutating func sound() {
        isOn = true
        silentSince = nil
    }

    /// Nothing plays from `now` on (the first call starts the idle time).
    public mutating func silence(at now: Microseconds) {
        if silentSince == nil { silentSince = now }
    }

    /// Whether the idle time has run out by `now` (then off).
    public mutating func poll(_ now: Microseconds) {
        if isOn, let since = silentSince, now - since >= idle { isOn = false }
    }

    /// When `poll` next has something to do.
    public var nextDeadline: Microseconds? { isOn ? silentSince.map { $0 + idle } : nil }
}
