import Config
import Core
import Foundation
import Platform
import XCTest

/// The dynamic buffer (issue 18 §4), measured from outside: two rooms at 200 ms (up to 1 s), the
/// study connected directly, the kitchen through a relay that holds 2 % of its chunks 300 ms
/// longer for its first 20 s. The kitchen's late packets raise the buffer it asks for, the host
/// moves the group to it, and both rooms play at the new delay together; the study, whose own
/// path is clean, follows it. A minute after the stalls end, the kitchen asks for an eighth of
/// its floor less, and the group comes down by as much, both rooms again together.
final class DynamicBufferTests: XCTestCase {
    func testAStallingPathGrowsTheGroupsBufferAndACalmOneShrinksIt() throws {
        let scratch = try Scratch("dynamic-buffer")
        let wav = try scratch.write("clicks.wav", bytes: ClickTrack.wav())
        let port = freePort()
        let study = try scratch.virtualCard("study", delayMicroseconds: 1_000)
        let kitchen = try scratch.virtualCard("kitchen", ppm: 150, delayMicroseconds: 1_500)
        let host = try Daemon("mshost", config: try scratch.write("host.json", Configs.host(port: port, source: "wav:" + wav, loop: true)), scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"))
        let path = try NetworkPath(to: port, options: ["--stall-percent", "2", "--stall-ms", "300", "--stall-until", "20", "--nodelay"], scratch: scratch)
        let receivers = try [("study", port), ("kitchen", path.port)].map { name, target in
            try Daemon(
                "msrecv", config: try scratch.write(name + ".json", Configs.receiver(port: target, device: name, extra: ", \"max_buffer_size\": \"1s\"")),
                scratch: scratch, name: name)
        }
        for r in receivers { XCTAssertTrue(r.waitFor("event=Connected"), r.log) }
        // The host's words on the group's buffer: (the buffer, from which stream time).
        func groupMoves() -> [(buffer: Microseconds, from: Microseconds)] {
            host.log.split(separator: "\n").filter { $0.contains("the group plays") }.compactMap { line in
                let words = line.split(separator: " ")
                guard let group = words.firstIndex(of: "plays").flatMap({ parseDuration(String(words[$0 + 1])) }),
                    let from = words.firstIndex(of: "time").flatMap({ parseDuration(String(words[$0 + 1])) })
                else { return nil }
                return (group, from)
            }
        }
        // Until the group has come down (a minute after the last late packet, about 80 s in),
        // at most 110 s, and then 9 s of clicks at the delay it came down to.
        let started = Date()
        func cameDown() -> Bool {
            let buffers = groupMoves().map(\.buffer)
            return buffers.last.map { $0 < buffers.max()! } ?? false
        }
        while Date().timeIntervalSince(started) < 110 && !cameDown() { Thread.sleep(forTimeInterval: 1) }
        Thread.sleep(forTimeInterval: 9)
        let stopped = Double(SystemClock().now())
        stopAll(receivers)
        host.signal(SIGTERM)
        _ = host.waitForExit()
        print("dynamic buffer: relay \(path.stop())")

        let moves = groupMoves()
        print(
            "dynamic buffer: the host moved the group \(moves.count) time(s): \(moves.map { "\(formatDuration($0.buffer)) from \(formatDuration($0.from))" })")
        let peak = try XCTUnwrap(moves.map(\.buffer).max(), host.log)
        let (group, from) = try XCTUnwrap(moves.last)
        XCTAssertGreaterThanOrEqual(peak, 300_000, "the kitchen's late packets raised it")
        XCTAssertLessThanOrEqual(peak, 1_000_000, "within max_buffer_size")
        XCTAssertEqual(group, peak - 25_000, "a calm minute brought it down by an eighth of the floor: \(receivers[1].log)")
        XCTAssertTrue(receivers[1].log.contains("this speaker asks the host for"), receivers[1].log)
        for r in receivers {
            for buffer in [peak, group] {
                XCTAssertTrue(r.log.contains("buffer: the group plays \(formatDuration(buffer)) behind the host"), "\(r.name): \(r.log)")
            }
        }

        // From 2 s after it came down, both rooms play every click at the group's delay, together.
        let streamStart = try ClickTrack.streamStart(hostLog: host.log)
        func due(_ m: Int) -> Double { streamStart + Double(m) * 1e6 + Double(group) }
        let direct = ClickTrack.errors(try ClickTrack.times(recording: study), streamStart: streamStart, latency: Double(group))
        let relayed = ClickTrack.errors(try ClickTrack.times(recording: kitchen), streamStart: streamStart, latency: Double(group))
        let expected = Array(Int(((Double(from) + 2e6 + Double(group)) / 1e6).rounded(.up))...Int(((stopped - 500_000 - due(0)) / 1e6).rounded(.down)))
        let skews = expected.compactMap { m in direct[m].flatMap { a in relayed[m].map { abs(a - $0) } } }
        print(
            "dynamic buffer: the group at \(formatDuration(group)) from stream time \(formatDuration(from)); after it, study errors (µs) "
                + "\(expected.compactMap { direct[$0].map(Int.init) }), kitchen \(expected.compactMap { relayed[$0].map(Int.init) }); "
                + "skew p99 \(skews.isEmpty ? -1 : Int(ClickTrack.percentile(skews, 0.99))) µs over \(skews.count) clicks")
        XCTAssertGreaterThanOrEqual(expected.count, 5, "clicks at the delay the group came down to: \(moves)")
        XCTAssertEqual(expected.filter { direct[$0] == nil }, [], "the study played every click at the group's delay: \(receivers[0].log)")
        XCTAssertEqual(expected.filter { relayed[$0] == nil }, [], "the kitchen played every click at the group's delay: \(receivers[1].log)")
        for m in expected {
            if let e = direct[m] { XCTAssertLessThan(abs(e), 1_000, "study click \(m)") }
            if let e = relayed[m] { XCTAssertLessThan(abs(e), 1_000, "kitchen click \(m)") }
        }
        XCTAssertLessThan(ClickTrack.percentile(skews, 0.99), 250, "the rooms together")
    }
}
