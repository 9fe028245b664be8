import Audio
import Core
import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// `audio_output.latency_offset` and `audio_output.channels` (issue 12), measured on the virtual
/// cards: a speaker with an offset plays that much off the house's schedule, and one set to a
/// channel plays that channel (or both mixed) on both of its outputs.
final class SpeakerPlacementTests: XCTestCase {
    /// One second: a click on the left channel at frame 0 and a smaller one on the right 100
    /// frames later, so that each output says which channel it came from.
    private func twoChannelClicks() -> [UInt8] {
        var samples = [Int16](repeating: 0, count: 48_000 * 2)
        samples[0] = 20_000
        samples[2 * 100 + 1] = 12_000
        return WAVAudio(sampleRate: 48_000, channels: 2, samples: samples).encoded()
    }

    private func frames(_ recording: String) throws -> [Int16] {
        try WAVAudio.parse(Array(try Data(contentsOf: URL(fileURLWithPath: recording)))).samples
    }

    func testAnOffsetShiftsOneSpeakerOffTheHouseScheduleAndChannelsPickWhatItPlays() throws {
        let scratch = try Scratch("placement")
        let wav = try scratch.write("clicks.wav", bytes: twoChannelClicks())
        let port = freePort()
        let left = try scratch.virtualCard("left", delayMicroseconds: 1_000)
        let mono = try scratch.virtualCard("mono", delayMicroseconds: 1_000)
        let host = try Daemon("mshost", config: try scratch.write("host.json", Configs.host(port: port, source: "wav:" + wav, loop: true)), scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"), host.log)
        // The test's receiver configs with the speaker's own keys added.
        func speaker(_ device: String, _ keys: String) throws -> Daemon {
            let config = Configs.receiver(port: port, device: device).replacingOccurrences(
                of: "\"device_id\": \"\(device)\"", with: "\"device_id\": \"\(device)\", " + keys)
            return try Daemon("msrecv", config: try scratch.write(device + ".json", config), scratch: scratch, name: device + "-speaker")
        }
        let leftSpeaker = try speaker("left", "\"channels\": \"left\"")
        let monoSpeaker = try speaker("mono", "\"channels\": \"mono\", \"latency_offset\": \"40ms\"")
        XCTAssertTrue(leftSpeaker.waitFor("event=Connected"), leftSpeaker.log)
        XCTAssertTrue(monoSpeaker.waitFor("event=Connected"), monoSpeaker.log)
        Thread.sleep(forTimeInterval: 8)
        stopAll([leftSpeaker, monoSpeaker, host])
        XCTAssertTrue(monoSpeaker.log.contains("buffer 200ms (this speaker +40ms), mono channels mixed"), monoSpeaker.log)
        XCTAssertTrue(leftSpeaker.log.contains("buffer 200ms, left channel only"), leftSpeaker.log)

        // On the schedule: the left-only speaker at the house's 200 ms, the other 40 ms after it.
        let streamStart = try ClickTrack.streamStart(hostLog: host.log)
        func converged(_ recording: String, latency: Double) throws -> Double {
            let errors = ClickTrack.errors(try ClickTrack.times(recording: recording), streamStart: streamStart, latency: latency)
                .sorted { $0.key < $1.key }.map(\.value).dropFirst(3)
            XCTAssertGreaterThan(errors.count, 3, recording)
            return ClickTrack.percentile(Array(errors), 0.5)
        }
        let leftError = try converged(left, latency: 200_000)
        let monoError = try converged(mono, latency: 240_000)
        let shift = try converged(mono, latency: 200_000) - leftError
        print(
            "placement: left-only speaker \(Int(leftError)) µs off the house's schedule; the mono one \(Int(monoError)) µs off its own (+40 ms), "
                + "\(Int(shift)) µs after the left one"
        )
        XCTAssertLessThan(abs(leftError), 200)
        XCTAssertLessThan(abs(monoError), 200)
        XCTAssertEqual(shift, 40_000, accuracy: 300)

        // What each played: both outputs the same (but for each one's 16-bit dither, one step
        // either way); the left channel's click only, or both halved.
        for (recording, name) in [(left, "left"), (mono, "mono")] {
            let samples = try frames(recording)
            XCTAssertFalse(samples.isEmpty)
            XCTAssertTrue(
                stride(from: 0, to: samples.count - 1, by: 2).allSatisfy { abs(Int(samples[$0]) - Int(samples[$0 + 1])) <= 2 },
                "\(name): both outputs play one signal")
        }
        func clickRatio(_ recording: String) throws -> Double {
            let samples = try frames(recording)
            let peak = try XCTUnwrap(stride(from: 0, to: samples.count / 2 - 200, by: 1).first { samples[2 * $0] > 5_000 })
            let main = (peak..<peak + 8).map { abs(Int(samples[2 * $0])) }.max() ?? 0
            let second = (peak + 92..<peak + 108).map { abs(Int(samples[2 * $0])) }.max() ?? 0
            return Double(second) / Double(main)
        }
        let leftRatio = try clickRatio(left)
        let monoRatio = try clickRatio(mono)
        print("placement: right click over left click, left-only speaker \(leftRatio), mono speaker \(monoRatio) (sent 0.6)")
        XCTAssertLessThan(leftRatio, 0.01, "the left-only speaker plays none of the right channel")
        XCTAssertEqual(monoRatio, 0.6, accuracy: 0.05, "the mono speaker plays both, halved alike")
    }
}
