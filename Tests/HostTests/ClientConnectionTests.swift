import Core
import Platform
import ProtocolMessages
import Secure
import TestSupport
import Transport
import XCTest

@testable import Host

#if canImport(Glibc)
import Glibc
#endif

/// One receiver's state machine on the host, and the client list other code reads, driven over
/// a socket pair with the protocol's own messages.
final class ClientConnectionTests: XCTestCase {
    private let log = Logger(program: "test", descriptor: open("/dev/null", O_WRONLY))

    private func pair() -> (host: TCPChannel, receiver: TCPChannel) {
        var fds: [CInt] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue), 0, &fds), 0)
        return (TCPChannel(adopting: fds[0], peer: "receiver"), TCPChannel(adopting: fds[1], peer: "host"))
    }

    /// Every whole frame the receiver's end holds now.
    private func frames(_ channel: TCPChannel) -> [(FrameType?, [UInt8])] {
        var reader = FrameReader()
        var out: [(FrameType?, [UInt8])] = []
        while true {
            switch reader.next(from: channel) {
            case .header: reader.route(.scratch)
            case .frame(let h, let payload): out.append((h.type, Array(payload)))
            default: return out
            }
        }
    }

    private func welcome(t1: Microseconds) -> Welcome {
        Welcome(
            sessionID: "s", hostID: "h", hostName: "host",
            stream: StreamDescription(
                codec: .pcm, sampleRate: 48_000, channels: 2, frameSamples: 960,
                codecDelay: 0, bitrate: 1_536_000), streamStart: 0, nextSequence: 7,
            permissions: GrantedPermissions(queueControl: false, playbackControl: false, chat: false), t1: t1, t2: 2, t3: 3)
    }

    /// A host whose clock reads before zero (a time namespace set back) stamps its AUDIO with 0
    /// and answers a TIME_REQ, where the conversion to the wire's unsigned fields trapped.
    func testAClockBeforeZeroIsSentAsZeroWithoutATrap() throws {
        let (host, receiver) = pair()
        let clock = SteppedClock(startingAt: -2_000_000)
        let client = ClientConnection(id: 1, channel: host, now: -2_000_000, log: log, clock: clock)
        let stamped = FrameWriter.frame(.audio, flags: AudioPacketHeader.sentAtFlag, payload: [UInt8](repeating: 0, count: AudioPacketHeader.size + 8 + 10))
        try writeAll(receiver, Hello(clientID: "k1", clientName: "Kitchen", audioFormats: ["pcm"], maxBufferSize: "200ms", lowLatency: false, t1: 1).frame)
            .get()
        client.ready(.read, now: -2_000_000) { h, _ in .welcome(self.welcome(t1: h.t1), codec: .pcm, backlog: []) }
        _ = frames(receiver)
        stamped.withUnsafeBytes { client.sendAudio($0, now: -1_999_000) }
        try writeAll(receiver, TimeRequest(t1: 7).frame).get()
        client.ready(.read, now: -1_998_000) { _, _ in
            XCTFail("one HELLO only")
            return .reject(.invalidPacket("again"), message: "")
        }
        let sent = frames(receiver)
        XCTAssertEqual(sent.map(\.0), [.audio, .timeResponse])
        XCTAssertEqual(Array(sent[0].1[AudioPacketHeader.size..<(AudioPacketHeader.size + 8)]), [0, 0, 0, 0, 0, 0, 0, 0])
        // Its receive time is the kernel's stamp (this machine's clock): the reply is sent no
        // earlier than that, whatever the host's own clock says.
        let response = try sent[1].1.withBytes(TimeResponse.decode)
        XCTAssertEqual(response.t1, 7)
        XCTAssertEqual(response.t3, response.t2)
    }

    /// Each AUDIO frame leaves stamped with when it was queued for this receiver, on the host's
    /// clock as it is then (the backlog's frames too): the receiver's samples of the way down.
    /// A frame that does not announce the stamp goes as it is.
    func testAudioFramesAreStampedWithWhenTheyAreQueued() throws {
        let (host, receiver) = pair()
        let clock = SteppedClock(startingAt: 1_000)
        let client = ClientConnection(id: 1, channel: host, now: 0, log: log, clock: clock)
        let stamped = FrameWriter.frame(.audio, flags: AudioPacketHeader.sentAtFlag, payload: [UInt8](repeating: 0, count: AudioPacketHeader.size + 8 + 10))
        let plain = FrameWriter.frame(.audio, payload: [UInt8](repeating: 0, count: AudioPacketHeader.size + 8 + 10))
        let hello = Hello(clientID: "k1", clientName: "Kitchen", audioFormats: ["pcm"], maxBufferSize: "200ms", lowLatency: false, t1: 1)
        try writeAll(receiver, hello.frame).get()
        client.ready(.read, now: 0) { h, _ in .welcome(self.welcome(t1: h.t1), codec: .pcm, backlog: [stamped]) }
        clock.advance(by: 1_500)
        stamped.withUnsafeBytes { client.sendAudio($0, now: 0) }
        plain.withUnsafeBytes { client.sendAudio($0, now: 0) }
        let audio = frames(receiver).filter { $0.0 == .audio }.map { Array($0.1[AudioPacketHeader.size..<(AudioPacketHeader.size + 8)]) }
        XCTAssertEqual(audio, [[0, 0, 0, 0, 0, 0, 0x03, 0xe8], [0, 0, 0, 0, 0, 0, 0x09, 0xc4], [0, 0, 0, 0, 0, 0, 0, 0]], "1000 µs, 2500 µs, none")
    }

    /// A guess at the password is judged once the host has sent its share and confirmation:
    /// from then on, however the connection ends without a WELCOME (a BYE, a close, a frame that
    /// does not parse, a wrong confirmation), it counts against the address and the host's
    /// budget. Ten such in a minute from anywhere, and the next receiver is not asked for a
    /// proof but told to come back; the right password, proven, counts nothing.
    func testEveryProofThatDoesNotEndInWelcomeIsAFailedGuessAndTheHostHasACeiling() throws {
        let verifier = try PasswordVerifier(password: "correct horse", iterations: 1_000)
        let proofs = ProofBudget()
        let guess = try SPAKE2Plus.derive(password: "wrong horse", salt: verifier.salt, iterations: verifier.iterations)
        let right = try SPAKE2Plus.derive(password: "correct horse", salt: verifier.salt, iterations: verifier.iterations)
        /// One connection that gets as far as the host's half of the proof, then `leave`s.
        func attempt(keys: (w0: [UInt8], w1: [UInt8]), now: Microseconds, leave: (TCPChannel, SPAKE2PlusProver, [UInt8]) throws -> Void) throws
            -> ClientConnection
        {
            let (host, receiver) = pair()
            let client = ClientConnection(id: 1, channel: host, now: now, log: log, admission: Admission(password: verifier), proofs: proofs)
            let negotiate: (Hello, Microseconds) -> ClientConnection.Negotiation = { h, _ in .welcome(self.welcome(t1: h.t1), codec: .pcm, backlog: []) }
            try writeAll(receiver, Hello(clientID: "g", clientName: "guesser", audioFormats: ["pcm"], maxBufferSize: "200ms", lowLatency: false, t1: 1).frame)
                .get()
            client.ready(.read, now: now, negotiate: negotiate)
            guard frames(receiver).first?.0 == .challenge else {
                XCTAssertEqual(client.state, .closed)
                return client
            }
            let prover = try SPAKE2PlusProver(w0: keys.w0, w1: keys.w1, context: SPAKE2Plus.context(of: receiver))
            try writeAll(receiver, AuthMessage(step: .proverShare, bytes: prover.shareP).frame).get()
            client.ready(.read, now: now, negotiate: negotiate)
            proofWorkedOut(client, now: now)
            let reply = try XCTUnwrap(frames(receiver).first { $0.0 == .auth }?.1)
            try leave(receiver, prover, Array(reply.dropFirst()))
            client.ready(.read, now: now, negotiate: negotiate)
            client.deadlinePassed(now: now + ClientConnection.helloTimeout)
            return client
        }
        let ways: [(String, (TCPChannel, SPAKE2PlusProver, [UInt8]) throws -> Void)] = [
            ("a BYE", { receiver, _, _ in try writeAll(receiver, Bye(.leaving).frame).get() }),
            ("a close", { receiver, _, _ in receiver.close() }),
            ("a frame that does not parse", { receiver, _, _ in try writeAll(receiver, FrameWriter.frame(.auth, payload: [9])).get() }),
            ("the deadline", { _, _, _ in }),
            (
                "a wrong confirmation",
                { receiver, _, _ in try writeAll(receiver, AuthMessage(step: .proverConfirmation, bytes: [UInt8](repeating: 1, count: 32)).frame).get() }
            ),
        ]
        var now: Microseconds = 0
        for (name, leave) in ways + ways {
            let client = try attempt(keys: guess, now: now, leave: leave)
            XCTAssertTrue(client.failedProof, name)
            XCTAssertTrue(client.failedAttempt, name)
            client.settleProof()  // as the engine does once the connection is gone
            now += 1_000_000
        }
        XCTAssertEqual(proofs.nextProof(now: now), 60_000_000, "ten failed within the minute")
        let turnedAway = try attempt(keys: right, now: now) { _, _, _ in XCTFail("it was asked for a proof") }
        XCTAssertFalse(turnedAway.failedProof)
        XCTAssertTrue(turnedAway.failedAttempt, "told to come back, as a refusal")
        // A minute after the first failure, a proof may start again; the right one counts nothing.
        now = 60_000_000
        XCTAssertNil(proofs.nextProof(now: now))
        let proven = try attempt(keys: right, now: now) { receiver, prover, reply in
            let (confirmP, _) = try prover.finish(shareV: Array(reply[0..<65]), confirmV: Array(reply[65...]))
            try writeAll(receiver, AuthMessage(step: .proverConfirmation, bytes: confirmP).frame).get()
        }
        XCTAssertTrue(proven.isStreaming)
        XCTAssertFalse(proven.failedProof)
        XCTAssertFalse(proven.failedAttempt)
    }

    /// Waits for the host's half of a proof, as the engine's reactor does, and has it sent.
    private func proofWorkedOut(_ client: ClientConnection, now: Microseconds) {
        guard let fd = client.proofDescriptor else { return }
        var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        XCTAssertEqual(poll(&ready, 1, 10_000), 1, "the proof was worked out")
        client.proofReady(now: now)
    }

    /// The host's half of a password proof (its share and confirmation: P-256 multiplications,
    /// milliseconds here and several times that on a Pi) is worked out on a thread of its own:
    /// the receiver's share returns the reactor at once, the connection is not read meanwhile
    /// (a frame sent after the share waits), and once the engine sees the work done the answer
    /// leaves and reading goes on.
    func testTheHostsHalfOfAProofIsWorkedOutOffTheReactor() throws {
        let verifier = try PasswordVerifier(password: "correct horse", iterations: 1_000)
        let keys = try SPAKE2Plus.derive(password: "correct horse", salt: verifier.salt, iterations: verifier.iterations)
        let (host, receiver) = pair()
        let client = ClientConnection(id: 1, channel: host, now: 0, log: log, admission: Admission(password: verifier))
        let negotiate: (Hello, Microseconds) -> ClientConnection.Negotiation = { h, _ in .welcome(self.welcome(t1: h.t1), codec: .pcm, backlog: []) }
        try writeAll(receiver, Hello(clientID: "k", clientName: "Kitchen", audioFormats: ["pcm"], maxBufferSize: "200ms", lowLatency: false, t1: 1).frame).get()
        client.ready(.read, now: 0, negotiate: negotiate)
        XCTAssertEqual(frames(receiver).map(\.0), [.challenge])
        let prover = try SPAKE2PlusProver(w0: keys.w0, w1: keys.w1, context: SPAKE2Plus.context(of: receiver))
        try writeAll(receiver, AuthMessage(step: .proverShare, bytes: prover.shareP).frame).get()
        try writeAll(receiver, Bye(.leaving).frame).get()
        client.ready(.read, now: 0, negotiate: negotiate)
        XCTAssertNotNil(client.proofDescriptor, "the proof is being worked out")
        XCTAssertFalse(client.interest.contains(.read), "the connection is not read meanwhile")
        XCTAssertTrue(client.hasMoreToRead, "what came after the share waits")
        client.ready(.read, now: 0, negotiate: negotiate)
        XCTAssertEqual(frames(receiver).map(\.0), [], "nothing is answered before the proof")
        XCTAssertEqual(client.state, .authenticating(deadline: ClientConnection.helloTimeout), "the BYE is not read yet")
        proofWorkedOut(client, now: 0)
        XCTAssertNil(client.proofDescriptor)
        XCTAssertTrue(client.interest.contains(.read))
        let answer = try XCTUnwrap(frames(receiver).first)
        XCTAssertEqual(answer.0, .auth)
        XCTAssertNoThrow(try prover.finish(shareV: Array(answer.1[1..<66]), confirmV: Array(answer.1[66...])), "the host's half checks out")
        client.ready(.read, now: 0, negotiate: negotiate)
        XCTAssertEqual(client.state, .closed, "the BYE that waited is read")
        XCTAssertTrue(client.failedProof, "and a proof the host answered without a WELCOME after it is a guess")
    }

    /// A receiver that sends without pause gets 16 frames read a wake-up, and the engine is
    /// told there is more: the loop goes round the others (their audio) before the rest.
    func testAWakeUpReadsSixteenFramesAndSaysWhenMoreWait() throws {
        let (host, receiver) = pair()
        let client = ClientConnection(id: 1, channel: host, now: 0, log: log)
        let hello = Hello(clientID: "k1", clientName: "Kitchen", audioFormats: ["pcm"], maxBufferSize: "200ms", lowLatency: false, t1: 1)
        try writeAll(receiver, hello.frame).get()
        let negotiate: (Hello, Microseconds) -> ClientConnection.Negotiation = { h, _ in .welcome(self.welcome(t1: h.t1), codec: .pcm, backlog: []) }
        client.ready(.read, now: 0, negotiate: negotiate)
        XCTAssertTrue(client.isStreaming)
        XCTAssertFalse(client.hasMoreToRead)
        _ = frames(receiver)
        for i in 0..<40 { try writeAll(receiver, TimeRequest(t1: UInt64(i)).frame).get() }
        var answered: [Int] = []
        while true {
            client.ready(.read, now: 1_000, negotiate: negotiate)
            answered.append(frames(receiver).filter { $0.0 == .timeResponse }.count)
            guard client.hasMoreToRead else { break }
        }
        XCTAssertEqual(answered, [16, 16, 8])
    }

    /// A path slower than the stream: once the socket is full and half the receiver's buffer
    /// waits in the queue, later frames are skipped (they would arrive too late to play); when
    /// the path takes again, frames queue again; a path that takes nothing for 10 s is let go.
    func testAudioThatWouldArriveTooLateIsSkippedAndAPathThatTakesNothingIsLetGo() throws {
        let (host, receiver) = pair()
        let client = ClientConnection(id: 1, channel: host, now: 0, log: log)
        let hello = Hello(clientID: "k1", clientName: "Kitchen", audioFormats: ["opus"], maxBufferSize: "200ms", lowLatency: false, t1: 1)
        try writeAll(receiver, hello.frame).get()
        client.ready(.read, now: 0) { h, _ in
            .welcome(self.welcome(t1: h.t1), codec: .opus, backlog: [], delivery: .init(bitrates: [128_000], queueBudget: 100_000))
        }
        XCTAssertEqual(client.bitrate, 128_000)
        let audio = FrameWriter.frame(.audio, payload: [UInt8](repeating: 7, count: 316))  // 20 ms at 128 kbit/s
        var now: Microseconds = 0
        func send(for seconds: Double) {
            for _ in 0..<Int(seconds * 50) {
                now += 20_000
                audio.withUnsafeBytes { client.sendAudio($0, now: now) }
            }
        }
        while client.skippedFrames == 0 && client.isStreaming { send(for: 0.02) }
        XCTAssertGreaterThan(client.skippedFrames, 0, "the socket filled up")
        send(for: 9.5)
        XCTAssertTrue(client.isStreaming, "9.5 s of a stalled path")
        XCTAssertGreaterThan(client.skippedFrames, 450, "what the path could not take was not queued")
        _ = frames(receiver)
        client.ready(.write, now: now) { _, _ in .reject(.invalidPacket("no"), message: "") }
        let skipped = client.skippedFrames
        send(for: 1)
        XCTAssertEqual(client.skippedFrames, skipped, "the path takes again")
        while client.skippedFrames == skipped && client.isStreaming { send(for: 0.02) }
        send(for: 10.2)
        XCTAssertTrue(client.isClosing, "10 s without taking any audio: let go")
    }

    func testAReceiverIsWelcomedStreamsAndShowsInTheClientListWithItsStatus() throws {
        let (host, receiver) = pair()
        let registry = ClientRegistry()
        let client = registry.add { ClientConnection(id: $0, channel: host, now: 1_000, log: log) }
        XCTAssertEqual(registry.clients(now: 1_000, bitrate: { _ in 0 }).map(\.streaming), [false])
        XCTAssertEqual(client.deadline, 1_000 + ClientConnection.helloTimeout)

        let hello = Hello(clientID: "k1", clientName: "Kitchen", audioFormats: ["pcm"], maxBufferSize: "2s", lowLatency: false, t1: 42)
        try writeAll(receiver, hello.frame).get()
        let backlog = FrameWriter.frame(.audio, payload: [UInt8](repeating: 1, count: 30))
        var offered: Hello?
        client.ready(.read, now: 2_000) { h, _ in
            offered = h
            return .welcome(self.welcome(t1: h.t1), codec: .pcm, backlog: [backlog])
        }
        XCTAssertEqual(offered, hello)
        XCTAssertEqual(client.state, .streaming)
        XCTAssertNil(client.deadline)
        let sent = frames(receiver)
        XCTAssertEqual(sent.map(\.0), [.welcome, .audio], "the WELCOME, then the backlog")
        XCTAssertEqual(try sent[0].1.withBytes(Welcome.decode).t1, 42)

        // A TIME_REQ is answered; a STATUS goes into the client list.
        var status = Status()
        status.underruns = 2
        status.bufferHealth = 0.5
        try writeAll(receiver, TimeRequest(t1: 99).frame + status.frame).get()
        client.ready(.read, now: 3_000) { _, _ in
            XCTFail("one HELLO only")
            return .reject(.invalidPacket("again"), message: "")
        }
        let answered = frames(receiver)
        XCTAssertEqual(answered.map(\.0), [.timeResponse])
        XCTAssertEqual(try answered[0].1.withBytes(TimeResponse.decode).t1, 99)
        let info = try XCTUnwrap(registry.clients(now: 3_001_000, bitrate: { $0 == .pcm ? 1_536_000 : 0 }).first)
        XCTAssertEqual(info.clientID, "k1")
        XCTAssertEqual(info.name, "Kitchen")
        XCTAssertEqual(info.codec, "pcm")
        XCTAssertEqual(info.bitrate, 1_536_000)
        XCTAssertTrue(info.streaming)
        XCTAssertEqual(info.connectedSeconds, 3)
        XCTAssertEqual(info.status, status)

        // A frame only a host sends: BYE invalid_packet, then closed once it has left.
        try writeAll(
            receiver,
            Welcome.init(
                sessionID: "x", hostID: "x", hostName: "x", stream: welcome(t1: 0).stream, streamStart: 0, nextSequence: 0,
                permissions: welcome(t1: 0).permissions, t1: 0, t2: 0, t3: 0
            ).frame
        ).get()
        client.ready(.read, now: 4_000) { _, _ in .reject(.invalidPacket(""), message: "") }
        XCTAssertEqual(client.state, .closed)
        XCTAssertEqual(frames(receiver).map(\.0), [.bye])
        XCTAssertTrue(registry.clients(now: 4_000, bitrate: { _ in 0 }).isEmpty, "a closed connection is not in the list")
    }

    func testAConnectionThatSaysNothingIsRejectedAtItsDeadline() throws {
        let (host, receiver) = pair()
        let registry = ClientRegistry()
        let client = registry.add { ClientConnection(id: $0, channel: host, now: 0, log: log) }
        client.deadlinePassed(now: ClientConnection.helloTimeout - 1)
        XCTAssertEqual(client.state, .awaitingHello(deadline: ClientConnection.helloTimeout))
        client.deadlinePassed(now: ClientConnection.helloTimeout)
        let sent = frames(receiver)
        XCTAssertEqual(sent.map(\.0), [.reject])
        XCTAssertEqual(try sent[0].1.withBytes(Reject.decode).error, .connectionTimeout)
        XCTAssertEqual(client.state, .closed, "closed once the REJECT has left")
    }
}
