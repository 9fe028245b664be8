import Audio
import Core
import Discovery
import Foundation
import Platform
import ProtocolMessages
import Transport
import XCTest

/// mDNS discovery (issue 11 §1) on a real avahi-daemon (private, loopback only: `MDNSDaemon`),
/// with the real daemons.
final class DiscoveryTests: XCTestCase {
    /// A host's config under its own state directory (its own key and device_id), advertised.
    private func hostConfig(_ scratch: Scratch, _ name: String, port: UInt16, extra: String = "") throws -> String {
        try scratch.write(
            "\(name)-\(port).json",
            Configs.host(
                port: port, source: "tone:440", codec: "opus", advertise: true, name: name,
                stateDir: scratch.file("state-\(name)-\(port)"), extra: extra))
    }

    private func deviceID(_ scratch: Scratch, _ name: String, port: UInt16) throws -> String {
        try String(contentsOfFile: scratch.file("state-\(name)-\(port)/device_id"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The host of `config` started again on a port of its own (its key and device_id the same),
    /// as a host with a new DHCP lease comes back.
    private func restartedElsewhere(_ scratch: Scratch, config: String, port: UInt16) throws -> (Daemon, UInt16) {
        let newPort = freePort()
        let text = try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: "\"port\": \(port)", with: "\"port\": \(newPort)")
        return (try Daemon("mshost", config: try scratch.write("moved.json", text), scratch: scratch, name: "host-2"), newPort)
    }

    private func receiver(_ scratch: Scratch, _ device: String, extra: String = "") throws -> (Daemon, String) {
        let recording = scratch.recordingPCM(device)
        let config = try scratch.write("\(device).json", Configs.receiver(port: nil, device: device, extra: extra))
        return (try Daemon("msrecv", config: config, scratch: scratch, name: device), recording)
    }

    func testAReceiverWithNoHostFindsTheOnlyOnePinsItByDeviceIDAndPlays() throws {
        let mdns = try MDNSDaemon()
        let scratch = try Scratch("discover")
        mdns.use(in: scratch)
        let port = freePort()
        let avatar = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let avatarPath = try scratch.write("avatar.png", bytes: avatar)
        let config = try hostConfig(scratch, "Kitchen host", port: port, extra: ", \"user_name\": \"Ann\", \"avatar\": \"\(avatarPath)\"")
        let host = try Daemon("mshost", config: config, scratch: scratch)
        XCTAssertTrue(host.waitFor("mDNS: published \"Kitchen host\""), host.log)
        let id = try deviceID(scratch, "Kitchen host", port: port)
        let fingerprint = try printedFingerprint("mshost", config: config)

        // What `msrecv discover --json` prints is the seed's advertisement, with our fingerprint.
        let (status, printed) = try runToCompletion("msrecv", ["discover", "--json", "--timeout", "3s"], environment: scratch.environment)
        XCTAssertEqual(status, 0, printed)
        let list = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(printed.utf8)) as? [[String: Any]], printed)
        XCTAssertEqual(list.count, 1, printed)
        XCTAssertEqual(list.first?["name"] as? String, "Kitchen host")
        XCTAssertEqual(list.first?["port"] as? Int, Int(port))
        let ad = try XCTUnwrap(list.first?["advertisement"] as? [String: Any], printed)
        XCTAssertEqual((ad["host_info"] as? [String: Any])?["device_id"] as? String, id)
        XCTAssertEqual((ad["host_info"] as? [String: Any])?["user_name"] as? String, "Ann")
        XCTAssertEqual((ad["network"] as? [String: Any])?["fingerprint"] as? String, fingerprint)
        XCTAssertEqual((ad["network"] as? [String: Any])?["encryption"] as? String, "tls")
        XCTAssertEqual((ad["stream_info"] as? [String: Any])?["audio_format"] as? String, "opus")

        let (speaker, recording) = try receiver(scratch, "speaker")
        XCTAssertTrue(speaker.waitFor("event=Connected host=\"Kitchen host\""), speaker.log)
        XCTAssertTrue(speaker.log.contains("pinned host \(id)'s certificate \(fingerprint)"), speaker.log)
        // The full advertisement, avatar included, fetched over the session.
        XCTAssertTrue(
            speaker.waitFor("host \"Kitchen host\" (device_id \(id)), shared by Ann, Moosync \(MoosyncVersion.current), avatar 4000 bytes of base64"),
            speaker.log)
        Thread.sleep(forTimeInterval: 1)
        let samples = scratch.samples((recording as NSString).lastPathComponent)
        XCTAssertGreaterThan(samples.count, 48_000, "a second of tone arrived: \(speaker.log)")
        XCTAssertGreaterThan(samples.map { abs(Int($0)) }.max() ?? 0, 1000, "and it is not silence")
        let pins = try String(contentsOfFile: Configs.receiverStateDirectory("speaker") + "/known_hosts", encoding: .utf8)
        XCTAssertTrue(pins.contains("\(id) \(fingerprint)"), pins)

        // A speaker that has pinned it (its pins copied), started on a paced card, dials it as
        // soon as mDNS resolves it, without the second of quiet it waits for before picking a
        // host it has never met, and its first sound leaves the card within 0.5 s of its start.
        stopAll([speaker])
        let pinsAgain = Configs.receiverStateDirectory("again")
        try? FileManager.default.removeItem(atPath: pinsAgain)
        try FileManager.default.createDirectory(atPath: pinsAgain, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Configs.receiverStateDirectory("speaker") + "/known_hosts", toPath: pinsAgain + "/known_hosts")
        let card = try scratch.virtualCard("again", delayMicroseconds: 1_000)
        let started = Date()
        let startedAt = Double(SystemClock().now())
        let again = try Daemon("msrecv", config: try scratch.write("again.json", Configs.receiver(port: nil, device: "again")), scratch: scratch, name: "again")
        XCTAssertTrue(again.waitFor("event=Connected host=\"Kitchen host\""), again.log)
        let connectedAfter = Date().timeIntervalSince(started)
        Thread.sleep(forTimeInterval: 1)
        stopAll([again])
        let sidecar = try VirtualCard.sidecar(card)
        let played = try WAVAudio.parse(Array(try Data(contentsOf: URL(fileURLWithPath: card))))
        let first = try XCTUnwrap(stride(from: 0, to: played.samples.count, by: 2).first { abs(Int(played.samples[$0])) > 1_000 }, "it played: \(again.log)")
        let soundAfter =
            (try XCTUnwrap(sidecar["t0_monotonic_ns"]) / 1_000 + Double(first / 2) / (try XCTUnwrap(sidecar["effective_rate"])) * 1e6 - startedAt) / 1e6
        print(
            "discovery: a pinned host connected \(Int(connectedAfter * 1000)) ms after msrecv started, its first sound out \(Int(soundAfter * 1000)) ms after")
        XCTAssertLessThan(connectedAfter, 0.5, "no wait for quiet: \(again.log)")
        XCTAssertLessThan(soundAfter, 0.5, "first sound: \(again.log)")
    }

    func testWithTwoHostsTheReceiverPlaysTheNamedOneAndWithoutANameSaysWhichThereAre() throws {
        let mdns = try MDNSDaemon()
        let scratch = try Scratch("two-hosts")
        mdns.use(in: scratch)
        let (lounge, study) = (freePort(), freePort())
        let loungeHost = try Daemon("mshost", config: try hostConfig(scratch, "Lounge", port: lounge), scratch: scratch, name: "lounge-host")
        let studyHost = try Daemon("mshost", config: try hostConfig(scratch, "Study", port: study), scratch: scratch, name: "study-host")
        XCTAssertTrue(loungeHost.waitFor("mDNS: published"), loungeHost.log)
        XCTAssertTrue(studyHost.waitFor("mDNS: published"), studyHost.log)
        let loungeID = try deviceID(scratch, "Lounge", port: lounge)

        let (unsure, _) = try receiver(scratch, "unsure")
        XCTAssertTrue(unsure.waitFor("several Moosync hosts are on the network; set receiving.host_id"), unsure.log)
        XCTAssertTrue(unsure.log.contains("\"Lounge\" at 127.0.0.1:\(lounge): device_id \(loungeID)"), unsure.log)
        XCTAssertTrue(unsure.log.contains("\"Study\" at 127.0.0.1:\(study)"), unsure.log)
        XCTAssertFalse(unsure.log.contains("event=Connected"), "it picks none by itself: \(unsure.log)")

        let (byName, _) = try receiver(scratch, "by-name", extra: ", \"host_name\": \"Study\"")
        XCTAssertTrue(byName.waitFor("event=Connected host=Study"), byName.log)
        let (byID, _) = try receiver(scratch, "by-id", extra: ", \"host_id\": \"\(loungeID)\"")
        XCTAssertTrue(byID.waitFor("event=Connected host=Lounge"), byID.log)
        XCTAssertTrue(studyHost.waitFor("by-name ("), studyHost.log)
        XCTAssertFalse(studyHost.log.contains("by-id ("), studyHost.log)
        XCTAssertTrue(loungeHost.log.contains("by-id ("), loungeHost.log)
        XCTAssertFalse(loungeHost.log.contains("by-name ("), loungeHost.log)
        XCTAssertFalse(unsure.log.contains("event=Connected"), unsure.log)
    }

    /// Kicked for a while by the only host there is: it waits that long, says why, and comes back.
    func testADiscoveredHostThatSendsTheReceiverAwayIsLeftForTheTimeItSays() throws {
        let mdns = try MDNSDaemon()
        let scratch = try Scratch("discover-kick")
        mdns.use(in: scratch)
        let port = freePort()
        let config = try hostConfig(scratch, "Den host", port: port)
        let host = try Daemon("mshost", config: config, scratch: scratch)
        XCTAssertTrue(host.waitFor("mDNS: published \"Den host\""), host.log)
        let (speaker, _) = try receiver(scratch, "den")
        XCTAssertTrue(speaker.waitFor("event=Connected host=\"Den host\""), speaker.log)
        Thread.sleep(forTimeInterval: 1.5)
        let (kicked, output) = try runToCompletion("mshost", ["kick", "1", "--for", "4s", "--config", config])
        XCTAssertEqual(kicked, 0, output)
        XCTAssertTrue(speaker.waitFor("it stays off the host for 4s"), speaker.log)
        let sentAwayAt = Date()
        XCTAssertTrue(speaker.waitFor("event=Connected host=\"Den host\"", times: 2, timeout: 10), speaker.log)
        let away = Date().timeIntervalSince(sentAwayAt)
        print("discovery kick: back after \(away) s (sent away for 4 s)")
        XCTAssertGreaterThan(away, 3.8, "not before its time")
        XCTAssertLessThan(away, 6, "and soon after it")
        stopAll([speaker, host])
    }

    func testANameTakenOnTheNetworkIsPublishedUnderAvahisAlternative() throws {
        let mdns = try MDNSDaemon()
        let scratch = try Scratch("collision")
        mdns.use(in: scratch)
        let (first, second) = (freePort(), freePort())
        let one = try Daemon("mshost", config: try hostConfig(scratch, "Twin", port: first), scratch: scratch, name: "one")
        XCTAssertTrue(one.waitFor("mDNS: published \"Twin\""), one.log)
        let two = try Daemon("mshost", config: try hostConfig(scratch, "Twin", port: second), scratch: scratch, name: "two")
        XCTAssertTrue(two.waitFor("mDNS: the name \"Twin\" is taken on this network: publishing as \"Twin #2\""), two.log)
        XCTAssertTrue(two.waitFor("mDNS: published \"Twin #2\""), two.log)
        let (status, printed) = try runToCompletion("msrecv", ["discover", "--timeout", "2s"], environment: scratch.environment)
        XCTAssertEqual(status, 0, printed)
        XCTAssertTrue(printed.contains("\"Twin\" at 127.0.0.1:\(first)"), printed)
        XCTAssertTrue(
            printed.contains("\"Twin #2\" at 127.0.0.1:\(second): device_id \(try deviceID(scratch, "Twin", port: second)), device_name \"Twin\""), printed)
        // Both are device_name "Twin": the name does not say which.
        let (unsure, _) = try receiver(scratch, "unsure", extra: ", \"host_name\": \"Twin\"")
        XCTAssertTrue(unsure.waitFor("several hosts fit receiving.host_name \"Twin\"; set receiving.host_id"), unsure.log)
    }

    func testAnAvahiRestartIsSurvivedAndAHostThatMovesIsFollowed() throws {
        let mdns = try MDNSDaemon()
        let scratch = try Scratch("restart")
        mdns.use(in: scratch)
        let port = freePort()
        let config = try hostConfig(scratch, "Mover", port: port)
        let host = try Daemon("mshost", config: config, scratch: scratch, name: "host-1")
        XCTAssertTrue(host.waitFor("mDNS: published \"Mover\""), host.log)
        let (speaker, recording) = try receiver(scratch, "speaker")
        XCTAssertTrue(speaker.waitFor("event=Connected"), speaker.log)

        mdns.stopAvahi()
        XCTAssertTrue(host.waitFor("mDNS: lost avahi-daemon"), host.log)
        XCTAssertTrue(speaker.waitFor("mDNS: lost avahi-daemon"), speaker.log)
        try mdns.startAvahi()
        XCTAssertTrue(host.waitFor("mDNS: avahi-daemon is back: publishing again"), host.log)
        XCTAssertTrue(host.waitFor("mDNS: published \"Mover\"", times: 2), host.log)
        XCTAssertTrue(speaker.waitFor("mDNS: avahi-daemon is back: browsing again"), speaker.log)
        XCTAssertEqual(speaker.count("event=Connected"), 1, "the stream played on: \(speaker.log)")

        // The host comes back on another port: the receiver finds it there.
        host.signal(SIGTERM)
        XCTAssertEqual(host.waitForExit(), 0, host.log)
        let (moved, newPort) = try restartedElsewhere(scratch, config: config, port: port)
        XCTAssertTrue(moved.waitFor("mDNS: published \"Mover\""), moved.log)
        XCTAssertTrue(speaker.waitFor("event=Connected", times: 2, timeout: 15), speaker.log)
        XCTAssertTrue(speaker.log.contains("with \"Mover\" (127.0.0.1:\(newPort))"), speaker.log)
        let before = scratch.size((recording as NSString).lastPathComponent)
        Thread.sleep(forTimeInterval: 1)
        XCTAssertGreaterThan(scratch.size((recording as NSString).lastPathComponent) - before, 100_000, "playing again: \(speaker.log)")
    }

    /// A receiver with a fixed `host` and `auto_discover`: when that address stops answering and
    /// mDNS sees the host pinned for it elsewhere (its new lease), it plays it there. Another
    /// host advertised meanwhile, with a key of its own, is not played.
    func testAConfiguredHostThatMovesIsFoundOverMDNSWithAutoDiscover() throws {
        let mdns = try MDNSDaemon()
        let scratch = try Scratch("configured-moved")
        mdns.use(in: scratch)
        let port = freePort()
        let config = try hostConfig(scratch, "Lounge host", port: port)
        let host = try Daemon("mshost", config: config, scratch: scratch, name: "host-1")
        XCTAssertTrue(host.waitFor("mDNS: published \"Lounge host\""), host.log)
        let recording = scratch.recordingPCM("roamer")
        let speaker = try Daemon(
            "msrecv", config: try scratch.write("roamer.json", Configs.receiver(port: port, device: "roamer", extra: ", \"auto_discover\": true")),
            scratch: scratch, name: "roamer")
        XCTAssertTrue(speaker.waitFor("event=Connected"), speaker.log)
        XCTAssertTrue(speaker.log.contains("also looking over mDNS for the host pinned for 127.0.0.1:\(port)"), speaker.log)
        host.signal(SIGTERM)
        XCTAssertEqual(host.waitForExit(), 0, host.log)

        let strangerPort = freePort()
        let stranger = try Daemon("mshost", config: try hostConfig(scratch, "Stranger", port: strangerPort), scratch: scratch, name: "stranger")
        XCTAssertTrue(stranger.waitFor("mDNS: published \"Stranger\""), stranger.log)
        XCTAssertTrue(speaker.waitFor("reconnecting to 127.0.0.1:\(port) in 1s"), speaker.log)
        Thread.sleep(forTimeInterval: 1.5)
        XCTAssertEqual(speaker.count("event=Connected"), 1, speaker.log)
        XCTAssertFalse(speaker.log.contains(":\(strangerPort)"), "a host with another key is not the one pinned: \(speaker.log)")

        let (moved, newPort) = try restartedElsewhere(scratch, config: config, port: port)
        XCTAssertTrue(moved.waitFor("mDNS: published \"Lounge host\""), moved.log)
        XCTAssertTrue(speaker.waitFor("event=Connected", times: 2, timeout: 10), speaker.log)
        XCTAssertTrue(
            speaker.log.contains("127.0.0.1:\(port) did not answer; the host pinned for it is at 127.0.0.1:\(newPort) now (mDNS): connecting there"),
            speaker.log)
        let before = scratch.size((recording as NSString).lastPathComponent)
        Thread.sleep(forTimeInterval: 1)
        XCTAssertGreaterThan(scratch.size((recording as NSString).lastPathComponent) - before, 100_000, "playing again: \(speaker.log)")
        stopAll([speaker, moved, stranger])
    }

    /// mDNS is not authenticated: a service that names a real host's port but another key than
    /// the host presents is refused, and says so.
    func testAHostPresentingAnotherKeyThanItsAdvertisementIsRefused() throws {
        let mdns = try MDNSDaemon()
        let scratch = try Scratch("impostor")
        mdns.use(in: scratch)
        let port = freePort()
        let host = try Daemon("mshost", config: try scratch.write("host.json", Configs.host(port: port, source: "tone:440")), scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"), host.log)
        var fake = ServiceAdvertisement()
        fake.deviceID = makeUUID()
        fake.deviceName = "Impostor"
        fake.port = port
        fake.fingerprint = hex([UInt8](repeating: 0xab, count: 32), separator: ":")
        let publisher = try TestPublisher(name: "Impostor", port: port, txt: fake.txtRecords, busAddress: mdns.busAddress)
        XCTAssertTrue(publisher.waitUntilPublished(), "the test's own service is published")
        let (speaker, _) = try receiver(scratch, "speaker")
        XCTAssertTrue(speaker.waitFor("not the one it advertises over mDNS (\(fake.fingerprint))"), speaker.log)
        XCTAssertFalse(speaker.log.contains("event=Connected"), speaker.log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: Configs.receiverStateDirectory("speaker") + "/known_hosts"), "nothing pinned")
    }

    /// An mDNS name is anyone's to choose: one with a newline and a forged event was printed as
    /// it was by `msrecv discover` (and in the receiver's log when it dialled it), a line of its
    /// own. Its control characters are shown as `?` now.
    func testAServiceNameCannotForgeALineOfDiscoversOutput() throws {
        let mdns = try MDNSDaemon()
        let scratch = try Scratch("forged-name")
        mdns.use(in: scratch)
        var ad = ServiceAdvertisement()
        ad.deviceID = makeUUID()
        ad.deviceName = "Evil"
        ad.port = freePort()
        // Avahi's own tool, a process of its own: libdbus reads the bus address once a process,
        // so the in-process publisher serves only the first test that starts one.
        let publisher = try Daemon(
            command: ["/usr/bin/avahi-publish", "-s", "Evil\nmsrecv: event=Connected", "_moosync-audio._tcp", String(ad.port)] + ad.txtRecords,
            scratch: scratch, name: "publisher")
        XCTAssertTrue(publisher.waitFor("Established under name"), "the test's own service is published: \(publisher.log)")
        let (status, printed) = try runToCompletion("msrecv", ["discover", "--timeout", "2s"], environment: scratch.environment)
        XCTAssertEqual(status, 0, printed)
        XCTAssertTrue(printed.contains("\"Evil?msrecv: event=Connected\" at 127.0.0.1:\(ad.port)"), printed)
        XCTAssertFalse(printed.split(separator: "\n").contains { $0.hasPrefix("msrecv: event=") }, printed)
    }

    /// A second advertisement of a pinned host's device_id under another name (first in name
    /// order) and another key, at a port where nothing answers, used to end a session playing
    /// the host (it had "moved"), and then to be dialled first and retried for ever. Now a
    /// speaker that has pinned the host ignores it and plays the real one; and a host whose
    /// advertised fingerprint does not parse is not played at all.
    func testAnAdvertisementOfAPinnedHostWithAnotherKeyIsIgnored() throws {
        let mdns = try MDNSDaemon()
        let scratch = try Scratch("spoofed")
        mdns.use(in: scratch)
        let port = freePort()
        let host = try Daemon("mshost", config: try hostConfig(scratch, "Real host", port: port), scratch: scratch)
        XCTAssertTrue(host.waitFor("mDNS: published \"Real host\""), host.log)
        let (first, _) = try receiver(scratch, "speaker")
        XCTAssertTrue(first.waitFor("event=Connected host=\"Real host\""), first.log)

        // Published while the speaker plays: before, it read as the host having moved, and the
        // session ended (host_moved).
        var spoof = ServiceAdvertisement()
        spoof.deviceID = try deviceID(scratch, "Real host", port: port)
        spoof.deviceName = "Real host"
        spoof.port = freePort()
        spoof.fingerprint = hex([UInt8](repeating: 0xab, count: 32), separator: ":")
        let impostor = try Daemon(
            command: ["/usr/bin/avahi-publish", "-s", "AAA Real host", "_moosync-audio._tcp", String(spoof.port)] + spoof.txtRecords,
            scratch: scratch, name: "impostor")
        XCTAssertTrue(impostor.waitFor("Established under name"), impostor.log)
        Thread.sleep(forTimeInterval: 2)
        stopAll([first])
        XCTAssertFalse(first.log.contains("host_moved"), "the session played on: \(first.log)")
        XCTAssertEqual(first.count("event=Connected"), 1, first.log)
        let again = try Daemon("msrecv", config: scratch.file("speaker.json"), scratch: scratch, name: "speaker-again")
        XCTAssertTrue(again.waitFor("event=Connected host=\"Real host\"", timeout: 5), "the pinned host, not the impostor: \(again.log)")
        XCTAssertFalse(again.log.contains(":\(spoof.port)"), "the impostor was never dialled: \(again.log)")
        stopAll([again])

        var odd = ServiceAdvertisement()
        odd.deviceID = makeUUID()
        odd.deviceName = "Odd"
        odd.port = port
        odd.fingerprint = "zz"
        let oddPublisher = try Daemon(
            command: ["/usr/bin/avahi-publish", "-s", "Odd", "_moosync-audio._tcp", String(port)] + odd.txtRecords,
            scratch: scratch, name: "odd")
        XCTAssertTrue(oddPublisher.waitFor("Established under name"), oddPublisher.log)
        let (wary, _) = try receiver(scratch, "wary", extra: ", \"host_name\": \"Odd\"")
        XCTAssertTrue(wary.waitFor("advertises a certificate fingerprint that is not one", timeout: 8), wary.log)
        stopAll([wary])
        XCTAssertFalse(wary.log.contains("event=Connected"), wary.log)
    }

    func testWithoutAvahiTheHostStillStreamsAndDiscoverySaysWhy() throws {
        let scratch = try Scratch("no-avahi")
        scratch.environmentOverrides["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=\(scratch.file("no-bus.sock"))"
        let port = freePort()
        let host = try Daemon("mshost", config: try scratch.write("host.json", Configs.host(port: port, source: "tone:440", advertise: true)), scratch: scratch)
        XCTAssertTrue(host.waitFor("mDNS: cannot reach avahi-daemon"), host.log)
        let (status, printed) = try runToCompletion("msrecv", ["discover", "--timeout", "500ms"], environment: scratch.environment)
        XCTAssertEqual(status, 1, printed)
        XCTAssertTrue(printed.contains("mDNS: cannot reach avahi-daemon"), printed)
        XCTAssertTrue(printed.contains("no Moosync host answered within 500ms"), printed)
        _ = scratch.recordingPCM("speaker")
        let speaker = try Daemon("msrecv", config: try scratch.write("r.json", Configs.receiver(port: port, device: "speaker")), scratch: scratch)
        XCTAssertTrue(speaker.waitFor("event=Connected"), "a receiver that names the host plays: \(speaker.log)")
    }
}

/// A service the test publishes itself, through the product's MDNSClient on a reactor of its own.
private final class TestPublisher: @unchecked Sendable {
    private let stop = StopFlag()
    private let lock = NSLock()
    private var published = false
    private let done = DispatchSemaphore(value: 0)

    init(name: String, port: UInt16, txt: [String], busAddress: String) throws {
        setenv("DBUS_SYSTEM_BUS_ADDRESS", busAddress, 1)
        let client = try MDNSClient(role: .publish(name: name, port: port, txt: txt))
        nonisolated(unsafe) let unsafeClient = client
        Thread { [self] in
            var reactor = Reactor<Int32>()
            unsafeClient.sync(into: &reactor, token: { $0 })
            while !stop.isSet {
                for event in reactor.wait(maxWait: 50_000) {
                    switch event {
                    case .ready(let id, _), .timer(let id): unsafeClient.handle(event, id: id)
                    }
                }
                if unsafeClient.takeEvents().contains(.published(name: name)) { lock.withLock { published = true } }
                unsafeClient.sync(into: &reactor, token: { $0 })
            }
            unsafeClient.close(from: &reactor, token: { $0 })
            done.signal()
        }.start()
    }

    deinit {
        stop.set()
        done.wait()
    }

    func waitUntilPublished(timeout: TimeInterval = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if lock.withLock({ published }) { return true }
            usleep(20_000)
        }
        return false
    }
}
