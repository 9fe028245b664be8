import Foundation
import XCTest

/// A private mDNS stack for discovery tests: its own `dbus-daemon --system` (a bus socket in a
/// scratch folder) and an avahi-daemon on loopback only (never the machine's real interfaces),
/// which the daemons a test starts reach through `DBUS_SYSTEM_BUS_ADDRESS` (`use(in:)`). Always
/// private, even where the machine runs its own: a test never publishes on a real network.
///
/// avahi-daemon's pid file and socket paths are fixed under /run, so it runs in its own mount
/// namespace over a tmpfs /run (`unshare -m`); it drops to the `avahi` user, so the folder is 0755.
final class MDNSDaemon {
    let directory: String
    let busAddress: String
    private let bus = Process()
    private var avahi: Process?
    private var avahiLogs = 0

    init() throws {
        directory = "/tmp/moosync-mdns-\(getpid())-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        busAddress = "unix:path=\(directory)/bus.sock"
        try """
        <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
        <busconfig>
          <type>system</type>
          <listen>\(busAddress)</listen>
          <auth>EXTERNAL</auth>
          <policy context="default">
            <allow user="*"/> <allow own="*"/> <allow send_type="method_call"/> <allow send_destination="*"/> <allow receive_type="*"/>
          </policy>
        </busconfig>
        """.write(toFile: directory + "/bus.conf", atomically: true, encoding: .utf8)
        try """
        [server]
        host-name=moosync-test
        allow-interfaces=lo
        use-ipv4=yes
        use-ipv6=no
        [wide-area]
        enable-wide-area=no
        [publish]
        publish-aaaa-on-ipv4=no
        publish-hinfo=no
        publish-workstation=no
        """.write(toFile: directory + "/avahi.conf", atomically: true, encoding: .utf8)
        bus.setCommand(dyingWithTheTests: ["/usr/bin/dbus-daemon", "--config-file=\(directory)/bus.conf", "--nofork"])
        bus.standardOutput = FileHandle.nullDevice
        bus.standardError = FileHandle.nullDevice
        try bus.run()
        let deadline = Date().addingTimeInterval(5)
        while !FileManager.default.fileExists(atPath: directory + "/bus.sock") && bus.isRunning && Date() < deadline { usleep(10_000) }
        guard FileManager.default.fileExists(atPath: directory + "/bus.sock") else {
            throw MDNSDaemonError("dbus-daemon did not start (scripts/install-deps.sh installs dbus)")
        }
        try startAvahi()
    }

    deinit {
        stopAvahi()
        if bus.isRunning {
            bus.terminate()
            bus.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The daemons `scratch` starts use this stack.
    func use(in scratch: Scratch) { scratch.environmentOverrides["DBUS_SYSTEM_BUS_ADDRESS"] = busAddress }

    /// Starts avahi-daemon and waits until it serves.
    func startAvahi() throws {
        avahiLogs += 1
        let log = directory + "/avahi-\(avahiLogs).log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let process = Process()
        process.setCommand(dyingWithTheTests: [
            "/usr/bin/unshare", "-m", "--kill-child=SIGTERM", "--fork", "sh", "-c",
            "mount -t tmpfs tmpfs /run && exec /usr/sbin/avahi-daemon -f \(directory)/avahi.conf --no-chroot --no-rlimits",
        ])
        process.environment = ProcessInfo.processInfo.environment.merging(["DBUS_SYSTEM_BUS_ADDRESS": busAddress]) { $1 }
        process.standardOutput = FileHandle(forWritingAtPath: log)
        process.standardError = FileHandle(forWritingAtPath: log)
        try process.run()
        avahi = process
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if text.contains("Server startup complete") { return }
            if !process.isRunning { break }
            usleep(20_000)
        }
        throw MDNSDaemonError("avahi-daemon did not start (scripts/install-deps.sh installs it): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }

    /// Stops avahi-daemon, as a restart or a crash would.
    func stopAvahi() {
        guard let avahi, avahi.isRunning else { return }
        // unshare ignores SIGTERM while it waits for its child: the daemon is stopped itself,
        // and waited for, so that a daemon started next never meets it on the network.
        let unshare = avahi.processIdentifier
        let children = (try? String(contentsOfFile: "/proc/\(unshare)/task/\(unshare)/children", encoding: .utf8)) ?? ""
        if let daemon = pid_t(children.split(separator: " ").first ?? "") { kill(daemon, SIGTERM) } else { kill(unshare, SIGKILL) }
        avahi.waitUntilExit()
        self.avahi = nil
    }
}

/// The test stack could not start: the test fails, saying why (CI installs both daemons).
struct MDNSDaemonError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
