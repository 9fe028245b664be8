import Core
import ProtocolMessages

/// When the receiver asks the host for the time, and what it learnt: a burst of 8 TIME_REQs
/// 20 ms apart, so the offset is good before the card starts playing; then four a second until
/// the estimate has 20 exchanges, then once a second (DESIGN §6).
struct ClockSync {
    private(set) var estimator = ClockEstimator()
    private(set) var nextRequest: Microseconds = 0
    /// The t1 of the TIME_REQ in flight: its reply is read at once, not batched, and a reply
    /// that does not echo it answers nothing this receiver asked.
    private var pending: Microseconds?
    private var lastReport: Microseconds = 0

    static let burstInterval: Microseconds = 20_000
    static let burstCount = 8
    static let settlingInterval: Microseconds = 250_000
    static let settledInterval: Microseconds = 1_000_000
    static let settledAfter = 20
    static let reportInterval: Microseconds = 10_000_000

    var awaitingResponse: Bool { pending != nil }

    /// Past the burst and the settling: one request a second.
    var settled: Bool { estimator.sampleCount >= Self.settledAfter }

    /// The TIME_REQ to send at `now`.
    mutating func request(at now: Microseconds) -> TimeRequest {
        pending = now
        // A reply that never comes does not stop the exchanges.
        let count = estimator.sampleCount
        nextRequest = now + (count < Self.burstCount ? Self.burstInterval : count < Self.settledAfter ? Self.settlingInterval : Self.settledInterval)
        return TimeRequest(t1: UInt64(now))
    }

    /// The handshake's exchange (HELLO and WELCOME), already matched to its request.
    mutating func add(_ exchange: (t1: Microseconds, t2: Microseconds, t3: Microseconds, t4: Microseconds)) {
        _ = estimator.add(t1: exchange.t1, t2: exchange.t2, t3: exchange.t3, t4: exchange.t4)
    }

    /// A TIME_RESP that arrived at `t4`. Times out of range, or a reply to no request, are
    /// refused and counted like an impossible reply.
    mutating func receive(_ response: TimeResponse, t4: Microseconds) -> ClockEstimator.Verdict {
        guard let t1 = pending, response.t1 == UInt64(t1) else {
            return estimator.refuse("it answers no TIME_REQ in flight (t1 \(response.t1))")
        }
        pending = nil
        guard let times = response.plausibleTimes else {
            return estimator.refuse("times out of range (t2 \(response.t2), t3 \(response.t3))")
        }
        return estimator.add(t1: times.t1, t2: times.t2, t3: times.t3, t4: t4)
    }

    /// A log line every 10 s with the current estimate.
    mutating func periodicReport(now: Microseconds) -> String? {
        guard now - lastReport >= Self.reportInterval, estimator.sampleCount >= 2 else { return nil }
        lastReport = now
        let m = estimator.mapping
        let ppm = (m.drift * 1e6 * 10).rounded() / 10
        return "sync: host clock offset \(m.offset) µs, drift \(ppm) ppm, error ±\(Int(estimator.residual.rounded())) µs (\(estimator.sampleCount) exchanges kept, \(estimator.refused) refused, \(estimator.outliers) outliers, \(estimator.steps) steps)"
    }
}
