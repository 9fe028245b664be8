import Audio
import Core
import Foundation
import Platform
import XCTest

/// The virtual sound card is the instrument the sync tests trust, and the ALSA backend's
/// "when does the next frame leave the DAC" is what the drift controller trusts: checked
/// against each other here, with the card's own record of when it played what.
final class VirtualCardTests: XCTestCase {
    func testOutputDelayPredictsWhenEachFrameLeavesTheCard() throws {
        let scratch = try Scratch("vcard")
        let recording = try scratch.virtualCard("card", ppm: 300, delayMicroseconds: 2_000, burst: 1)
        _ = try scratch.virtualCard("fixed", periodFrames: 256, bufferFrames: 1_024)
        // alsa-lib reads its configuration once per process, at the first open: this is it.
        setenv("ALSA_CONFIG_PATH", scratch.environment["ALSA_CONFIG_PATH"]!, 1)
        let clock = SystemClock()
        var predictions: [(frame: Int, time: Microseconds)] = []
        do {
            let card = try AlsaPlayback(device: "card", sampleRate: 48_000, channels: 2, bufferTime: 80_000)
            let packet = [Int16](repeating: 1000, count: 960 * 2)
            var written = 0
            XCTAssertNil(card.outputDelay(atPointerStep: false), "not playing yet")
            for _ in 0..<100 {  // 2 s
                _ = packet.withUnsafeBytes { card.write($0, frames: 960) }
                written += 960
                if let delay = card.outputDelay(atPointerStep: false) {
                    predictions.append((written, clock.now() + Microseconds(delay) * 1_000_000 / 48_000))
                }
            }
            card.drain()
        }
        let sidecar = try VirtualCard.sidecar(recording)
        let t0 = try XCTUnwrap(sidecar["t0_monotonic_ns"]) / 1000
        let rate = try XCTUnwrap(sidecar["effective_rate"])
        XCTAssertEqual(rate, 48_014.4, accuracy: 0.01)
        XCTAssertEqual(sidecar["underruns"], 0)
        XCTAssertGreaterThan(predictions.count, 90)
        // Sample n left the card at t0 + n / rate; the prediction was made for sample `frame`.
        let signed = predictions.map { Double($0.time) - (t0 + Double($0.frame) / rate * 1e6) }
        let errors = signed.map(abs).sorted()
        let median = errors[errors.count / 2]
        let p99 = errors[errors.count * 99 / 100]
        // Measured: +35 µs median, 24 µs of it from converting the delay at the nominal rate.
        print(
            "vcard: output delay predicts the DAC time within \(Int(median)) µs median (signed \(Int(signed.sorted()[signed.count / 2])) µs), "
                + "\(Int(p99)) µs p99"
        )
        XCTAssertLessThan(median, 50)
        XCTAssertLessThan(p99, 500)

        // A card whose period and buffer sizes are fixed gives the backend exactly those.
        let fixed = try AlsaPlayback(device: "fixed", sampleRate: 48_000, channels: 2, bufferTime: 80_000)
        XCTAssertEqual(fixed.configuration.periodFrames, 256)
        XCTAssertEqual(fixed.configuration.bufferFrames, 1_024)
    }

    /// What a receiver does with the card it keeps open between sessions: after the last stream
    /// ran it dry it plays again once prepared, with no second open; unplugged meanwhile, it says
    /// so instead (the receiver then opens it anew, and waits for it if it is gone).
    func testACardKeptOpenAfterItsStreamPlaysAgainAndOneUnpluggedMeanwhileSaysSo() throws {
        let scratch = try Scratch("vcard-kept")
        let state = scratch.file("card.state")
        _ = try scratch.virtualCard("card", delayMicroseconds: 1_000, state: state, meter: true)
        setenv("ALSA_CONFIG_PATH", scratch.environment["ALSA_CONFIG_PATH"]!, 1)
        let packet = [Int16](repeating: 1000, count: 960 * 2)
        func play(_ card: AlsaPlayback, packets: Int) -> [SinkStatus] {
            (0..<packets).map { _ in packet.withUnsafeBytes { card.write($0, frames: 960) } }
        }
        do {
            let card = try AlsaPlayback(device: "card", sampleRate: 48_000, channels: 2, bufferTime: 40_000)
            XCTAssertEqual(play(card, packets: 10), Array(repeating: .written(frames: 960), count: 10))
            usleep(100_000)  // played out and run dry, as after the last packet of a session
            XCTAssertNil(card.outputDelay(atPointerStep: false), "the card stopped when it ran dry")
            try card.prepareAgain()
            XCTAssertEqual(play(card, packets: 10), Array(repeating: .written(frames: 960), count: 10), "no underrun to recover from")
            XCTAssertNotNil(card.outputDelay(atPointerStep: false), "playing again")
            // Unplugged while it plays the end of a stream: dropping that, it finds out.
            try "gone".write(toFile: state, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try card.prepareAgain()) { error in
                XCTAssertEqual((error as? AlsaError)?.call.description, "snd_pcm_prepare", "\(error)")
            }
        }
        XCTAssertEqual(try scratch.cardOpens("card"), 1)
    }
}
