import Core
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// A listening TCP socket on all addresses (IPv6 with v4-mapped, or IPv4 where v6 is absent).
public struct TCPListener: ~Copyable {
    public let fileDescriptor: CInt
    /// The port it listens on: the one asked for, or the one the kernel picked for port 0.
    public let port: UInt16

    public init(port: UInt16, backlog: CInt = 16) throws(TransportError) {
        var fd = socket(AF_INET6, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue) | CInt(SOCK_NONBLOCK.rawValue), 0)
        var one: CInt = 1
        var zero: CInt = 0
        if fd >= 0 {
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
            setsockopt(fd, CInt(IPPROTO_IPV6), IPV6_V6ONLY, &zero, socklen_t(MemoryLayout<CInt>.size))
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            addr.sin6_port = port.bigEndian
            addr.sin6_addr = in6addr_any
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
            if rc != 0 {
                let e = Errno.current
                Glibc.close(fd)
                if e.rawValue != EAFNOSUPPORT && e.rawValue != EADDRNOTAVAIL { throw .listen(port: port, e) }
                fd = -1
            }
        }
        if fd < 0 {
            fd = socket(AF_INET, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue) | CInt(SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else { throw .socket(.current) }
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = port.bigEndian
            addr.sin_addr.s_addr = INADDR_ANY
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if rc != 0 {
                let e = Errno.current
                Glibc.close(fd)
                throw .listen(port: port, e)
            }
        }
        guard listen(fd, backlog) == 0 else {
            let e = Errno.current
            Glibc.close(fd)
            throw .listen(port: port, e)
        }
        fileDescriptor = fd
        var bound = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        self.port = named == 0 ? SocketAddress(storage: bound, length: length).port : port
    }

    deinit { Glibc.close(fileDescriptor) }

    /// A pending connection, or nil when none is waiting (`stampingArrivals`: `TCPChannel.init`).
    public func accept(stampingArrivals: Bool = true) -> TCPChannel? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(fileDescriptor, $0, &length) }
        }
        guard fd >= 0 else { return nil }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return TCPChannel(adopting: fd, peer: SocketAddress(storage: storage, length: length).description, stampingArrivals: stampingArrivals)
    }
}
