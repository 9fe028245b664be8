import Core

/// When the receiver asks the host for the time, and what it learnt: a burst of 8 TIME_REQs
/// 20 ms apart, so the offset is good before the card starts playing; then four a second until
/// the estimate has 20 exchanges, then once a second (DESIGN §6).
struct ClockSync {
    private(set) var estimator = ClockEstimator()
    private(set) var nextRequest: Microseconds = 0
    /// A TIME_REQ is in flight (its reply is read at once, not batched).
    private(set) var awaitingResponse = false
    private var lastReport: Microseconds = 0

    static let burstInterval: Microseconds = 20_000
    static let burstCount = 8
    static let settlingInterval: Microseconds = 250_000
    static let settledInterval: Microseconds = 1_000_000
    static let settledAfter = 20
    static let reportInterval: Microseconds = 10_000_000

    mutating func sent(at now: Microseconds) {
        awaitingResponse = true
        // A reply that never comes does not stop the exchanges.
        let count = estimator.sampleCount
        nextRequest = now + (count < Self.burstCount ? Self.burstInterval : count < Self.settledAfter ? Self.settlingInterval : Self.settledInterval)
    }

    @discardableResult
    mutating func add(_ exchange: (t1: Microseconds, t2: Microseconds, t3: Microseconds, t4: Microseconds)) -> ClockEstimator.Verdict {
        awaitingResponse = false
        return estimator.add(t1: exchange.t1, t2: exchange.t2, t3: exchange.t3, t4: exchange.t4)
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
