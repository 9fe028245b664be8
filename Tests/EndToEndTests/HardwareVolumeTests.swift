import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// `audio_output.mixer` (issue 12): the volume moves a card's own control, in dB, and the
/// samples reach the card untouched. The virtual card's control plugin stands in for a DAC's
/// ("Digital", -103.5 to 0 dB in 0.5 dB steps, with a switch); alsa-lib's softvol cannot, since
/// it keeps its control on a kernel card (hw:N) and this machine has none.
final class HardwareVolumeTests: XCTestCase {
    func testTheVolumeMovesTheCardsControlAndTheSamplesStayExact() throws {
        let scratch = try Scratch("mixer")
        let port = freePort()
        let amp = try scratch.virtualCard("amp", mixer: true)
        _ = try scratch.virtualCard("kitchen", mixer: true)
        let hostConfig = try scratch.write("host.json", Configs.host(port: port, source: "tone", stateDir: try scratch.hostStateDirectory()))
        let host = try Daemon("mshost", config: hostConfig, scratch: scratch)
        XCTAssertTrue(host.waitFor("local control on"), host.log)
        // The amp starts at a configured 0.1 (-20 dB) on its control; the kitchen names a control
        // its card does not have, and plays with software volume.
        let ampConfig = try scratch.write("amp.json", Configs.receiver(port: port, device: "amp", output: ", \"mixer\": \"Digital\", \"volume\": 0.1"))
        let speaker = try Daemon("msrecv", config: ampConfig, scratch: scratch, name: "amp")
        let kitchen = try Daemon(
            "msrecv", config: try scratch.write("kitchen.json", Configs.receiver(port: port, device: "kitchen", output: ", \"mixer\": \"Master\"")),
            scratch: scratch, name: "kitchen")
        XCTAssertTrue(speaker.waitFor("event=Connected"), speaker.log)
        XCTAssertTrue(kitchen.waitFor("event=Connected"), kitchen.log)
        XCTAssertTrue(speaker.log.contains("volume on amp's \"Digital\" (−103.5 to 0.0 dB, with a switch)"), speaker.log)
        XCTAssertTrue(
            kitchen.log.contains(
                "error: receiving.audio_output.mixer: \"kitchen\" has no mixer control \"Master\" with a playback volume (it has: Digital); the "
                    + "volume is in software"
            ), kitchen.log)
        Thread.sleep(forTimeInterval: 1)
        let kitchenFull = scratch.recentLevel("kitchen", seconds: 0.5)
        let start = scratch.recentLevel("amp", seconds: 0.5)
        XCTAssertEqual(start - kitchenFull, -20, accuracy: 0.3, "the configured 0.1 is -20 dB on the card's control")

        let (_, listed) = try runToCompletion("mshost", ["clients", "--json", "--config", hostConfig])
        let clients = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [String: Any])?["clients"] as? [[String: Any]], listed)
        let id = { (name: String) in String(clients.first { $0["name"] as? String == name }?["id"] as? Int ?? 0) }
        for (name, level) in [("amp", "50"), ("kitchen", "50")] {
            XCTAssertEqual(try runToCompletion("mshost", ["volume", id(name), level, "--config", hostConfig]).0, 0)
        }
        XCTAssertTrue(speaker.waitFor("volume 50 (−30.0 dB), set by the host"), speaker.log)
        XCTAssertTrue(kitchen.waitFor("volume 50 (−30.0 dB), set by the host"), kitchen.log)
        Thread.sleep(forTimeInterval: 1)
        XCTAssertEqual(scratch.recentLevel("amp", seconds: 0.5) - kitchenFull, -30, accuracy: 0.3, "volume 50 on the card's control")
        XCTAssertEqual(scratch.recentLevel("kitchen", seconds: 0.5) - kitchenFull, -30, accuracy: 0.3, "and in software where there is none")
        // Muted: the control's switch, digital silence.
        XCTAssertEqual(try runToCompletion("mshost", ["mute", id("amp"), "on", "--config", hostConfig]).0, 0)
        XCTAssertTrue(speaker.waitFor("volume muted, set by the host"), speaker.log)
        Thread.sleep(forTimeInterval: 0.8)
        XCTAssertLessThan(scratch.recentLevel("amp", seconds: 0.3), -120)

        stopAll([speaker, kitchen, host])
        // The samples msrecv wrote were the tone at full scale throughout: the card's control did
        // all of it (software gain would have written them 20 dB down from the start).
        let written = try XCTUnwrap(try VirtualCard.sidecar(amp)["written_peak"])
        let kitchenWritten = try XCTUnwrap(try VirtualCard.sidecar(scratch.file("kitchen.wav"))["written_peak"])
        XCTAssertEqual(written, kitchenWritten, accuracy: 2, "the amp wrote what the kitchen wrote at full volume")
        XCTAssertGreaterThan(written, 8_000, "the tone, not a quiet copy of it")
    }
}
