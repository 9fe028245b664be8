import Core
import ProtocolMessages
import Transport

/// Bytes queued for one receiver. A receiver that cannot take them for seconds is too slow and
/// gets dropped, rather than holding memory or the loop.
struct OutputQueue {
    private var bytes: [UInt8] = []
    private var head = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    var pending: Int { bytes.count - head }
    var isEmpty: Bool { pending == 0 }

    /// False when it does not fit.
    mutating func append(_ data: UnsafeRawBufferPointer) -> Bool {
        guard pending + data.count <= capacity else { return false }
        if head > 0 && head >= bytes.count / 2 {
            bytes.removeFirst(head)
            head = 0
        }
        bytes.append(contentsOf: data)
        return true
    }

    mutating func append(_ data: [UInt8]) -> Bool { data.withUnsafeBytes { append($0) } }

    /// Writes what the channel takes now.
    mutating func flush<C: ByteChannel & ~Copyable>(to channel: inout C) -> Result<Void, Errno> {
        while head < bytes.count {
            let result = bytes.withUnsafeBytes { channel.write(UnsafeRawBufferPointer(rebasing: $0[head...])) }
            switch result {
            case .bytes(let n): head += n
            case .wouldBlock: return .success(())
            case .endOfStream: return .failure(.brokenPipe)
            case .failed(let e): return .failure(e)
            }
        }
        bytes.removeAll(keepingCapacity: true)
        head = 0
        return .success(())
    }
}

/// One receiver's connection on the host, and its live status for the client list.
final class ClientConnection {
    enum State {
        case awaitingHello(deadline: Microseconds)
        case streaming
        /// Flushing a last REJECT or BYE, then closing.
        case closing(deadline: Microseconds)
    }

    var channel: TCPChannel
    var reader = FrameReader()
    var outbox = OutputQueue(capacity: 1 << 20)
    var state: State
    let address: String
    var clientID = ""
    var name = ""
    var codec = WireCodec.opus
    var connectedAt: Microseconds
    /// The last STATUS it sent, for the client list.
    var lastStatus: Status?

    init(channel: consuming TCPChannel, address: String, now: Microseconds) {
        self.channel = channel
        self.address = address
        connectedAt = now
        state = .awaitingHello(deadline: now + 5_000_000)
    }

    var label: String { clientID.isEmpty ? address : "\(name) (\(address))" }

    var isStreaming: Bool {
        if case .streaming = state { return true }
        return false
    }

    var isClosing: Bool {
        if case .closing = state { return true }
        return false
    }
}
