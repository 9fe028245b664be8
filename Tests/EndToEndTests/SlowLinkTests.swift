import Core
import Foundation
import XCTest

/// Adaptive bitrate (issue 18 §3), measured from outside: an Opus host at 256 kbit/s with
/// `adaptive_bitrate`, one room connected directly and one behind a link that carries 200 kbit/s
/// (a slow Wi-Fi hop) for its first 12 s, then whatever is sent. The relayed room must be moved
/// down while the link is slow and back up once it is not, each switch told to both ends, and
/// its playout must stay where it was: the clicks after the link recovered, across the switches
/// back up, play with the direct room's.
final class SlowLinkTests: XCTestCase {
    func testAReceiverBehindASlowLinkIsSteppedDownAndBackUpWithoutMovingItsPlayout() throws {
        let scratch = try Scratch("slow-link")
        // Noise under the clicks: Opus spends its whole bitrate on it, as on dense music.
        let wav = try scratch.write("clicks.wav", bytes: ClickTrack.wav(noise: 2_000))
        let port = freePort()
        let latency: Microseconds = 1_000_000
        let study = try scratch.virtualCard("study", delayMicroseconds: 1_000)
        let kitchen = try scratch.virtualCard("kitchen", ppm: 150, delayMicroseconds: 1_500)
        let hostConfig = try scratch.write("host.json", Configs.host(port: port, source: "wav:" + wav, codec: "opus", loop: true, bitrate: 256_000, adaptive: true))
        let host = try Daemon("mshost", config: hostConfig, scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"), host.log)
        let slowFor = 12.0
        let path = try NetworkPath(to: port, options: ["--rate", "200", "--rate-until", String(slowFor), "--queue", "8000", "--nodelay"], scratch: scratch)
        let linkRecovered = Date().addingTimeInterval(slowFor)
        let receivers = try [("study", port), ("kitchen", path.port)].map { name, target in
            try Daemon("msrecv", config: try scratch.write(name + ".json", Configs.receiver(port: target, device: name, buffer: "1s")), scratch: scratch, name: name)
        }
        for r in receivers { XCTAssertTrue(r.waitFor("event=Connected"), r.log) }

        // Down while the link is slow, and the client list says so.
        XCTAssertTrue(host.waitFor("bitrate=128000", timeout: 8), host.log)
        XCTAssertTrue(receivers[1].waitFor("event=QualityChanged bitrate=128000"), receivers[1].log)
        let (status, listed) = try runToCompletion("mshost", ["clients", "--json", "--config", hostConfig])
        XCTAssertEqual(status, 0, listed)
        let reply = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [String: Any], listed)
        let clients = try XCTUnwrap(reply["clients"] as? [[String: Any]], listed)
        let bitrate = { (name: String) in clients.first { $0["name"] as? String == name }?["bitrate"] as? Int }
        XCTAssertLessThanOrEqual(bitrate("kitchen") ?? .max, 128_000, listed)
        XCTAssertEqual(bitrate("study"), 256_000, listed)

        // Back up once the link carries the stream again (10 s of a clean path a step).
        Thread.sleep(until: linkRecovered)
        let recovered = Double(SystemClock().now())
        let upAgain = host.count("bitrate=256000")
        XCTAssertTrue(host.waitFor("bitrate=256000", times: upAgain + 1, timeout: 35), host.log)
        XCTAssertTrue(receivers[1].waitFor("event=QualityChanged bitrate=256000", timeout: 2), receivers[1].log)
        Thread.sleep(forTimeInterval: 3)
        stopAll(receivers)
        host.signal(SIGTERM)
        _ = host.waitForExit()
        print("slow link: \(path.stop())")
        XCTAssertFalse(receivers[0].log.contains("QualityChanged"), "the direct room keeps the best tier: \(receivers[0].log)")
        let steps = host.log.split(separator: "\n").filter { $0.contains("kbit/s (") }
        print("slow link: the kitchen's steps:\n" + steps.joined(separator: "\n"))

        let streamStart = try ClickTrack.streamStart(hostLog: host.log)
        let direct = ClickTrack.errors(try ClickTrack.times(recording: study), streamStart: streamStart, latency: Double(latency))
        let relayed = ClickTrack.errors(try ClickTrack.times(recording: kitchen), streamStart: streamStart, latency: Double(latency))
        func due(_ m: Int) -> Double { streamStart + Double(m) * 1e6 + Double(latency) }
        // From 5 s after the link recovered (what it queued has drained, and the clock estimate
        // has moved to the path's new floors) to the end, across the steps back up: every click,
        // with the direct room's.
        let clean = direct.keys.filter { due($0) > recovered + 5e6 }.sorted()
        let missed = clean.filter { relayed[$0] == nil }
        let skews = clean.compactMap { m in relayed[m].map { abs($0 - direct[m]!) } }
        print("slow link: after the link recovered, skew against the direct room median \(Int(ClickTrack.percentile(skews, 0.5))) µs, p99 \(Int(ClickTrack.percentile(skews, 0.99))) µs over \(skews.count) clicks; missed \(missed)")
        print("slow link: relayed − direct (µs) by click, the steps up among them: " + clean.map { m in relayed[m].map { String(Int($0 - direct[m]!)) } ?? "-" }.joined(separator: ", "))
        XCTAssertGreaterThanOrEqual(clean.count, 8)
        XCTAssertEqual(missed, [], receivers[1].log)
        XCTAssertLessThan(ClickTrack.percentile(skews, 0.99), 250, "the switches did not move its playout: \(receivers[1].log)")
    }
}
