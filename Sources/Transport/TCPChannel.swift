import CMoosyncLinux
import Core
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// A non-blocking TCP socket, connected or connecting.
public final class TCPChannel: ByteChannel {
    public private(set) var fileDescriptor: CInt
    public let peerDescription: String
    /// When the bytes of the last read arrived: the time stamp of the receive that took them.
    public private(set) var lastArrival: Microseconds?
    /// Whether a receive takes all the socket holds (up to 16 KB) rather than what the read
    /// asks for: the packets of a read interval then come in one or two system calls instead
    /// of two per packet. Off where a receive's time stamp matters: it is that of the last
    /// segment taken, so a clock-sync message read together with data that came after it would
    /// be stamped late.
    public var readsAhead = false
    /// Bytes received ahead and not yet read. Reads until `wouldBlock` leave it empty, so
    /// poll(2) on the socket still says when there is more.
    private var readAhead: UnsafeMutableRawBufferPointer?
    private var readAheadStart = 0
    private var readAheadEnd = 0
    private static let readAheadCapacity = 16 * 1024
    /// Until the first `handshake()` sees the connection made.
    private var connecting: Bool
    /// A TCP socket (not a local one): its receives ask for immediate ACKs.
    private let isTCP: Bool
    private let stampingArrivals: Bool

    /// Takes over a socket: connected (accepted), or with a non-blocking connect in progress.
    /// `stampingArrivals`: the kernel's receive times are on the system's monotonic clock; a
    /// peer run on another clock (a test's stepped one) goes without them.
    public init(adopting fd: CInt, peer: String, connecting: Bool = false, stampingArrivals: Bool = true) {
        fileDescriptor = fd
        peerDescription = peer
        self.connecting = connecting
        self.stampingArrivals = stampingArrivals
        var one: CInt = 1
        // Small frames every few milliseconds: Nagle would hold them back. It fails on a local
        // (Unix) socket, which has no ACKs to hurry either.
        isTCP = setsockopt(fd, CInt(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<CInt>.size)) == 0
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        // Clock sync takes the kernel's arrival time of a TIME_REQ/TIME_RESP, not when a
        // thread got round to reading it (tens of µs later, and more on one side than the other).
        if stampingArrivals { _ = cmoosync_enable_receive_timestamps(fd) }
    }

    deinit {
        close()
        readAhead?.deallocate()
    }

    public func handshake() -> HandshakeProgress {
        guard connecting else { return .done }
        // Connected once the socket has a peer; until then SO_ERROR says whether it failed.
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let connected =
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fileDescriptor, $0, &length) }
            } == 0
        if connected {
            connecting = false
            return .done
        }
        var soError: CInt = 0
        var len = socklen_t(MemoryLayout<CInt>.size)
        getsockopt(fileDescriptor, SOL_SOCKET, SO_ERROR, &soError, &len)
        return soError == 0 ? .wouldBlock(.write) : .failed(.connect(peer: peerDescription, Errno(soError)))
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        guard buffer.count > 0 else { return .bytes(0) }
        if readAheadStart == readAheadEnd {
            guard readsAhead else { return receive(into: buffer) }
            let ahead = readAhead ?? .allocate(byteCount: Self.readAheadCapacity, alignment: 16)
            readAhead = ahead
            switch receive(into: ahead) {
            case .bytes(let n):
                readAheadStart = 0
                readAheadEnd = n
            case let other: return other
            }
        }
        let n = min(buffer.count, readAheadEnd - readAheadStart)
        buffer.baseAddress!.copyMemory(from: readAhead!.baseAddress! + readAheadStart, byteCount: n)
        readAheadStart += n
        return .bytes(n)
    }

    private func receive(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        while true {
            var arrival: Int64 = 0
            let n = cmoosync_recv_stamped(fileDescriptor, buffer.baseAddress, buffer.count, 0, &arrival)
            if n > 0 {
                if stampingArrivals { lastArrival = arrival }
                if isTCP { acknowledgeAtOnce() }
                return .bytes(n)
            }
            if n == 0 { return .endOfStream }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock(.read)
            default: return .failed(.current)
            }
        }
    }

    /// Linux delays an ACK up to 40 ms once a connection carries data both ways, hoping to ride
    /// it on data. A middlebox that keeps Nagle's algorithm (a naive proxy) then holds its next
    /// small write, a clock reply, until that ACK comes: through such a relay every TIME_RESP
    /// took 20 ms on the way down and the way down's floor went unseen for seconds. The option
    /// lasts until the kernel goes back to delaying, so it is set after every receive.
    private func acknowledgeAtOnce() {
        var one: CInt = 1
        _ = setsockopt(fileDescriptor, CInt(IPPROTO_TCP), CInt(TCP_QUICKACK), &one, socklen_t(MemoryLayout<CInt>.size))
    }

    public func write(_ bytes: UnsafeRawBufferPointer) -> IOResult {
        while true {
            let n = send(fileDescriptor, bytes.baseAddress, bytes.count, CInt(MSG_NOSIGNAL))
            if n >= 0 { return .bytes(n) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock(.write)
            default: return .failed(.current)
            }
        }
    }

    public func close() {
        if fileDescriptor >= 0 {
            Glibc.close(fileDescriptor)
            fileDescriptor = -1
        }
    }
}

/// Plain TCP: what `"encryption": "none"` uses, and what the TLS transport runs over.
public struct TCPTransport: ChannelTransport {
    /// Whether its channels give the kernel's arrival times (`TCPChannel.init`).
    private let stampingArrivals: Bool

    public init(stampingArrivals: Bool = true) { self.stampingArrivals = stampingArrivals }

    public func connect(to address: SocketAddress) throws(TransportError) -> any ByteChannel {
        let fd = socket(address.family, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue) | CInt(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw .socket(.current) }
        let rc = address.withSockaddr { Glibc.connect(fd, $0, $1) }
        if rc != 0 && Errno.current != .inProgress {
            let e = Errno.current
            Glibc.close(fd)
            throw .connect(address: address.description, e)
        }
        return TCPChannel(adopting: fd, peer: address.description, connecting: rc != 0, stampingArrivals: stampingArrivals)
    }

    public func accept(from listener: borrowing TCPListener) -> (any ByteChannel)? { listener.accept(stampingArrivals: stampingArrivals) }
}

public enum TransportError: Error, Equatable, CustomStringConvertible {
    case resolve(host: String, String)
    case socket(Errno)
    case connect(address: String, Errno)
    case listen(port: UInt16, Errno)
    /// The secure layer could not set up a session (the library's words).
    case session(String)

    public var description: String {
        switch self {
        case .resolve(let host, let why): return "cannot resolve \(host): \(why)"
        case .socket(let e): return "cannot create a socket: \(e)"
        case .connect(let address, let e): return "cannot connect to \(address): \(e)"
        case .listen(let port, let e): return "cannot listen on port \(port): \(e)"
        case .session(let why): return why
        }
    }
}
