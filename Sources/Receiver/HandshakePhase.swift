import Config
import Core
import ProtocolMessages
import Transport

/// The receiver's first phase with a host: the channel comes up (connect, and TLS once there
/// is TLS), HELLO goes out, and WELCOME or REJECT comes back. Each call to `advance` does what
/// the channel allows now and says what to wait for.
final class HandshakePhase {
    enum Step {
        /// Call again once the channel has this readiness.
        case waiting(Interest)
        /// The channel could not be set up: the next address, or a retry later.
        case unreachable(String)
        case welcomed(Handshake.Accepted)
        /// Logged already (a REJECT, an invalid reply, a lost connection): retry later.
        case failed
    }

    let channel: any ByteChannel
    private let hello: (Microseconds) -> Hello
    private let log: Logger
    private var reader: FrameReader? = FrameReader()
    private var outbox = OutputQueue(capacity: WireProtocol.maxControlPayload)
    /// When HELLO was queued: its t1.
    private var t1: Microseconds?

    /// Both connecting and the host's answer must come within this.
    static let timeout: Microseconds = 5_000_000

    init(channel: any ByteChannel, hello: @escaping (Microseconds) -> Hello, log: Logger) {
        self.channel = channel
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
        var interest: Interest = []
        switch outbox.flush(to: channel) {
        case .done: break
        case .wouldBlock(let i): interest = i
        case .failed(let e):
            log.event(.networkError("sending HELLO to \(channel.peerDescription): \(e)"))
            return .failed
        }
        while true {
            switch reader!.next(from: channel) {
            case .header(let h):
                guard h.type == .welcome || h.type == .reject, h.length <= WireProtocol.maxControlPayload else {
                    log.failure(.invalidPacket("expected WELCOME or REJECT, got frame type \(h.rawType) of \(h.length) bytes"))
                    return .failed
                }
                reader!.route(.scratch)
            case .frame(let h, let payload):
                switch Handshake.parseReply(type: h.type!, payload: payload, t1: t1!, t4: channel.lastArrival ?? now) {
                case .success(let accepted): return .welcomed(accepted)
                case .failure(.rejected(let reject)):
                    log.failure(reject.error)
                    if !reject.message.isEmpty { log.info("the host says: \(reject.message)") }
                case .failure(.invalid(let why)):
                    log.failure(.invalidPacket(why))
                }
                return .failed
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
