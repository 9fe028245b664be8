import Core
import ProtocolMessages

/// When the receiver asks the host for the time, and what it learnt (DESIGN §6): a burst of
/// TIME_REQs 20 ms apart, so the offset is good before the card starts playing; then, on a
/// calm path, ten a second until 64 are kept and once a second after. On a jittery path the
/// requests stay 20 ms apart, each on a wake-up of its own, for as long as it is jittery:
/// through 10 ± 8 ms of jitter the lowest of N samples lies about 16 ms / N above the floor,
/// and the drift is told from the floors' noise over the window, so the rate of the way up
/// (the way down has the audio's arrivals besides) is what the estimate is made of. Four a
/// second after a 25 s burst let the estimate ramp 100–200 µs off within 20 s; on 100
/// simulated in-order paths (`ClockEstimatorTests`), the 90th's worst error over 30–60 s was
/// 86 µs at 27 a second (the batched wake-ups' rate), 59 µs at fifty.
/// Several requests may be in flight: each reply is matched to its own request by the t1 it
/// echoes, so a round trip longer than the spacing costs nothing, and the spacing grows with
/// the round trip so that few are.
struct ClockSync {
    private(set) var estimator = ClockEstimator()
    private(set) var nextRequest: Microseconds = 0
    /// The t1s of the requests in flight, oldest first.
    private var inFlight: [Microseconds] = []
    /// Requests whose reply never came within the estimator's longest round trip.
    private(set) var lost = 0
    /// Lost since the last reply: the path is frozen or cut, so ask only four times a second.
    private var lostInARow = 0
    /// Replies that came, and those of them that answered a request in flight.
    private(set) var replies = 0
    private(set) var answered = 0
    private var lastReport: Microseconds = 0

    static let maxInFlight = 8
    static let burstInterval: Microseconds = 20_000
    static let burstCount = 8
    static let settlingInterval: Microseconds = 100_000
    static let settledAfter = 64
    static let calmInterval: Microseconds = 1_000_000
    /// While requests go unanswered (a frozen or cut path).
    static let lostInterval: Microseconds = 250_000
    /// A path whose round trip varies by more than this (RTTVAR) is jittery.
    static let calmJitter: Microseconds = 1_000
    static let reportInterval: Microseconds = 10_000_000

    init() { inFlight.reserveCapacity(Self.maxInFlight) }

    /// Whether a reply is due: it is read at once, on its own arrival time.
    var awaitingResponse: Bool { !inFlight.isEmpty }

    /// Past the burst and the settling on a calm path: the requests then ride the reactor's
    /// batched wake-ups. A jittery path never settles.
    var settled: Bool { estimator.sampleCount >= Self.settledAfter && !jittery }

    private var jittery: Bool { estimator.roundTripJitter > Self.calmJitter }

    /// The TIME_REQ to send at `now`, or nil when as many as a path should hold are in flight
    /// already (a frozen path is not flooded). Either way `nextRequest` says when to ask next.
    mutating func request(at now: Microseconds) -> TimeRequest? {
        expire(now: now)
        let count = estimator.sampleCount
        let phase =
            lostInARow > 0
            ? Self.lostInterval
            : count < Self.burstCount || jittery
                ? Self.burstInterval
                : settled ? Self.calmInterval : Self.settlingInterval
        // Never more than a few round trips' worth of requests in flight.
        nextRequest = now + max(phase, estimator.roundTrip / (Microseconds(Self.maxInFlight) / 2))
        guard inFlight.count < Self.maxInFlight, inFlight.last.map({ now > $0 }) ?? true else { return nil }
        inFlight.append(now)
        // A clock before zero (a time namespace set back) is sent as it is; the host's reply to
        // it is out of range, refused and counted, and nothing traps.
        return TimeRequest(t1: UInt64(bitPattern: now))
    }

    /// Requests older than the longest round trip the estimator takes are not waited for.
    private mutating func expire(now: Microseconds) {
        let expired = inFlight.prefix { now - $0 > estimator.configuration.maxRoundTrip }.count
        lost += expired
        lostInARow += expired
        inFlight.removeFirst(expired)
    }

    /// The handshake's exchange (HELLO and WELCOME), already matched to its request.
    @discardableResult
    mutating func add(_ exchange: (t1: Microseconds, t2: Microseconds, t3: Microseconds, t4: Microseconds)) -> ClockEstimator.Verdict {
        estimator.add(t1: exchange.t1, t2: exchange.t2, t3: exchange.t3, t4: exchange.t4)
    }

    /// What a new session with the same host starts from: the estimate, which the host's
    /// monotonic clock keeps valid across a reconnect or its restart, without the requests of
    /// the connection that is gone. Nil when the new session's first exchange disagrees with it
    /// (the host's machine rebooted, or it is another host): a fresh start then.
    func resumed(with exchange: (t1: Microseconds, t2: Microseconds, t3: Microseconds, t4: Microseconds)) -> ClockSync? {
        var resumed = ClockSync()
        resumed.estimator = estimator
        resumed.lost = lost
        resumed.replies = replies
        resumed.answered = answered
        switch resumed.add(exchange) {
        case .outlier, .stepped: return nil
        case .accepted, .refused: return resumed
        }
    }

    /// A TIME_RESP that arrived at `t4`. A reply to no request in flight (a duplicate, one too
    /// late, one never asked for) and times out of range are refused and counted like an
    /// impossible reply.
    mutating func receive(_ response: TimeResponse, t4: Microseconds) -> ClockEstimator.Verdict {
        replies += 1
        guard let index = inFlight.firstIndex(where: { UInt64(bitPattern: $0) == response.t1 }) else {
            return estimator.refuse("it answers no TIME_REQ in flight (t1 \(response.t1))")
        }
        inFlight.remove(at: index)
        answered += 1
        lostInARow = 0
        guard let times = response.plausibleTimes else {
            return estimator.refuse("times out of range (t2 \(response.t2), t3 \(response.t3))")
        }
        return estimator.add(t1: times.t1, t2: times.t2, t3: times.t3, t4: t4)
    }

    /// An AUDIO frame the host sent at `sentAt` (its clock) that arrived at `t4`: whether it
    /// moved the estimate.
    mutating func arrival(sentAt: UInt64, t4: Microseconds) -> Bool {
        estimator.addArrival(sent: Microseconds(clamping: sentAt), arrived: t4)
    }

    /// A log line every 10 s with the current estimate.
    mutating func periodicReport(now: Microseconds) -> String? {
        guard now - lastReport >= Self.reportInterval, estimator.sampleCount >= 2 else { return nil }
        lastReport = now
        let e = estimator
        let ppm = (e.mapping.drift * 1e6 * 10).rounded() / 10
        return
            "sync: host clock offset \(e.mapping.offset) µs, drift \(ppm) ppm, error ±\(e.errorBound) µs, round trip \(e.roundTrip) ± "
            + "\(e.roundTripJitter) µs (\(replies) replies, \(e.sampleCount) accepted into \(e.binCount) bins, \(e.refused) refused, \(lost) "
            + "lost, \(e.outliers) outliers, \(e.steps) steps, \(e.pathChanges) path changes; \(e.arrivalsTaken) audio arrivals set a bin's "
            + "way down, \(e.arrivalsRefused) refused)"
    }
}
