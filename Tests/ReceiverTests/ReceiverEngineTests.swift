import Audio
import AudioPathHarness
import Config
import Core
import Discovery
import Foundation
import Platform
import ProtocolMessages
import Receiver
import TestSupport
import Transport
import XCTest

/// The receiver's engine in this process, on a stepped clock, against a host the test plays
/// over loopback TCP and a simulated card: a session from HELLO to samples, and what the
/// engine does when the host kicks it, goes away, refuses its password, or the card vanishes.
/// Each runs minutes of the receiver's time in well under a second of the test's.
final class ReceiverEngineTests: XCTestCase {
    /// One receiver, its host and its card, stepped together.
    final class Rig {
        let clock = SteppedClock(startingAt: 10_000_000)
        let host: ScriptedHost
        let output: SteppedOutput
        let engine: ReceiverEngine<SteppedOutput>
        let logPath: String
        /// The host's stream: where it starts, and the next packet's sequence number.
        var streamStart: Microseconds = 0
        var sequence: UInt64 = 0
        var exitCode: Int32?
        /// The audio thread takes no steps, as when a write hangs in the driver.
        var audioThreadStuck = false

        /// `discovery`: the hosts the test announces, for a receiver without `host`.
        init(
            name: String, discovery: ScriptedDiscovery = ScriptedDiscovery(), notifier: ServiceNotifier? = nil,
            configure: (inout ReceivingSettings) -> Void = { _ in }
        ) throws {
            host = try ScriptedHost()
            let directory = NSTemporaryDirectory() + "receiver-engine-\(name)-\(getpid())"
            try? FileManager.default.removeItem(atPath: directory)
            logPath = directory + ".log"
            let logFile = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            var settings = ReceivingSettings()
            settings.host = host.address
            settings.encryption = .none
            settings.autoDiscover = false
            settings.bufferSize = 200_000
            settings.stateDirectory = directory
            configure(&settings)
            output = SteppedOutput(clock: clock)
            engine = ReceiverEngine(
                settings: settings, log: Logger(program: "msrecv", descriptor: logFile), signals: .unwatched, output: output,
                transport: { _ in TCPTransport(stampingArrivals: false) }, clock: clock, discover: { _ in discovery }, notifier: notifier)
            XCTAssertNil(engine.start(), "the engine starts")
        }

        var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

        /// Moves time on by `duration` in `tick`s: at each, the engine serves what is ready or
        /// due, the host reads and (while it streams) sends the packets now due, and the card
        /// plays.
        func run(for duration: Microseconds, tick: Microseconds = 5_000, streaming: Bool = false) {
            let end = clock.now() + duration
            while clock.now() < end && exitCode == nil {
                clock.advance(by: tick)
                exitCode = engine.step(maxWait: 0)
                host.poll()
                if streaming && host.peer != nil { sendDuePackets() }
                if !audioThreadStuck { output.card.playout?.step(limit: 32) }
            }
        }

        /// Steps until `condition` holds, at most `limit` of the receiver's time; whether it did.
        func run(until condition: () -> Bool, within limit: Microseconds, streaming: Bool = false) -> Bool {
            let end = clock.now() + limit
            while !condition() && clock.now() < end && exitCode == nil { run(for: 5_000, streaming: streaming) }
            return condition()
        }

        /// Answers the HELLO waiting with a WELCOME for a stream that starts now.
        func welcome(buffer: Microseconds = 0) throws {
            XCTAssertTrue(run(until: { host.received.contains { $0.type == .hello } }, within: 1_000_000), "a HELLO within a second")
            let payload = try XCTUnwrap(host.take(.hello))
            let hello = try payload.withUnsafeBytes { try Hello.decode($0) }
            streamStart = clock.now()
            sequence = 0
            host.send(ScriptedHost.welcome(for: hello, streamStart: streamStart, t2: clock.now(), t3: clock.now(), buffer: buffer).frame)
        }

        /// The packets the host's clock has reached, each with a click the card can show, and
        /// answers to the receiver's clock requests.
        func sendDuePackets() {
            while streamStart + Microseconds(sequence) * ScriptedHost.packetDuration <= clock.now() {
                host.send(ScriptedHost.pcmAudio(sequence: sequence, timestamp: sequence * UInt64(ScriptedHost.packetDuration), click: 12_000))
                sequence += 1
            }
            host.answerTimeRequests(now: clock.now())
        }

        /// Connected, welcomed, and `duration` of the stream played.
        func play(for duration: Microseconds) throws {
            try welcome()
            run(for: duration, streaming: true)
        }
    }

    func testASessionPlaysTheHostsPacketsOnTheCardAndReportsBack() throws {
        let rig = try Rig(name: "plays")
        try rig.play(for: 2_000_000)
        XCTAssertEqual(rig.engine.status().state, .playing, rig.log)
        XCTAssertEqual(rig.host.connections, 1)
        // 2 s sent, 200 ms of it still buffered: 1.8 s on the card, give or take a packet.
        let played = rig.output.card.framesWritten
        XCTAssertGreaterThan(played, 48_000 * 17 / 10, rig.log)
        XCTAssertLessThanOrEqual(played, 48_000 * 2)
        XCTAssertEqual(rig.output.card.peak, 12_000, "the host's clicks reached the card bit-exact")
        let status = try XCTUnwrap(rig.host.take(.status), "a STATUS a second")
        let decoded = try status.withUnsafeBytes { try Status.decode($0) }
        XCTAssertEqual(decoded.latency, 200_000, "the buffer it plays at")
        XCTAssertGreaterThan(decoded.bufferedPackets, 0)
        XCTAssertEqual(decoded.underruns, 0)
        XCTAssertTrue(rig.log.contains("stream scripted: pcm 48000 Hz, 2 ch"), rig.log)
    }

    func testAKickedReceiverStaysAwayForTheTimeItWasGiven() throws {
        let rig = try Rig(name: "kicked")
        try rig.play(for: 500_000)
        rig.host.send(Bye(.kicked, stayAwaySeconds: 30).frame)
        rig.run(for: 29_000_000, tick: 50_000)
        XCTAssertEqual(rig.engine.status().state, .sentAway)
        XCTAssertEqual(rig.host.connections, 1, "no connection while sent away: \(rig.log)")
        XCTAssertTrue(rig.run(until: { rig.host.connections == 2 }, within: 2_000_000), "back once the 30 s are up")
        XCTAssertTrue(rig.log.contains("stays off the host for 30s"), rig.log)
    }

    /// A kick without a time (`mshost kick ID`): the receiver stays off that host until it
    /// restarts, as it says, however long it runs.
    func testAReceiverKickedWithoutATimeStaysAwayUntilItRestarts() throws {
        let rig = try Rig(name: "kicked-for-good")
        try rig.play(for: 500_000)
        rig.host.send(Bye(.kicked).frame)
        rig.run(for: 120_000_000, tick: 100_000)
        XCTAssertEqual(rig.engine.status().state, .sentAway)
        XCTAssertEqual(rig.host.connections, 1, "no connection after it: \(rig.log)")
        XCTAssertTrue(rig.log.contains("it stays off the host until msrecv restarts"), rig.log)
    }

    func testAHostThatGoesAwayIsTriedAgainAfterHalfASecond() throws {
        let rig = try Rig(name: "host-gone")
        try rig.play(for: 1_000_000)
        rig.host.hangUp()
        XCTAssertTrue(rig.run(until: { rig.log.contains("reconnecting to \(rig.host.address) in 500ms") }, within: 100_000), rig.log)
        rig.run(for: 450_000)
        XCTAssertEqual(rig.host.connections, 1, "not before the first backoff")
        XCTAssertTrue(rig.run(until: { rig.host.connections == 2 }, within: 100_000), rig.log)
        // The new session plays again into the card kept open.
        let before = rig.output.card.framesWritten
        try rig.play(for: 1_000_000)
        XCTAssertGreaterThan(rig.output.card.framesWritten - before, 48_000 * 7 / 10)
    }

    /// A host whose stream ends says so (BYE end_of_stream) and leaves at once. Its close
    /// can be seen in the same wake-up as the BYE, with the batched read due too (a loaded
    /// CI machine did): what is buffered still plays to the last packet, and the session ends
    /// as the host said, not as a lost host.
    func testAStreamTheHostEndedPlaysToItsLastPacketThoughTheHostHasGone() throws {
        let rig = try Rig(name: "end-of-stream")
        try rig.play(for: 1_000_000)
        // Until a clock request waits for its reply: the socket is then watched between reads.
        XCTAssertTrue(rig.run(until: { rig.host.received.contains { $0.type == .timeRequest } }, within: 200_000))
        rig.sendDuePackets()
        rig.host.send(Bye(.endOfStream).frame)
        rig.host.hangUp()
        // One step that finds the socket readable and the batched read due.
        rig.run(for: 100_000, tick: 100_000)
        XCTAssertTrue(rig.run(until: { rig.log.contains("event=Disconnected") }, within: 1_000_000), rig.log)
        XCTAssertTrue(rig.log.contains("event=Disconnected reason=end_of_stream"), rig.log)
        XCTAssertFalse(rig.log.contains("host closed the connection"), rig.log)
        XCTAssertTrue(rig.log.contains("played \(rig.sequence) packets"), "every packet sent played: \(rig.log)")
    }

    func testARefusedPasswordIsNotTriedAgainForHalfAMinute() throws {
        let rig = try Rig(name: "refused") { $0.password = "not it" }
        XCTAssertTrue(rig.run(until: { rig.host.received.contains { $0.type == .hello } }, within: 1_000_000))
        rig.host.send(Reject(.authenticationFailed, message: "wrong password").frame)
        rig.run(for: 29_000_000, tick: 50_000)
        XCTAssertEqual(rig.host.connections, 1, rig.log)
        XCTAssertTrue(rig.run(until: { rig.host.connections == 2 }, within: 2_000_000), rig.log)
    }

    func testACardThatVanishesIsOpenedAgainWhileTheStreamGoesOn() throws {
        let rig = try Rig(name: "card-gone")
        try rig.play(for: 1_000_000)
        rig.output.card.unplugged = true
        rig.run(for: 1_000_000, streaming: true)
        XCTAssertTrue(rig.log.contains("audio output \"stepped\" failed"), rig.log)
        let silent = rig.output.card.framesWritten
        rig.output.card.unplugged = false
        rig.run(for: 2_000_000, streaming: true)
        XCTAssertEqual(rig.output.card.opened, 2, "opened again: \(rig.log)")
        XCTAssertGreaterThan(rig.output.card.framesWritten - silent, 48_000, "playing again")
        XCTAssertEqual(rig.host.connections, 1, "the session went on")
        XCTAssertTrue(rig.log.contains("audio output \"stepped\" is back after"), rig.log)
    }

    func testTheHostsVolumeGoesToTheCardsMixer() throws {
        let mixer = SimulatedMixer(name: "Digital")
        let rig = try Rig(name: "mixer") { $0.audioOutput.mixer = "Digital" }
        rig.output.card.mixer = mixer
        try rig.play(for: 500_000)
        rig.host.send(Control(.volume(50)).frame)
        rig.run(for: 100_000, streaming: true)
        XCTAssertEqual(try XCTUnwrap(mixer.decibels), VolumeScale.decibels(50) ?? -.infinity, accuracy: 0.01, rig.log)
        rig.host.send(Control(.mute(true)).frame)
        rig.run(for: 100_000, streaming: true)
        XCTAssertTrue(mixer.muted)
        XCTAssertEqual(rig.engine.status().volume, 50)
        XCTAssertEqual(rig.engine.status().muted, true)
    }

    /// Under systemd: READY=1 once it serves, then WATCHDOG=1 from its loop every half
    /// `WatchdogSec`, and STOPPING=1 on the way out.
    func testTheServiceManagerHearsReadyPingsAndStopping() throws {
        let manager = NotifySocket(name: NSTemporaryDirectory() + "receiver-notify-\(getpid())")
        let notifier = ServiceNotifier(environment: ["NOTIFY_SOCKET": manager.name, "WATCHDOG_USEC": "2000000"])
        let rig = try Rig(name: "notify", notifier: notifier)
        XCTAssertEqual(manager.received(), ["READY=1", "WATCHDOG=1"])
        try rig.play(for: 3_000_000)
        XCTAssertEqual(manager.received(), ["WATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1"], "one a second while it plays")
        _ = rig.engine.stop()
        XCTAssertEqual(manager.received(), ["STOPPING=1"])
    }

    /// An audio thread stuck in a write (a driver that hangs) is not a healthy daemon though
    /// its loop runs: the pings stop, so systemd restarts msrecv, and resume if it moves again.
    func testAnAudioThreadThatStopsSteppingWithholdsTheWatchdogPings() throws {
        let manager = NotifySocket(name: NSTemporaryDirectory() + "receiver-stuck-notify-\(getpid())")
        let notifier = ServiceNotifier(environment: ["NOTIFY_SOCKET": manager.name, "WATCHDOG_USEC": "2000000"])
        let rig = try Rig(name: "stuck", notifier: notifier)
        try rig.play(for: 2_000_000)
        XCTAssertEqual(manager.received().filter { $0 == "WATCHDOG=1" }.count, 3, "READY's ping and one a second")
        rig.audioThreadStuck = true
        rig.run(for: 1_000_000, streaming: true)
        _ = manager.received()  // the look that still saw the steps before it stuck
        rig.run(for: 3_000_000, streaming: true)
        XCTAssertEqual(manager.received(), [], "no ping while the audio thread is stuck")
        XCTAssertEqual(rig.engine.status().state, .playing, "the session itself goes on")
        rig.audioThreadStuck = false
        rig.run(for: 2_000_000, streaming: true)
        XCTAssertEqual(manager.received(), ["WATCHDOG=1", "WATCHDOG=1"], "pings again once it steps")
    }

    func testStoppingSaysGoodbyeToTheHost() throws {
        let rig = try Rig(name: "stop")
        try rig.play(for: 500_000)
        XCTAssertEqual(rig.engine.stop(), 0, "the BYE left at once")
        rig.host.poll()
        let bye = try XCTUnwrap(rig.host.take(.bye), rig.log)
        XCTAssertEqual(bye.withUnsafeBytes { Bye.decode($0).reason }, .leaving)
    }
}

/// Hosts a test announces, seen by the engine through its reactor as mDNS news is: a byte on a
/// pipe wakes it, and its next look applies what was announced.
final class ScriptedDiscovery: HostDiscovery {
    private(set) var directory = HostDirectory()
    private var pending: [DiscoveryEvent] = []
    private let wake: (read: CInt, write: CInt)

    init() {
        var fds: [CInt] = [0, 0]
        precondition(pipe(&fds) == 0)
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        wake = (fds[0], fds[1])
    }

    deinit {
        close(wake.read)
        close(wake.write)
    }

    /// A host at `address` advertising `deviceID` (and, so that a move is seen, one that is gone).
    func announce(_ name: String, deviceID: String, at address: String) {
        let (host, port) = parseHostPort(address)!
        var advertisement = ServiceAdvertisement()
        advertisement.deviceID = deviceID
        advertisement.deviceName = name
        advertisement.port = port
        pending.append(.found(DiscoveredService(Sighting(name: name, interface: 1, proto: 0), address: host, port: port, txt: advertisement.txtRecords)))
        _ = write(wake.write, "!", 1)
    }

    func withdraw(_ name: String) {
        pending.append(.lost(Sighting(name: name, interface: 1, proto: 0)))
        _ = write(wake.write, "!", 1)
    }

    func handle<Token: Hashable>(_ event: Reactor<Token>.Event?, id: Int32, _ reactor: inout Reactor<Token>, token: (Int32) -> Token) -> Bool {
        reactor.register(token(0), fd: wake.read, interest: .read)
        var byte: UInt8 = 0
        while read(wake.read, &byte, 1) == 1 {}
        var changed = false
        for e in pending where directory.apply(e) { changed = true }
        pending = []
        return changed
    }
}

extension ReceiverEngineTests {
    private func discoveringRig(_ name: String, discovery: ScriptedDiscovery, configure: (inout ReceivingSettings) -> Void = { _ in }) throws -> Rig {
        try Rig(name: name, discovery: discovery) {
            $0.host = nil
            configure(&$0)
        }
    }

    func testTheOneHostFoundIsPlayedOnceDiscoveryHasSettled() throws {
        let discovery = ScriptedDiscovery()
        let rig = try discoveringRig("found", discovery: discovery)
        XCTAssertEqual(rig.engine.status().state, .searching)
        discovery.announce("Lounge", deviceID: "lounge", at: rig.host.address)
        rig.run(for: 900_000)
        XCTAssertEqual(rig.host.connections, 0, "another host may still announce itself")
        XCTAssertTrue(rig.run(until: { rig.host.connections == 1 }, within: 200_000), rig.log)
        try rig.play(for: 500_000)
        XCTAssertEqual(rig.engine.status().state, .playing)
        XCTAssertTrue(rig.engine.status().host.contains("scripted host"), "\(rig.engine.status())")
    }

    func testOfTwoHostsNeitherIsGuessedAndTheLogSaysWhatToSet() throws {
        let discovery = ScriptedDiscovery()
        let other = try ScriptedHost()
        let rig = try discoveringRig("two", discovery: discovery)
        discovery.announce("Lounge", deviceID: "lounge", at: rig.host.address)
        discovery.announce("Study", deviceID: "study", at: other.address)
        rig.run(for: 3_000_000, tick: 20_000)
        other.poll()
        XCTAssertEqual(rig.host.connections + other.connections, 0)
        XCTAssertTrue(rig.log.contains("several Moosync hosts are on the network; set receiving.host_id"), rig.log)
        XCTAssertEqual(rig.engine.status().state, .searching)
    }

    func testTheHostNamedByDeviceIDIsPlayedAtOnceAndFollowedWhenItMoves() throws {
        let discovery = ScriptedDiscovery()
        let moved = try ScriptedHost()
        let rig = try discoveringRig("moves", discovery: discovery) { $0.hostID = "lounge" }
        discovery.announce("Lounge", deviceID: "lounge", at: rig.host.address)
        XCTAssertTrue(rig.run(until: { rig.host.connections == 1 }, within: 50_000), "named: no wait for quiet")
        try rig.play(for: 500_000)
        discovery.withdraw("Lounge")
        discovery.announce("Lounge", deviceID: "lounge", at: moved.address)
        XCTAssertTrue(
            rig.run(
                until: {
                    moved.poll()
                    return moved.connections == 1
                }, within: 1_000_000), rig.log)
        XCTAssertTrue(rig.log.contains("moved to 127.0.0.1:\(moved.listener.port): reconnecting"), rig.log)
    }
}
