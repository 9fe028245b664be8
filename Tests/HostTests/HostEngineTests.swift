import AudioPathHarness
import Config
import Core
import Foundation
import Host
import Platform
import ProtocolMessages
import Receiver
import Secure
import TestSupport
import Transport
import XCTest

/// The host's engine in this process, on a stepped clock, with receivers the test plays over
/// loopback TCP: welcome and stream, a full client list, a kick, a receiver that never says
/// HELLO, the goodbye on stop; and a receiver engine with a password playing it, both engines
/// stepped together. Minutes of the host's time in well under a second of the test's.
final class HostEngineTests: XCTestCase {
    final class Rig {
        let clock = SteppedClock(startingAt: 50_000_000)
        let engine: HostEngine
        let port: UInt16
        let logPath: String
        var exitCode: Int32?
        /// Others stepped with the host: receivers' engines and cards.
        var alongside: [() -> Void] = []

        init(
            name: String, admission: Admission = Admission(), notifier: ServiceNotifier? = nil, configure: (inout SharingSettings) -> Void = { _ in }
        ) throws {
            let directory = NSTemporaryDirectory() + "host-engine-\(name)-\(getpid())"
            try? FileManager.default.removeItem(atPath: directory)
            logPath = directory + ".log"
            var settings = SharingSettings()
            settings.encryption = .none
            settings.advertise = false
            settings.stateDirectory = directory
            configure(&settings)
            let listener = try TCPListener(port: 0)
            port = listener.port
            engine = HostEngine(
                settings: settings, log: Logger(program: "mshost", descriptor: open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)),
                signals: .unwatched, listener: listener, transport: TCPTransport(stampingArrivals: false), admission: admission,
                advertisement: ServiceAdvertisement(settings: settings, deviceID: "host-\(name)", fingerprint: "", admission: admission), clock: clock,
                notifier: notifier)
            XCTAssertNil(engine.start(), "the host starts")
        }

        var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

        /// Moves time on by `duration` in `tick`s; `receivers` read what arrived at each.
        func run(for duration: Microseconds, tick: Microseconds = 5_000, receivers: [ScriptedPeer] = [], maxWait: Microseconds = 0) {
            let end = clock.now() + duration
            while clock.now() < end && exitCode == nil {
                clock.advance(by: tick)
                exitCode = engine.step(maxWait: maxWait)
                for receiver in receivers { receiver.poll() }
                for other in alongside { other() }
            }
        }

        /// A receiver that connects and says HELLO (and what the host answers).
        func join(_ id: String, formats: [String] = ["opus"]) throws -> ScriptedPeer {
            let receiver = try ScriptedPeer(connectingTo: port)
            receiver.send(Hello(clientID: id, clientName: id, audioFormats: formats, maxBufferSize: "200ms", lowLatency: false, t1: clock.now()).frame)
            run(for: 20_000, receivers: [receiver])
            return receiver
        }

        func clients() -> [ClientSummary] {
            guard case .clients(let list) = engine.answer(.clients) else { return [] }
            return list
        }
    }

    func testAReceiverIsWelcomedAndGetsEveryFrameInOrder() throws {
        let rig = try Rig(name: "welcome")
        let receiver = try rig.join("speaker-1")
        let welcome = try XCTUnwrap(receiver.take(.welcome), rig.log)
        let decoded = try welcome.withUnsafeBytes { try Welcome.decode($0) }
        XCTAssertEqual(decoded.stream.codec, .opus)
        XCTAssertEqual(decoded.hostID, "host-welcome")
        _ = receiver.takeAll(.audio)
        rig.run(for: 1_000_000, receivers: [receiver])
        let headers = receiver.takeAll(.audio).compactMap { $0.withUnsafeBytes { try? AudioPacketHeader.parse($0) } }
        XCTAssertEqual(headers.count, 50, "a second of 20 ms frames")
        XCTAssertEqual(headers.map(\.sequence), Array(headers[0].sequence..<headers[0].sequence + 50), "in order, none missing")
        for header in headers { XCTAssertEqual(header.timestamp, header.sequence * 20_000) }
        XCTAssertEqual(rig.clients().map(\.streaming), [true])
    }

    /// A receiver whose STATUS reports loss is moved down a tier: it hears of the new bitrate in
    /// a CONTROL, and from the next frame its packets are the smaller tier's.
    func testAReceiverThatLosesPacketsIsMovedToALowerTierAtAFrameBoundary() throws {
        let rig = try Rig(name: "tier") { $0.bitrate = 128_000 }
        let receiver = try rig.join("speaker-1")
        XCTAssertNotNil(receiver.take(.welcome))
        rig.run(for: 1_000_000, receivers: [receiver])
        let before = receiver.takeAll(.audio).map(\.count)
        var lossy = Status()
        lossy.packetLoss = 0.2
        receiver.send(lossy.frame)
        rig.run(for: 100_000, receivers: [receiver])
        let control = try XCTUnwrap(receiver.take(.control), rig.log)
        XCTAssertEqual(try control.withBytes(Control.decode).action, .quality(bitrate: 64_000))
        XCTAssertTrue(rig.log.contains("to 64 kbit/s"), rig.log)
        _ = receiver.takeAll(.audio)
        rig.run(for: 1_000_000, receivers: [receiver])
        let after = receiver.takeAll(.audio).map(\.count)
        XCTAssertEqual(after.count, 50, "no frame lost in the switch")
        let mean = { (sizes: [Int]) in Double(sizes.reduce(0, +)) / Double(max(sizes.count, 1)) }
        XCTAssertLessThan(mean(after), mean(before) * 0.7, "half the bitrate: \(mean(before)) → \(mean(after)) bytes a packet")
    }

    func testAFullClientListRefusesTheNextReceiver() throws {
        let rig = try Rig(name: "full") { $0.maxClients = 1 }
        let first = try rig.join("speaker-1")
        XCTAssertNotNil(first.take(.welcome))
        let second = try rig.join("speaker-2")
        let reject = try XCTUnwrap(second.take(.reject), rig.log)
        XCTAssertEqual(try reject.withUnsafeBytes { try Reject.decode($0).error }, .clientLimitReached)
        first.poll()
        _ = first.takeAll(.audio)
        rig.run(for: 200_000, receivers: [first, second])
        XCTAssertEqual(first.takeAll(.audio).count, 10, "the first plays on")
        XCTAssertTrue(second.closedByOtherEnd)
    }

    func testAKickedReceiverIsToldHowLongAndRefusedUntilThen() throws {
        let rig = try Rig(name: "kick")
        let receiver = try rig.join("speaker-1")
        let id = try XCTUnwrap(rig.clients().first?.id)
        XCTAssertEqual(rig.engine.answer(.kick(id: id, forSeconds: 60)), .done)
        rig.run(for: 50_000, receivers: [receiver])
        let bye = try XCTUnwrap(receiver.take(.bye), rig.log)
        XCTAssertEqual(bye.withUnsafeBytes { Bye.decode($0) }, Bye(.kicked, stayAwaySeconds: 60))
        rig.run(for: 30_000_000, tick: 100_000)
        let again = try rig.join("speaker-1")
        XCTAssertNotNil(again.take(.reject), "refused while sent away: \(rig.log)")
        rig.run(for: 31_000_000, tick: 100_000)
        let later = try rig.join("speaker-1")
        XCTAssertNotNil(later.take(.welcome), "welcome once the minute is up: \(rig.log)")
    }

    func testAConnectionThatNeverSaysHelloIsClosedAtItsDeadline() throws {
        let rig = try Rig(name: "silent")
        let silent = try ScriptedPeer(connectingTo: rig.port)
        rig.run(for: 4_900_000, tick: 50_000, receivers: [silent])
        XCTAssertFalse(silent.closedByOtherEnd)
        XCTAssertEqual(rig.clients().map(\.streaming), [false], "listed as joining")
        rig.run(for: 200_000, receivers: [silent])
        XCTAssertTrue(silent.closedByOtherEnd, "closed after 5 s: \(rig.log)")
        XCTAssertEqual(rig.clients().count, 0, "and gone from the list")
    }

    func testTheServiceManagerHearsReadyPingsAndStopping() throws {
        let manager = NotifySocket(name: "@host-notify-\(getpid())")
        let rig = try Rig(name: "notify", notifier: ServiceNotifier(environment: ["NOTIFY_SOCKET": manager.name, "WATCHDOG_USEC": "4000000"]))
        XCTAssertEqual(manager.received(), ["READY=1", "WATCHDOG=1"])
        rig.run(for: 4_000_000, tick: 20_000)
        XCTAssertEqual(manager.received(), ["WATCHDOG=1", "WATCHDOG=1"], "every 2 s")
        rig.engine.stop()
        XCTAssertEqual(manager.received(), ["STOPPING=1"])
    }

    func testStoppingSaysGoodbyeToEveryReceiver() throws {
        let rig = try Rig(name: "stop")
        let receivers = [try rig.join("speaker-1"), try rig.join("speaker-2")]
        rig.engine.stop()
        rig.run(for: 100_000, receivers: receivers)
        XCTAssertEqual(rig.exitCode, 0)
        for receiver in receivers {
            XCTAssertEqual(try XCTUnwrap(receiver.take(.bye)).withUnsafeBytes { Bye.decode($0).reason }, .shuttingDown)
        }
    }

    /// Both engines in this process: the receiver proves the password (SPAKE2+, its keys
    /// derived off its loop), checks the host's proof, and plays the host's Opus tone.
    func testAReceiverEngineWithThePasswordPlaysTheHost() throws {
        try playHost(receiverPassword: "correct horse")
    }

    func testAReceiverEngineWithAWrongPasswordIsRefusedAndPlaysNothing() throws {
        try playHost(receiverPassword: "wrong horse")
    }

    private func playHost(receiverPassword: String) throws {
        let verifier = try PasswordVerifier(password: "correct horse", iterations: 1_000)
        let host = try Rig(name: "pair-\(receiverPassword.prefix(5))", admission: Admission(password: verifier))
        var settings = ReceivingSettings()
        settings.host = "127.0.0.1:\(host.port)"
        settings.encryption = .none
        settings.autoDiscover = false
        settings.bufferSize = 200_000
        settings.password = receiverPassword
        settings.stateDirectory = NSTemporaryDirectory() + "host-engine-pair-receiver-\(getpid())"
        let output = SteppedOutput(clock: host.clock)
        let receiverLog = host.logPath + ".receiver"
        let receiver = ReceiverEngine(
            settings: settings, log: Logger(program: "msrecv", descriptor: open(receiverLog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)),
            signals: .unwatched, output: output, transport: { _ in TCPTransport(stampingArrivals: false) }, clock: host.clock)
        XCTAssertNil(receiver.start())
        host.alongside.append {
            _ = receiver.step(maxWait: 0)
            output.card.playout?.step(limit: 32)
        }
        // The receiver's keys come from a thread: the loop waits for them a millisecond at a time.
        host.run(for: 2_000_000, maxWait: 1_000)
        let log = (try? String(contentsOfFile: receiverLog, encoding: .utf8)) ?? ""
        if receiverPassword == "correct horse" {
            XCTAssertEqual(receiver.status().state, .playing, log)
            XCTAssertGreaterThan(output.card.framesWritten, 48_000, log)
            XCTAssertGreaterThan(output.card.peak, 1_000, "the tone reached the card")
        } else {
            XCTAssertNotEqual(receiver.status().state, .playing)
            XCTAssertEqual(output.card.framesWritten, 0)
            XCTAssertTrue(log.contains("AuthenticationFailed"), log)
            XCTAssertTrue(host.log.contains("password"), host.log)
        }
    }
}
