import Core
import Foundation
import Platform
import ProtocolMessages
import Secure
import TestSupport
import Transport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Peers that lie, played by the test over real TLS (issue 19). A receiver with a password
/// plays only a host that proved it knows the password, pins only such a host, and does the
/// slow key derivation once a connection; a host takes each password message only at its
/// exact length.
final class HostilePeerTests: XCTestCase {
    /// mshost with a password, listening on `port`.
    private func passwordHost(_ scratch: Scratch, port: UInt16) throws -> Daemon {
        try Daemon.toneHost(scratch, port: port, extra: ", \"password\": \"correct horse\"")
    }

    /// msrecv with a password ("guarded", recording), dialling `port`; and its config's path.
    private func guardedReceiver(_ scratch: Scratch, port: UInt16) throws -> (Daemon, config: String) {
        _ = scratch.recordingPCM("guarded")
        let config = try scratch.write("recv.json", Configs.receiver(port: port, device: "guarded", extra: ", \"password\": \"correct horse\""))
        return (try Daemon("msrecv", config: config, scratch: scratch), config)
    }

    /// A guarded receiver that a host played by the test challenged (1 000 iterations), and
    /// the AUTH payload of its share.
    private func challengedOnce(_ scratch: Scratch, _ reader: inout FrameReader) throws -> (Daemon, any ByteChannel, auth: [UInt8]) {
        let port = freePort()
        let listener = try TCPListener(port: port)
        let (receiver, _) = try guardedReceiver(scratch, port: port)
        let channel = try FakeHost.accept(listener)
        _ = try FakeHost.expect(.hello, from: channel, &reader)
        try writeAll(channel, Challenge(method: .password, salt: Array(0..<16), iterations: 1_000).frame).get()
        return (receiver, channel, try FakeHost.expect(.auth, from: channel, &reader))
    }

    /// Stops a receiver that a hostile host talked to: it exits 0 and never connected.
    private func stopUnconnected(_ receiver: Daemon, _ channel: any ByteChannel) {
        receiver.signal(SIGTERM)
        XCTAssertEqual(receiver.waitForExit(), 0, receiver.log)
        channel.close()
        XCTAssertFalse(receiver.log.contains("event=Connected"), receiver.log)
    }

    /// A rogue host with a key of its own answers HELLO with WELCOME at once, with no CHALLENGE
    /// and no proof, and streams. The receiver has a password: it refuses the WELCOME, plays
    /// nothing, and pins nothing (the next honest host is still met for the first time).
    func testAReceiverWithAPasswordRefusesAHostThatSkipsTheProofAndPinsNothing() throws {
        let scratch = try Scratch("rogue")
        let port = freePort()
        try? FileManager.default.removeItem(atPath: Configs.receiverStateDirectory("guarded"))
        let listener = try TCPListener(port: port)
        let (receiver, _) = try guardedReceiver(scratch, port: port)
        let channel = try FakeHost.accept(listener)
        var reader = FrameReader()
        let streamStart = SystemClock().now()
        try FakeHost.welcome(channel, &reader, streamStart: streamStart)
        for sequence in 0..<50 { _ = writeAll(channel, FakeHost.audio(sequence: UInt64(sequence), timestamp: UInt64(sequence) * 20_000)) }
        XCTAssertTrue(receiver.waitFor("sent WELCOME without proving it knows receiving.password", timeout: 5), receiver.log)
        XCTAssertTrue(receiver.log.contains("error=AuthenticationFailed"), receiver.log)
        XCTAssertTrue(receiver.log.contains("in 30s"), "it waits before trying again: \(receiver.log)")
        stopUnconnected(receiver, channel)
        XCTAssertFalse(receiver.log.contains("pinned host"), receiver.log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: Configs.receiverStateDirectory("guarded") + "/known_hosts"), "nothing pinned")
        XCTAssertEqual(scratch.recorded("guarded").count, 0, "nothing played")
    }

    /// A host that sends CHALLENGE after CHALLENGE, each with a new salt, would have the
    /// receiver derive keys (up to 100 000 PBKDF2 iterations each) for as long as it liked:
    /// the second is an invalid packet, and the connection ends.
    func testASecondChallengeOnOneConnectionIsAnInvalidPacket() throws {
        let scratch = try Scratch("challenges")
        var reader = FrameReader()
        let (receiver, channel, auth) = try challengedOnce(scratch, &reader)
        let share = try auth.withUnsafeBytes { try AuthMessage.decode($0) }
        XCTAssertEqual(share.step, .proverShare)
        XCTAssertEqual(share.bytes.count, 65, "an uncompressed P-256 point")
        try writeAll(channel, Challenge(method: .password, salt: Array(16..<32), iterations: 1_000).frame).get()
        XCTAssertTrue(receiver.waitFor("a second CHALLENGE on one connection", timeout: 5), receiver.log)
        XCTAssertTrue(receiver.log.contains("error=InvalidPacket"), receiver.log)
        receiver.signal(SIGTERM)
        XCTAssertEqual(receiver.waitForExit(), 0, receiver.log)
        channel.close()
    }

    /// A host that answers every connection with a CHALLENGE of 100 000 PBKDF2 iterations and a
    /// new salt (200 in a burst used to leave `msrecv status` unanswered for over 5 s): one
    /// derivation a connection, on a thread of its own, and connections spaced by the reconnect
    /// backoff, so the speaker's own tools are answered throughout.
    func testChallengesOnEveryReconnectLeaveTheSpeakersToolsAnswered() throws {
        let scratch = try Scratch("challenge-every-time")
        let port = freePort()
        let listener = try TCPListener(port: port)
        let (receiver, config) = try guardedReceiver(scratch, port: port)
        var challenged = 0
        var slowest = 0.0
        let end = Date().addingTimeInterval(6)
        while Date() < end {
            if let channel = try? FakeHost.accept(listener, within: 0.2) {
                var reader = FrameReader()
                if (try? FakeHost.expect(.hello, from: channel, &reader)) != nil {
                    _ = writeAll(channel, Challenge(method: .password, salt: (0..<16).map { _ in UInt8.random(in: 0...255) }, iterations: 100_000).frame)
                    challenged += 1
                }
                // The status asked while the speaker derives its keys.
                let asked = Date()
                let (status, output) = try runToCompletion("msrecv", ["status", "--config", config])
                slowest = max(slowest, Date().timeIntervalSince(asked))
                XCTAssertEqual(status, 0, output)
                _ = try? FakeHost.expect(.auth, from: channel, &reader)
                channel.close()
            }
        }
        receiver.signal(SIGTERM)
        XCTAssertEqual(receiver.waitForExit(), 0, receiver.log)
        print("challenges of 100 000 iterations on every reconnect: \(challenged) in 6 s; msrecv status answered within \(Int(slowest * 1000)) ms")
        XCTAssertGreaterThanOrEqual(challenged, 2)
        XCTAssertLessThanOrEqual(challenged, 6, "spaced by the backoff")
        XCTAssertLessThan(slowest, 0.25, "the speaker's tools answered while it derived its keys (on the control thread they waited 320–510 ms)")
    }

    /// A receiver's share of 1 byte used to reach the curve code, which read 65 bytes from it
    /// before anyone had authenticated: now it is REJECT `InvalidPacket` at the message, saying
    /// what was wrong, and so is every other length but a point's.
    func testAShareOfTheWrongLengthIsRefusedAtTheMessage() throws {
        let scratch = try Scratch("short-share")
        let port = freePort()
        let host = try passwordHost(scratch, port: port)
        for length in [1, 64, 66] {
            let channel = try HostileReceiver.hello(port: port, clientID: "hostile-\(length)")
            var reader = FrameReader()
            _ = try FakeHost.expect(.challenge, from: channel, &reader)
            try writeAll(channel, AuthMessage(step: .proverShare, bytes: [UInt8](repeating: 4, count: length)).frame).get()
            let reject = try HostileReceiver.rejection(from: channel, &reader)
            XCTAssertEqual(reject.error.code, "InvalidPacket", "\(length) bytes")
            XCTAssertEqual(reject.message, "AUTH proverShare of \(length) bytes (it is 65)")
            channel.close()
        }
        host.signal(SIGTERM)
        XCTAssertEqual(host.waitForExit(), 0, host.log)
    }

    /// The same at the receiver's end: a host whose half of the proof is 10 bytes (a point and
    /// a confirmation are 97) is refused at the message, before the curve code sees it.
    func testAHostsShareOfTheWrongLengthIsRefusedAtTheMessage() throws {
        let scratch = try Scratch("short-host-share")
        var reader = FrameReader()
        let (receiver, channel, _) = try challengedOnce(scratch, &reader)
        try writeAll(channel, AuthMessage(step: .verifierShare, bytes: [UInt8](repeating: 4, count: 10)).frame).get()
        XCTAssertTrue(receiver.waitFor("AUTH verifierShare of 10 bytes (it is 97)", timeout: 5), receiver.log)
        XCTAssertTrue(receiver.log.contains("error=InvalidPacket"), receiver.log)
        stopUnconnected(receiver, channel)
    }

    /// A pin file that cannot be read (here a directory where the file should be) used to count
    /// as first use: any host's key was accepted and appended. Now no host is trusted, the log
    /// says why, and nothing plays, even from the honest host.
    func testAPinFileThatCannotBeReadTrustsNoHost() throws {
        let scratch = try Scratch("unreadable-pins")
        let port = freePort()
        _ = scratch.recordingPCM("wary")
        let pins = Configs.receiverStateDirectory("wary")
        try? FileManager.default.removeItem(atPath: pins)
        try FileManager.default.createDirectory(atPath: pins + "/known_hosts", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: pins) }
        let host = try Daemon("mshost", config: try scratch.write("host.json", Configs.host(port: port, source: "tone:440")), scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"), host.log)
        let receiver = try Daemon("msrecv", config: try scratch.write("recv.json", Configs.receiver(port: port, device: "wary")), scratch: scratch)
        XCTAssertTrue(receiver.waitFor("no host is trusted", timeout: 5), receiver.log)
        Thread.sleep(forTimeInterval: 1)
        receiver.signal(SIGTERM)
        XCTAssertEqual(receiver.waitForExit(), 0, receiver.log)
        host.signal(SIGTERM)
        XCTAssertEqual(host.waitForExit(), 0, host.log)
        XCTAssertFalse(receiver.log.contains("event=Connected"), receiver.log)
        XCTAssertEqual(scratch.recorded("wary").count, 0, "nothing played")
    }

    /// Connections not yet welcomed are capped at 32 over all addresses, besides 4 from one: a
    /// 33rd from yet another address is closed at once.
    func testBareConnectionsFromManyAddressesMeetTheOverallCap() throws {
        let scratch = try Scratch("bare-many")
        let port = freePort()
        let host = try Daemon("mshost", config: try scratch.write("host.json", Configs.host(port: port, source: "tone:440")), scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"), host.log)
        let held = try (2...9).flatMap { a in try (0..<4).map { _ in try Configs.boundConnect(from: "127.0.0.\(a)", to: port) } }
        defer { for fd in held { close(fd) } }
        // All at once: each waits up to 5 s for its TLS handshake.
        Thread.sleep(forTimeInterval: 0.3)
        var entries = held.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        XCTAssertEqual(poll(&entries, nfds_t(entries.count), 0), 0, "32 held, none closed")
        let extra = try Configs.boundConnect(from: "127.0.0.10", to: port)
        defer { close(extra) }
        XCTAssertTrue(closedByHost(extra, within: 1), "the 33rd closed at once")
        XCTAssertTrue(host.waitFor("32 connections have not authenticated yet"), host.log)
        host.signal(SIGTERM)
        XCTAssertEqual(host.waitForExit(), 0, host.log)
    }

    /// A WELCOME for 1-frame packets used to size the receiver's pool for them (45 MB for a 2 s
    /// buffer, kept across sessions): now the stream is refused, saying why, and the receiver's
    /// peak memory stays what it is without a stream.
    func testAWelcomeForPacketsShorterThanOpussShortestIsRefused() throws {
        let scratch = try Scratch("tiny-packets")
        let port = freePort()
        _ = scratch.recordingPCM("speaker")
        let listener = try TCPListener(port: port)
        let receiver = try Daemon(
            "msrecv", config: try scratch.write("recv.json", Configs.receiver(port: port, device: "speaker", buffer: "2s")),
            scratch: scratch)
        let channel = try FakeHost.accept(listener)
        var reader = FrameReader()
        try FakeHost.welcome(channel, &reader, streamStart: SystemClock().now(), frameSamples: 1)
        XCTAssertTrue(receiver.waitFor("error=UnsupportedCodec", timeout: 5), receiver.log)
        XCTAssertTrue(receiver.log.contains("1 frames per packet: packets of 1 frames, shorter than 2.5 ms"), receiver.log)
        let peak = try XCTUnwrap(procStatus(receiver.pid, "VmHWM"))
        print("a WELCOME for 1-frame packets: msrecv's peak RSS \(peak) KB")
        XCTAssertLessThan(peak, 15_000, "no pool for 1-frame packets (it was 45 MB)")
        stopUnconnected(receiver, channel)
    }

    /// A guesser learns the host's verdict on its guess from the host's confirmation, and then
    /// left without its own, by BYE or by just closing: measured before, 60 guesses judged in
    /// 60 s from one address, the backoff never applied. Every proof that does not end in a
    /// WELCOME now counts against the address, which waits 1, 2, 4 s…: in 8 s at most 4.
    func testAGuesserThatLeavesAfterTheHostsProofIsHeldBack() throws {
        let scratch = try Scratch("guesser")
        let port = freePort()
        let host = try passwordHost(scratch, port: port)
        var keys: (w0: [UInt8], w1: [UInt8])?
        var judged = 0
        let end = Date().addingTimeInterval(8)
        while Date() < end {
            // Refused at accept while its address waits: the TLS handshake fails at once.
            guard let channel = try? HostileReceiver.hello(port: port, clientID: "guesser", clientName: "guesser", authenticationMethod: .password, timeout: 1)
            else {
                usleep(250_000)
                continue
            }
            defer { channel.close() }
            var reader = FrameReader()
            guard let payload = try? FakeHost.expect(.challenge, from: channel, &reader) else { continue }
            let challenge = try payload.withUnsafeBytes { try Challenge.decode($0) }
            let guess = try keys ?? SPAKE2Plus.derive(password: "wrong horse", salt: challenge.salt, iterations: challenge.iterations)
            keys = guess
            let prover = try SPAKE2PlusProver(w0: guess.w0, w1: guess.w1, context: SPAKE2Plus.context(of: channel))
            try writeAll(channel, AuthMessage(step: .proverShare, bytes: prover.shareP).frame).get()
            _ = try FakeHost.expect(.auth, from: channel, &reader)
            judged += 1
            if judged % 2 == 0 { _ = writeAll(channel, Bye(.leaving).frame) }
        }
        print("a guesser that leaves after the host's proof: \(judged) guesses judged in 8 s")
        XCTAssertGreaterThanOrEqual(judged, 2, "it got to guess")
        XCTAssertLessThanOrEqual(judged, 4)
        XCTAssertTrue(host.log.contains("refusing connections from 127.0.0.1"), host.log)
        host.signal(SIGTERM)
        XCTAssertEqual(host.waitForExit(), 0, host.log)
    }

    /// Guessers that start together: the host's ceiling of failed proofs a minute was checked
    /// at HELLO and charged as each connection closed, so proofs begun in parallel all passed
    /// it, and one address with four connections had four guesses judged per backoff step.
    /// Fifteen guessers from twelve addresses, every share sent before any answer is read: at
    /// most ten are judged, one from each address; the rest are told why not.
    func testGuessersThatStartTogetherGetNoMoreThanTheCeilingAndOneAnAddress() throws {
        let scratch = try Scratch("parallel-guessers")
        let port = freePort()
        let host = try passwordHost(scratch, port: port)
        // In the order the shares go out: four from one address first.
        let sources = Array(repeating: "127.0.0.2", count: 3) + (2...13).map { "127.0.0.\($0)" }
        var keys: (w0: [UInt8], w1: [UInt8])?
        final class Guesser {
            let source: String
            let channel: any ByteChannel
            var reader = FrameReader()
            init(source: String, channel: any ByteChannel) { (self.source, self.channel) = (source, channel) }
        }
        var guessers: [Guesser] = []
        for (n, source) in sources.enumerated() {
            guessers.append(
                Guesser(
                    source: source,
                    channel: try HostileReceiver.hello(
                        port: port, from: source, clientID: "guesser-\(n)",
                        authenticationMethod: .password)))
        }
        // Every one challenged, then every share sent before any answer is read.
        var shares: [[UInt8]] = []
        for guesser in guessers {
            let challenge = try FakeHost.expect(.challenge, from: guesser.channel, &guesser.reader).withUnsafeBytes { try Challenge.decode($0) }
            keys = try keys ?? SPAKE2Plus.derive(password: "wrong horse", salt: challenge.salt, iterations: challenge.iterations)
            shares.append(try SPAKE2PlusProver(w0: keys!.w0, w1: keys!.w1, context: SPAKE2Plus.context(of: guesser.channel)).shareP)
        }
        let sharesSent = Date()
        for (guesser, share) in zip(guessers, shares) { try writeAll(guesser.channel, AuthMessage(step: .proverShare, bytes: share).frame).get() }
        var judged: [String] = []
        var refusals: [String] = []
        for guesser in guessers {
            defer { guesser.channel.close() }
            switch try HostileReceiver.answerToShare(from: guesser.channel, &guesser.reader) {
            case .auth: judged.append(guesser.source)
            case .reject(let reject): refusals.append(reject.message)
            }
        }
        // The host's side of a proof (its share and confirmation, three P-256 multiplications)
        // runs on its reactor: what all of them took together.
        let answered = Date().timeIntervalSince(sharesSent)
        print(
            "guessers that start together: \(judged.count) of \(guessers.count) judged, all answered within \(Int(answered * 1000)) ms; refused: "
                + "\(Set(refusals).sorted())"
        )
        XCTAssertEqual(judged.count, 10, "the ceiling, charged as each proof is answered")
        XCTAssertEqual(judged.filter { $0 == "127.0.0.2" }.count, 1, "one proof at a time from an address")
        XCTAssertTrue(refusals.contains { $0.hasPrefix("too many failed password proofs on this host") }, "\(refusals)")
        XCTAssertTrue(refusals.contains { $0.hasPrefix("another password proof from this address") }, "\(refusals)")
        host.signal(SIGTERM)
        XCTAssertEqual(host.waitForExit(), 0, host.log)
    }

    /// A welcomed receiver that sends STATUS after STATUS without pause used to have the host
    /// read it for as long as it kept sending: the others' audio waited. A wake-up reads at most
    /// 16 frames from one receiver. Each STATUS here is as costly as a receiver can make one: a
    /// whole frame (16 KB) on one line, of keys the host does not know, so the host is busy with
    /// the flood all the time (the JSON reader that was quadratic took some 10^8 steps for each).
    /// Measured from outside: a real speaker next to such a flood for 5 s plays on without its
    /// card running dry. (The 16-frame budget itself is held by ClientConnectionTests: here the
    /// host's reads find the socket empty often enough that the speaker's buffer would cover
    /// for it.)
    func testAReceiverFloodingTheHostDoesNotStarveTheOthersAudio() throws {
        let scratch = try Scratch("status-flood")
        let port = freePort()
        let card = try scratch.virtualCard("den", delayMicroseconds: 1_000)
        let host = try Daemon("mshost", config: try scratch.write("host.json", Configs.host(port: port, source: "tone:440")), scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"), host.log)
        let speaker = try Daemon("msrecv", config: try scratch.write("den.json", Configs.receiver(port: port, device: "den")), scratch: scratch, name: "den")
        XCTAssertTrue(speaker.waitFor("event=Connected"), speaker.log)
        let flooder = try HostileReceiver.hello(port: port, clientID: "flooder")
        var reader = FrameReader()
        _ = try FakeHost.expect(.welcome, from: flooder, &reader)
        let cpuBefore = try FakeHost.cpuSeconds(of: host.pid)
        var status = Status()
        status.bufferHealth = 1
        var json = String(decoding: status.frame[4...], as: UTF8.self)
        var keys = ""
        while json.utf8.count + keys.utf8.count < WireProtocol.maxControlPayload - 16 { keys += "\"k\(keys.utf8.count)\":0," }
        json.insert(contentsOf: keys, at: json.index(after: json.startIndex))
        let burst = [UInt8]((0..<64).flatMap { _ in FrameWriter.frame(.status, json: json) })
        var sent = 0
        var offset = 0
        var sink = [UInt8](repeating: 0, count: 65_536)
        let end = Date().addingTimeInterval(5)
        // As much as the socket takes, and the rest of a burst where it stopped: a burst given
        // up half-written would leave half a frame in the stream.
        flood: while Date() < end {
            switch burst.withUnsafeBytes({ flooder.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }) {
            case .bytes(let n):
                offset += n
                if offset == burst.count { (sent, offset) = (sent + 64, 0) }
            case .wouldBlock:
                var writable = pollfd(fd: flooder.fileDescriptor, events: Int16(POLLOUT), revents: 0)
                _ = poll(&writable, 1, 10)
            case .failed, .endOfStream:
                break flood
            }
            // It reads what the host sends it, so that the host keeps it.
            while case .bytes = sink.withUnsafeMutableBytes({ flooder.read(into: $0) }) {}
        }
        let cpu = try FakeHost.cpuSeconds(of: host.pid) - cpuBefore
        let refusedAny = host.log.contains("InvalidPacket")
        flooder.close()
        Thread.sleep(forTimeInterval: 0.5)
        speaker.signal(SIGTERM)
        XCTAssertEqual(speaker.waitForExit(), 0, speaker.log)
        host.signal(SIGTERM)
        XCTAssertEqual(host.waitForExit(), 0, host.log)
        let underruns = try VirtualCard.underrunTimes(card)
        print(
            "a STATUS flood: \(sent) frames of 16 KB in 5 s; mshost used \(String(format: "%.2f", cpu)) s of CPU; the other speaker's card ran dry "
                + "\(underruns.count) times"
        )
        XCTAssertGreaterThan(sent, 400, "it flooded")
        XCTAssertFalse(refusedAny, "the host took every STATUS: \(host.log)")
        XCTAssertEqual(underruns, [], "the other speaker's audio kept coming: \(speaker.log)")
        XCTAssertFalse(speaker.log.contains("event=BufferUnderrun"), speaker.log)
    }

    /// A bare TCP connect from 127.0.0.2, never a TLS handshake.
    private func bareConnect(to port: UInt16) throws -> CInt {
        try Configs.boundConnect(from: "127.0.0.2", to: port)
    }

    /// Whether the host closed `fd` within `seconds` (a read sees the end).
    private func closedByHost(_ fd: CInt, within seconds: Double) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, Int32(seconds * 1000)) == 1 else { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, 0) <= 0
    }

    /// Bare connects (no TLS, nothing said) used to hold places on the client list for 5 s each:
    /// two addresses filled the default ten, and a real receiver was told ClientLimitReached.
    /// Now only welcomed receivers count against `max_clients` (here 1), and connections not yet
    /// welcomed have caps of their own: four from one address are held, the rest closed at once.
    func testBareConnectionsCannotFillTheClientList() throws {
        let scratch = try Scratch("bare")
        let port = freePort()
        _ = scratch.recordingPCM("speaker")
        let host = try Daemon("mshost", config: try scratch.write("host.json", Configs.host(port: port, source: "tone:440", maxClients: 1)), scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"), host.log)
        let bare = try (0..<10).map { _ in try bareConnect(to: port) }
        defer { for fd in bare { close(fd) } }
        let closed = bare.map { closedByHost($0, within: 0.5) }
        XCTAssertEqual(closed.filter { !$0 }.count, 4, "four held from one address: \(closed)")
        XCTAssertTrue(host.waitFor("refusing connections from 127.0.0.2 while 4 connections from there have not authenticated yet"), host.log)
        let receiver = try Daemon("msrecv", config: try scratch.write("recv.json", Configs.receiver(port: port, device: "speaker")), scratch: scratch)
        XCTAssertTrue(receiver.waitFor("event=Connected", timeout: 4), "the held bare connections take no place on the list: \(receiver.log)")
        XCTAssertFalse(receiver.log.contains("ClientLimitReached"), receiver.log)
        receiver.signal(SIGTERM)
        XCTAssertEqual(receiver.waitForExit(), 0, receiver.log)
        host.signal(SIGTERM)
        XCTAssertEqual(host.waitForExit(), 0, host.log)
    }

    /// A peer's strings reach log lines and terminals: a HELLO whose client_name carried a
    /// newline and a forged event put that event in the host's log as a line of its own. Now
    /// the HELLO is an invalid packet, saying why, and no such line is written.
    func testAPeersNameCannotForgeALogLine() throws {
        let scratch = try Scratch("forged")
        let port = freePort()
        let host = try Daemon("mshost", config: try scratch.write("host.json", Configs.host(port: port, source: "tone:440")), scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"), host.log)
        let channel = try HostileReceiver.hello(port: port, clientID: "forger", clientName: "kitchen\nmshost: event=ClientConnected client_id=forged")
        var reader = FrameReader()
        let reject = try HostileReceiver.rejection(from: channel, &reader)
        XCTAssertEqual(reject.error.code, "InvalidPacket")
        XCTAssertEqual(reject.message, "HELLO's connection_request.client_name has control characters")
        channel.close()
        host.signal(SIGTERM)
        XCTAssertEqual(host.waitForExit(), 0, host.log)
        XCTAssertFalse(host.log.split(separator: "\n").contains { $0.hasPrefix("mshost: event=ClientConnected") }, host.log)
    }

    /// `mshost kick ID` (no --for) sent a receiver away only by asking it: one that ignored its
    /// BYE was back at once (measured before: playing again 6 s after its kick). The host now
    /// refuses it itself until it restarts, by its client id and by its certificate (a new id
    /// with the same key is the same receiver); a real msrecv kicked so keeps its word and does
    /// not try again.
    func testAKickHoldsAgainstAReceiverThatIgnoresItsBye() throws {
        let scratch = try Scratch("kick-holds")
        let port = freePort()
        _ = scratch.recordingPCM("speaker")
        let hostConfig = try scratch.write("host.json", Configs.host(port: port, source: "tone:440"))
        let host = try Daemon("mshost", config: hostConfig, scratch: scratch)
        XCTAssertTrue(host.waitFor("listening on port"), host.log)
        let first = try HostileReceiver.hello(port: port, clientID: "ignorer", clientName: "ignorer")
        var reader = FrameReader()
        _ = try FakeHost.expect(.welcome, from: first, &reader)
        let (kicked, output) = try runToCompletion("mshost", ["kick", "1", "--config", hostConfig])
        XCTAssertEqual(kicked, 0, output)
        let bye = try FakeHost.expect(.bye, from: first, &reader)
        XCTAssertEqual(bye.withUnsafeBytes { Bye.decode($0) }.reason, .kicked)
        first.close()
        // It ignores the BYE: back at once, under its id, then under a new one with the same key.
        for id in ["ignorer", "renamed"] {
            let again = try HostileReceiver.hello(port: port, clientID: id, clientName: "ignorer")
            var againReader = FrameReader()
            let reject = try HostileReceiver.rejection(from: again, &againReader)
            XCTAssertEqual(reject.error, .authenticationFailed, id)
            XCTAssertEqual(reject.message, "this receiver was sent away by the host's user until this host restarts", id)
            again.close()
        }
        // A real receiver kicked the same way stays off, as it says, and others still play.
        let speaker = try Daemon("msrecv", config: try scratch.write("recv.json", Configs.receiver(port: port, device: "speaker")), scratch: scratch)
        XCTAssertTrue(speaker.waitFor("event=Connected"), speaker.log)
        let (kickedAgain, againOutput) = try runToCompletion("mshost", ["kick", "4", "--config", hostConfig])
        XCTAssertEqual(kickedAgain, 0, againOutput)
        XCTAssertTrue(speaker.waitFor("it stays off the host until msrecv restarts"), speaker.log)
        Thread.sleep(forTimeInterval: 3)
        XCTAssertEqual(speaker.count("event=Connected"), 1, "it did not try again: \(speaker.log)")
        // The host would refuse it too, so what shows that it kept its word is the host's side:
        // no refusal of it, only of the two tries above.
        XCTAssertEqual(host.count("sent away by this host's user"), 2, "it did not come back: \(host.log)\n\(speaker.log)")
        speaker.signal(SIGTERM)
        XCTAssertEqual(speaker.waitForExit(), 0, speaker.log)
        host.signal(SIGTERM)
        XCTAssertEqual(host.waitForExit(), 0, host.log)
    }

    /// The same for a speaker: 20 idle connections to msrecv's socket leave `msrecv status` its
    /// answer; and a socket that hangs up at once (here the test's own, where msrecv's was) is
    /// an error that says so, not a death by SIGPIPE (exit −13, as measured before).
    func testIdleOrHangingUpControlConnectionsLeaveMsrecvStatusItsAnswerOrAnError() throws {
        let scratch = try Scratch("idle-receiver-control")
        _ = scratch.recordingPCM("den")
        let config = try scratch.write("den.json", Configs.receiver(port: freePort(), device: "den"))
        let socket = Configs.receiverStateDirectory("den") + "/msrecv.sock"
        let receiver = try Daemon("msrecv", config: config, scratch: scratch)
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            guard let fd = try? LocalListener.connect(path: socket) else {
                usleep(20_000)
                continue
            }
            close(fd)
            break
        }
        let idle = try (0..<20).map { _ in try LocalListener.connect(path: socket) }
        Thread.sleep(forTimeInterval: 0.3)
        let (status, output) = try runToCompletion("msrecv", ["status", "--config", config])
        for fd in idle { close(fd) }
        XCTAssertEqual(status, 0, output)
        receiver.signal(SIGTERM)
        XCTAssertEqual(receiver.waitForExit(), 0, receiver.log)

        let impostor = try LocalListener(path: socket)
        let fd = impostor.fileDescriptor
        let stop = StopFlag()
        let hangingUp = Thread {
            while !stop.isSet {
                let c = accept(fd, nil, nil)
                if c >= 0 { close(c) } else { usleep(1_000) }
            }
        }
        hangingUp.start()
        defer { stop.set() }
        let (hungUp, said) = try runToCompletion("msrecv", ["status", "--config", config])
        XCTAssertEqual(hungUp, 1, said)
        XCTAssertTrue(said.contains("hung up without an answer"), said)
    }

    /// A user of the control socket's group held its sixteen places with idle connections, and
    /// `mshost clients` got "hung up without an answer". Now the newcomer takes the place of the
    /// connection silent longest: the host's own tool answers with twenty idle ones open.
    func testIdleControlConnectionsCannotLockTheOwnersToolsOut() throws {
        let scratch = try Scratch("idle-control")
        let port = freePort()
        let state = try scratch.hostStateDirectory()
        let config = try scratch.write("host.json", Configs.host(port: port, source: "tone:440", stateDir: state))
        let host = try Daemon("mshost", config: config, scratch: scratch)
        XCTAssertTrue(host.waitFor("local control on"), host.log)
        let idle = try (0..<20).map { _ in try LocalListener.connect(path: state + "/mshost.sock") }
        defer { for fd in idle { close(fd) } }
        Thread.sleep(forTimeInterval: 0.3)
        let (status, output) = try runToCompletion("mshost", ["clients", "--config", config])
        XCTAssertEqual(status, 0, output)
        XCTAssertFalse(output.contains("hung up"), output)
        host.signal(SIGTERM)
        XCTAssertEqual(host.waitForExit(), 0, host.log)
    }
}
