import Foundation
import XCTest

/// A host of the test's own behind a lossy link: a network namespace joined to this one by a
/// veth pair, where nftables drops a share of the TCP segments that come in (this kernel has no
/// netem). A receiver run `inside` reaches this machine's daemons at `outsideAddress`.
final class LossyLink {
    let name: String
    let outsideAddress: String
    let insideAddress: String
    private let outsideLink: String

    init(lossPercent: Int) throws {
        // Short: an interface name holds 15 bytes.
        let tag = "\(getpid() % 100_000)\(Int.random(in: 10...99))"
        let subnet = Int.random(in: 1...250)
        name = "moosync-loss-\(tag)"
        outsideLink = "mso\(tag)"
        outsideAddress = "10.213.\(subnet).1"
        insideAddress = "10.213.\(subnet).2"
        try Self.run(["ip", "netns", "add", name])
        do {
            try Self.run(["ip", "link", "add", outsideLink, "type", "veth", "peer", "name", "msi\(tag)", "netns", name])
            try Self.run(["ip", "addr", "add", outsideAddress + "/30", "dev", outsideLink])
            try Self.run(["ip", "link", "set", outsideLink, "up"])
            try Self.run(inside(["ip", "addr", "add", insideAddress + "/30", "dev", "msi\(tag)"]))
            try Self.run(inside(["ip", "link", "set", "msi\(tag)", "up"]))
            try Self.run(inside(["ip", "link", "set", "lo", "up"]))
            try Self.run(
                inside([
                    "nft",
                    "add table inet loss; add chain inet loss in { type filter hook input priority 0; }; "
                        + "add rule inet loss in meta l4proto tcp numgen random mod 100 < \(lossPercent) counter drop",
                ]))
        } catch {
            _ = try? Self.run(["ip", "netns", "del", name])
            throw error
        }
    }

    deinit {
        // The veth pair goes with the namespace.
        _ = try? Self.run(["ip", "netns", "del", name])
    }

    /// `command` run inside the namespace.
    func inside(_ command: [String]) -> [String] { ["/usr/sbin/ip", "netns", "exec", name] + command }

    /// The segments nftables dropped so far.
    func dropped() -> Int {
        let listed = (try? Self.run(inside(["nft", "list", "chain", "inet", "loss", "in"]))) ?? ""
        guard let range = listed.range(of: "packets ") else { return 0 }
        return Int(listed[range.upperBound...].prefix { $0.isNumber }) ?? 0
    }

    struct LinkError: Error, CustomStringConvertible { let description: String }

    @discardableResult
    private static func run(_ command: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0].hasPrefix("/") ? command[0] : "/usr/sbin/" + command[0])
        process.arguments = Array(command.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw LinkError(
                description: "a lossy link needs root, iproute2 and nftables (scripts/install-deps.sh): \(command.joined(separator: " ")): \(output)")
        }
        return output
    }
}
