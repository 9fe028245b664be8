import Core
import Platform

/// The result of one non-blocking read or write.
public enum IOResult: Equatable {
    case bytes(Int)
    /// Nothing now: call again once the descriptor has this readiness. TLS can need to write
    /// during a read (a renegotiation, a key update) and to read during a write.
    case wouldBlock(Interest)
    /// The peer closed its side (reads only).
    case endOfStream
    case failed(Errno)
}

/// How far a channel's set-up (connect, then a TLS handshake where there is one) has come.
public enum HandshakeProgress: Equatable {
    case done
    /// Call `handshake()` again once the descriptor has this readiness.
    case wouldBlock(Interest)
    case failed(ChannelError)
}

/// Why a channel could not be set up, as a person reads it in the log.
public enum ChannelError: Error, Equatable, CustomStringConvertible {
    /// The connection was not made.
    case connect(peer: String, Errno)
    /// The secure channel's handshake failed: why, in its library's words.
    case handshake(peer: String, reason: String)
    /// The peer answered, and is not one to talk to (its certificate): why.
    case refusedPeer(String)

    public var description: String {
        switch self {
        case .connect(let peer, let e): "cannot connect to \(peer): \(e)"
        case .handshake(let peer, let reason): "TLS handshake with \(peer) failed: \(reason)"
        case .refusedPeer(let why): why
        }
    }
}

/// An ordered, reliable byte stream to one peer, as the engines see it (DESIGN §5): TCP now, TLS
/// next, and nothing above this changes when TLS implements it. Every call is non-blocking; the
/// owner registers `fileDescriptor` with its reactor for the readiness a call asked for.
/// A class: a channel owns a descriptor (and, for TLS, a library context with a fixed address).
public protocol ByteChannel: AnyObject {
    var fileDescriptor: CInt { get }
    /// Who is at the other end, for log lines.
    var peerDescription: String { get }
    /// Advances connecting and any handshake; `.done` once bytes can flow.
    func handshake() -> HandshakeProgress
    func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult
    func write(_ bytes: UnsafeRawBufferPointer) -> IOResult
    func close()
    /// When the bytes of the last read arrived, local monotonic µs: the kernel's receive time
    /// where the channel has one, so a clock-sync sample does not include how long the reader
    /// took to wake up. Nil: the caller takes its own time.
    var lastArrival: Microseconds? { get }
    /// Whether a read may take more than it asks for into the channel's own buffer (fewer
    /// system calls), at the cost of `lastArrival` then being that of the last bytes taken.
    var readsAhead: Bool { get set }
    /// SHA-256 of the peer's certificate; nil without TLS.
    var peerCertificateFingerprint: [UInt8]? { get }
    /// RFC 5705 / 8446 keying material bound to this session (what binds the password proof to
    /// it), with a context or none (TLS 1.2 tells the two apart); nil without TLS.
    func exportKeyingMaterial(label: String, context: [UInt8]?, length: Int) -> [UInt8]?
}

extension ByteChannel {
    public var lastArrival: Microseconds? { nil }
    public var peerCertificateFingerprint: [UInt8]? { nil }
    public func exportKeyingMaterial(label: String, context: [UInt8]?, length: Int) -> [UInt8]? { nil }
}

/// Opens channels: the one seam between the engines and a transport. `TCPTransport` now; the
/// TLS transport wraps it.
public protocol ChannelTransport {
    /// Starts connecting to `address` without blocking; `handshake()` finishes it.
    func connect(to address: SocketAddress) throws(TransportError) -> any ByteChannel
    /// A pending connection on `listener`, or nil when none is waiting.
    func accept(from listener: borrowing TCPListener) -> (any ByteChannel)?
}

/// Bytes queued for one peer, written as the channel takes them: control frames never wait on
/// a socket, and a peer that stops reading fills its queue instead of holding the loop.
public struct OutputQueue {
    private var bytes: [UInt8] = []
    private var head = 0
    public let capacity: Int

    public init(capacity: Int) { self.capacity = capacity }

    public var pending: Int { bytes.count - head }
    public var isEmpty: Bool { pending == 0 }

    /// False when it does not fit.
    public mutating func append(_ data: UnsafeRawBufferPointer) -> Bool {
        guard pending + data.count <= capacity else { return false }
        if head > 0 && head >= bytes.count / 2 {
            bytes.removeFirst(head)
            head = 0
        }
        bytes.append(contentsOf: data)
        return true
    }

    public mutating func append(_ data: [UInt8]) -> Bool { data.withUnsafeBytes { append($0) } }

    /// Appends `data`, then lets `finish` fill in the queued copy (a send time, stamped as late
    /// as the queue allows).
    public mutating func append(_ data: UnsafeRawBufferPointer, finishing finish: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
        guard append(data) else { return false }
        let start = bytes.count - data.count
        bytes.withUnsafeMutableBytes { finish(UnsafeMutableRawBufferPointer(rebasing: $0[start...])) }
        return true
    }

    public enum Flush: Equatable {
        case done
        /// Bytes remain: flush again on this readiness.
        case wouldBlock(Interest)
        case failed(Errno)
    }

    /// Writes what the channel takes now.
    public mutating func flush(to channel: any ByteChannel) -> Flush {
        while head < bytes.count {
            let result = bytes.withUnsafeBytes { channel.write(UnsafeRawBufferPointer(rebasing: $0[head...])) }
            switch result {
            case .bytes(let n): head += n
            case .wouldBlock(let interest): return .wouldBlock(interest)
            case .endOfStream: return .failed(.brokenPipe)
            case .failed(let e): return .failed(e)
            }
        }
        bytes.removeAll(keepingCapacity: true)
        head = 0
        return .done
    }
}
