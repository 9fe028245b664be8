import Foundation
import XCTest

/// The harness itself: what it leaves behind when a run is cut short.
final class HarnessTests: XCTestCase {
    /// A runner killed mid-test (SIGKILL, no chance to clean up) takes the daemons it started
    /// with it. The runner here is a shell that starts one the way `Daemon` does.
    func testADaemonDiesWithTheRunThatStartedIt() throws {
        let command = Process()
        command.setCommand(dyingWithTheTests: ["/bin/sleep", "60"])
        let runner = Process()
        let pipe = Pipe()
        runner.executableURL = URL(fileURLWithPath: "/bin/sh")
        runner.arguments = ["-c", #""$0" "$@" & echo $!; exec sleep 60"#, command.executableURL!.path] + command.arguments!
        runner.standardOutput = pipe
        try runner.run()
        let line = String(decoding: pipe.fileHandleForReading.availableData, as: UTF8.self)
        let daemon = try XCTUnwrap(pid_t(line.trimmingCharacters(in: .whitespacesAndNewlines)), line)
        // Killed before setpriv has asked for the signal, the runner would take nothing with it:
        // a daemon is started long before its runner ends, so wait for the exec.
        let started = Date().addingTimeInterval(2)
        while Self.command(daemon) != "sleep" && Date() < started { usleep(1_000) }
        XCTAssertEqual(Self.command(daemon), "sleep", "the daemon started")
        kill(runner.processIdentifier, SIGKILL)
        let deadline = Date().addingTimeInterval(2)
        while Self.alive(daemon) && Date() < deadline { usleep(10_000) }
        XCTAssertFalse(Self.alive(daemon), "pid \(daemon) outlived the run that started it")
        if Self.alive(daemon) { kill(daemon, SIGKILL) }
        // Only once nothing holds the runner's output open.
        runner.waitUntilExit()
    }

    /// The program `pid` runs now (its comm).
    private static func command(_ pid: pid_t) -> String? {
        (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Running, not a zombie nobody has reaped yet.
    private static func alive(_ pid: pid_t) -> Bool {
        guard let fields = procStat("/proc/\(pid)/stat") else { return false }
        return fields[3] != "Z"
    }
}
