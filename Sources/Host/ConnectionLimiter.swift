import Config
import Core

/// Who may open a connection now, per source address (DESIGN §5): an address whose attempts
/// failed to authenticate (a wrong password, an unlisted certificate) waits 1 s, then
/// 2, 4, … up to 5 min before the next is even looked at; one that opens more than 10 connections
/// in 10 s is refused for the rest of those 10 s. Refused connections are closed at once, before
/// any TLS work. A connection that is welcomed clears its address's failures. Control plane;
/// the table is bounded (the entry seen longest ago goes first).
struct ConnectionLimiter {
    static let burstWindow: Microseconds = 10_000_000
    static let burstLimit = 10
    static let firstPenalty: Microseconds = 1_000_000
    static let longestPenalty: Microseconds = 300_000_000
    static let capacity = 1_024

    private struct Entry {
        var failures = 0
        var blockedUntil: Microseconds = 0
        var windowStart: Microseconds = 0
        var connections = 0
        var lastSeen: Microseconds = 0
        /// Whether the current block was logged (once per block, not once per connection).
        var blockLogged = false
    }

    private var entries: [String: Entry] = [:]

    enum Decision: Equatable {
        case admit
        /// Refused until then; `why` is set the first time in a block (the line to log).
        case refuse(until: Microseconds, why: String?)
    }

    /// The address part of a peer description: "[::1]:8080" → "::1", "10.0.0.2:8080" → "10.0.0.2".
    static func source(of peer: String) -> String {
        if peer.hasPrefix("["), let close = peer.firstIndex(of: "]") { return String(peer[peer.index(after: peer.startIndex)..<close]) }
        guard let colon = peer.lastIndex(of: ":") else { return peer }
        return String(peer[..<colon])
    }

    /// A new connection from `address` at `now`.
    mutating func connection(from address: String, now: Microseconds) -> Decision {
        var entry = entries[address] ?? Entry()
        entry.lastSeen = now
        defer { store(entry, for: address) }
        if now < entry.blockedUntil {
            let why: String? =
                entry.blockLogged
                ? nil
                : "refusing connections from \(address) for \(formatDuration(entry.blockedUntil - now))"
                    + (entry.failures > 0
                        ? " after \(entry.failures) failed attempt\(entry.failures == 1 ? "" : "s")"
                        : ": \(entry.connections) new connections within \(formatDuration(Self.burstWindow))")
            entry.blockLogged = true
            return .refuse(until: entry.blockedUntil, why: why)
        }
        if now - entry.windowStart >= Self.burstWindow {
            entry.windowStart = now
            entry.connections = 0
        }
        entry.connections += 1
        guard entry.connections <= Self.burstLimit else {
            entry.blockedUntil = entry.windowStart + Self.burstWindow
            entry.blockLogged = true
            return .refuse(
                until: entry.blockedUntil,
                why:
                    "refusing connections from \(address) for \(formatDuration(entry.blockedUntil - now)): more than \(Self.burstLimit) new "
                    + "connections within \(formatDuration(Self.burstWindow))"
            )
        }
        return .admit
    }

    /// An attempt from `address` failed; how long it now waits.
    @discardableResult
    mutating func failed(_ address: String, now: Microseconds) -> Microseconds {
        var entry = entries[address] ?? Entry()
        entry.failures += 1
        entry.lastSeen = now
        let penalty = min(Self.firstPenalty << min(entry.failures - 1, 20), Self.longestPenalty)
        entry.blockedUntil = max(entry.blockedUntil, now + penalty)
        entry.blockLogged = false
        store(entry, for: address)
        return penalty
    }

    /// A connection from `address` was welcomed: its failures are forgiven.
    mutating func succeeded(_ address: String) {
        guard var entry = entries[address] else { return }
        entry.failures = 0
        entry.blockedUntil = 0
        store(entry, for: address)
    }

    private mutating func store(_ entry: Entry, for address: String) {
        if entries[address] == nil && entries.count >= Self.capacity,
            let oldest = entries.min(by: { $0.value.lastSeen < $1.value.lastSeen })?.key
        {
            entries[oldest] = nil
        }
        entries[address] = entry
    }
}
