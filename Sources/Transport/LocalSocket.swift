import Core
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// Why the local control socket could not be served or reached.
public enum LocalSocketError: Error, Equatable, CustomStringConvertible {
    /// Another daemon answers on the path.
    case inUse(path: String)
    case socket(Errno)
    case create(path: String, Errno)
    case giveToGroup(path: String, group: gid_t, Errno)
    case listen(path: String, Errno)
    case reach(path: String, Errno)
    case pathTooLong(path: String, limit: Int)

    public var description: String {
        switch self {
        case .inUse(let path): "\(path) is in use: is another daemon running with this state_dir?"
        case .socket(let e): "cannot create a socket: \(e)"
        case .create(let path, let e): "cannot create \(path): \(e)"
        case .giveToGroup(let path, let group, let e): "cannot give \(path) to group \(group): \(e)"
        case .listen(let path, let e): "cannot listen on \(path): \(e)"
        case .reach(let path, let e): "cannot reach \(path): \(e)"
        case .pathTooLong(let path, let limit): "\(path) is too long for a socket (at most \(limit) bytes)"
        }
    }
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
        if LocalListener.answers(&address) { throw .inUse(path: path) }
        unlink(path)
        let fd = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue) | CInt(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw .socket(.current) }
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
            throw .create(path: path, e)
        }
        if let group {
            guard chown(path, uid_t.max, group) == 0, chmod(path, 0o660) == 0 else {
                let e = Errno.current
                close(fd)
                unlink(path)
                throw .giveToGroup(path: path, group: group, e)
            }
        }
        guard listen(fd, 8) == 0 else {
            let e = Errno.current
            close(fd)
            unlink(path)
            throw .listen(path: path, e)
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
    public static func connect(path: String) throws(LocalSocketError) -> CInt {
        var address = try LocalListener.address(path)
        let fd = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .socket(.current) }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let e = Errno.current
            close(fd)
            throw .reach(path: path, e)
        }
        return fd
    }

    private static func address(_ path: String) throws(LocalSocketError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw .pathTooLong(path: path, limit: MemoryLayout.size(ofValue: address.sun_path) - 1)
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
