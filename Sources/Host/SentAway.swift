import Core
import Secure

/// The receivers the host's user sent away (`mshost kick`), by client id and by certificate,
/// and until when (none: until the host restarts). The host refuses them itself: a receiver that
/// ignores its BYE, buggy or hostile, is not back at once (measured before: one that reconnected
/// played again 6 s after its kick). Bounded: the oldest kick is forgotten first.
struct SentAway {
    static let capacity = 256
    private var entries: [String: (until: Microseconds?, at: Microseconds)] = [:]

    /// Sends away the receiver with `clientID` and `certificate` for `seconds` (nil: until the
    /// host restarts).
    mutating func send(clientID: String, certificate: Fingerprint?, for seconds: Int?, now: Microseconds) {
        let until = seconds.map { now + Microseconds($0) * 1_000_000 }
        for key in Self.keys(clientID: clientID, certificate: certificate) {
            if entries[key] == nil, entries.count >= Self.capacity, let oldest = entries.min(by: { $0.value.at < $1.value.at })?.key {
                entries[oldest] = nil
            }
            entries[key] = (until, now)
        }
    }

    /// How long the receiver with `clientID` or `certificate` is still away: nil when it is not,
    /// `.some(nil)` until the host restarts.
    mutating func away(clientID: String, certificate: Fingerprint?, now: Microseconds) -> Microseconds?? {
        var longest: Microseconds?? = nil
        for key in Self.keys(clientID: clientID, certificate: certificate) {
            guard let entry = entries[key] else { continue }
            guard let until = entry.until else { return .some(nil) }
            guard until > now else {
                entries[key] = nil
                continue
            }
            longest = .some(max(longest.flatMap { $0 } ?? 0, until - now))
        }
        return longest
    }

    private static func keys(clientID: String, certificate: Fingerprint?) -> [String] {
        ["id " + clientID] + (certificate.map { ["certificate \($0)"] } ?? [])
    }
}
