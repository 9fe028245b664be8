import Codec
import Core
import ProtocolMessages
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
                let n = try pcm.withUnsafeBufferPointer { p in try packet.withUnsafeMutableBytes { try encoder.encode(p, frames: frames, into: $0) } }
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

    /// What a host's WELCOME can make a receiver allocate has a budget: packets are at least
    /// 2.5 ms, so the pool for the longest buffer (10 s) of any stream a receiver plays stays
    /// within 16 MB. A 1-frame packet (which made a 2 s buffer's pool 45 MB) is refused, saying why.
    func testTheLargestPoolAnyPlayableStreamAsksForHasABudget() throws {
        var largest = (bytes: 0, format: "")
        for codec in [WireCodec.pcm, .opus, .flac] {
            for rate in [8_000, 44_100, 48_000, 96_000, 192_000] {
                for channels in [1, 2] {
                    for frames in Set([1, rate / 1_000, rate / 400, rate / 400 + 1, rate / 100, rate / 50, rate / 10, 4_608].filter { $0 > 0 }) {
                        let format = StreamFormat(codec: codec, sampleRate: rate, channels: channels, frameSamples: frames, bitrate: 0)
                        guard format.isPlayable else { continue }
                        XCTAssertGreaterThanOrEqual(format.frameDuration, StreamFormat.shortestPacket - 1, "\(format)")
                        let bytes = packetPoolSlots(bufferSize: 10_000_000, frameDuration: format.frameDuration) * format.maxAudioPayload
                        if bytes > largest.bytes { largest = (bytes, "\(codec.name) \(rate) Hz \(channels) ch \(frames) frames") }
                    }
                }
            }
        }
        print("the largest pool a playable stream asks for at a 10 s buffer: \(largest.bytes / 1024) KB (\(largest.format))")
        XCTAssertLessThanOrEqual(largest.bytes, 16 << 20)
        let tiny = StreamFormat(codec: .pcm, sampleRate: 48_000, channels: 2, frameSamples: 1, bitrate: 0)
        XCTAssertEqual(tiny.unplayable, "packets of 1 frames, shorter than 2.5 ms")
        XCTAssertNil(StreamFormat(codec: .opus, sampleRate: 48_000, channels: 2, frameSamples: 120, bitrate: 0).unplayable, "Opus's 2.5 ms")
    }
}
