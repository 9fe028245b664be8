import CMoosyncLinux
import Core
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// SIGINT and SIGTERM as a readable descriptor (signalfd), so the control loop's `poll(2)` sees a
/// shutdown request like any other input and no work happens in a signal handler.
/// Create it before starting other threads: the mask is inherited.
public struct ShutdownSignals: ~Copyable {
    public let fileDescriptor: CInt

    public init() {
        var mask = sigset_t()
        sigemptyset(&mask)
        sigaddset(&mask, SIGINT)
        sigaddset(&mask, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &mask, nil)
        signal(SIGPIPE, SIG_IGN)
        fileDescriptor = signalfd(-1, &mask, CInt(SFD_CLOEXEC | SFD_NONBLOCK))
        precondition(fileDescriptor >= 0, "signalfd: \(Errno.current)")
    }

    private init(unwatched: ()) { fileDescriptor = -1 }

    /// None: an engine run by a test in its own process, which stops it itself (the signals stay
    /// the test runner's).
    public static var unwatched: ShutdownSignals { ShutdownSignals(unwatched: ()) }

    public var isWatched: Bool { fileDescriptor >= 0 }

    deinit { if isWatched { close(fileDescriptor) } }

    /// The signal number if one arrived.
    public func take() -> CInt? {
        guard isWatched else { return nil }
        var info = signalfd_siginfo()
        let n = withUnsafeMutableBytes(of: &info) { read(fileDescriptor, $0.baseAddress, $0.count) }
        return n == MemoryLayout<signalfd_siginfo>.size ? CInt(info.ssi_signo) : nil
    }
}
