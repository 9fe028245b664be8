import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The seed's `PacketMetadata` end to end (issue 12): `mshost now-playing` sets the song, its
/// position and the house volume; AUDIO packets carry them; a receiver follows the house volume
/// unless `independent_volume`, and `msrecv status` says what plays, where.
final class NowPlayingTests: XCTestCase {
    func testTheHouseVolumeAndTheSongReachTheSpeakers() throws {
        let scratch = try Scratch("now-playing")
        let port = freePort()
        _ = try scratch.virtualCard("den")
        _ = try scratch.virtualCard("study")
        let hostConfig = try scratch.write("host.json", Configs.host(port: port, source: "tone", codec: "opus", stateDir: try scratch.hostStateDirectory()))
        let host = try Daemon("mshost", config: hostConfig, scratch: scratch)
        XCTAssertTrue(host.waitFor("local control on"), host.log)
        let den = try Daemon("msrecv", config: try scratch.write("den.json", Configs.receiver(port: port, device: "den")), scratch: scratch, name: "den")
        let study = try Daemon(
            "msrecv", config: try scratch.write("study.json", Configs.receiver(port: port, device: "study", output: ", \"independent_volume\": true")),
            scratch: scratch, name: "study")
        XCTAssertTrue(den.waitFor("event=Connected"), den.log)
        XCTAssertTrue(study.waitFor("event=Connected"), study.log)
        Thread.sleep(forTimeInterval: 1)
        let full = (den: scratch.recentLevel("den", seconds: 0.5), study: scratch.recentLevel("study", seconds: 0.5))
        XCTAssertGreaterThan(full.den, -30, "the tone plays")

        let (usage, usageText) = try runToCompletion("mshost", ["now-playing", "--config", hostConfig])
        XCTAssertEqual(usage, 2, usageText)
        XCTAssertTrue(usageText.contains("give at least one of --song-id, --position, --volume"), usageText)
        let (badVolume, badVolumeText) = try runToCompletion("mshost", ["now-playing", "--volume", "120", "--config", hostConfig])
        XCTAssertEqual(badVolume, 2, badVolumeText)

        let told = Date()
        let (status, output) = try runToCompletion(
            "mshost", ["now-playing", "--song-id", "track-42", "--position", "83", "--volume", "50", "--config", hostConfig])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(host.waitFor("now playing: \"track-42\", at 83.0 s, house volume 50"), host.log)
        XCTAssertTrue(den.waitFor("volume 50 (−30.0 dB), the house volume"), den.log)
        XCTAssertTrue(den.waitFor("now playing \"track-42\""), den.log)
        XCTAssertTrue(study.waitFor("now playing \"track-42\""), study.log)
        Thread.sleep(forTimeInterval: 1.5)
        XCTAssertEqual(scratch.recentLevel("den", seconds: 0.5) - full.den, -30, accuracy: 0.3, "the den follows the house volume")
        XCTAssertEqual(scratch.recentLevel("study", seconds: 0.5) - full.study, 0, accuracy: 0.2, "the study's volume is its own")
        XCTAssertFalse(study.log.contains("the house volume"), study.log)

        // Where the song is: the position told, moved on by the time since, less what the
        // buffer (200 ms) has not played yet.
        let (statusCode, report) = try runToCompletion("msrecv", ["status", "--json", "--config", scratch.file("den.json")])
        let elapsed = Date().timeIntervalSince(told)
        XCTAssertEqual(statusCode, 0, report)
        let playing =
            try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(report.utf8)) as? [String: Any])?["status"] as? [String: Any])["now_playing"]
            as? [String: Any]
        XCTAssertEqual(playing?["song_id"] as? String, "track-42", report)
        let position = try XCTUnwrap(playing?["position"] as? Double, report)
        XCTAssertGreaterThan(position, 83 + elapsed - 0.6, report)
        XCTAssertLessThan(position, 83 + elapsed, report)
        let (_, text) = try runToCompletion("msrecv", ["status", "--config", scratch.file("study.json")])
        XCTAssertTrue(text.contains("now playing \"track-42\" at 1:2"), text)

        // Only a change of the house volume moves a speaker: the host's user set the den to 80,
        // the same house volume again leaves it there, a new one takes it.
        let (_, listed) = try runToCompletion("mshost", ["clients", "--json", "--config", hostConfig])
        let clients = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [String: Any])?["clients"] as? [[String: Any]])
        let denID = try XCTUnwrap(clients.first { $0["name"] as? String == "den" }?["id"] as? Int)
        XCTAssertEqual(try runToCompletion("mshost", ["volume", String(denID), "80", "--config", hostConfig]).0, 0)
        XCTAssertTrue(den.waitFor("volume 80 (−12.0 dB), set by the host"), den.log)
        XCTAssertEqual(try runToCompletion("mshost", ["now-playing", "--volume", "50", "--config", hostConfig]).0, 0)
        XCTAssertTrue(host.waitFor("house volume 50", times: 2), host.log)
        Thread.sleep(forTimeInterval: 1.2)
        XCTAssertEqual(den.count("the house volume"), 1, den.log)
        XCTAssertEqual(try runToCompletion("mshost", ["now-playing", "--volume", "60", "--config", hostConfig]).0, 0)
        XCTAssertTrue(den.waitFor("volume 60 (−24.0 dB), the house volume"), den.log)

        stopAll([den, study, host])
    }
}
