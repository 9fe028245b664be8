import Core

/// The frames of a running session (DESIGN §5): TIME_REQ/TIME_RESP, STATUS, CONTROL, CHAT, BYE.

/// R→H: the receiver's clock when it asked (t1, local monotonic µs). The host only echoes it.
public struct TimeRequest: Equatable, Sendable {
    public var t1: UInt64
    public static let size = 8

    public init(t1: UInt64) { self.t1 = t1 }

    public var frame: [UInt8] {
        var payload = [UInt8](repeating: 0, count: Self.size)
        payload.withUnsafeMutableBytes { $0.storeBigEndian(t1, at: 0) }
        return FrameWriter.frame(.timeRequest, payload: payload)
    }

    public static func decode(_ payload: UnsafeRawBufferPointer) throws(ProtocolError) -> TimeRequest {
        guard payload.count == size else { throw .wrongSize(message: "TIME_REQ", bytes: payload.count, size: size) }
        return TimeRequest(t1: payload.loadBigEndian(UInt64.self, at: 0))
    }
}

/// H→R: t1 echoed, t2 when the request arrived and t3 when the reply left, on the host's
/// monotonic clock. Raw as sent: the receiver's clock sync range-checks them and counts the
/// replies it refuses.
public struct TimeResponse: Equatable, Sendable {
    public var t1: UInt64
    public var t2: UInt64
    public var t3: UInt64
    public static let size = 24

    public init(t1: UInt64, t2: UInt64, t3: UInt64) {
        self.t1 = t1
        self.t2 = t2
        self.t3 = t3
    }

    public var frame: [UInt8] {
        var payload = [UInt8](repeating: 0, count: Self.size)
        payload.withUnsafeMutableBytes {
            $0.storeBigEndian(t1, at: 0)
            $0.storeBigEndian(t2, at: 8)
            $0.storeBigEndian(t3, at: 16)
        }
        return FrameWriter.frame(.timeResponse, payload: payload)
    }

    public static func decode(_ payload: UnsafeRawBufferPointer) throws(ProtocolError) -> TimeResponse {
        guard payload.count == size else { throw .wrongSize(message: "TIME_RESP", bytes: payload.count, size: size) }
        return TimeResponse(
            t1: payload.loadBigEndian(UInt64.self, at: 0), t2: payload.loadBigEndian(UInt64.self, at: 8), t3: payload.loadBigEndian(UInt64.self, at: 16))
    }

    /// The three times, when each is a plausible monotonic time (`MessageLimits.times`).
    public var plausibleTimes: (t1: Microseconds, t2: Microseconds, t3: Microseconds)? {
        let limit = UInt64(MessageLimits.maxTime)
        guard t1 <= limit, t2 <= limit, t3 <= limit else { return nil }
        return (Microseconds(t1), Microseconds(t2), Microseconds(t3))
    }
}

/// R→H each second: the seed's `StreamMetrics`, as the receiver measures them.
public struct Status: Equatable, Sendable {
    public var bitrate = 0
    /// Packets concealed over packets due, 0...1.
    public var packetLoss = 0.0
    /// The delay from the host's clock to the DAC it plays at now, µs: the group's buffer (at
    /// first `receiving.buffer_size`) and the speaker's own offset.
    public var latency: Microseconds = 0
    /// The buffer this speaker wants the group to play at, µs (its late packets and underruns
    /// raise it, a calm path lowers it); 0: it does not say (a receiver of another version).
    public var wantedBuffer: Microseconds = 0
    public var bufferedPackets = 0
    /// How full the jitter buffer is, 0...1.
    public var bufferHealth = 0.0
    public var underruns = 0
    public var overruns = 0
    /// The speaker's volume level (`VolumeScale`) over 100, 0...1.
    public var volume = 1.0
    public var muted = false
    /// How far the clock estimate can be from the host's clock, µs.
    public var syncErrorMicroseconds = 0
    /// The smoothed round trip to the host and its mean deviation (the seed's `rtt`), µs.
    public var roundTripMicroseconds = 0
    public var roundTripJitterMicroseconds = 0
    /// When the card plays against when it should, µs.
    public var playoutErrorMicroseconds = 0
    public var correctionPPM = 0.0
    public var clockDriftPPM = 0.0
    public var cpuSeconds = 0.0
    public var memoryPeakKB = 0

    public init() {}

    private enum Key {
        static let bitrate = "bitrate", packetLoss = "packet_loss", latency = "latency_us", bufferedPackets = "buffered_packets"
        static let bufferHealth = "buffer_health", underruns = "underruns", overruns = "overruns", volume = "volume", muted = "muted"
        static let syncError = "sync_error_us", roundTrip = "rtt_us", roundTripJitter = "rtt_jitter_us", playoutError = "playout_error_us",
            correction = "correction_ppm"
        static let clockDrift = "clock_drift_ppm", cpuSeconds = "cpu_seconds", memoryPeak = "memory_peak_kb"
        static let wantedBuffer = "wanted_buffer_us"
    }

    public var frame: [UInt8] { FrameWriter.frame(.status, json: json.finished) }

    var json: JSONWriter {
        var s = JSONWriter()
        s.add(Key.bitrate, bitrate)
        s.add(Key.packetLoss, packetLoss)
        s.add(Key.latency, Int(latency))
        s.add(Key.wantedBuffer, Int(wantedBuffer))
        s.add(Key.bufferedPackets, bufferedPackets)
        s.add(Key.bufferHealth, bufferHealth)
        s.add(Key.underruns, underruns)
        s.add(Key.overruns, overruns)
        s.add(Key.volume, volume)
        s.add(Key.muted, muted)
        s.add(Key.syncError, syncErrorMicroseconds)
        s.add(Key.roundTrip, roundTripMicroseconds)
        s.add(Key.roundTripJitter, roundTripJitterMicroseconds)
        s.add(Key.playoutError, playoutErrorMicroseconds)
        s.add(Key.correction, correctionPPM)
        s.add(Key.clockDrift, clockDriftPPM)
        s.add(Key.cpuSeconds, cpuSeconds)
        s.add(Key.memoryPeak, memoryPeakKB)
        return s
    }

    /// A key that is missing keeps its default: a receiver of another version reports what it
    /// knows, and STATUS only informs. A key that is there must be in range.
    public static func decode(_ payload: UnsafeRawBufferPointer) throws(ProtocolError) -> Status {
        try decode(try Fields.parse(payload, message: "STATUS"))
    }

    static func decode(_ f: Fields) throws(ProtocolError) -> Status {
        let count = 0...Int(Int32.max)
        let micros = -3_600_000_000...3_600_000_000
        var s = Status()
        func int(_ key: String, _ range: ClosedRange<Int>, _ field: inout Int) throws(ProtocolError) {
            if let v = try f.optionalInt(key, in: range) { field = v }
        }
        func double(_ key: String, _ range: ClosedRange<Double>, _ field: inout Double) throws(ProtocolError) {
            if let v = try f.optionalDouble(key, in: range) { field = v }
        }
        try int(Key.bitrate, 0...100_000_000, &s.bitrate)
        try double(Key.packetLoss, 0...1, &s.packetLoss)
        var latency = Int(s.latency)
        try int(Key.latency, 0...60_000_000, &latency)
        s.latency = Microseconds(latency)
        if let wanted = try f.optionalInt(Key.wantedBuffer, in: 0...MessageLimits.buffers.upperBound) {
            guard wanted == 0 || MessageLimits.buffers.contains(wanted) else {
                throw f.error(Key.wantedBuffer, "\(wanted) µs is not 0 (not said) nor a buffer of 10 ms to 10 s")
            }
            s.wantedBuffer = Microseconds(wanted)
        }
        try int(Key.bufferedPackets, count, &s.bufferedPackets)
        try double(Key.bufferHealth, 0...1, &s.bufferHealth)
        try int(Key.underruns, count, &s.underruns)
        try int(Key.overruns, count, &s.overruns)
        try double(Key.volume, 0...1, &s.volume)
        if let muted = try f.optionalBool(Key.muted) { s.muted = muted }
        try int(Key.syncError, micros, &s.syncErrorMicroseconds)
        try int(Key.roundTrip, 0...60_000_000, &s.roundTripMicroseconds)
        try int(Key.roundTripJitter, 0...60_000_000, &s.roundTripJitterMicroseconds)
        try int(Key.playoutError, micros, &s.playoutErrorMicroseconds)
        try double(Key.correction, -1e6...1e6, &s.correctionPPM)
        try double(Key.clockDrift, -1e6...1e6, &s.clockDriftPPM)
        try double(Key.cpuSeconds, 0...1e12, &s.cpuSeconds)
        try int(Key.memoryPeak, count, &s.memoryPeakKB)
        return s
    }
}

/// Both ways: a command for playback or the speaker. The host checks every one against the
/// sender's permissions.
public struct Control: Equatable, Sendable {
    public enum Action: Equatable, Sendable {
        case volume(Int)
        case mute(Bool)
        case play, pause, next, previous
        /// Queue operations on the host's player, by the seed's `song_id`.
        case queueAdd(songID: String)
        case queueRemove(songID: String)
        /// H→R: the request named was not allowed, and why.
        case refused(action: String, reason: String)
        /// H→R: from the next AUDIO packet on, the stream is coded at this many bit/s (an
        /// adaptive host moved this receiver to another tier; the seed's QualityChanged).
        case quality(bitrate: Int)
        /// H→R: the group plays this many µs behind the host (the buffer its speakers agreed
        /// on, before each one's own offset) from stream time `from` on.
        case buffer(Microseconds, from: Microseconds)
    }
    public var action: Action

    public init(_ action: Action) { self.action = action }

    private enum Key { static let action = "action", value = "value", reason = "reason", from = "from_us" }
    private enum Name {
        static let volume = "volume", mute = "mute", play = "play", pause = "pause", next = "next", previous = "previous"
        static let queueAdd = "queue_add", queueRemove = "queue_remove", refused = "refused", quality = "quality"
        static let buffer = "buffer_size"
    }

    /// Playback commands need `playback_control`; volume and mute are the speaker's own.
    public var isPlaybackControl: Bool {
        switch action {
        case .play, .pause, .next, .previous: return true
        default: return false
        }
    }

    public var isQueueControl: Bool {
        switch action {
        case .queueAdd, .queueRemove: return true
        default: return false
        }
    }

    /// The action's name on the wire.
    public var name: String {
        switch action {
        case .volume: Name.volume
        case .mute: Name.mute
        case .play: Name.play
        case .pause: Name.pause
        case .next: Name.next
        case .previous: Name.previous
        case .queueAdd: Name.queueAdd
        case .queueRemove: Name.queueRemove
        case .refused: Name.refused
        case .quality: Name.quality
        case .buffer: Name.buffer
        }
    }

    public var frame: [UInt8] {
        var json = JSONWriter()
        json.add(Key.action, name)
        switch action {
        case .volume(let v), .quality(let v): json.add(Key.value, v)
        case .mute(let on): json.add(Key.value, on)
        case .queueAdd(let song), .queueRemove(let song): json.add(Key.value, song)
        case .refused(let what, let reason):
            json.add(Key.value, what)
            json.add(Key.reason, reason)
        case .buffer(let value, let from):
            json.add(Key.value, Int(value))
            json.add(Key.from, Int(from))
        case .play, .pause, .next, .previous: break
        }
        return FrameWriter.frame(.control, json: json.finished)
    }

    public static func decode(_ payload: UnsafeRawBufferPointer) throws(ProtocolError) -> Control {
        let f = try Fields.parse(payload, message: "CONTROL")
        let name = try f.string(Key.action, maxLength: 16)
        switch name {
        case Name.volume: return Control(.volume(try f.int(Key.value, in: volumeLevels)))
        case Name.mute: return Control(.mute(try f.bool(Key.value)))
        case Name.play: return Control(.play)
        case Name.pause: return Control(.pause)
        case Name.next: return Control(.next)
        case Name.previous: return Control(.previous)
        case Name.queueAdd: return Control(.queueAdd(songID: try f.string(Key.value, maxLength: MessageLimits.nameLength)))
        case Name.queueRemove: return Control(.queueRemove(songID: try f.string(Key.value, maxLength: MessageLimits.nameLength)))
        case Name.refused:
            return Control(
                .refused(action: try f.string(Key.value, maxLength: 16), reason: try f.string(Key.reason, maxLength: MessageLimits.nameLength * 4)))
        case Name.quality: return Control(.quality(bitrate: try f.int(Key.value, in: 6_000...510_000)))
        case Name.buffer:
            return Control(.buffer(Microseconds(try f.int(Key.value, in: MessageLimits.buffers)), from: try f.int(Key.from, in: MessageLimits.times)))
        default:
            throw f.error(
                Key.action, "\"\(name)\" is not volume, mute, play, pause, next, previous, queue_add, queue_remove, refused, quality or buffer_size")
        }
    }
}

/// Both ways: a line of text between listeners, if the host allows chat.
public struct Chat: Equatable, Sendable {
    /// Who wrote it: set by the host when it relays a receiver's line.
    public var from: String
    public var text: String
    public static let maxTextLength = 1_000

    public init(from: String = "", text: String) {
        self.from = from
        self.text = text
    }

    private enum Key { static let from = "from", text = "text" }

    public var frame: [UInt8] {
        var json = JSONWriter()
        json.add(Key.from, from)
        json.add(Key.text, text)
        return FrameWriter.frame(.chat, json: json.finished)
    }

    public static func decode(_ payload: UnsafeRawBufferPointer) throws(ProtocolError) -> Chat {
        let f = try Fields.parse(payload, message: "CHAT")
        return Chat(
            from: try f.optionalString(Key.from, maxLength: MessageLimits.nameLength) ?? "",
            text: try f.string(Key.text, maxLength: maxTextLength))
    }
}

/// Both ways: the connection ends, and why. A reason this side does not know is kept as nil.
/// `kicked` may say for how long the receiver is to stay away (seconds, big-endian u32 after
/// the reason); without it, until the receiver restarts.
public struct Bye: Equatable, Sendable {
    public var reason: ByeReason?
    public var stayAwaySeconds: Int?
    /// A year: longer is a mistake, or a peer's nonsense.
    public static let longestStayAway = 31_536_000

    public init(_ reason: ByeReason, stayAwaySeconds: Int? = nil) {
        self.reason = reason
        self.stayAwaySeconds = stayAwaySeconds.map { min(max($0, 0), Self.longestStayAway) }
    }
    private init(unknown: Void) { reason = nil }

    public var frame: [UInt8] {
        var payload = [reason?.rawValue ?? 0]
        if let seconds = stayAwaySeconds { payload += withUnsafeBytes(of: UInt32(seconds).bigEndian, Array.init) }
        return FrameWriter.frame(.bye, payload: payload)
    }

    public static func decode(_ payload: UnsafeRawBufferPointer) -> Bye {
        guard let reason = payload.first.flatMap(ByeReason.init(rawValue:)) else { return Bye(unknown: ()) }
        guard reason == .kicked, payload.count >= 5 else { return Bye(reason) }
        let seconds = Int(payload.loadBigEndian(UInt32.self, at: 1))
        return Bye(reason, stayAwaySeconds: min(seconds, longestStayAway))
    }

    public var reasonName: String { reason?.name ?? "unknown reason" }
}
