#if canImport(Glibc)
import Glibc
#endif
import CMoosyncLinux
import Core

/// A connected, non-blocking TCP socket.
public struct TCPChannel: ByteChannel, ~Copyable {
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
    private let readAhead: UnsafeMutableRawBufferPointer
    private var readAheadStart = 0
    private var readAheadEnd = 0
    private static let readAheadCapacity = 16 * 1024

    public init(adopting fd: CInt, peer: String) {
        fileDescriptor = fd
        peerDescription = peer
        readAhead = .allocate(byteCount: Self.readAheadCapacity, alignment: 16)
        var one: CInt = 1
        // Small frames every few milliseconds: Nagle would hold them back.
        _ = setsockopt(fd, CInt(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<CInt>.size))
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        // Clock sync takes the kernel's arrival time of a TIME_REQ/TIME_RESP, not when a
        // thread got round to reading it (tens of µs later, and more on one side than the other).
        _ = cmoosync_enable_receive_timestamps(fd)
    }

    deinit {
        if fileDescriptor >= 0 { Glibc.close(fileDescriptor) }
        readAhead.deallocate()
    }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        guard buffer.count > 0 else { return .bytes(0) }
        if readAheadStart == readAheadEnd {
            guard readsAhead else { return receive(into: buffer) }
            switch receive(into: UnsafeMutableRawBufferPointer(readAhead)) {
            case .bytes(let n):
                readAheadStart = 0
                readAheadEnd = n
            case let other: return other
            }
        }
        let n = min(buffer.count, readAheadEnd - readAheadStart)
        buffer.baseAddress!.copyMemory(from: readAhead.baseAddress! + readAheadStart, byteCount: n)
        readAheadStart += n
        return .bytes(n)
    }

    private mutating func receive(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        while true {
            var arrival: Int64 = 0
            let n = cmoosync_recv_stamped(fileDescriptor, buffer.baseAddress, buffer.count, 0, &arrival)
            if n > 0 {
                lastArrival = arrival
                return .bytes(n)
            }
            if n == 0 { return .endOfStream }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: return .failed(.current)
            }
        }
    }

    public mutating func write(_ bytes: UnsafeRawBufferPointer) -> IOResult {
        while true {
            let n = send(fileDescriptor, bytes.baseAddress, bytes.count, CInt(MSG_NOSIGNAL))
            if n >= 0 { return .bytes(n) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: return .failed(.current)
            }
        }
    }

    public mutating func close() {
        if fileDescriptor >= 0 {
            Glibc.close(fileDescriptor)
            fileDescriptor = -1
        }
    }

    /// Connects to `host:port` within `timeout` µs.
    public static func connect(host: String, port: UInt16, timeout: Microseconds) -> Result<TCPChannel, TransportError> {
        let addresses: [SocketAddress]
        switch SocketAddress.resolve(host: host, port: port) {
        case .success(let a): addresses = a
        case .failure(let e): return .failure(e)
        }
        var lastError = TransportError.connect(host: host, port: port, Errno.connectionRefused)
        for address in addresses {
            let fd = socket(address.family, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue) | CInt(SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else { return .failure(.socket(.current)) }
            let rc = address.withSockaddr { Glibc.connect(fd, $0, $1) }
            if rc != 0 && errno != EINPROGRESS {
                lastError = .connect(host: host, port: port, .current)
                Glibc.close(fd)
                continue
            }
            if rc != 0 {
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let ready = poll(&pfd, 1, CInt(max(timeout / 1000, 1)))
                if ready == 0 {
                    lastError = .connect(host: host, port: port, .timedOut)
                    Glibc.close(fd)
                    continue
                }
                var soError: CInt = 0
                var len = socklen_t(MemoryLayout<CInt>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len)
                if soError != 0 {
                    lastError = .connect(host: host, port: port, Errno(soError))
                    Glibc.close(fd)
                    continue
                }
            }
            return .success(TCPChannel(adopting: fd, peer: "\(address)"))
        }
        return .failure(lastError)
    }
}

public enum TransportError: Error, Equatable, CustomStringConvertible {
    case resolve(host: String, String)
    case socket(Errno)
    case connect(host: String, port: UInt16, Errno)
    case listen(port: UInt16, Errno)

    public var description: String {
        switch self {
        case .resolve(let host, let why): return "cannot resolve \(host): \(why)"
        case .socket(let e): return "cannot create a socket: \(e)"
        case .connect(let host, let port, let e): return "cannot connect to \(host):\(port): \(e)"
        case .listen(let port, let e): return "cannot listen on port \(port): \(e)"
        }
    }
}
