import Foundation
import Platform
import TestSupport
import XCTest

/// What systemd's environment says and what reaches its socket.
final class ServiceNotifierTests: XCTestCase {
    func testNoSocketNoNotifierAndAWatchdogOnlyForThisProcess() {
        XCTAssertNil(ServiceNotifier(environment: [:]))
        XCTAssertNil(ServiceNotifier(environment: ["NOTIFY_SOCKET": "/" + String(repeating: "x", count: 200)]), "too long for a socket")
        let path = NSTemporaryDirectory() + "notify-plain-\(getpid())"
        XCTAssertNil(ServiceNotifier(environment: ["NOTIFY_SOCKET": path])?.watchdogInterval, "no watchdog asked for")
        XCTAssertEqual(ServiceNotifier(environment: ["NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000"])?.watchdogInterval, 5_000_000)
        XCTAssertEqual(
            ServiceNotifier(environment: ["NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "\(getpid())"])?.watchdogInterval, 5_000_000)
        XCTAssertNil(
            ServiceNotifier(environment: ["NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "\(getpid() + 1)"])?.watchdogInterval,
            "another process's watchdog")
    }

    func testMessagesReachAPathAndAnAbstractSocket() throws {
        for name in [NSTemporaryDirectory() + "notify-\(getpid())", "@moosync-notify-\(getpid())"] {
            let manager = NotifySocket(name: name)
            let notifier = try XCTUnwrap(ServiceNotifier(environment: ["NOTIFY_SOCKET": name]))
            XCTAssertNil(notifier.send("READY=1"))
            XCTAssertNil(notifier.send("WATCHDOG=1"))
            XCTAssertEqual(manager.received(), ["READY=1", "WATCHDOG=1"], name)
        }
    }
}
