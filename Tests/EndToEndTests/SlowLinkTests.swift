import Core
import Foundation
import Platform
import XCTest

/// Adaptive bitrate (issue 18 §3), measured from outside: an Opus host at 256 kbit/s with
/// `adaptive_bitrate`, one room connected directly and one behind a link that carries 200 kbit/s
/// (a slow Wi-Fi hop) for its first 12 s, then whatever is sent. The relayed room must be moved
/// down while the link is slow and back up once it is not, each switch told to both ends, and
/// no switch may move its playout: once the link recovered, no resync and every click within
/// 300 µs of the direct room's, the clicks around the last step where they were.
final class SlowLinkTests: XCTestCase {
    func testAReceiverBehindASlowLinkIsSteppedDownAndBackUpWithoutMovingItsPlayout() throws {
        let scratch = try Scratch("slow-link")
        // Noise under the clicks: Opus spends its whole bitrate on it, as on dense music.
        let wav = try scratch.write("clicks.wav", bytes: ClickTrack.wav(noise: 2_000))
        let port = freePort()
        let latency: Microseconds = 1_000_000
        let study = try scratch.virtualCard("study", delayMicroseconds: 1_000)
        let kitchen = try scratch.virtualCard("kitchen", ppm: 150, delayMicroseconds: 1_500)
        let hostConfig = try scratch.write(
            "host.json", Configs.host(port: port, source: "wav:" + wav, codec: "opus", loop: true, bitrate: 256_000, adaptive: true))
        let host = try Daemon("mshost", config: hostConfig, scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"), host.log)
        let slowFor = 12.0
        let path = try NetworkPath(to: port, options: ["--rate", "200", "--rate-until", String(slowFor), "--queue", "8000", "--nodelay"], scratch: scratch)
        let linkRecovered = Date().addingTimeInterval(slowFor)
        let receivers = try [("study", port), ("kitchen", path.port)].map { name, target in
            try Daemon(
                "msrecv", config: try scratch.write(name + ".json", Configs.receiver(port: target, device: name, buffer: "1s")), scratch: scratch, name: name)
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
        let resyncsBefore = receivers[1].count("resynced")
        let upAgain = host.count("bitrate=256000")
        XCTAssertTrue(host.waitFor("bitrate=256000", times: upAgain + 1, timeout: 35), host.log)
        // The best tier's first frame plays a buffer (1 s) after the switch.
        let bestFromDue = Double(SystemClock().now()) + Double(latency)
        XCTAssertTrue(receivers[1].waitFor("event=QualityChanged bitrate=256000", timeout: 2), receivers[1].log)
        Thread.sleep(forTimeInterval: 4.5)
        // A click due as the receivers stop is in one recording and maybe not the other.
        let stopped = Double(SystemClock().now())
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
        // has moved to the path's new floors) to the end, across the steps back up: every click.
        let clean = direct.keys.filter { due($0) > recovered + 5e6 && due($0) < stopped - 500_000 }.sorted()
        let missed = clean.filter { relayed[$0] == nil }
        let skew = { (m: Int) in relayed[m].map { $0 - direct[m]! } }
        let skews = clean.compactMap(skew).map(abs)
        print(
            "slow link: after the link recovered, skew against the direct room median \(Int(ClickTrack.percentile(skews, 0.5))) µs, p99 "
                + "\(Int(ClickTrack.percentile(skews, 0.99))) µs over \(skews.count) clicks; missed \(missed)"
        )
        print("slow link: relayed − direct (µs) by click: " + clean.map { m in skew(m).map { String(Int($0)) } ?? "-" }.joined(separator: ", "))
        XCTAssertGreaterThanOrEqual(clean.count, 8)
        XCTAssertEqual(missed, [], receivers[1].log)
        // The clock estimate learnt through the full link is not kept: a drift fitted from its
        // wander and kept across the recovery moved this room up to 0.8 ms (the recording is
        // `ClockEstimatorTests`'); six runs since, 61 µs at most.
        XCTAssertLessThan(skews.max() ?? .infinity, 300, receivers[1].log)
        // A step up does not move the room's playout: no resync once the link recovered (a move
        // of the schedule would be one), and the clicks around the last step sit where they sat.
        let before = clean.filter { due($0) < bestFromDue - 50_000 }.suffix(3).compactMap(skew)
        let after = clean.filter { due($0) > bestFromDue + 50_000 }.prefix(3).compactMap(skew)
        let moved = after.reduce(0, +) / Double(max(after.count, 1)) - before.reduce(0, +) / Double(max(before.count, 1))
        print("slow link: across the step to 256 kbit/s the room moved \(Int(moved)) µs (before \(before.map(Int.init)), after \(after.map(Int.init)))")
        XCTAssertEqual(before.count + after.count, 6)
        XCTAssertLessThan(abs(moved), 150, "the step up left the room's playout where it was")
        XCTAssertEqual(receivers[1].count("resynced"), resyncsBefore, "no resync since the link recovered: \(receivers[1].log)")
    }
}
