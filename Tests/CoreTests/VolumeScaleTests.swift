import Audio
import Core
import XCTest

final class VolumeScaleTests: XCTestCase {
    func testEveryStepIsTheSameNumberOfDecibelsAndZeroIsSilent() throws {
        XCTAssertEqual(VolumeScale.q15(100), Gain.unity, "full scale is unity: samples untouched")
        XCTAssertEqual(VolumeScale.q15(0), 0)
        XCTAssertNil(VolumeScale.decibels(0))
        XCTAssertEqual(VolumeScale.decibels(50), -30)
        XCTAssertEqual(try XCTUnwrap(VolumeScale.decibels(1)), -59.4, accuracy: 1e-9)
        // Measured on the gain itself: 20·log10 of each step's ratio is 0.6 dB, to Q15's precision.
        for level in stride(from: 100, to: 40, by: -1) {
            let ratio = Double(VolumeScale.q15(level - 1)) / Double(VolumeScale.q15(level))
            XCTAssertEqual(20 * log10(ratio), -0.6, accuracy: 0.01, "step \(level) → \(level - 1)")
        }
        XCTAssertEqual(VolumeScale.q15(-5), 0, "below the scale is silent")
        XCTAssertEqual(VolumeScale.q15(250), Gain.unity, "above it is full scale")
    }

    func testAConfiguredGainSitsOnTheNearestLevel() {
        XCTAssertEqual(VolumeScale.level(gain: 1), 100)
        XCTAssertEqual(VolumeScale.level(gain: 0.5), 90, "−6.02 dB is ten steps down")
        XCTAssertEqual(VolumeScale.level(gain: 0), 0)
        XCTAssertEqual(VolumeScale.level(gain: 1e-9), 1, "a gain too small for the scale is its lowest audible level")
    }
}

final class ChannelMixTests: XCTestCase {
    private func mixed(_ mix: ChannelMix, _ samples: [Float], channels: Int = 2) -> [Float] {
        var out = samples
        out.withUnsafeMutableBufferPointer { mix.apply($0, channels: channels) }
        return out
    }

    func testEachSpeakerPlaysItsChannelOnBothOutputs() {
        let frames: [Float] = [0.5, -0.25, 1, 1, -1, 0]
        XCTAssertEqual(mixed(.stereo, frames), frames)
        XCTAssertEqual(mixed(.left, frames), [0.5, 0.5, 1, 1, -1, -1])
        XCTAssertEqual(mixed(.right, frames), [-0.25, -0.25, 1, 1, 0, 0])
        XCTAssertEqual(mixed(.mono, frames), [0.125, 0.125, 1, 1, -0.5, -0.5], "halved: full scale in both stays full scale")
        XCTAssertEqual(mixed(.left, [0.5, -0.25, 0.75], channels: 1), [0.5, -0.25, 0.75], "a mono stream is what it is")
        XCTAssertEqual(ChannelMix.allCases.map(\.name), ["stereo", "left", "right", "mono"])
        XCTAssertEqual(ChannelMix(name: "right"), .right)
        XCTAssertNil(ChannelMix(name: "surround"))
    }
}
