import Audio
import Config
import Core
import Foundation
import Platform
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A clean, fast start (issue 10): with a known host, the first sound comes within 0.3 s of
/// msrecv's start whatever its buffer (the host sends what the buffer still holds of the recent
/// past), already on schedule, and nothing is dropped or inserted after it (before: one buffer
/// after the start, 0.5 s at "500ms" and 2 s at "2s", and a resync about 200 ms in).
final class StartTests: XCTestCase {
    func testTheFirstSoundIsFastOnScheduleAndClean() throws {
        for buffer in ["2s", "200ms"] {
            try start(buffer: buffer)
        }
    }

    private func start(buffer: String) throws {
        let scratch = try Scratch("start")
        let wav = try scratch.write("clicks.wav", bytes: ClickTrack.wav(bed: 1_000))
        let port = freePort()
        let recording = try scratch.virtualCard("card", delayMicroseconds: 1_000)
        let host = try Daemon("mshost", config: try scratch.write("host.json", Configs.host(port: port, source: "wav:" + wav, loop: true)), scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"))
        // Long enough for the host to hold a whole buffer of the past.
        Thread.sleep(forTimeInterval: 2.5)
        let config = try scratch.write("recv.json", Configs.receiver(port: port, device: "card", buffer: buffer))
        let launched = Double(SystemClock().now())
        let receiver = try Daemon("msrecv", config: config, scratch: scratch)
        Thread.sleep(forTimeInterval: 6.5)
        receiver.signal(SIGTERM)
        XCTAssertEqual(receiver.waitForExit(), 0)
        host.signal(SIGTERM)
        _ = host.waitForExit()

        let latency = Double(try XCTUnwrap(parseDuration(buffer)))
        let sidecar = try VirtualCard.sidecar(recording)
        let t0 = try XCTUnwrap(sidecar["t0_monotonic_ns"]) / 1000
        let rate = try XCTUnwrap(sidecar["effective_rate"])
        let samples = try WAVAudio.parse(Array(try Data(contentsOf: URL(fileURLWithPath: recording)))).samples
        let firstSound = try XCTUnwrap(stride(from: 0, to: samples.count, by: 2).first { abs(Int(samples[$0])) > 8 }) / 2
        let firstSoundAt = t0 + Double(firstSound) / rate * 1e6
        let clicks = try ClickTrack.times(recording: recording)
        let errors = ClickTrack.errors(clicks, streamStart: try ClickTrack.streamStart(hostLog: host.log), latency: latency)
            .sorted { $0.key < $1.key }.map(\.value)
        // Frames between clicks: exactly a second's worth at the card's rate when nothing was
        // dropped or inserted.
        let spacings = zip(clicks, clicks.dropFirst()).map { ($0.1 - $0.0) / 1e6 * rate }
        let resyncs = receiver.log.split(separator: "\n").filter { $0.contains("resynced") }
        print(
            "start at \(buffer): first sound \(Int((firstSoundAt - launched) / 1000)) ms after msrecv started; click errors (µs) "
                + "\(errors.map { Int($0) }); frames between clicks \(spacings.map { Int($0.rounded()) }); \(resyncs.count) resyncs"
        )
        XCTAssertLessThan(firstSoundAt - launched, 300_000, "first sound within 0.3 s of msrecv's start at \(buffer)")
        XCTAssertGreaterThanOrEqual(errors.count, 5)
        // The card is started where its first frame is due, and the clock estimate it starts on
        // is the best exchange's (the handshake's reply may queue behind the backlog): before
        // both, the first click was up to 220 µs late and the controller glided it back.
        for e in errors { XCTAssertLessThan(abs(e), 75, "on schedule from the first sound at \(buffer): \(errors)") }
        // Nothing dropped or inserted: no resync, no underrun, and between clicks only what the
        // drift resampler glides by (under 80 ppm, 4 frames a second).
        XCTAssertEqual(resyncs.count, 0, "no hard resync at \(buffer): \(receiver.log)")
        // The handshake's own exchange (HELLO and WELCOME, after TLS) already knows the host's
        // clock (on one machine, the same clock) to within what the backlog behind the WELCOME
        // skews it by (363 µs seen at "2s"; the card starts on a better exchange). A t1 read
        // before the TLS key exchange made it 5 ms, a clock step and a resync.
        let offset = receiver.log.split(separator: "\n").first { $0.contains(" clock offset ") }
            .flatMap { $0.components(separatedBy: " clock offset ").last?.split(separator: " ").first }.flatMap { Int($0) }
        XCTAssertLessThan(abs(try XCTUnwrap(offset, receiver.log)), 1_000, "the handshake's clock offset at \(buffer)")
        XCTAssertEqual(sidecar["underruns"], 0, "the card never ran dry at \(buffer)")
        for s in spacings { XCTAssertEqual(s, 48_000, accuracy: 4, "no drop or insert at \(buffer): \(spacings)") }
    }
}
