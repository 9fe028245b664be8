import Codec
import Core
import Receiver
import XCTest

final class StreamFormatTests: XCTestCase {
    func testPoolSlotsHoldTheLargestPacketsLibopusMakes() throws {
        var noise = SystemRandomNumberGenerator()
        for frameMilliseconds in [10, 20, 40, 60] {
            let frames = 48 * frameMilliseconds
            let format = StreamFormat(codec: .opus, sampleRate: 48_000, channels: 2, frameSamples: frames, bitrate: 510_000)
            // Full-scale noise at Opus's highest bitrate: the largest packets it makes.
            let encoder = try OpusEncoderHandle(sampleRate: 48_000, channels: 2, bitrate: 510_000)
            var packet = [UInt8](repeating: 0, count: OpusLibrary.maxPacketSize)
            var largest = 0
            for _ in 0..<20 {
                let pcm = (0..<(frames * 2)).map { _ in Int16.random(in: .min ... .max, using: &noise) }
                let n = try pcm.withUnsafeBufferPointer { p in try packet.withUnsafeMutableBytes { try encoder.encode(p, frames: frames, into: $0).get() } }
                largest = max(largest, n)
            }
            XCTAssertGreaterThan(largest, 510_000 / 8 * frameMilliseconds / 1_000 * 9 / 10, "\(frameMilliseconds) ms: the encoder was not pushed")
            XCTAssertLessThanOrEqual(AudioPacketHeader.size + largest, format.maxAudioPacket, "\(frameMilliseconds) ms")
        }
        // A 20 ms stream's pool slots hold one frame, not three, and room for the send time and the metadata.
        let twenty = StreamFormat(codec: .opus, sampleRate: 48_000, channels: 2, frameSamples: 960, bitrate: 192_000)
        XCTAssertLessThan(twenty.maxAudioPacket, 1_400)
        XCTAssertEqual(twenty.maxAudioPayload, twenty.maxAudioPacket + 8 + 2 + AudioPacketHeader.maxMetadata)
    }
}
