import Audio
import Core
import ProtocolMessages
import XCTest

final class WireTests: XCTestCase {
    func testFrameHeaderRoundTripsBigEndianLength() {
        var bytes = [UInt8](repeating: 0, count: 4)
        bytes.withUnsafeMutableBytes { FrameHeader(type: .audio, flags: 3, length: 0x1234).encode(into: $0) }
        XCTAssertEqual(bytes, [6, 3, 0x12, 0x34])
        let decoded = bytes.withUnsafeBytes { FrameHeader.decode($0) }
        XCTAssertEqual(decoded.type, .audio)
        XCTAssertEqual(decoded.flags, 3)
        XCTAssertEqual(decoded.length, 0x1234)
    }

    func testUnknownFrameTypeIsKeptAsRawNumber() {
        let decoded = [UInt8]([200, 0, 0, 5]).withUnsafeBytes { FrameHeader.decode($0) }
        XCTAssertNil(decoded.type)
        XCTAssertEqual(decoded.rawType, 200)
    }

    func testAudioPacketHeaderRoundTrip() throws {
        let header = AudioPacketHeader(sequence: 0x0102_0304_0506_0708, timestamp: 20_000, sampleRate: 48_000, channels: 2, codec: .opus)
        var bytes = [UInt8](repeating: 0, count: AudioPacketHeader.size + 3)
        bytes.withUnsafeMutableBytes { header.encode(into: $0) }
        XCTAssertEqual(Array(bytes[0..<8]), [1, 2, 3, 4, 5, 6, 7, 8])
        let parsed = try bytes.withUnsafeBytes { try AudioPacketHeader.parse($0) }
        XCTAssertEqual(parsed, header)
    }

    func testAudioPacketHeaderRejectsTruncatedUnknownCodecAndNonsenseFormats() {
        func failure(_ bytes: [UInt8]) -> AudioPacketHeader.ParseError? {
            bytes.withUnsafeBytes { payload in
                do throws(AudioPacketHeader.ParseError) {
                    _ = try AudioPacketHeader.parse(payload)
                    return nil
                } catch {
                    return error
                }
            }
        }
        XCTAssertEqual(failure([UInt8](repeating: 0, count: 21)), .truncated)
        var bytes = [UInt8](repeating: 0, count: 22)
        bytes.withUnsafeMutableBytes { AudioPacketHeader(sequence: 1, timestamp: 0, sampleRate: 48_000, channels: 2, codec: .pcm).encode(into: $0) }
        bytes[AudioPacketHeader.Layout.codec] = 9
        XCTAssertEqual(failure(bytes), .unknownCodec(9))
        bytes[AudioPacketHeader.Layout.codec] = 0
        bytes[AudioPacketHeader.Layout.channels] = 0  // zero channels
        XCTAssertEqual(failure(bytes), .badFormat)
    }

    func testGainIsBitExactAtUnityAndScalesOtherwise() {
        let original: [Float] = [1000, -1000, 32767, -32768].map { $0 / 32768 }
        var samples = original
        samples.withUnsafeMutableBufferPointer { Gain(volume: 1).apply($0) }
        XCTAssertEqual(samples, original)
        samples.withUnsafeMutableBufferPointer { Gain(volume: 0.5).apply($0) }
        XCTAssertEqual(samples.map { $0 * 32768 }, [500, -500, 16383.5, -16384])
        samples.withUnsafeMutableBufferPointer { Gain(volume: 0).apply($0) }
        XCTAssertEqual(samples, [0, 0, 0, 0])
    }
}

final class GainRampTests: XCTestCase {
    /// A volume change glides over the ramp, whatever the packet boundaries, and then holds;
    /// unity stays bit-exact.
    func testAVolumeChangeGlidesInsteadOfStepping() {
        var ramp = GainRamp(q15: Gain.unity, rampFrames: 240)
        let level: Float = 10_000 / 32768
        var out: [Float] = []
        for packet in 0..<4 {
            var samples = [Float](repeating: level, count: 100 * 2)
            samples.withUnsafeMutableBufferPointer { ramp.apply($0, channels: 2, toward: packet == 0 ? Gain.unity : 0) }
            out += samples
        }
        XCTAssertEqual(Array(out[0..<200]), [Float](repeating: level, count: 200), "unity is bit-exact")
        let left = stride(from: 200, to: out.count, by: 2).map { Int((out[$0] * 32768).rounded()) }
        XCTAssertEqual(
            zip(stride(from: 200, to: out.count, by: 2), stride(from: 201, to: out.count, by: 2)).filter { out[$0] != out[$1] }.count, 0,
            "both channels alike")
        let steps = zip(left, left.dropFirst()).map { $0.0 - $0.1 }
        XCTAssertEqual(steps.filter { $0 < 0 }.count, 0, "falls monotonically")
        XCTAssertLessThanOrEqual(steps.max() ?? 0, 10_000 / 240 + 2, "no step bigger than the ramp's")
        XCTAssertGreaterThan(left[200], 0, "still gliding 200 frames in")
        XCTAssertEqual(Array(left[240...]), [Int](repeating: 0, count: left.count - 240), "at the target after 240 frames")
        // Back up to half, from silence.
        var samples = [Float](repeating: level, count: 480 * 2)
        samples.withUnsafeMutableBufferPointer { ramp.apply($0, channels: 2, toward: Gain.unity / 2) }
        XCTAssertEqual(samples[0] * 32768, 20.75, accuracy: 0.01, "starts from where it was")
        XCTAssertEqual(samples[479 * 2] * 32768, 5_000)
    }
}
