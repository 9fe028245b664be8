import Foundation
import XCTest

/// A real network path between a receiver and its host, played by the userspace relay
/// `Tests/Fixtures/netpath/relay.py`: re-segmentation, in-order delay and jitter, stalls, a
/// freeze and a cut (this kernel has no netem).
final class NetworkPath {
    let port: UInt16
    private let daemon: Daemon

    /// Forwards `127.0.0.1:port` to `127.0.0.1:target` with `options` (relay.py's flags).
    init(to target: UInt16, options: [String] = [], scratch: Scratch, name: String = "relay") throws {
        port = freePort()
        let script = packageRoot + "/Tests/Fixtures/netpath/relay.py"
        // Each relay its own random draws.
        daemon = try Daemon(
            command: ["/usr/bin/python3", script, "--listen", "\(port)", "--to", "127.0.0.1:\(target)", "--seed", "\(port)"] + options,
            scratch: scratch, name: name)
        guard daemon.waitFor("relay ready") else { throw PathError(description: "the relay did not start: \(daemon.log)") }
    }

    /// A byte stream re-segmented as a middlebox does: whatever the socket holds, up to 64 KB,
    /// forwarded at once as one write, with Nagle's algorithm on.
    static let reSegmenting: [String] = []
    /// A busy Wi-Fi hop: every chunk 10 ± 8 ms late (uniform), in order, both ways; no Nagle
    /// (a radio does not hold small frames for an ACK).
    static let jittery = ["--delay", "10", "--jitter", "8", "--nodelay"]

    /// Stops it; its last line counts what passed.
    func stop() -> String {
        daemon.signal(SIGTERM)
        _ = daemon.waitForExit()
        return daemon.log.split(separator: "\n").last.map(String.init) ?? ""
    }

    deinit { daemon.signal(SIGKILL) }
}

struct PathError: Error, CustomStringConvertible {
    let description: String
}
