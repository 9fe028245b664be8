import Core

/// The frames of the handshake (DESIGN §5): HELLO (the seed's `connection_request`), CHALLENGE,
/// AUTH, WELCOME and REJECT. Each message owns its JSON keys: its encoder and decoder are the only
/// places they are written.

/// R→H: who the receiver is and what it can play, with `t1` for the first clock sample.
/// How a receiver proves itself: HELLO's and CHALLENGE's `method`, the advertisement's
/// `authentication`.
public enum AuthMethod: String, Sendable, CaseIterable {
    case none, password, certificate

    /// `name` as a method, or an error for `field` of `fields` that names every one there is.
    static func decode(_ name: String, field: String, of fields: Fields) throws(ProtocolError) -> AuthMethod {
        guard let method = AuthMethod(rawValue: name) else {
            throw fields.error(field, "\"\(name)\" is not \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return method
    }
}

public struct Hello: Equatable, Sendable {
    public var clientID: String
    public var clientName: String
    public var protocolVersion: String
    /// `authentication.method`.
    public var authenticationMethod: AuthMethod
    public var audioFormats: [String]
    /// `capabilities.max_buffer_size`, as the seed writes it ("2s").
    public var maxBufferSize: String
    public var lowLatency: Bool
    /// Local monotonic µs when the HELLO was sent.
    public var t1: Microseconds

    public init(
        clientID: String, clientName: String, protocolVersion: String = WireProtocol.version, authenticationMethod: AuthMethod = .none,
        audioFormats: [String], maxBufferSize: String, lowLatency: Bool, t1: Microseconds
    ) {
        self.clientID = clientID
        self.clientName = clientName
        self.protocolVersion = protocolVersion
        self.authenticationMethod = authenticationMethod
        self.audioFormats = audioFormats
        self.maxBufferSize = maxBufferSize
        self.lowLatency = lowLatency
        self.t1 = t1
    }

    private enum Key {
        static let request = "connection_request", clientID = "client_id", clientName = "client_name"
        static let protocolVersion = "protocol_version", authentication = "authentication", method = "method"
        static let capabilities = "capabilities", audioFormats = "audio_formats", maxBufferSize = "max_buffer_size"
        static let lowLatency = "low_latency", t1 = "t1"
    }

    public var frame: [UInt8] {
        var auth = JSONWriter()
        auth.add(Key.method, authenticationMethod.rawValue)
        var caps = JSONWriter()
        caps.add(Key.audioFormats, strings: audioFormats)
        caps.add(Key.maxBufferSize, maxBufferSize)
        caps.add(Key.lowLatency, lowLatency)
        var request = JSONWriter()
        request.add(Key.clientID, clientID)
        request.add(Key.clientName, clientName)
        request.add(Key.protocolVersion, protocolVersion)
        request.add(Key.authentication, object: auth)
        request.add(Key.capabilities, object: caps)
        var root = JSONWriter()
        root.add(Key.request, object: request)
        root.add(Key.t1, Int(t1))
        return FrameWriter.frame(.hello, json: root.finished)
    }

    public static func decode(_ payload: UnsafeRawBufferPointer) throws(ProtocolError) -> Hello {
        let root = try Fields.parse(payload, message: "HELLO")
        let request = try root.object(Key.request)
        let version = try request.string(Key.protocolVersion, maxLength: 16)
        guard version.split(separator: ".").first == "1" else {
            throw .unsupportedVersion(version)
        }
        let id = try request.string(Key.clientID, maxLength: MessageLimits.idLength)
        guard !id.isEmpty else { throw request.error(Key.clientID, "is empty") }
        let caps = try request.optionalObject(Key.capabilities)
        let authentication = try request.optionalObject(Key.authentication)
        let method = try authentication.map { a throws(ProtocolError) in
            try AuthMethod.decode(try a.optionalString(Key.method, maxLength: 16) ?? "none", field: Key.method, of: a)
        }
        return Hello(
            clientID: id,
            clientName: try request.optionalString(Key.clientName, maxLength: MessageLimits.nameLength) ?? id,
            protocolVersion: version,
            authenticationMethod: method ?? .none,
            audioFormats: try caps.map { c throws(ProtocolError) in try c.strings(Key.audioFormats, maxCount: 8, maxLength: 16) } ?? [],
            maxBufferSize: try caps?.optionalString(Key.maxBufferSize, maxLength: 16) ?? "",
            lowLatency: try caps?.optionalBool(Key.lowLatency) ?? false,
            // Only echoed back: a HELLO without it gets 0.
            t1: root.value[Key.t1] == nil ? 0 : try root.int(Key.t1, in: MessageLimits.times))
    }
}

/// The stream a WELCOME describes.
public struct StreamDescription: Equatable, Sendable {
    public var codec: WireCodec
    public var sampleRate: Int
    public var channels: Int
    /// Frames per packet.
    public var frameSamples: Int
    /// Samples the decoded signal lags the packets' timestamps (Opus look-ahead).
    public var codecDelay: Int
    public var bitrate: Int

    public init(codec: WireCodec, sampleRate: Int, channels: Int, frameSamples: Int, codecDelay: Int, bitrate: Int) {
        self.codec = codec
        self.sampleRate = sampleRate
        self.channels = channels
        self.frameSamples = frameSamples
        self.codecDelay = codecDelay
        self.bitrate = bitrate
    }
}

/// What a WELCOME grants: the seed's permission system.
public struct GrantedPermissions: Equatable, Sendable {
    public var queueControl: Bool
    public var playbackControl: Bool
    public var chat: Bool

    public init(queueControl: Bool, playbackControl: Bool, chat: Bool) {
        self.queueControl = queueControl
        self.playbackControl = playbackControl
        self.chat = chat
    }
}

/// H→R: the session is on. The stream, when it started on the host's clock, and the host's half
/// of the first clock exchange (HELLO's `t1` echoed, `t2` when HELLO arrived, `t3` when this left).
public struct Welcome: Equatable, Sendable {
    public var sessionID: String
    public var hostID: String
    public var hostName: String
    public var moosyncVersion: String
    public var stream: StreamDescription
    /// Host monotonic µs of stream time 0.
    public var streamStart: Microseconds
    /// The sequence number of the next packet the host will encode.
    public var nextSequence: UInt64
    public var permissions: GrantedPermissions
    /// The buffer the group plays at now, µs (`Control.buffer`); 0: none agreed yet (the first
    /// receiver, or a host of another version): the receiver's own `buffer_size`.
    public var buffer: Microseconds
    public var t1: Microseconds
    public var t2: Microseconds
    public var t3: Microseconds

    public init(
        sessionID: String, hostID: String, hostName: String, moosyncVersion: String = MoosyncVersion.current, stream: StreamDescription,
        streamStart: Microseconds, nextSequence: UInt64, permissions: GrantedPermissions, buffer: Microseconds = 0,
        t1: Microseconds, t2: Microseconds, t3: Microseconds
    ) {
        self.sessionID = sessionID
        self.hostID = hostID
        self.hostName = hostName
        self.moosyncVersion = moosyncVersion
        self.stream = stream
        self.streamStart = streamStart
        self.nextSequence = nextSequence
        self.permissions = permissions
        self.buffer = buffer
        self.t1 = t1
        self.t2 = t2
        self.t3 = t3
    }

    private enum Key {
        static let sessionID = "session_id", hostInfo = "host_info", deviceID = "device_id", deviceName = "device_name"
        static let moosyncVersion = "moosync_version", stream = "stream", codec = "codec", sampleRate = "sample_rate"
        static let channels = "channels", frameSamples = "frame_samples", codecDelay = "codec_delay_samples", bitrate = "bitrate"
        static let streamStart = "stream_start", nextSequence = "next_sequence", permissions = "permissions"
        static let queueControl = "queue_control", playbackControl = "playback_control", chat = "chat"
        static let buffer = "buffer_us", t1 = "t1", t2 = "t2", t3 = "t3"
    }

    /// What a receiver can be asked to play: anything outside is not a stream, whatever it says.
    public static let sampleRates: ClosedRange<Int> = 8_000...192_000
    public static let channelCounts: ClosedRange<Int> = 1...8

    public var frame: [UInt8] {
        var host = JSONWriter()
        host.add(Key.deviceID, hostID)
        host.add(Key.deviceName, hostName)
        host.add(Key.moosyncVersion, moosyncVersion)
        var s = JSONWriter()
        s.add(Key.codec, stream.codec.name)
        s.add(Key.sampleRate, stream.sampleRate)
        s.add(Key.channels, stream.channels)
        s.add(Key.frameSamples, stream.frameSamples)
        s.add(Key.codecDelay, stream.codecDelay)
        s.add(Key.bitrate, stream.bitrate)
        var p = JSONWriter()
        p.add(Key.queueControl, permissions.queueControl)
        p.add(Key.playbackControl, permissions.playbackControl)
        p.add(Key.chat, permissions.chat)
        var root = JSONWriter()
        root.add(Key.sessionID, sessionID)
        root.add(Key.hostInfo, object: host)
        root.add(Key.stream, object: s)
        root.add(Key.streamStart, Int(streamStart))
        root.add(Key.nextSequence, nextSequence)
        root.add(Key.permissions, object: p)
        if buffer > 0 { root.add(Key.buffer, Int(buffer)) }
        root.add(Key.t1, Int(t1))
        root.add(Key.t2, Int(t2))
        root.add(Key.t3, Int(t3))
        return FrameWriter.frame(.welcome, json: root.finished)
    }

    public static func decode(_ payload: UnsafeRawBufferPointer) throws(ProtocolError) -> Welcome {
        let root = try Fields.parse(payload, message: "WELCOME")
        let s = try root.object(Key.stream)
        let codecName = try s.string(Key.codec, maxLength: 16)
        guard let codec = WireCodec(name: codecName) else { throw s.error(Key.codec, "\"\(codecName)\" is not a codec this receiver knows") }
        let rate = try s.int(Key.sampleRate, in: sampleRates)
        // At most 120 ms per packet (Opus's longest); the delay at most four packets.
        let frameSamples = try s.int(Key.frameSamples, in: 1...(rate * 120 / 1000))
        let stream = StreamDescription(
            codec: codec, sampleRate: rate,
            channels: try s.int(Key.channels, in: channelCounts),
            frameSamples: frameSamples,
            codecDelay: try s.optionalInt(Key.codecDelay, in: 0...(frameSamples * 4)) ?? 0,
            bitrate: try s.optionalInt(Key.bitrate, in: 0...100_000_000) ?? 0)
        let host = try root.optionalObject(Key.hostInfo)
        let p = try root.optionalObject(Key.permissions)
        return Welcome(
            sessionID: try root.optionalString(Key.sessionID, maxLength: MessageLimits.idLength) ?? "",
            hostID: try host?.optionalString(Key.deviceID, maxLength: MessageLimits.idLength) ?? "",
            hostName: try host?.optionalString(Key.deviceName, maxLength: MessageLimits.nameLength) ?? "",
            moosyncVersion: try host?.optionalString(Key.moosyncVersion, maxLength: 32) ?? "",
            stream: stream,
            streamStart: try root.int(Key.streamStart, in: MessageLimits.times),
            nextSequence: UInt64(try root.optionalInt(Key.nextSequence, in: 0...Int(MessageLimits.maxTime)) ?? 0),
            permissions: GrantedPermissions(
                queueControl: try p?.optionalBool(Key.queueControl) ?? false,
                playbackControl: try p?.optionalBool(Key.playbackControl) ?? false,
                chat: try p?.optionalBool(Key.chat) ?? false),
            buffer: Microseconds(try root.optionalInt(Key.buffer, in: MessageLimits.buffers) ?? 0),
            t1: try root.int(Key.t1, in: MessageLimits.times),
            t2: try root.int(Key.t2, in: MessageLimits.times),
            t3: try root.int(Key.t3, in: MessageLimits.times))
    }
}

/// H→R: no session, and why: the seed's error name, and a sentence for the person reading the
/// receiver's log.
public struct Reject: Equatable, Sendable {
    public var error: AudioShareError
    public var message: String

    public init(_ error: AudioShareError, message: String) {
        self.error = error
        self.message = message
    }

    private enum Key { static let error = "error", message = "message" }

    public var frame: [UInt8] {
        var json = JSONWriter()
        json.add(Key.error, error.code)
        json.add(Key.message, message)
        return FrameWriter.frame(.reject, json: json.finished)
    }

    public static func decode(_ payload: UnsafeRawBufferPointer) throws(ProtocolError) -> Reject {
        let root = try Fields.parse(payload, message: "REJECT")
        let message = try root.optionalString(Key.message, maxLength: 512) ?? ""
        return Reject(AudioShareError(code: try root.string(Key.error, maxLength: 32), message: message), message: message)
    }
}

/// H→R: how the receiver must prove itself. For a password, the PBKDF2 salt and iteration count
/// its SPAKE2+ secret is derived with (DESIGN §5).
public struct Challenge: Equatable, Sendable {
    public var method: AuthMethod
    public var salt: [UInt8]
    public var iterations: Int

    public init(method: AuthMethod, salt: [UInt8] = [], iterations: Int = 0) {
        self.method = method
        self.salt = salt
        self.iterations = iterations
    }

    private enum Key { static let method = "method", salt = "salt", iterations = "iterations" }
    /// RFC 9383 asks for at least 16 bytes of salt; 1000 to 100 000 PBKDF2 iterations.
    public static let saltLengths = 16...64
    public static let iterationRange = 1_000...100_000

    public var frame: [UInt8] {
        var json = JSONWriter()
        json.add(Key.method, method.rawValue)
        if method == .password {
            json.add(Key.salt, hex(salt))
            json.add(Key.iterations, iterations)
        }
        return FrameWriter.frame(.challenge, json: json.finished)
    }

    public static func decode(_ payload: UnsafeRawBufferPointer) throws(ProtocolError) -> Challenge {
        let root = try Fields.parse(payload, message: "CHALLENGE")
        let method = try AuthMethod.decode(try root.string(Key.method, maxLength: 16), field: Key.method, of: root)
        guard method == .password else { return Challenge(method: method) }
        let text = try root.string(Key.salt, maxLength: 2 * saltLengths.upperBound)
        guard let salt = unhex(text), saltLengths.contains(salt.count) else {
            throw root.error(Key.salt, "is not \(saltLengths.lowerBound) to \(saltLengths.upperBound) bytes of hex")
        }
        return Challenge(method: method, salt: salt, iterations: try root.int(Key.iterations, in: iterationRange))
    }
}

/// Both ways: one SPAKE2+ message (RFC 9383) in order, `step | bytes`. Binary: the shares and
/// confirmations are curve points and MACs.
public struct AuthMessage: Equatable, Sendable {
    public enum Step: UInt8, Sendable {
        /// R→H: shareP.
        case proverShare = 1
        /// H→R: shareV and confirmV.
        case verifierShare = 2
        /// R→H: confirmP.
        case proverConfirmation = 3
    }
    public var step: Step
    public var bytes: [UInt8]

    /// An uncompressed P-256 point (SEC1) and an HMAC-SHA256.
    public static let shareBytes = 65, confirmationBytes = 32

    /// What each step carries, exactly: checked here, so a short share never reaches the curve
    /// arithmetic (which would read a whole point's worth from it).
    public static func length(of step: Step) -> Int {
        switch step {
        case .proverShare: shareBytes
        case .verifierShare: shareBytes + confirmationBytes
        case .proverConfirmation: confirmationBytes
        }
    }

    public init(step: Step, bytes: [UInt8]) {
        self.step = step
        self.bytes = bytes
    }

    public var frame: [UInt8] { FrameWriter.frame(.auth, payload: [step.rawValue] + bytes) }

    public static func decode(_ payload: UnsafeRawBufferPointer) throws(ProtocolError) -> AuthMessage {
        guard let first = payload.first, let step = Step(rawValue: first) else {
            throw .unknownAuthStep(payload.first)
        }
        guard payload.count - 1 == length(of: step) else {
            throw .wrongSize(message: "AUTH \(step)", bytes: payload.count - 1, size: length(of: step))
        }
        return AuthMessage(step: step, bytes: Array(payload[1...]))
    }
}
