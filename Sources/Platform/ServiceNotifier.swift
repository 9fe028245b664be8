import Core

#if canImport(Glibc)
import Glibc
#endif

/// The service manager's notification socket, spoken without libsystemd (`sd_notify(3)`): a
/// datagram to `$NOTIFY_SOCKET` says the daemon is ready (`Type=notify`), that it is alive
/// (`WatchdogSec=`: from its reactor, so a daemon whose loop is stuck or stopped is restarted),
/// and that it is stopping.
public final class ServiceNotifier {
    private let fd: CInt
    private let address: sockaddr_un
    private let addressLength: socklen_t
    /// How often the service manager wants to hear `WATCHDOG=1`: half its `WatchdogSec=`, so a
    /// late wake-up still beats the deadline. Nil without a watchdog.
    public let watchdogInterval: Microseconds?

    /// The socket `environment` names (`NOTIFY_SOCKET`: a path, or `@` and an abstract name);
    /// nil when there is none, as when the daemon is not run by systemd, or it cannot be used.
    /// `WATCHDOG_USEC` counts only when `WATCHDOG_PID` is absent or this process's.
    public init?(environment: [String: String]) {
        guard let path = environment["NOTIFY_SOCKET"], path.count > 1 else { return nil }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes[0] == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let fd = socket(AF_UNIX, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        self.fd = fd
        self.address = address
        addressLength = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes[0] == 0 ? 0 : 1))
        let pid = environment["WATCHDOG_PID"].flatMap { pid_t($0) }
        let watchdog = environment["WATCHDOG_USEC"].flatMap { Microseconds($0) }
        if let watchdog, watchdog > 0, pid == nil || pid == getpid() {
            watchdogInterval = max(watchdog / 2, 1_000)
        } else {
            watchdogInterval = nil
        }
    }

    /// This process's environment's socket, if it has one.
    public static func fromEnvironment() -> ServiceNotifier? {
        var environment: [String: String] = [:]
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            if let value = getenv(key) { environment[key] = String(cString: value) }
        }
        return ServiceNotifier(environment: environment)
    }

    deinit { close(fd) }

    /// Sends `state` ("READY=1", "WATCHDOG=1", "STOPPING=1", "STATUS=…"); the error if it did
    /// not go (a datagram socket never blocks long: the manager reads them as they come).
    @discardableResult
    public func send(_ state: String) -> Errno? {
        var address = address
        let sent = Array(state.utf8).withUnsafeBytes { bytes in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes.baseAddress, bytes.count, CInt(MSG_NOSIGNAL), $0, addressLength)
                }
            }
        }
        return sent < 0 ? .current : nil
    }
}
