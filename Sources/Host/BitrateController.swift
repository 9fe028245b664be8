import Config
import Core
import ProtocolMessages

/// One receiver's place on an adaptive host's Opus tiers (the seed's `BitrateController`,
/// DESIGN §5), fed by its STATUS once a second and by the audio waiting in its send queue.
/// Down a tier on trouble: more than 5 % of its packets concealed (lost, or late), a round trip
/// over 200 ms, or more than 250 ms of audio the path has not taken (over TCP, loss is a queue
/// and then lateness). A card that runs dry is not the path's doing: no step. Up a tier after the
/// path has been clean (no loss, round trip under 100 ms, the queue under 50 ms) for a while:
/// 10 s at first, doubled each time a step up is followed by trouble within 30 s (the path
/// cannot carry it), up to 5 minutes.
struct BitrateController {
    /// The tiers' bitrates, best first.
    let bitrates: [Int]
    private(set) var tier = 0
    private var cleanSince: Microseconds?
    private(set) var upHold = Self.firstUpHold
    private var lastStepUp: Microseconds?
    private var lastStepDown: Microseconds?

    static let firstUpHold: Microseconds = 10_000_000
    static let longestUpHold: Microseconds = 300_000_000
    /// A step up that meets trouble this soon was one too many.
    static let failedStepUp: Microseconds = 30_000_000
    /// After a step down, what was queued at the old bitrate still drains and is still late:
    /// the next step down waits this long.
    static let stepDownSettle: Microseconds = 3_000_000
    static let lossLimit = 0.05
    static let roundTripLimit: Microseconds = 200_000
    static let queueLimit: Microseconds = 250_000
    /// Under the limits by this much the path is clean: the hysteresis between down and up.
    static let cleanRoundTrip: Microseconds = roundTripLimit / 2
    static let cleanQueue: Microseconds = 50_000

    init(bitrates: [Int]) { self.bitrates = bitrates }

    var bitrate: Int { bitrates[tier] }

    /// A step to take: the new tier and why, in words for the log.
    struct Step: Equatable {
        var tier: Int
        var why: String
    }

    /// `queued`: how long the audio in the receiver's send queue lasts at its bitrate.
    mutating func observe(_ status: Status, queued: Microseconds, now: Microseconds) -> Step? {
        if let trouble = trouble(status, queued: queued) {
            cleanSince = nil
            guard tier + 1 < bitrates.count, lastStepDown.map({ now - $0 >= Self.stepDownSettle }) ?? true else { return nil }
            if let up = lastStepUp, now - up < Self.failedStepUp { upHold = min(upHold * 2, Self.longestUpHold) }
            lastStepUp = nil
            lastStepDown = now
            tier += 1
            return Step(tier: tier, why: trouble)
        }
        guard status.packetLoss == 0 && Microseconds(status.roundTripMicroseconds) < Self.cleanRoundTrip && queued < Self.cleanQueue else {
            cleanSince = nil
            return nil
        }
        let since = cleanSince ?? now
        cleanSince = since
        guard tier > 0, now - since >= upHold else { return nil }
        tier -= 1
        lastStepUp = now
        cleanSince = now
        return Step(tier: tier, why: "the path has been clean for \(formatDuration((now - since) / 1_000_000 * 1_000_000))")
    }

    private func trouble(_ status: Status, queued: Microseconds) -> String? {
        if status.packetLoss > Self.lossLimit { return "\(Int((status.packetLoss * 100).rounded())) % of its packets lost or late" }
        if Microseconds(status.roundTripMicroseconds) > Self.roundTripLimit {
            return "round trip \(formatDuration(Microseconds(status.roundTripMicroseconds) / 1000 * 1000))"
        }
        if queued > Self.queueLimit { return "\(formatDuration(queued / 1000 * 1000)) of audio waiting for the path" }
        return nil
    }
}
