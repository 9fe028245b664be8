/// Turns "when does the next frame leave the DAC, against when it is due" into a resampling
/// ratio that keeps the receiver on the host's schedule whatever its sound card's crystal does
/// (DESIGN §6). A PI controller on the median of the last readings (one in a while a reading is
/// off by a DMA burst, when the card's pointer and its timestamp were read apart), bounded to
/// ±`maxCorrectionPPM`, and slewed so the ratio never jumps audibly. Errors beyond `resyncThreshold` are not for the controller:
/// the caller drops or inserts samples at once and calls `reset()`.
///
/// Runs on the audio thread: fixed storage, no allocation, plain arithmetic.
public struct DriftController {
    public struct Configuration: Sendable {
        // Critically damped at 0.8 rad/s (kp = 2ζω, ki = ω²): a card's drift is absorbed within
        // about 5 s, and a frame's worth of reading noise moves the ratio by a few ppm.
        /// Proportional gain: correction (dimensionless) per second of error.
        public var kp = 1.6
        /// Integral gain: correction per second of error per second.
        public var ki = 0.64
        public var maxCorrectionPPM = 1_000.0
        /// The most the ratio may move in one update, so a correction is a glide, not a step.
        public var maxSlewPPM = 20.0
        /// Readings whose median the controller sees.
        public static let medianOf = 15
        /// |error| above this calls for a hard resync instead.
        public var resyncThreshold: Microseconds = 10_000

        public init() {}
    }

    public enum Decision: Equatable {
        /// Play on at this ratio (output rate / input rate).
        case ratio(Double)
        /// Too far off to glide: drop (positive, late) or insert (negative, early) this much audio now.
        case resync(by: Microseconds)
    }

    public let configuration: Configuration
    private var readings: (Double, Double, Double, Double, Double, Double, Double, Double,
                           Double, Double, Double, Double, Double, Double, Double) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    private var sorted: (Double, Double, Double, Double, Double, Double, Double, Double,
                         Double, Double, Double, Double, Double, Double, Double) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    private var count = 0
    private var next = 0
    private var integral = 0.0
    /// Correction currently applied (positive: play faster).
    public private(set) var correction = 0.0
    /// The integral term alone: the card's drift as the controller has learnt it (negated).
    public var driftCompensation: Double { integral }
    /// The filtered error the controller last acted on, µs.
    public private(set) var filteredError = 0.0

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// `error`: DAC time minus due time of the next frame, µs (positive: late). `interval`: time
    /// since the previous update, µs.
    public mutating func update(error: Microseconds, interval: Microseconds) -> Decision {
        if abs(error) > configuration.resyncThreshold { return .resync(by: error) }
        store(Double(error))
        filteredError = median
        let e = filteredError / 1e6
        let dt = Double(interval) / 1e6
        let limit = configuration.maxCorrectionPPM / 1e6
        // Anti-windup: the integral only grows while the output is not pinned at its limit.
        let candidate = integral + configuration.ki * e * dt
        let unclamped = configuration.kp * e + candidate
        if abs(unclamped) < limit { integral = candidate }
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

    private mutating func store(_ value: Double) {
        withUnsafeMutableBytes(of: &readings) { raw in
            raw.storeBytes(of: value, toByteOffset: next * MemoryLayout<Double>.stride, as: Double.self)
        }
        next = (next + 1) % Configuration.medianOf
        count = min(count + 1, Configuration.medianOf)
    }

    /// Insertion sort of the readings into scratch storage; 15 values, no allocation.
    private mutating func computeMedian() -> Double {
        let n = count
        return withUnsafeBytes(of: readings) { source in
            withUnsafeMutableBytes(of: &sorted) { raw in
                let out = raw.bindMemory(to: Double.self)
                let input = source.bindMemory(to: Double.self)
                for i in 0..<n {
                    var j = i
                    let v = input[i]
                    while j > 0 && out[j - 1] > v {
                        out[j] = out[j - 1]
                        j -= 1
                    }
                    out[j] = v
                }
                return n % 2 == 1 ? out[n / 2] : (out[n / 2 - 1] + out[n / 2]) / 2
            }
        }
    }

    private var median: Double {
        mutating get { computeMedian() }
    }
}
