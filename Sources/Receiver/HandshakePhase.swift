import Config
import Core
import Platform
import ProtocolMessages
import Secure
import Transport

/// This receiver's password (`receiving.password`) and the keys last derived from it: PBKDF2
/// is the slow part (up to 100 000 iterations, a fraction of a second on a Raspberry Pi), done
/// off the control thread, and again only when a host's salt or iterations change.
final class PasswordKeys {
    typealias Keys = (w0: [UInt8], w1: [UInt8])
    typealias Derivation = BackgroundWork<Result<Keys, SPAKE2Plus.Failure>>
    let password: String
    private var derived: (salt: [UInt8], iterations: Int, keys: Keys)?

    init(_ password: String) { self.password = password }

    /// The keys for `challenge`, if they were derived last.
    func cached(for challenge: Challenge) -> Keys? {
        guard let derived, derived.salt == challenge.salt, derived.iterations == challenge.iterations else { return nil }
        return derived.keys
    }

    /// Derives the keys for `challenge` on a thread of its own.
    func derive(for challenge: Challenge) throws(Errno) -> Derivation {
        let (password, salt, iterations) = (password, challenge.salt, challenge.iterations)
        return try BackgroundWork(name: "pbkdf2") {
            Result { () throws(SPAKE2Plus.Failure) in try SPAKE2Plus.derive(password: password, salt: salt, iterations: iterations) }
        }
    }

    func remember(_ keys: Keys, for challenge: Challenge) { derived = (challenge.salt, challenge.iterations, keys) }
}

/// The receiver's first phase with a host: the channel comes up (connect, then TLS), HELLO goes
/// out, the password is proven if the host asks (CHALLENGE, then SPAKE2+ in AUTH frames), and
/// WELCOME or REJECT comes back. A receiver with a password plays only a host that proved it
/// knows it too (its confirmation checked): a WELCOME before that proof is refused, whoever
/// sent it. One CHALLENGE a connection: a second is an invalid packet, not more key
/// derivation on the control thread. Each call to `advance` does what the channel allows now
/// and says what to wait for.
final class HandshakePhase {
    enum Step {
        /// Call again once the channel has this readiness.
        case waiting(Interest)
        /// The password's keys are being derived: call again once this descriptor is readable,
        /// and not for the channel meanwhile.
        case deriving(CInt)
        /// The channel could not be set up: the next address, or a retry later.
        case unreachable(String)
        case welcomed(HandshakeMessages.Accepted)
        /// Logged already (a REJECT, an invalid reply, a lost connection): retry later.
        case failed
        /// Logged already: the password was not accepted (or none was set): retry much later.
        case refused
    }

    let channel: any ByteChannel
    private let hello: (Microseconds) -> Hello
    private let log: Logger
    private var reader: FrameReader? = FrameReader()
    private var outbox = OutputQueue(capacity: WireProtocol.maxControlPayload)
    private let password: PasswordKeys?
    /// The password proof in progress, once the host asked for it.
    private var prover: SPAKE2PlusProver?
    /// The keys for the host's CHALLENGE, while they are derived.
    private var derivation: (work: PasswordKeys.Derivation, challenge: Challenge)?
    /// The host's confirmation checked out: it knows the password.
    private var hostProved = false
    /// When HELLO was queued: its t1.
    private var t1: Microseconds?

    /// Both connecting and the host's answer must come within this.
    static let timeout: Microseconds = 5_000_000

    init(channel: any ByteChannel, hello: @escaping (Microseconds) -> Hello, password: PasswordKeys? = nil, log: Logger) {
        self.channel = channel
        self.password = password
        self.hello = hello
        self.log = log
    }

    /// The frame reader, for the stream that follows: bytes the host sent after its WELCOME may
    /// already be in it.
    func takeReader() -> FrameReader { reader.take()! }

    func advance(clock: any MonotonicClock) -> Step {
        switch channel.handshake() {
        case .wouldBlock(let interest): return .waiting(interest)
        case .failed(let e): return .unreachable(e.description)
        case .done: break
        }
        // Read after the channel's handshake: a TLS handshake's key exchange and signature take
        // milliseconds, which a t1 read before it would count as network delay (a 5 ms offset).
        let now = clock.now()
        if t1 == nil {
            t1 = now
            _ = outbox.append(hello(now).frame)
        }
        if let (work, challenge) = derivation {
            guard let derived = work.take() else { return .deriving(work.descriptor) }
            derivation = nil
            if let end = answer(challenge, with: derived) { return end }
        }
        var interest: Interest = []
        guard flush(&interest) else { return .failed }
        while true {
            switch reader!.next(from: channel) {
            case .header(let h):
                guard [.welcome, .reject, .challenge, .auth].contains(h.type), h.length <= WireProtocol.maxControlPayload else {
                    log.failure(.invalidPacket("expected WELCOME, REJECT, CHALLENGE or AUTH, got frame type \(h.rawType) of \(h.length) bytes"))
                    return .failed
                }
                reader!.route(.scratch)
            case .frame(let h, let payload) where h.type == .challenge || h.type == .auth:
                if let end = prove(h.type!, payload) { return end }
                if let derivation { return .deriving(derivation.work.descriptor) }
                guard flush(&interest) else { return .failed }
            case .frame(let h, let payload):
                let accepted: HandshakeMessages.Accepted
                do throws(HandshakeMessages.Failure) {
                    accepted = try HandshakeMessages.parseReply(type: h.type!, payload: payload, t1: t1!, t4: channel.lastArrival ?? now)
                } catch {
                    switch error {
                    case .rejected(let reject):
                        log.failure(reject.error)
                        if !reject.message.isEmpty { log.info("the host says: \(reject.message)") }
                        if reject.error == .authenticationFailed { return .refused }
                    case .invalid(let why): log.failure(.invalidPacket(why.description))
                    case .notAnAnswer(let t1, let expected):
                        log.failure(.invalidPacket("WELCOME's t1 \(t1) does not answer this HELLO (t1 \(expected))"))
                    }
                    return .failed
                }
                guard password == nil || hostProved else {
                    log.failure(.authenticationFailed)
                    log.info(
                        "host \(channel.peerDescription) sent WELCOME without proving it knows receiving.password: not played (a host that "
                            + "stopped asking for the password, or not the host it claims to be)"
                    )
                    return .refused
                }
                return .welcomed(accepted)
            case .wouldBlock(let i):
                return .waiting(interest.union(i))
            case .closed:
                log.event(.networkError("host closed the connection during the handshake"))
                return .failed
            case .failed(let e):
                log.event(.networkError("reading from host: \(e)"))
                return .failed
            }
        }
    }
}

extension HandshakePhase {
    /// Writes what is queued; false (logged) when the connection failed.
    private func flush(_ interest: inout Interest) -> Bool {
        switch outbox.flush(to: channel) {
        case .done: return true
        case .wouldBlock(let i):
            interest.formUnion(i)
            return true
        case .failed(let e):
            log.event(.networkError("sending to \(channel.peerDescription): \(e)"))
            return false
        }
    }

    /// The message, or nil (logged as an invalid packet) when it does not decode.
    private func decoded<Message>(_ decode: (UnsafeRawBufferPointer) throws(ProtocolError) -> Message, _ payload: UnsafeRawBufferPointer) -> Message? {
        do {
            return try decode(payload)
        } catch {
            log.failure(.invalidPacket(error.description))
            return nil
        }
    }

    /// Answers `challenge` with this side's share, from the password's keys. Nil: go on.
    private func answer(_ challenge: Challenge, with derived: Result<PasswordKeys.Keys, SPAKE2Plus.Failure>) -> Step? {
        do {
            let keys = try derived.get()
            password?.remember(keys, for: challenge)
            let prover = try SPAKE2PlusProver(w0: keys.w0, w1: keys.w1, context: SPAKE2Plus.context(of: channel))
            self.prover = prover
            _ = outbox.append(AuthMessage(step: .proverShare, bytes: prover.shareP).frame)
            return nil
        } catch {
            log.failure(.invalidPacket("CHALLENGE: \(error)"))
            return .failed
        }
    }

    /// The host's CHALLENGE (answered with this side's share, once its keys are derived) or its AUTH (share and
    /// confirmation: checked, and answered with this side's confirmation). Nil: go on.
    private func prove(_ type: FrameType, _ payload: UnsafeRawBufferPointer) -> Step? {
        if type == .challenge {
            guard prover == nil && !hostProved else {
                log.failure(.invalidPacket("a second CHALLENGE on one connection"))
                return .failed
            }
            guard let challenge = decoded(Challenge.decode, payload) else { return .failed }
            guard challenge.method == .password else {
                log.failure(.authenticationFailed)
                log.info("host \(channel.peerDescription) asks for \(challenge.method.rawValue) authentication, which this receiver does not offer")
                return .refused
            }
            guard let password else {
                log.failure(.authenticationFailed)
                log.info("host \(channel.peerDescription) requires a password: set receiving.password")
                return .refused
            }
            if let keys = password.cached(for: challenge) { return answer(challenge, with: .success(keys)) }
            do {
                derivation = (try password.derive(for: challenge), challenge)
                return nil
            } catch {
                log.error("cannot derive the password's keys: \(error)")
                return .failed
            }
        }
        guard let auth = decoded(AuthMessage.decode, payload) else { return .failed }
        guard auth.step == .verifierShare, let prover else {
            log.failure(.invalidPacket("AUTH \(auth.step) out of order"))
            return .failed
        }
        do {
            let share = AuthMessage.shareBytes
            let (confirmP, _) = try prover.finish(shareV: Array(auth.bytes[0..<share]), confirmV: Array(auth.bytes[share...]))
            (hostProved, self.prover) = (true, nil)
            _ = outbox.append(AuthMessage(step: .proverConfirmation, bytes: confirmP).frame)
            return nil
        } catch .confirmationMismatch {
            log.failure(.authenticationFailed)
            log.info(
                "host \(channel.peerDescription) does not know receiving.password (its proof does not match): a wrong password, or not the host it claims to be"
            )
            return .refused
        } catch {
            log.failure(.invalidPacket("AUTH: \(error)"))
            return .failed
        }
    }
}
