import Core

/// How many password proofs this host answers in a minute that then fail, from every address
/// together, and one proof under way per address (DESIGN §5). The per-address backoff
/// (`ConnectionLimiter`) slows one guesser; this bounds many, however many addresses they come
/// from (rotating IPv6 addresses, a botnet). A proof is charged as the host answers it (its
/// share and confirmation tell a guesser whether the guess was right) and refunded if it ends
/// in a WELCOME: charged only when a connection closed, proofs begun in parallel all passed the
/// check. Once `limit` are charged within the last `window`, no receiver is challenged for the
/// password until the oldest is that old: it is told so and tries again later. A receiver whose
/// certificate is on the host's list is not asked for a proof and plays on. Control plane; one
/// per host, shared by its connections.
final class ProofBudget {
    static let window: Microseconds = 60_000_000
    static let limit = 10
    /// When the proofs still charged were answered, oldest first; at most `limit`.
    private var charged: [Microseconds] = []
    /// Addresses with a proof answered on a connection that has not ended.
    private var underWay: Set<String> = []

    enum Refusal: Equatable {
        /// `limit` proofs failed within the window: the next may start at this time.
        case spent(until: Microseconds)
        /// Another connection from the address has a proof under way.
        case underWay
    }

    /// Nil when a proof may start at `now`; else when one may.
    func nextProof(now: Microseconds) -> Microseconds? {
        forget(before: now)
        return charged.count < Self.limit ? nil : charged[0] + Self.window
    }

    /// Charges the proof from `source` the host is about to answer at `now`; nil when it may.
    func charge(from source: String, now: Microseconds) -> Refusal? {
        if underWay.contains(source) { return .underWay }
        if let next = nextProof(now: now) { return .spent(until: next) }
        charged.append(now)
        underWay.insert(source)
        return nil
    }

    /// The proof charged at `at` proved the password: not a guess.
    func refund(chargedAt at: Microseconds) {
        if let i = charged.lastIndex(of: at) { charged.remove(at: i) }
    }

    /// The proof from `source` is over: welcomed, or its connection ended.
    func settled(from source: String) { underWay.remove(source) }

    private func forget(before now: Microseconds) {
        charged.removeAll { now - $0 >= Self.window }
    }
}
