import Audio
import Core
import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Real DAC formats (issue 12): msrecv asks a card for S32_LE, S24_LE, S24_3LE, then S16_LE;
/// a PCM stream comes out bit-exact in each (its 16 bits moved up, nothing below them), and a
/// card that offers several plays in the best of them.
final class SampleFormatTests: XCTestCase {
    /// Little-endian samples of `width` bytes, at 32-bit scale.
    private func samples(_ bytes: Data, width: Int) -> [Int32] {
        bytes.withUnsafeBytes { raw in
            (0..<(raw.count / width)).map { i in
                var v: UInt32 = 0
                for b in 0..<width { v |= UInt32(raw[i * width + b]) << (8 * (4 - width + b)) }
                return Int32(bitPattern: v)
            }
        }
    }

    func testAPCMStreamIsBitExactInEveryFormat() throws {
        let scratch = try Scratch("formats-exact")
        let source = TestAudio.music(seconds: 3)
        let wav = try scratch.write("music.wav", bytes: WAVAudio(sampleRate: 48_000, channels: 2, samples: source).encoded())
        let port = freePort()
        let host = try Daemon("mshost", config: try scratch.write("host.json", Configs.host(port: port, source: "wav:" + wav)), scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"))
        let formats = [("S16_LE", 2), ("S24_3LE", 3), ("S32_LE", 4)]
        var receivers: [Daemon] = []
        for (format, _) in formats {
            _ = scratch.recordingPCM(format)
            let config = Configs.receiver(port: port, device: format, output: ", \"sample_format\": \"\(format)\"")
            receivers.append(try Daemon("msrecv", config: try scratch.write("\(format).json", config), scratch: scratch, name: format))
        }
        XCTAssertEqual(host.waitForExit(timeout: 10), 0, host.log)
        for (receiver, (format, _)) in zip(receivers, formats) {
            XCTAssertTrue(receiver.waitFor("event=Disconnected reason=end_of_stream", timeout: 5), receiver.log)
            XCTAssertTrue(receiver.log.contains("audio output \"\(format)\" plays \(format) at 48000 Hz"), receiver.log)
            receiver.signal(SIGTERM)
            XCTAssertEqual(receiver.waitForExit(), 0)
        }
        for (format, width) in formats {
            let (recorded, recordedWidth) = scratch.recordedWide(format)
            XCTAssertEqual(recordedWidth, width, format)
            // Its top 16 bits are a piece of the source, and nothing is below them.
            let top = recorded.map { Int16(truncatingIfNeeded: $0 >> 16) }
            let offset = try XCTUnwrap(TestAudio.exactOffset(of: top, in: source, channels: 2), "\(format): not a piece of the source")
            XCTAssertEqual(recorded.count, source.count - offset, format)
            XCTAssertTrue(top[Fade.samples...] == source[(offset + Fade.samples)...], "\(format) differs from the source")
            XCTAssertTrue(recorded[Fade.samples...].allSatisfy { $0 & 0xffff == 0 }, "\(format): bits below the source's")
        }
    }

    func testACardPlaysInTheBestFormatItTakes() throws {
        let scratch = try Scratch("formats-best")
        let port = freePort()
        let cards = [("wide", "S16_LE S24_3LE S32_LE", "S32_LE", 4), ("packed", "S16_LE S24_3LE", "S24_3LE", 3), ("plain", "S16_LE", "S16_LE", 2)]
        for (name, offered, _, _) in cards { _ = try scratch.virtualCard(name, formats: offered) }
        let host = try Daemon("mshost", config: try scratch.write("host.json", Configs.host(port: port, source: "tone", codec: "opus")), scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"))
        let receivers = try cards.map { card in
            try Daemon("msrecv", config: try scratch.write("\(card.0).json", Configs.receiver(port: port, device: card.0)), scratch: scratch, name: card.0)
        }
        for (receiver, card) in zip(receivers, cards) {
            XCTAssertTrue(receiver.waitFor("audio output \"\(card.0)\" plays \(card.2) at 48000 Hz"), receiver.log)
        }
        Thread.sleep(forTimeInterval: 2)
        stopAll(receivers + [host])
        var levels: [Double] = []
        for (name, _, format, width) in cards {
            let recording = scratch.file(name + ".wav")
            let sidecar = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: recording + ".json"))) as? [String: Any])
            XCTAssertEqual(sidecar["format"] as? String, format)
            let played = samples(try Data(contentsOf: URL(fileURLWithPath: recording)).dropFirst(44), width: width).suffix(48_000 * 2)
            let rms = (played.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(played.count)).squareRoot()
            levels.append(20 * log10(rms / 2_147_483_648))
        }
        print("formats: tone at \(levels.map { String(format: "%.2f", $0) }) dBFS in S32_LE, S24_3LE, S16_LE")
        XCTAssertGreaterThan(levels[0], -30, "the tone plays")
        for level in levels.dropFirst() { XCTAssertEqual(level, levels[0], accuracy: 0.05, "the same tone in every format") }
    }
}
