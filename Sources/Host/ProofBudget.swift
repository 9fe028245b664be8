import Core

/// How many password proofs may fail on this host in a minute, from every address together
/// (DESIGN §5). The per-address backoff (`ConnectionLimiter`) slows one guesser; this bounds
/// many, however many addresses they come from (rotating IPv6 addresses, a botnet). Once
/// `limit` proofs failed within the last `window`, no receiver is challenged for the password
/// until the oldest of them is that old: it is told so and tries again later. A receiver whose
/// certificate is on the host's list is not asked for a proof and plays on. Control plane; one
/// per host, shared by its connections.
final class ProofBudget {
    static let window: Microseconds = 60_000_000
    static let limit = 10
    /// When the last failures happened, oldest first; at most `limit`.
    private var failures: [Microseconds] = []

    /// Nil when a proof may start at `now`; else when one may.
    func nextProof(now: Microseconds) -> Microseconds? {
        forget(before: now)
        return failures.count < Self.limit ? nil : failures[0] + Self.window
    }

    func failed(now: Microseconds) {
        forget(before: now)
        if failures.count == Self.limit { failures.removeFirst() }
        failures.append(now)
    }

    private func forget(before now: Microseconds) {
        failures.removeAll { now - $0 >= Self.window }
    }
}
