import Core
import ProtocolMessages
import XCTest

/// Every message through its own encoder and decoder, and what a peer's bad numbers get.
final class MessageTests: XCTestCase {
    /// The payload of a whole frame, checked to be of `type`.
    private func payload(_ frame: [UInt8], _ type: FrameType) -> [UInt8] {
        let header = frame.withUnsafeBytes { FrameHeader.decode($0) }
        XCTAssertEqual(header.type, type)
        XCTAssertEqual(header.length, frame.count - 4)
        return Array(frame[4...])
    }

    private func decode<M>(_ json: String, _ decoder: (UnsafeRawBufferPointer) throws(ProtocolError) -> M) throws(ProtocolError) -> M {
        try Array(json.utf8).withBytes(decoder)
    }

    /// What `decoder` says is wrong with `text`; nil when it takes it.
    private func failure<M>(_ text: String, _ decoder: (UnsafeRawBufferPointer) throws(ProtocolError) -> M) -> String? {
        do {
            _ = try decode(text, decoder)
            return nil
        } catch {
            return error.description
        }
    }

    private func welcome() -> Welcome {
        Welcome(
            sessionID: "s1", hostID: "h1", hostName: "Living room",
            stream: StreamDescription(
                codec: .opus, sampleRate: 48_000, channels: 2,
                frameSamples: 960, codecDelay: 312, bitrate: 128_000), streamStart: 5_000_000, nextSequence: 42,
            permissions: GrantedPermissions(queueControl: false, playbackControl: true, chat: true), t1: 1, t2: 2, t3: 3)
    }

    func testEveryMessageRoundTrips() throws {
        let hello = Hello(clientID: "c", clientName: "Kitchen", audioFormats: ["opus", "pcm"], maxBufferSize: "2s", lowLatency: false, t1: 77)
        XCTAssertEqual(try payload(hello.frame, .hello).withBytes(Hello.decode), hello)
        XCTAssertEqual(try payload(welcome().frame, .welcome).withBytes(Welcome.decode), welcome())
        let reject = Reject(.clientLimitReached, message: "at most 2")
        XCTAssertEqual(try payload(reject.frame, .reject).withBytes(Reject.decode), reject)
        let challenge = Challenge(method: .password, salt: Array(0..<16), iterations: 2_000)
        XCTAssertEqual(try payload(challenge.frame, .challenge).withBytes(Challenge.decode), challenge)
        let auth = AuthMessage(step: .verifierShare, bytes: Array(0..<97))
        XCTAssertEqual(try payload(auth.frame, .auth).withBytes(AuthMessage.decode), auth)
        // Each step is exactly its length: a short share never reaches the curve arithmetic.
        for (step, length) in [(AuthMessage.Step.proverShare, 65), (.verifierShare, 97), (.proverConfirmation, 32)] {
            for count in [0, 1, length - 1, length + 1, 256] {
                XCTAssertThrowsError(try ([step.rawValue] + [UInt8](repeating: 4, count: count)).withBytes(AuthMessage.decode), "\(count) bytes taken") { e in
                    XCTAssertEqual("\(e)", "AUTH \(step) of \(count) bytes (it is \(length))")
                }
            }
        }
        var status = Status()
        status.bitrate = 128_000
        status.packetLoss = 0.25
        status.latency = 200_000
        status.syncErrorMicroseconds = -12
        status.roundTripMicroseconds = 20_400
        status.roundTripJitterMicroseconds = 6_300
        status.correctionPPM = 120.5
        status.wantedBuffer = 1_500_000
        XCTAssertEqual(try payload(status.frame, .status).withBytes(Status.decode), status)
        for action in [
            Control.Action.volume(40), .mute(true), .play, .pause, .next, .previous, .queueAdd(songID: "s-1"), .queueRemove(songID: "s-1"),
            .refused(action: "play", reason: "not allowed"), .quality(bitrate: 64_000),
            .buffer(1_500_000, from: 61_100_000),
        ] {
            XCTAssertEqual(try payload(Control(action).frame, .control).withBytes(Control.decode), Control(action))
        }
        // A bitrate Opus cannot code is not a quality a receiver takes on trust.
        XCTAssertThrowsError(try Array(#"{"action": "quality", "value": 1000000000}"#.utf8).withBytes(Control.decode))
        let chat = Chat(from: "Kitchen", text: "this one's great \u{1F3B6}")
        XCTAssertEqual(try payload(chat.frame, .chat).withBytes(Chat.decode), chat)
        XCTAssertEqual(payload(Bye(.kicked).frame, .bye).withUnsafeBytes { Bye.decode($0) }, Bye(.kicked))
        XCTAssertEqual(payload(Bye(.kicked, stayAwaySeconds: 600).frame, .bye).withUnsafeBytes { Bye.decode($0) }.stayAwaySeconds, 600)
        // A stay longer than a year is a year; a reason other than kicked carries none.
        XCTAssertEqual(([3] + [UInt8]([0xff, 0xff, 0xff, 0xff])).withUnsafeBytes { Bye.decode($0) }.stayAwaySeconds, Bye.longestStayAway)
        XCTAssertNil(([1] + [UInt8]([0, 0, 0, 9])).withUnsafeBytes { Bye.decode($0) }.stayAwaySeconds)
        XCTAssertNil([UInt8]([200]).withUnsafeBytes { Bye.decode($0) }.reason)
        let request = TimeRequest(t1: 256)
        XCTAssertEqual(try payload(request.frame, .timeRequest).withBytes(TimeRequest.decode), request)
        let response = TimeResponse(t1: 1, t2: 2, t3: 3)
        XCTAssertEqual(try payload(response.frame, .timeResponse).withBytes(TimeResponse.decode), response)
    }

    func testLocalControlRequestsAndRepliesRoundTripAndAreBounded() throws {
        for request in [
            LocalRequest.clients, .events, .status, .kick(id: 3, forSeconds: nil), .kick(id: 3, forSeconds: 600), .volume(id: 2, level: 40),
            .mute(id: 1, on: true), .nowPlaying(PacketMetadata(songID: "s-\"1\"", position: 83.5, volume: 0.4)),
            .nowPlaying(PacketMetadata(volume: 0)),
        ] {
            let line = request.line
            XCTAssertEqual(line.last, UInt8(ascii: "\n"))
            XCTAssertEqual(try Array(line.dropLast()).withBytes(LocalRequest.decode), request)
        }
        var status = Status()
        status.volume = 0.4
        status.muted = true
        status.latency = 200_000
        status.bufferHealth = 0.5
        status.underruns = 2
        let summary = ClientSummary(
            id: 7, clientID: "c-7", name: "Porch \"left\"", address: "10.0.0.9", codec: "opus", bitrate: 128_000,
            streaming: true, connectedSeconds: 61, status: status)
        let joining = ClientSummary(
            id: 8, clientID: "c-8", name: "Hall", address: "10.0.0.10", codec: "pcm", bitrate: 1_536_000,
            streaming: false, connectedSeconds: 0, status: nil)
        for reply in [
            LocalReply.done, .failed("no receiver 9"), .clients([summary, joining]), .clients([]),
            .event(name: "ClientConnected", fields: ["client_id": "c-7", "client_name": "Porch"]),
            .status(
                ReceiverReport(state: .playing, host: "\"Den\" (10.0.0.2:8080)", codec: "opus", sampleRate: 48_000, volume: 40, muted: false, playing: status)),
            .status(ReceiverReport(state: .sentAway, host: "10.0.0.2:8080", volume: 100, muted: true)),
            .status(
                ReceiverReport(state: .playing, host: "Den", volume: 50, muted: false, playing: status, nowPlaying: PacketMetadata(songID: "a", position: 12))),
        ] {
            XCTAssertEqual(try Array(reply.line.dropLast()).withBytes(LocalReply.decode), reply)
        }
        func error(_ text: String) -> String? { failure(text, LocalRequest.decode) }
        XCTAssertEqual(error(#"{"command":"volume","id":1,"level":101}"#), "request's level is 101, outside 0...100")
        XCTAssertEqual(error(#"{"command":"kick","id":0}"#), "request's id is 0, outside 1...2147483647")
        XCTAssertEqual(error(#"{"command":"reboot"}"#), "request's command is \"reboot\", not clients, kick, volume, mute, events, now_playing or status")
        XCTAssertNotNil(error("clients"))
    }

    /// The seed's `PacketMetadata`, as AUDIO packets carry it: every key optional, each in range,
    /// the whole within the room a pool slot keeps for it.
    func testPacketMetadataIsBoundedAndFitsItsRoom() throws {
        let full = PacketMetadata(songID: "track-42", position: 83.5, volume: 0.75)
        let bytes = try XCTUnwrap(full.encoded)
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), #"{"song_id":"track-42","position":83.5,"volume":0.75}"#)
        XCTAssertEqual(try bytes.withBytes(PacketMetadata.decode), full)
        XCTAssertEqual(try Array("{}".utf8).withBytes(PacketMetadata.decode), PacketMetadata())
        func error(_ text: String) -> String? { failure(text, PacketMetadata.decode) }
        XCTAssertEqual(error(#"{"volume":1.5}"#), "AUDIO metadata's volume is 1.5, outside 0.0...1.0")
        XCTAssertEqual(error(#"{"position":-1}"#), "AUDIO metadata's position is -1, outside 0.0...1000000.0")
        XCTAssertEqual(error(#"{"song_id":7}"#), "AUDIO metadata's song_id is 7, expected a string")
        XCTAssertEqual(error("{\"song_id\":\"" + String(repeating: "x", count: 400) + "\"}"), "AUDIO metadata of 414 bytes (at most 320)")
        // A song_id whose escaped JSON would not fit is refused where it is set, not sent.
        XCTAssertNil(PacketMetadata(songID: String(repeating: "\"", count: 200)).encoded)
        XCTAssertNotNil(PacketMetadata(songID: String(repeating: "x", count: PacketMetadata.maxSongID), position: 1e6, volume: 1).encoded)
    }

    func testTimeMessagesHaveExactSizesAndBoundedTimes() {
        XCTAssertThrowsError(try [UInt8](repeating: 0, count: 7).withBytes(TimeRequest.decode))
        XCTAssertThrowsError(try [UInt8](repeating: 0, count: 25).withBytes(TimeResponse.decode))
        XCTAssertNotNil(TimeResponse(t1: 1, t2: UInt64(WireProtocol.maxTime), t3: 3).plausibleTimes)
        XCTAssertNil(TimeResponse(t1: 1, t2: UInt64(Int64.max), t3: UInt64(Int64.max)).plausibleTimes)
        XCTAssertNil(TimeResponse(t1: UInt64.max, t2: 2, t3: 3).plausibleTimes)
    }

    func testAWelcomeWithImpossibleNumbersSaysWhichKeyAndWhy() {
        func why(_ edit: (inout String) -> Void) -> String {
            var json = String(decoding: welcome().frame[4...], as: UTF8.self)
            edit(&json)
            return failure(json, Welcome.decode) ?? "accepted"
        }
        XCTAssertEqual(
            why { $0 = $0.replacingOccurrences(of: "\"sample_rate\":48000", with: "\"sample_rate\":4800000") },
            "WELCOME's stream.sample_rate is 4800000, outside 8000...192000")
        XCTAssertEqual(
            why { $0 = $0.replacingOccurrences(of: "\"frame_samples\":960", with: "\"frame_samples\":9223372036854775807") },
            "WELCOME's stream.frame_samples is 9223372036854775807, outside 1...5760")
        XCTAssertEqual(
            why { $0 = $0.replacingOccurrences(of: "\"stream_start\":5000000", with: "\"stream_start\":-1") },
            "WELCOME's stream_start is -1, outside 0...9007199254740992")
        XCTAssertEqual(
            why { $0 = $0.replacingOccurrences(of: "\"t2\":2", with: "\"t2\":99999999999999999999") },
            "WELCOME's t2 is 99999999999999999999, expected an integer")
        XCTAssertEqual(
            why { $0 = $0.replacingOccurrences(of: "\"codec\":\"opus\"", with: "\"codec\":\"mp3\"") },
            "WELCOME's stream.codec \"mp3\" is not a codec this receiver knows")
        XCTAssertEqual(
            why { $0 = $0.replacingOccurrences(of: "\"codec_delay_samples\":312", with: "\"codec_delay_samples\":4000") },
            "WELCOME's stream.codec_delay_samples is 4000, outside 0...3840")
        XCTAssertEqual(why { $0 = $0.replacingOccurrences(of: ",\"t3\":3", with: "") }, "WELCOME's t3 is missing")
        XCTAssertEqual(why { $0 = "[1]" }, "WELCOME is an array, not a JSON object")
    }

    /// The buffer a group agrees on: WELCOME says it to a joiner (a host with none yet leaves
    /// it out), STATUS says what a speaker wants, CONTROL moves the group; each within 10 ms to 10 s.
    func testTheGroupBufferTravelsInWelcomeStatusAndControlWithinBounds() throws {
        var agreed = welcome()
        agreed.buffer = 2_500_000
        XCTAssertEqual(try payload(agreed.frame, .welcome).withBytes(Welcome.decode).buffer, 2_500_000)
        XCTAssertFalse(String(decoding: welcome().frame[4...], as: UTF8.self).contains("buffer_us"))
        XCTAssertEqual(try payload(welcome().frame, .welcome).withBytes(Welcome.decode).buffer, 0)
        var json = String(decoding: agreed.frame[4...], as: UTF8.self)
        json = json.replacingOccurrences(of: "\"buffer_us\":2500000", with: "\"buffer_us\":600000000")
        XCTAssertEqual(failure(json, Welcome.decode), "WELCOME's buffer_us is 600000000, outside 10000...10000000")

        XCTAssertEqual(try decode("{\"wanted_buffer_us\": 0}", Status.decode).wantedBuffer, 0, "0: not said")
        XCTAssertEqual(
            failure("{\"wanted_buffer_us\": 5000}", Status.decode),
            "STATUS's wanted_buffer_us 5000 µs is not 0 (not said) nor a buffer of 10 ms to 10 s")
        XCTAssertEqual(
            failure("{\"wanted_buffer_us\": 10000001}", Status.decode),
            "STATUS's wanted_buffer_us is 10000001, outside 0...10000000")

        XCTAssertEqual(
            failure("{\"action\": \"buffer_size\", \"value\": 1, \"from_us\": 0}", Control.decode),
            "CONTROL's value is 1, outside 10000...10000000")
        XCTAssertEqual(failure("{\"action\": \"buffer_size\", \"value\": 20000}", Control.decode), "CONTROL's from_us is missing")
        XCTAssertEqual(
            failure("{\"action\": \"buffer_size\", \"value\": 20000, \"from_us\": -5}", Control.decode),
            "CONTROL's from_us is -5, outside 0...9007199254740992")
    }

    func testAHelloIsBoundedInEveryField() {
        func why(_ json: String) -> String {
            failure(json, Hello.decode) ?? "accepted"
        }
        let long = String(repeating: "x", count: 65)
        XCTAssertEqual(
            why("{\"connection_request\": {\"client_id\": \"\(long)\", \"protocol_version\": \"1.0\"}}"),
            "HELLO's connection_request.client_id is 65 bytes long (at most 64)")
        XCTAssertEqual(
            why("{\"connection_request\": {\"client_id\": \"a\", \"protocol_version\": \"2.0\"}}"),
            "protocol_version 2.0 is not supported (this host speaks 1.0)")
        let formats = Array(repeating: "\"opus\"", count: 9).joined(separator: ",")
        XCTAssertEqual(
            why("{\"connection_request\": {\"client_id\": \"a\", \"protocol_version\": \"1.0\", \"capabilities\": {\"audio_formats\": [\(formats)]}}}"),
            "HELLO's connection_request.capabilities.audio_formats has 9 entries (at most 8)")
        XCTAssertEqual(
            why("{\"connection_request\": {\"client_id\": \"a\", \"protocol_version\": \"1.0\"}, \"t1\": 1e300}"),
            "HELLO's t1 is 1e300, expected an integer")
        XCTAssertEqual(
            why("{\"connection_request\": {\"client_id\": \"a\", \"protocol_version\": \"1.0\", \"authentication\": {\"method\": \"token\"}}}"),
            "HELLO's connection_request.authentication.method \"token\" is not none, password, certificate")
        XCTAssertEqual(failure("{\"method\": \"token\"}", Challenge.decode), "CHALLENGE's method \"token\" is not none, password, certificate")
    }

    /// A peer's string with a control character is refused where it is decoded: a newline in a
    /// name would forge the next log line, an escape sequence would rewrite a person's terminal.
    func testPeerStringsWithControlCharactersAreRefused() {
        for control in ["\\n", "\\r", "\\u001b[2J", "\\u0000", "\\u007f", "\\u009b", "\\u202e", "\\u2066", "\\u200f"] {
            XCTAssertEqual(
                failure(
                    "{\"connection_request\": {\"client_id\": \"a\", \"client_name\": \"kitchen\(control)x\", \"protocol_version\": \"1.0\"}}", Hello.decode),
                "HELLO's connection_request.client_name has control characters", control)
            XCTAssertEqual(
                failure("{\"error\": \"InvalidPacket\", \"message\": \"no\(control)msrecv: event=Connected\"}", Reject.decode),
                "REJECT's message has control characters", control)
            XCTAssertEqual(failure("{\"text\": \"hi\(control)\"}", Chat.decode), "CHAT's text has control characters", control)
        }
        XCTAssertNil(failure("{\"text\": \"caf\\u00e9 \\ud83c\\udfb6 \\ud83d\\udc69\\u200d\\ud83d\\udc67\"}", Chat.decode), "letters and emoji are fine")
        XCTAssertThrowsError(try ServiceAdvertisement.decode(txt: ["device_name=Kitchen\nmsrecv: event=Connected"]), "a newline taken") { e in
            XCTAssertTrue("\(e)".contains("has control characters"), "\(e)")
        }
    }

    func testStatusControlAndChatRefuseWhatIsOutOfRange() {
        XCTAssertThrowsError(try decode("{\"action\": \"volume\", \"value\": 101}", Control.decode))
        XCTAssertThrowsError(try decode("{\"action\": \"reboot\"}", Control.decode))
        XCTAssertThrowsError(try decode("{\"text\": \"\(String(repeating: "a", count: 1_001))\"}", Chat.decode))
        var status = String(decoding: Status().frame[4...], as: UTF8.self)
        status = status.replacingOccurrences(of: "\"packet_loss\":0.0", with: "\"packet_loss\":7")
        XCTAssertEqual(failure(status, Status.decode), "STATUS's packet_loss is 7, outside 0.0...1.0")
        XCTAssertEqual(failure("{\"rtt_us\": -1}", Status.decode), "STATUS's rtt_us is -1, outside 0...60000000")
        // A receiver of another version leaves out what it does not know: the rest still counts.
        var older = Status()
        older.underruns = 3
        XCTAssertEqual(try decode("{\"underruns\": 3, \"a_key_from_later\": 1}", Status.decode), older)
        XCTAssertThrowsError(try [UInt8]([1] + [UInt8](repeating: 0, count: 300)).withBytes(AuthMessage.decode))
        XCTAssertThrowsError(try decode("{\"method\": \"password\", \"salt\": \"00\", \"iterations\": 2000}", Challenge.decode))
    }

    func testTheServiceAdvertisementRoundTripsThroughTXTAndJSON() throws {
        var ad = ServiceAdvertisement()
        ad.deviceID = "d-1"
        ad.deviceName = "John's host"
        ad.port = 9000
        ad.chat = true
        ad.fingerprint = "ab12"
        ad.avatar = "aGk="
        var fromTXT = try ServiceAdvertisement.decode(txt: ad.txtRecords)
        XCTAssertEqual(fromTXT.avatar, "", "TXT records leave the avatar out")
        fromTXT.avatar = ad.avatar
        XCTAssertEqual(fromTXT, ad)
        XCTAssertTrue(ad.txtRecords.contains("device_name=John's host"))
        XCTAssertEqual(try Array(ad.json.utf8).withBytes { b throws(ProtocolError) in try ServiceAdvertisement.decode(json: b) }, ad)
        XCTAssertThrowsError(try ServiceAdvertisement.decode(txt: ["port=70000"]))
        XCTAssertThrowsError(try ServiceAdvertisement.decode(txt: ["sample_rate=fast"]))
    }
}
