/// Turns "when does the next frame leave the DAC, against when it is due" into a resampling
/// ratio that keeps the receiver on the host's schedule whatever its sound card's crystal does
/// (DESIGN §6). A PI controller, bounded to ±`maxCorrectionPPM` and slewed so the ratio never
/// jumps audibly, fed with the earliest of the last second's readings: a card whose hardware
/// pointer moves in DMA bursts reports its position late by up to a burst, never early, so the
/// least-late reading is the truest (as the clock estimator trusts the shortest round trip).
/// Errors beyond `resyncThreshold` are not for the controller: the caller drops or inserts
/// samples at once and calls `reset()`.
///
/// Runs on the audio thread: storage allocated at init, no allocation after, plain arithmetic.
public struct DriftController: ~Copyable {
    public struct Configuration: Sendable {
        // Critically damped at 0.6 rad/s (kp = 2ζω, ki = ω²): a card's drift is absorbed within
        // about 5 s, and a frame's worth of reading noise moves the ratio by a few ppm.
        /// Proportional gain: correction (dimensionless) per second of error.
        public var kp = 1.2
        /// Integral gain: correction per second of error per second.
        public var ki = 0.36
        public var maxCorrectionPPM = 1_000.0
        /// The most the ratio may move in one update, so a correction is a glide, not a step.
        public var maxSlewPPM = 20.0
        /// Readings the earliest is taken from (one second of 20 ms packets).
        public var window = 50
        /// |error| above this calls for a hard resync instead.
        public var resyncThreshold: Microseconds = 10_000
        /// The same for the very first reading: a card that starts a packet early is put right
        /// at once, not glided back over seconds.
        public var startThreshold: Microseconds = 500

        public init() {}
    }

    public enum Decision: Equatable {
        /// Play on at this ratio (output rate / input rate).
        case ratio(Double)
        /// Too far off to glide: drop (positive, late) or insert (negative, early) this much audio now.
        case resync(by: Microseconds)
    }

    public let configuration: Configuration
    private let readings: UnsafeMutableBufferPointer<Double>
    private var count = 0
    private var next = 0
    private var integral = 0.0
    private var hasStarted = false
    /// Correction currently applied (positive: play faster).
    public private(set) var correction = 0.0
    /// The integral term alone: the card's drift as the controller has learnt it (negated).
    public var driftCompensation: Double { integral }
    /// The filtered error the controller last acted on, µs.
    public private(set) var filteredError = 0.0

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        readings = .allocate(capacity: max(1, configuration.window))
        readings.initialize(repeating: 0)
    }

    deinit { readings.deallocate() }

    /// `error`: DAC time minus due time of the next frame, µs (positive: late). `interval`: time
    /// since the previous update, µs.
    public mutating func update(error: Microseconds, interval: Microseconds) -> Decision {
        let threshold = hasStarted ? configuration.resyncThreshold : configuration.startThreshold
        hasStarted = true
        if abs(error) > threshold { return .resync(by: error) }
        readings[next] = Double(error)
        next = (next + 1) % readings.count
        count = min(count + 1, readings.count)
        var earliest = Double.infinity
        for i in 0..<count { earliest = min(earliest, readings[i]) }
        filteredError = earliest
        let e = filteredError / 1e6
        let dt = Double(interval) / 1e6
        let limit = configuration.maxCorrectionPPM / 1e6
        // Anti-windup: the integral only grows while the output is not pinned at its limit.
        let candidate = integral + configuration.ki * e * dt
        if abs(configuration.kp * e + candidate) < limit { integral = candidate }
        let target = min(max(configuration.kp * e + integral, -limit), limit)
        let slew = configuration.maxSlewPPM / 1e6
        correction += min(max(target - correction, -slew), slew)
        return .ratio(1 / (1 + correction))
    }

    /// After a hard resync: the readings before it no longer apply; the integral (the card's
    /// drift) still does.
    public mutating func reset() {
        count = 0
        next = 0
    }

    /// The schedule itself moved (the host's clock stepped): the next reading is judged as the
    /// first, so an error beyond `startThreshold` is put right at once.
    public mutating func restart() {
        reset()
        hasStarted = false
    }
}
