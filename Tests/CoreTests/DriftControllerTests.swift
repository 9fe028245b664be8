import Core
import XCTest

/// A receiver whose sound card runs `ppm` fast, played through the controller one 20 ms packet
/// at a time: the error grows with the card's drift and shrinks with the controller's
/// correction; readings carry the card's DMA burst quantisation.
private struct SimulatedPlayback: ~Copyable {
    var ppm: Double
    var burstMicroseconds: Double
    var error: Double  // µs; positive: late
    var controller = DriftController()

    init(ppm: Double, burstMicroseconds: Double, error: Double) {
        self.ppm = ppm
        self.burstMicroseconds = burstMicroseconds
        self.error = error
    }
    var ratios: [Double] = []
    var errors: [Double] = []
    var resyncs = 0
    var step = 0

    mutating func run(packets: Int) {
        for _ in 0..<packets {
            step += 1
            // A fast card takes our frames sooner than due (the error falls by its drift); playing
            // faster (a positive correction) moves the stream ahead too.
            error -= 20_000 * (ppm / 1e6 + controller.correction)
            // A DMA pointer lags by 0 to one burst, whatever the phase of the reading; readings
            // also jitter by a frame; one in 50 is off by two bursts (pointer and time read
            // apart). Deterministic.
            var noise = burstMicroseconds * Double((step * 37) % 23) / 23 + 21 * (Double((step * 11) % 5) / 2 - 1)
            if step % 50 == 0 { noise += 2 * burstMicroseconds }
            switch controller.update(error: Microseconds((error + noise).rounded()), interval: 20_000) {
            case .ratio(let r): ratios.append(r)
            case .resync(let by):
                error -= Double(by)
                controller.reset()
                resyncs += 1
            }
            errors.append(error)
        }
    }
}

final class DriftControllerTests: XCTestCase {
    func testACardThreeHundredPPMFastIsAbsorbedWithinFiveSeconds() {
        for (ppm, burst) in [(300.0, 1_333.0), (-300, 1_333), (150, 21), (-150, 21), (0, 1_333)] {  // 64- or 1-frame bursts
            var playback = SimulatedPlayback(ppm: ppm, burstMicroseconds: burst, error: 400)
            playback.run(packets: 250)  // 5 s
            XCTAssertLessThanOrEqual(playback.resyncs, 1, "\(ppm) ppm: at most the start's resync")
            playback.errors.removeAll()
            playback.resyncs = 0
            playback.run(packets: 3_000)  // the next 60 s
            XCTAssertEqual(playback.resyncs, 0, "\(ppm) ppm: no resync once converged")
            let sorted = playback.errors.map(abs).sorted()
            let median = sorted[sorted.count / 2]
            let p99 = sorted[sorted.count * 99 / 100]
            XCTAssertLessThan(median, 50, "\(ppm) ppm: median |error| \(median) µs")
            XCTAssertLessThan(p99, 200, "\(ppm) ppm: p99 |error| \(p99) µs")
            XCTAssertEqual(playback.controller.driftCompensation * 1e6, -ppm, accuracy: 5, "the integral learns the card's drift")
            XCTAssertEqual(playback.controller.correction * 1e6, -ppm, accuracy: 20, "the correction cancels it")
        }
    }

    func testTheRatioIsBoundedAndNeverSteps() {
        var playback = SimulatedPlayback(ppm: 5_000, burstMicroseconds: 0, error: 0)  // beyond any crystal
        playback.run(packets: 500)
        let corrections = playback.ratios.map { 1 / $0 - 1 }
        XCTAssertLessThanOrEqual(corrections.map(abs).max()!, 1_000e-6 + 1e-12)
        for (a, b) in zip(corrections, corrections.dropFirst()) {
            XCTAssertLessThanOrEqual(abs(b - a), 20e-6 + 1e-12)
        }
    }

    func testABigErrorAsksForAHardResyncInstead() {
        var controller = DriftController()
        // The very first reading is held to 0.5 ms, later ones to 10 ms.
        XCTAssertEqual(controller.update(error: 600, interval: 20_000), .resync(by: 600))
        XCTAssertEqual(controller.update(error: 25_000, interval: 20_000), .resync(by: 25_000))
        XCTAssertEqual(controller.update(error: -11_000, interval: 20_000), .resync(by: -11_000))
        XCTAssertEqual(controller.update(error: 0, interval: 20_000), .ratio(1))
        guard case .ratio = controller.update(error: 9_000, interval: 20_000) else { return XCTFail("9 ms after the first reading is the controller's") }
    }
}
