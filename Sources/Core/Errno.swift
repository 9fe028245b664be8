#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A POSIX error number, as swift-system models it: named cases for the ones we branch on, a
/// `strerror` description for the rest.
public struct Errno: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: CInt

    public init(_ rawValue: CInt) { self.rawValue = rawValue }

    /// The calling thread's current errno.
    public static var current: Errno { Errno(errno) }

    public static let interrupted = Errno(EINTR)
    public static let wouldBlock = Errno(EAGAIN)
    public static let inProgress = Errno(EINPROGRESS)
    public static let brokenPipe = Errno(EPIPE)
    public static let connectionRefused = Errno(ECONNREFUSED)
    public static let connectionReset = Errno(ECONNRESET)
    public static let timedOut = Errno(ETIMEDOUT)
    public static let noEntry = Errno(ENOENT)
    public static let fileTooLarge = Errno(EFBIG)

    public var description: String { String(cString: strerror(rawValue)) }

    public static func ~= (lhs: Errno, rhs: Error) -> Bool { (rhs as? Errno) == lhs }
}
