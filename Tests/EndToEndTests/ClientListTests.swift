import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The host's client list and its commands (issue 12), against a live host with two receivers
/// on virtual cards: `mshost clients`, `volume`, `mute`, `kick` and `events` through the local
/// control socket, judged by what the cards played.
final class ClientListTests: XCTestCase {
    private func clients(_ config: String) throws -> [[String: Any]] {
        let (status, output) = try runToCompletion("mshost", ["clients", "--json", "--config", config])
        XCTAssertEqual(status, 0, output)
        let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        return try XCTUnwrap(object?["clients"] as? [[String: Any]], output)
    }

    func testTheHostListsItsReceiversAndSetsTheirVolumeMutesAndKicks() throws {
        let scratch = try Scratch("clients")
        let port = freePort()
        _ = try scratch.virtualCard("kitchen")
        _ = try scratch.virtualCard("porch")
        let hostConfig = try scratch.write("host.json", Configs.host(port: port, source: "tone", stateDir: try scratch.hostStateDirectory()))
        let host = try Daemon("mshost", config: hostConfig, scratch: scratch)
        XCTAssertTrue(host.waitFor("local control on"), host.log)
        let events = try Daemon(command: [binDirectory + "/mshost", "events", "--config", hostConfig], scratch: scratch, name: "events")
        XCTAssertTrue(events.waitFor("following the host's events"), events.log)

        let kitchen = try Daemon(
            "msrecv", config: try scratch.write("kitchen.json", Configs.receiver(port: port, device: "kitchen")), scratch: scratch, name: "kitchen")
        let porch = try Daemon(
            "msrecv", config: try scratch.write("porch.json", Configs.receiver(port: port, device: "porch")), scratch: scratch, name: "porch")
        XCTAssertTrue(kitchen.waitFor("event=Connected"), kitchen.log)
        XCTAssertTrue(porch.waitFor("event=Connected"), porch.log)
        Thread.sleep(forTimeInterval: 2.5)  // a STATUS from each

        let listed = try clients(hostConfig)
        XCTAssertEqual(listed.compactMap { $0["name"] as? String }.sorted(), ["kitchen", "porch"])
        for client in listed {
            XCTAssertEqual(client["streaming"] as? Bool, true)
            let status = try XCTUnwrap(client["status"] as? [String: Any], "its STATUS: \(client)")
            XCTAssertEqual(status["volume"] as? Double, 1, "\(client)")
            XCTAssertEqual(status["muted"] as? Bool, false)
            XCTAssertEqual(status["latency_us"] as? Int, 200_000)
            XCTAssertEqual(status["wanted_buffer_us"] as? Int, 200_000, "a calm path asks for no more than buffer_size")
            XCTAssertTrue((client["address"] as? String ?? "").hasPrefix("127.0.0.1:"), "\(client)")
            // Its own peak, not the test runner's it was started from (getrusage carries that
            // across execve).
            let daemon = client["name"] as? String == "kitchen" ? kitchen : porch
            let peak = try XCTUnwrap(status["memory_peak_kb"] as? Int, "\(client)")
            let ownPeak = try XCTUnwrap(procStatus(daemon.pid, "VmHWM"))
            XCTAssertLessThanOrEqual(peak, ownPeak, "\(client)")
            XCTAssertGreaterThan(peak, ownPeak / 2, "\(client)")
        }
        let id = { (name: String) in listed.first { $0["name"] as? String == name }?["id"] as? Int ?? 0 }
        let (tableStatus, table) = try runToCompletion("mshost", ["clients", "--config", hostConfig])
        XCTAssertEqual(tableStatus, 0, table)
        XCTAssertTrue(table.hasPrefix("ID  NAME"), table)
        XCTAssertTrue(table.contains("LATENCY  ASKS"), table)
        XCTAssertTrue(table.contains("kitchen") && table.contains("porch") && table.contains("200ms"), table)

        // Volume 50 is 30 dB down on the scale (0.6 dB a step): the kitchen's card plays it.
        let full = scratch.recentLevel("kitchen", seconds: 0.5)
        XCTAssertGreaterThan(full, -30, "the tone plays")
        let (volumeStatus, volumeOutput) = try runToCompletion("mshost", ["volume", String(id("kitchen")), "50", "--config", hostConfig])
        XCTAssertEqual(volumeStatus, 0, volumeOutput)
        XCTAssertTrue(kitchen.waitFor("volume 50 (−30.0 dB), set by the host"), kitchen.log)
        // Mute the porch; its card goes silent while the kitchen plays on.
        let (muteStatus, muteOutput) = try runToCompletion("mshost", ["mute", String(id("porch")), "on", "--config", hostConfig])
        XCTAssertEqual(muteStatus, 0, muteOutput)
        Thread.sleep(forTimeInterval: 1.5)  // past the 200 ms buffer, and the next STATUS
        let lowered = scratch.recentLevel("kitchen", seconds: 0.5)
        print("client list: kitchen \(full) dBFS at volume 100, \(lowered) dBFS at 50; porch muted: \(scratch.recentLevel("porch", seconds: 0.5)) dBFS")
        XCTAssertEqual(lowered - full, -30, accuracy: 0.5, "volume 50 is 30 dB down")
        XCTAssertLessThan(scratch.recentLevel("porch", seconds: 0.5), -120, "muted: silence")
        let afterMute = try clients(hostConfig)
        let status = { (name: String) in afterMute.first { $0["name"] as? String == name }?["status"] as? [String: Any] }
        XCTAssertEqual(status("porch")?["muted"] as? Bool, true, "\(afterMute)")
        XCTAssertEqual(status("kitchen")?["volume"] as? Double, 0.5, "\(afterMute)")
        // The speaker says the same through its own socket.
        let (porchStatus, porchSays) = try runToCompletion("msrecv", ["status", "--config", scratch.file("porch.json")])
        XCTAssertEqual(porchStatus, 0, porchSays)
        XCTAssertTrue(porchSays.hasPrefix("playing \"test host\""), porchSays)
        XCTAssertTrue(porchSays.contains("volume muted (100 when unmuted)") && porchSays.contains("buffer 200ms"), porchSays)

        // Kicked for ten minutes: the kitchen leaves, says why, and does not come back.
        let (kickStatus, kickOutput) = try runToCompletion("mshost", ["kick", String(id("kitchen")), "--for", "10m", "--config", hostConfig])
        XCTAssertEqual(kickStatus, 0, kickOutput)
        XCTAssertTrue(kitchen.waitFor("it stays off the host for 10m"), kitchen.log)
        XCTAssertTrue(kitchen.waitFor("connecting to 127.0.0.1:\(port) again in 10m"), kitchen.log)
        Thread.sleep(forTimeInterval: 0.5)
        let silentFrom = scratch.size("kitchen.wav")
        Thread.sleep(forTimeInterval: 2.5)
        XCTAssertEqual(scratch.size("kitchen.wav"), silentFrom, "the kicked receiver plays nothing")
        XCTAssertEqual(kitchen.count("event=Connected"), 1, kitchen.log)
        XCTAssertEqual(try clients(hostConfig).compactMap { $0["name"] as? String }, ["porch"])
        let (kitchenStatus, kitchenSays) = try runToCompletion("msrecv", ["status", "--json", "--config", scratch.file("kitchen.json")])
        XCTAssertEqual(kitchenStatus, 0, kitchenSays)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(kitchenSays.utf8)) as? [String: Any])["status"] as? [String: Any]
        XCTAssertEqual(report?["state"] as? String, "sent_away", kitchenSays)
        XCTAssertEqual(report?["volume"] as? Int, 50, kitchenSays)

        // What cannot be done is said, and changes nothing.
        let (unknownStatus, unknown) = try runToCompletion("mshost", ["volume", "99", "40", "--config", hostConfig])
        XCTAssertEqual(unknownStatus, 1)
        XCTAssertTrue(unknown.contains("no receiver 99 is connected"), unknown)
        let (rangeStatus, range) = try runToCompletion("mshost", ["volume", String(id("porch")), "150", "--config", hostConfig])
        XCTAssertEqual(rangeStatus, 2)
        XCTAssertTrue(range.contains("expected a level from 0 to 100"), range)

        // Everything that happened, as `mshost events` followed it.
        XCTAssertTrue(events.waitFor("\"reason\":\"kicked\""), events.log)
        XCTAssertEqual(events.count("\"event\":\"ClientConnected\""), 2, events.log)
        XCTAssertTrue(events.log.contains("\"client_name\":\"kitchen\""), events.log)
        XCTAssertTrue(events.log.contains("\"action\":\"mute\"") == false, "commands from the host's user are not receivers' requests")

        stopAll([porch, kitchen, host])
        XCTAssertEqual(events.waitForExit(), 0, "the follower ends when the host does: \(events.log)")
    }

    func testAHostNotRunningIsSaidSo() throws {
        let scratch = try Scratch("clients-none")
        let config = try scratch.write("host.json", Configs.host(port: freePort(), source: "tone", stateDir: scratch.file("empty")))
        let (status, output) = try runToCompletion("mshost", ["clients", "--config", config])
        XCTAssertEqual(status, 1)
        XCTAssertTrue(output.contains("cannot reach") && output.contains("is mshost running"), output)
        let (usage, text) = try runToCompletion("mshost", ["kick", "--config", config])
        XCTAssertEqual(usage, 2)
        XCTAssertTrue(text.contains("usage: mshost kick ID [--for DURATION] [--config PATH]"), text)
    }
}
