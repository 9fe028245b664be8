import Core
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// Why the local control socket could not be served or reached.
public struct LocalSocketError: Error, Equatable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// A Unix stream socket a daemon listens on for its local commands (`mshost clients`, …): a
/// file in its state directory, so only who may reach that file may ask, and nothing on the
/// network can.
public struct LocalListener: ~Copyable {
    public let fileDescriptor: CInt
    public let path: String

    /// `group`: besides the owner, members of this group may use the socket (mode 0660);
    /// without it, the owner only (0600). A socket file left by a daemon that died is replaced;
    /// one a running daemon answers on is not.
    public init(path: String, group: gid_t? = nil) throws(LocalSocketError) {
        var address = try LocalListener.address(path)
        if LocalListener.answers(&address) { throw LocalSocketError("\(path) is in use: is another daemon running with this state_dir?") }
        unlink(path)
        let fd = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue) | CInt(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw LocalSocketError("cannot create a socket: \(Errno.current)") }
        // Created without any permission for others, then opened to the group: never a moment
        // when another user could connect.
        let oldMask = umask(0o177)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(oldMask)
        guard bound == 0 else {
            let e = Errno.current
            close(fd)
            throw LocalSocketError("cannot create \(path): \(e)")
        }
        if let group {
            guard chown(path, uid_t.max, group) == 0, chmod(path, 0o660) == 0 else {
                let e = Errno.current
                close(fd)
                unlink(path)
                throw LocalSocketError("cannot give \(path) to group \(group): \(e)")
            }
        }
        guard listen(fd, 8) == 0 else {
            let e = Errno.current
            close(fd)
            unlink(path)
            throw LocalSocketError("cannot listen on \(path): \(e)")
        }
        fileDescriptor = fd
        self.path = path
    }

    deinit {
        close(fileDescriptor)
        unlink(path)
    }

    /// A pending connection, or nil when none is waiting. The channel type serves any stream socket.
    public func accept() -> TCPChannel? {
        let fd = Glibc.accept(fileDescriptor, nil, nil)
        guard fd >= 0 else { return nil }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return TCPChannel(adopting: fd, peer: "local")
    }

    /// A blocking connection to a daemon's socket, for a command-line tool.
    public static func connect(path: String) -> Result<CInt, LocalSocketError> {
        Result { () throws(LocalSocketError) in
            var address = try LocalListener.address(path)
            let fd = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw LocalSocketError("cannot create a socket: \(Errno.current)") }
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard rc == 0 else {
                let e = Errno.current
                close(fd)
                throw LocalSocketError("cannot reach \(path): \(e)")
            }
            return fd
        }
    }

    private static func address(_ path: String) throws(LocalSocketError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw LocalSocketError("\(path) is too long for a socket (at most \(MemoryLayout.size(ofValue: address.sun_path) - 1) bytes)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        return address
    }

    /// Whether a daemon is listening on the socket at this address now.
    private static func answers(_ address: inout sockaddr_un) -> Bool {
        let fd = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        } == 0
    }
}
