import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A speaker's buttons, LEDs and amplifier line (issue 12), on msrecv's simulated GPIO chip (a
/// directory of line files: this kernel has no gpio-sim), against a live host: a press moves
/// what the card plays and reaches the host's client list and events; the LEDs and the
/// amplifier follow the stream.
final class SpeakerButtonsTests: XCTestCase {
    /// A finger on an active-low button line: pressed pulls it to 0.
    private func press(_ chip: String, _ line: Int, for seconds: TimeInterval) throws {
        try "0\n".write(toFile: chip + "/\(line)", atomically: true, encoding: .utf8)
        Thread.sleep(forTimeInterval: seconds)
        try "1\n".write(toFile: chip + "/\(line)", atomically: true, encoding: .utf8)
    }

    private func level(_ chip: String, _ line: Int) -> String {
        ((try? String(contentsOfFile: chip + "/\(line)", encoding: .utf8)) ?? "?").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testButtonsMoveTheVolumeTheHostHearsOfItAndTheLEDsFollowTheStream() throws {
        let scratch = try Scratch("buttons")
        let port = freePort()
        _ = try scratch.virtualCard("desk")
        let chip = scratch.file("gpio")
        try FileManager.default.createDirectory(atPath: chip, withIntermediateDirectories: true)
        let hostConfig = try scratch.write("host.json", Configs.host(port: port, source: "tone", stateDir: try scratch.hostStateDirectory()))
        let host = try Daemon("mshost", config: hostConfig, scratch: scratch)
        XCTAssertTrue(host.waitFor("local control on"), host.log)
        let events = try Daemon(command: [binDirectory + "/mshost", "events", "--config", hostConfig], scratch: scratch, name: "events")
        XCTAssertTrue(events.waitFor("following the host's events"), events.log)

        func line(_ offset: Int, button: Bool = false) -> String {
            "{\"chip\": \"sim:\(chip)\", \"line\": \(offset)" + (button ? ", \"active_low\": true, \"bias\": \"pull_up\"}" : "}")
        }
        // Volume up is wired to a chip this machine does not have: named, and the rest works.
        let board = """
            {"buttons": {"volume_up": {"chip": "gpiochip97", "line": 5}, "volume_down": \(line(6, button: true)), "play_mute": \(line(13, button: true))},
             "leds": {"status": \(line(20)), "buffer": \(line(21))}, "amp_power": \(line(26))}
            """
        let speaker = try Daemon(
            "msrecv", config: try scratch.write("desk.json", Configs.receiver(port: port, device: "desk", board: board)), scratch: scratch, name: "desk")
        XCTAssertTrue(speaker.waitFor("event=Connected"), speaker.log)
        XCTAssertTrue(
            speaker.log.contains("error: board.buttons.volume_up: no GPIO chip \"gpiochip97\" (/dev/gpiochip97 does not exist); the speaker plays without it"),
            speaker.log)
        Thread.sleep(forTimeInterval: 1)
        XCTAssertEqual(level(chip, 26), "1", "the amplifier is on while the stream plays")
        XCTAssertEqual(level(chip, 20), "1", "playing: the status LED is solid")
        XCTAssertEqual(level(chip, 21), "1", "a healthy buffer: solid")
        let full = scratch.recentLevel("desk", seconds: 0.5)
        XCTAssertGreaterThan(full, -30, "the tone plays")

        // One press on volume down: 2.4 dB down on the card, and the host hears of it.
        try press(chip, 6, for: 0.1)
        XCTAssertTrue(speaker.waitFor("volume 96 (−2.4 dB), set by a button"), speaker.log)
        // ControlRequested, its keys in order: action, client_id, value.
        XCTAssertTrue(events.waitFor("\"action\":\"volume\""), events.log)
        XCTAssertTrue(events.waitFor("\"value\":\"96\"}"), events.log)
        Thread.sleep(forTimeInterval: 1.5)  // past the 200 ms buffer, and the next STATUS
        let lowered = scratch.recentLevel("desk", seconds: 0.5)
        XCTAssertEqual(lowered - full, -2.4, accuracy: 0.2, "one press is 2.4 dB")
        let (status, listed) = try runToCompletion("mshost", ["clients", "--json", "--config", hostConfig])
        XCTAssertEqual(status, 0, listed)
        XCTAssertTrue(listed.contains("\"volume\":0.96"), listed)

        // Held for 2 s: muted, and the steps the hold took are given back; play/mute unmutes at 96.
        try press(chip, 6, for: 2.4)
        XCTAssertTrue(speaker.waitFor("volume muted, set by a button"), speaker.log)
        Thread.sleep(forTimeInterval: 0.6)
        XCTAssertLessThan(scratch.recentLevel("desk", seconds: 0.3), -120, "muted: silence")
        XCTAssertTrue(events.waitFor("\"value\":\"true\"}"), events.log)
        XCTAssertEqual(events.count("\"action\":\"mute\""), 1, "the volume the hold took and gave back, then the mute: \(events.log)")
        try press(chip, 13, for: 0.1)
        XCTAssertTrue(speaker.waitFor("volume 96 (−2.4 dB), set by a button", times: 2), speaker.log)
        Thread.sleep(forTimeInterval: 0.6)
        XCTAssertEqual(scratch.recentLevel("desk", seconds: 0.3) - full, -2.4, accuracy: 0.2, "unmuted where it was")

        // The host goes: the speaker looks for it again, its status LED blinking; the amplifier
        // stays on for its idle time (5 minutes by default).
        host.signal(SIGTERM)
        XCTAssertEqual(host.waitForExit(), 0, host.log)
        XCTAssertTrue(speaker.waitFor("reconnecting to"), speaker.log)
        var seen = Set<String>()
        for _ in 0..<30 {
            seen.insert(level(chip, 20))
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTAssertEqual(seen, ["0", "1"], "the status LED blinks while the speaker looks for its host")
        XCTAssertEqual(level(chip, 21), "0", "no stream: the buffer LED is off")
        XCTAssertEqual(level(chip, 26), "1")

        speaker.signal(SIGTERM)
        XCTAssertEqual(speaker.waitForExit(), 0, speaker.log)
        XCTAssertEqual(events.waitForExit(), 0, events.log)
    }
}
