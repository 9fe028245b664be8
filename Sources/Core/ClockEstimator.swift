/// Estimates the host's clock from TIME_REQ/TIME_RESP exchanges (DESIGN §6): the seed's
/// NTP-style offset `((t2 − t1) + (t3 − t4)) / 2`, from the exchanges with the lowest round trip
/// (the least queueing, so the least asymmetric), fitted over time for offset and drift by least
/// squares. Exchanges with impossible times are refused and counted, never trusted; a host clock
/// step is accepted only when several exchanges in a row agree on it.
///
/// Control plane: the fit runs once per exchange (a few per second); storage is a fixed ring.
public struct ClockEstimator {
    public struct Configuration: Sendable {
        /// Exchanges kept for the fit.
        public var window = 32
        /// A round trip longer than this is not a clock sample (seconds of queueing).
        public var maxRoundTrip: Microseconds = 500_000
        /// A sample this far from the fitted line is an outlier, or a step if it persists.
        public var stepThreshold: Microseconds = 5_000
        /// Consecutive agreeing outliers that make a step.
        public var stepConfirmations = 3
        /// Drift beyond this is not a crystal (±1000 ppm covers every real oscillator).
        public var maxDriftPPM = 1_000.0

        public init() {}
    }

    public enum Verdict: Equatable, Sendable {
        case accepted
        /// Impossible or useless times: why.
        case refused(String)
        /// Far from the fit; kept aside in case it is the first sign of a step.
        case outlier
        /// The host's clock jumped: the estimate restarted from the new samples.
        case stepped(by: Microseconds)
    }

    private struct Sample {
        var local: Microseconds   // midpoint (t1 + t4) / 2, local clock
        var offset: Microseconds  // host − local at that moment
        var roundTrip: Microseconds
    }

    public let configuration: Configuration
    private var samples: [Sample] = []
    private var next = 0
    private var pendingStep: [Sample] = []
    /// The fit.
    public private(set) var mapping = ClockMapping(offset: 0)
    /// RMS distance of the samples used from the fit, µs: the sync error estimate.
    public private(set) var residual = 0.0
    public private(set) var refused = 0
    public private(set) var outliers = 0
    public private(set) var steps = 0

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        samples.reserveCapacity(configuration.window)
    }

    public var sampleCount: Int { samples.count }
    public var hasEstimate: Bool { !samples.isEmpty }

    public func host(fromLocal t: Microseconds) -> Microseconds { mapping.host(fromLocal: t) }
    public func local(fromHost t: Microseconds) -> Microseconds { mapping.local(fromHost: t) }

    /// Takes one exchange: t1 and t4 on the local clock, t2 and t3 on the host's.
    public mutating func add(t1: Microseconds, t2: Microseconds, t3: Microseconds, t4: Microseconds) -> Verdict {
        // Within these, every sum and difference below is exact and far from Int64's ends.
        let times = -WireProtocol.maxTime...WireProtocol.maxTime
        guard times.contains(t1), times.contains(t2), times.contains(t3), times.contains(t4) else {
            return refuse("times out of range (\(t1), \(t2), \(t3), \(t4))")
        }
        guard t4 >= t1 else { return refuse("reply arrived before the request was sent") }
        guard t3 >= t2 else { return refuse("host sent its reply before receiving the request (t3 < t2)") }
        let roundTrip = (t4 - t1) - (t3 - t2)
        guard roundTrip >= 0 else { return refuse("host held the request longer than the round trip took") }
        guard roundTrip <= configuration.maxRoundTrip else {
            return refuse("round trip of \(roundTrip / 1000) ms")
        }
        let sample = Sample(local: t1 + (t4 - t1) / 2, offset: ((t2 - t1) + (t3 - t4)) / 2, roundTrip: roundTrip)
        if samples.isEmpty {
            insert(sample)
            fit()
            return .accepted
        }
        let error = sample.offset - (host(fromLocal: sample.local) - sample.local)
        // Queueing delays one direction more than the other by at most the extra round trip,
        // so a slow exchange may sit that much off the line without being a step.
        let allowance = configuration.stepThreshold + max(0, sample.roundTrip - minimumRoundTrip) / 2
        if abs(error) > allowance {
            pendingStep.append(sample)
            guard pendingStep.count >= configuration.stepConfirmations else {
                outliers += 1
                return .outlier
            }
            let offsets = pendingStep.map(\.offset)
            guard offsets.max()! - offsets.min()! <= configuration.stepThreshold else {
                pendingStep.removeFirst()
                outliers += 1
                return .outlier
            }
            samples.removeAll(keepingCapacity: true)
            next = 0
            for s in pendingStep { insert(s) }
            pendingStep.removeAll()
            steps += 1
            fit()
            return .stepped(by: error)
        }
        pendingStep.removeAll()
        insert(sample)
        fit()
        return .accepted
    }

    private var minimumRoundTrip: Microseconds { samples.map(\.roundTrip).min() ?? 0 }

    /// Counts an exchange refused before it got here (one that answers no request, say).
    public mutating func refuse(_ why: String) -> Verdict {
        refused += 1
        return .refused(why)
    }

    private mutating func insert(_ sample: Sample) {
        if samples.count < configuration.window {
            samples.append(sample)
        } else {
            samples[next] = sample
            next = (next + 1) % configuration.window
        }
    }

    /// Least squares over the better half of the window by round trip. Of two samples only the
    /// better is used: the exchange made during the handshake can sit behind the host's
    /// backlog (hundreds of µs of one-way queueing), and the card starts on the estimate of
    /// the first exchanges.
    private mutating func fit() {
        let byRoundTrip = samples.sorted { $0.roundTrip < $1.roundTrip }
        let used = Array(byRoundTrip.prefix((samples.count + 1) / 2))
        let reference = used.map(\.local).max()!
        if used.count < 2 {
            mapping = ClockMapping(reference: reference, offset: used[0].offset, drift: mapping.drift)
            residual = Double(used[0].roundTrip) / 2
            return
        }
        let n = Double(used.count)
        let xs = used.map { Double($0.local - reference) }
        let ys = used.map { Double($0.offset) }
        let mx = xs.reduce(0, +) / n
        let my = ys.reduce(0, +) / n
        var sxx = 0.0, sxy = 0.0
        for (x, y) in zip(xs, ys) {
            sxx += (x - mx) * (x - mx)
            sxy += (x - mx) * (y - my)
        }
        // Samples close together in time say little about drift; keep the last estimate then.
        var drift = mapping.drift
        let span = (xs.max()! - xs.min()!)
        if sxx > 0 && span >= 1_000_000 {
            let limit = configuration.maxDriftPPM / 1e6
            drift = min(max(sxy / sxx, -limit), limit)
        }
        let intercept = my - drift * mx
        mapping = ClockMapping(reference: reference, offset: Microseconds(intercept.rounded()), drift: drift)
        var squares = 0.0
        for (x, y) in zip(xs, ys) {
            let e = y - (intercept + drift * x)
            squares += e * e
        }
        residual = (squares / n).squareRoot()
    }
}
