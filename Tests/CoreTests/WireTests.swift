import Core
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
        let header = AudioPacketHeader(sequence: 0x0102030405060708, timestamp: 20_000, sampleRate: 48_000, channels: 2, codec: .opus)
        var bytes = [UInt8](repeating: 0, count: AudioPacketHeader.size + 3)
        bytes.withUnsafeMutableBytes { header.encode(into: $0) }
        XCTAssertEqual(Array(bytes[0..<8]), [1, 2, 3, 4, 5, 6, 7, 8])
        let parsed = try bytes.withUnsafeBytes { try AudioPacketHeader.parse($0).get() }
        XCTAssertEqual(parsed, header)
    }

    func testAudioPacketHeaderRejectsTruncatedUnknownCodecAndNonsenseFormats() {
        XCTAssertEqual([UInt8](repeating: 0, count: 21).withUnsafeBytes { AudioPacketHeader.parse($0) }, .failure(.truncated))
        var bytes = [UInt8](repeating: 0, count: 22)
        bytes.withUnsafeMutableBytes { AudioPacketHeader(sequence: 1, timestamp: 0, sampleRate: 48_000, channels: 2, codec: .pcm).encode(into: $0) }
        bytes[21] = 9
        XCTAssertEqual(bytes.withUnsafeBytes { AudioPacketHeader.parse($0) }, .failure(.unknownCodec(9)))
        bytes[21] = 0
        bytes[20] = 0  // zero channels
        XCTAssertEqual(bytes.withUnsafeBytes { AudioPacketHeader.parse($0) }, .failure(.badFormat))
    }

    func testGainIsBitExactAtUnityAndScalesOtherwise() {
        var samples: [Int16] = [1000, -1000, 32767, -32768]
        samples.withUnsafeMutableBufferPointer { Gain(volume: 1).apply($0) }
        XCTAssertEqual(samples, [1000, -1000, 32767, -32768])
        samples.withUnsafeMutableBufferPointer { Gain(volume: 0.5).apply($0) }
        XCTAssertEqual(samples, [500, -500, 16383, -16384])
        samples.withUnsafeMutableBufferPointer { Gain(volume: 0).apply($0) }
        XCTAssertEqual(samples, [0, 0, 0, 0])
    }
}
