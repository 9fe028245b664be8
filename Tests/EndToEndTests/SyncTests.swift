import Core
import Foundation
import XCTest

/// Receivers on virtual cards whose crystals are off play on the host's schedule: when each
/// click left each card (from its recording and sidecar) against when the host said it is due.
final class SyncTests: XCTestCase {
    /// One second of silence with a one-sample click at its start, stereo.
    private func clickLoop() -> [Int16] {
        var samples = [Int16](repeating: 0, count: 48_000 * 2)
        samples[0] = 20_000
        samples[1] = 20_000
        return samples
    }

    /// Where each click left the card, µs on CLOCK_MONOTONIC.
    private func clickTimes(recording: String) throws -> [Double] {
        let sidecar = try VirtualCard.sidecar(recording)
        let t0 = try XCTUnwrap(sidecar["t0_monotonic_ns"]) / 1000
        let rate = try XCTUnwrap(sidecar["effective_rate"])
        let wav = try WAVAudio.parse(Array(try Data(contentsOf: URL(fileURLWithPath: recording)))).get()
        var times: [Double] = []
        var f = 1
        let frames = wav.frameCount
        while f < frames - 1 {
            let v = Int(wav.samples[f * 2])
            if v > 5_000 && v >= Int(wav.samples[(f - 1) * 2]) && v >= Int(wav.samples[(f + 1) * 2]) {
                // Parabolic refinement around the peak: the resampler spreads a click over a few samples.
                let a = Double(wav.samples[(f - 1) * 2]), b = Double(v), c = Double(wav.samples[(f + 1) * 2])
                let shift = (a - c) / (2 * (a - 2 * b + c))
                times.append(t0 + (Double(f) + (shift.isFinite ? shift : 0)) / rate * 1e6)
                f += 24_000
            } else {
                f += 1
            }
        }
        return times
    }

    func testAReceiverOnACardThreeHundredPPMFastStaysOnTheHostsSchedule() throws {
        try playClicks(ppm: 300)
    }

    func testAReceiverOnACardThreeHundredPPMSlowStaysOnTheHostsSchedule() throws {
        try playClicks(ppm: -300)
    }

    /// Opus delays its output by its look-ahead (6.5 ms); the host says so and the receiver
    /// takes it off the schedule.
    func testOpusIsOnScheduleToo() throws {
        try playClicks(ppm: 150, codec: "opus")
    }

    private func playClicks(ppm: Double, codec: String = "pcm") throws {
        let scratch = try Scratch("drift")
        let wav = try scratch.write("clicks.wav", bytes: WAVAudio(sampleRate: 48_000, channels: 2, samples: clickLoop()).encoded())
        let port = freePort()
        let recording = try scratch.virtualCard("card", ppm: ppm, delayMicroseconds: 1_500)
        let host = try Daemon("mshost", config: try scratch.write("host.json", Configs.host(port: port, source: "wav:" + wav, codec: codec, loop: true)), scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"))
        let receiver = try Daemon("msrecv", config: try scratch.write("recv.json", Configs.receiver(port: port, device: "card", buffer: "200ms")), scratch: scratch)
        XCTAssertTrue(receiver.waitFor("event=Connected"), receiver.log)
        Thread.sleep(forTimeInterval: 15)
        receiver.signal(SIGTERM)
        XCTAssertEqual(receiver.waitForExit(), 0)
        host.signal(SIGTERM)
        _ = host.waitForExit()

        let startField = try XCTUnwrap(host.log.split(separator: " ").first { $0.hasPrefix("stream_start_us=") })
        let streamStart = try XCTUnwrap(Double(startField.dropFirst("stream_start_us=".count).prefix { $0.isNumber }))
        let latency = 200_000.0
        let clicks = try clickTimes(recording: recording)
        XCTAssertGreaterThan(clicks.count, 10)
        // Click m of the stream is due at streamStart + m s + latency.
        let errors = clicks.map { t -> Double in
            let m = ((t - streamStart - latency) / 1e6).rounded()
            return t - (streamStart + m * 1e6 + latency)
        }
        // After 5 s: on schedule and holding still, however fast the card.
        let converged = errors.dropFirst(5).sorted()
        let median = converged[converged.count / 2]
        let spread = converged[converged.count * 9 / 10] - converged[converged.count / 10]
        let resyncs = receiver.log.split(separator: "\n").filter { $0.contains("resynced") }.count
        let syncLine = receiver.log.split(separator: "\n").last { $0.contains("sync: host clock offset") } ?? ""
        print("sync \(ppm) ppm: \(syncLine); card underruns \(try VirtualCard.sidecar(recording)["underruns"] ?? -1)")
        print("sync \(ppm) ppm \(codec): click errors (µs) \(errors.map { Int($0) }); after 5 s median \(Int(median)) µs, p10–p90 spread \(Int(spread)) µs; \(resyncs) resyncs")
        XCTAssertLessThan(abs(median), 100)
        XCTAssertLessThan(spread, 200)
        XCTAssertLessThanOrEqual(resyncs, 1, "one resync at start at most")
    }
}
