import Core
import Foundation
import XCTest

/// Adaptive bitrate against loss (issue 18 §3), measured from outside: a receiver in a network
/// namespace whose link drops a fifth of the TCP segments that reach it (nftables). Over TCP a
/// lost segment is a stall until it is sent again, and one lost twice waits for the
/// retransmission timer (200 ms and more): packets come later than a 100 ms buffer holds, the
/// receiver conceals them and says so in its STATUS, and the host steps it down.
final class LossyLinkTests: XCTestCase {
    /// The host (`adaptive`), and a receiver behind a link that drops 20 % of what reaches it.
    private func playThroughLoss(adaptive: Bool, _ scratch: Scratch) throws -> (link: LossyLink, host: Daemon, hostConfig: String, receiver: Daemon) {
        let link = try LossyLink(lossPercent: 20)
        let port = freePort()
        _ = try scratch.virtualCard("porch")
        let hostConfig = try scratch.write("host.json", Configs.host(port: port, source: "tone:440", codec: "opus", bitrate: 256_000, adaptive: adaptive))
        let host = try Daemon("mshost", config: hostConfig, scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"), host.log)
        let config = try scratch.write(
            "porch.json",
            Configs.receiver(
                port: nil, device: "porch", buffer: "100ms",
                extra: ", \"host\": \"\(link.outsideAddress):\(port)\""))
        let receiver = try Daemon(command: link.inside([binDirectory + "/msrecv", "--config", config]), scratch: scratch, name: "porch")
        XCTAssertTrue(receiver.waitFor("event=Connected", timeout: 15), receiver.log)
        return (link, host, hostConfig, receiver)
    }

    /// `adaptive_bitrate: false` (SCHEMA: every receiver gets `bitrate`): the same loss moves
    /// nobody, though the receiver reports it.
    func testWithoutAdaptiveBitrateTheReceiverKeepsTheBitrate() throws {
        let scratch = try Scratch("lossy-fixed")
        let (link, host, _, receiver) = try playThroughLoss(adaptive: false, scratch)
        Thread.sleep(forTimeInterval: 8)
        receiver.signal(SIGTERM)
        XCTAssertEqual(receiver.waitForExit(), 0, receiver.log)
        host.signal(SIGTERM)
        XCTAssertEqual(host.waitForExit(), 0, host.log)
        let concealed = receiver.log.components(separatedBy: "concealed ").dropFirst().compactMap { Int($0.prefix { $0.isNumber }) }.max() ?? 0
        print("lossy link, adaptive bitrate off: \(link.dropped()) segments dropped, \(concealed) packets concealed")
        XCTAssertGreaterThan(concealed, 20, "the loss was there to react to: \(receiver.log)")
        XCTAssertFalse(receiver.log.contains("QualityChanged"), receiver.log)
        XCTAssertFalse(host.log.contains("kbit/s ("), host.log)
    }

    func testAReceiverThatLosesPacketsIsSteppedDown() throws {
        let scratch = try Scratch("lossy-link")
        let (link, host, hostConfig, receiver) = try playThroughLoss(adaptive: true, scratch)
        XCTAssertTrue(receiver.waitFor("event=QualityChanged bitrate=128000", timeout: 20), "stepped down: \(receiver.log)")
        let (status, listed) = try runToCompletion("mshost", ["clients", "--json", "--config", hostConfig])
        XCTAssertEqual(status, 0, listed)
        receiver.signal(SIGTERM)
        XCTAssertEqual(receiver.waitForExit(), 0, receiver.log)
        host.signal(SIGTERM)
        XCTAssertEqual(host.waitForExit(), 0, host.log)
        let steps = host.log.split(separator: "\n").filter { $0.contains("kbit/s (") }
        print("lossy link: \(link.dropped()) segments dropped; the host's steps:\n" + steps.joined(separator: "\n"))
        // For its loss, or for what the loss left queued (a retransmission timer's stall).
        XCTAssertTrue(
            steps.first.map { $0.contains("of its packets lost or late") || $0.contains("of audio waiting for the path") } ?? false,
            "stepped down for its loss: \(host.log)")
        let reply = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [String: Any], listed)
        let porch = try XCTUnwrap((reply["clients"] as? [[String: Any]])?.first { $0["name"] as? String == "porch" }, listed)
        XCTAssertLessThanOrEqual(porch["bitrate"] as? Int ?? .max, 128_000, listed)
        XCTAssertTrue(receiver.log.contains("played "), receiver.log)
    }
}
