import Core

/// What a person or a script asks a daemon through its local control socket (a Unix socket in
/// its state directory, never reachable from the network): one JSON line in, one JSON line out;
/// `events` answers with one line per event until the asker hangs up. `mshost clients|kick|volume|
/// mute|events` speak it, and so can Moosync.
public enum LocalRequest: Equatable, Sendable {
    case clients
    /// BYE `kicked`; the receiver stays away for the time given, or until it restarts.
    case kick(id: Int, forSeconds: Int?)
    case volume(id: Int, level: Int)
    case mute(id: Int, on: Bool)
    case events
    /// A receiver's own state (`msrecv status`).
    case status
    /// What the host's player plays now, for the AUDIO packets to carry (`mshost now-playing`):
    /// keys not given keep what they were.
    case nowPlaying(PacketMetadata)

    private enum Key { static let command = "command", id = "id", seconds = "for_s", level = "level", on = "on", metadata = "metadata" }
    private enum Name {
        static let clients = "clients", kick = "kick", volume = "volume", mute = "mute", events = "events", status = "status", nowPlaying = "now_playing"
    }
    static let ids = 1...Int(Int32.max)

    public var name: String {
        switch self {
        case .clients: Name.clients
        case .kick: Name.kick
        case .volume: Name.volume
        case .mute: Name.mute
        case .events: Name.events
        case .status: Name.status
        case .nowPlaying: Name.nowPlaying
        }
    }

    public var line: [UInt8] {
        var json = JSONWriter()
        switch self {
        case .clients, .events, .status: json.add(Key.command, name)
        case .kick(let id, let seconds):
            json.add(Key.command, Name.kick)
            json.add(Key.id, id)
            if let seconds { json.add(Key.seconds, seconds) }
        case .volume(let id, let level):
            json.add(Key.command, Name.volume)
            json.add(Key.id, id)
            json.add(Key.level, level)
        case .mute(let id, let on):
            json.add(Key.command, Name.mute)
            json.add(Key.id, id)
            json.add(Key.on, on)
        case .nowPlaying(let metadata):
            json.add(Key.command, Name.nowPlaying)
            json.add(Key.metadata, object: metadata.json)
        }
        return Array((json.finished + "\n").utf8)
    }

    public static func decode(_ line: UnsafeRawBufferPointer) throws(ProtocolError) -> LocalRequest {
        let f = try Fields.parse(line, message: "request")
        let name = try f.string(Key.command, maxLength: 16)
        switch name {
        case Name.clients: return .clients
        case Name.events: return .events
        case Name.status: return .status
        case Name.kick: return .kick(id: try f.int(Key.id, in: ids), forSeconds: try f.optionalInt(Key.seconds, in: 0...Bye.longestStayAway))
        case Name.volume: return .volume(id: try f.int(Key.id, in: ids), level: try f.int(Key.level, in: volumeLevels))
        case Name.mute: return .mute(id: try f.int(Key.id, in: ids), on: try f.bool(Key.on))
        case Name.nowPlaying: return .nowPlaying(try PacketMetadata.decode(try f.object(Key.metadata)))
        default: throw f.error(Key.command, "is \"\(name)\", not clients, kick, volume, mute, events, now_playing or status")
        }
    }
}

/// One receiver as the host's client list shows it: who it is, how its stream is, and what it
/// last reported (STATUS); the reported fields are nil until its first STATUS.
public struct ClientSummary: Equatable, Sendable {
    public var id: Int
    public var clientID: String
    public var name: String
    public var address: String
    public var codec: String
    public var bitrate: Int
    public var streaming: Bool
    public var connectedSeconds: Int
    public var status: Status?

    public init(
        id: Int, clientID: String, name: String, address: String, codec: String, bitrate: Int, streaming: Bool,
        connectedSeconds: Int, status: Status?
    ) {
        self.id = id
        self.clientID = clientID
        self.name = name
        self.address = address
        self.codec = codec
        self.bitrate = bitrate
        self.streaming = streaming
        self.connectedSeconds = connectedSeconds
        self.status = status
    }

    enum Key {
        static let id = "id", clientID = "client_id", name = "name", address = "address", codec = "codec", bitrate = "bitrate"
        static let streaming = "streaming", connected = "connected_s", status = "status"
    }

    var json: JSONWriter {
        var json = JSONWriter()
        json.add(Key.id, id)
        json.add(Key.clientID, clientID)
        json.add(Key.name, name)
        json.add(Key.address, address)
        json.add(Key.codec, codec)
        json.add(Key.bitrate, bitrate)
        json.add(Key.streaming, streaming)
        json.add(Key.connected, connectedSeconds)
        if let status { json.add(Key.status, object: status.json) }
        return json
    }

    static func decode(_ f: Fields) throws(ProtocolError) -> ClientSummary {
        var summary = ClientSummary(
            id: try f.int(Key.id, in: LocalRequest.ids), clientID: try f.string(Key.clientID, maxLength: MessageLimits.idLength),
            name: try f.string(Key.name, maxLength: MessageLimits.nameLength * 4),
            address: try f.string(Key.address, maxLength: 128), codec: try f.string(Key.codec, maxLength: 16),
            bitrate: try f.int(Key.bitrate, in: 0...100_000_000), streaming: try f.bool(Key.streaming),
            connectedSeconds: try f.int(Key.connected, in: 0...Int(Int32.max)), status: nil)
        if let status = try f.optionalObject(Key.status) { summary.status = try Status.decode(status) }
        return summary
    }
}

/// The daemon's answer to one request.
public enum LocalReply: Equatable, Sendable {
    case done
    case clients([ClientSummary])
    case status(ReceiverReport)
    /// An `events` line: the event's name and fields, as the log has them.
    case event(name: String, fields: [String: String])
    case failed(String)

    public static func event(_ event: AudioShareEvent) -> LocalReply {
        .event(name: event.name, fields: Dictionary(event.fields, uniquingKeysWith: { _, last in last }))
    }

    public static let tooLong = LocalReply.failed("a request is one line of at most 4096 bytes")

    private enum Key { static let ok = "ok", error = "error", clients = "clients", event = "event", status = "status" }
    /// How long a reply line may be: a full house of receivers fits many times over.
    public static let maxLine = 256 * 1024

    public var line: [UInt8] {
        var json = JSONWriter()
        switch self {
        case .done: json.add(Key.ok, true)
        case .failed(let why):
            json.add(Key.ok, false)
            json.add(Key.error, why)
        case .clients(let list):
            json.add(Key.ok, true)
            json.add(Key.clients, json: "[" + list.map(\.json.finished).joined(separator: ",") + "]")
        case .status(let report):
            json.add(Key.ok, true)
            json.add(Key.status, object: report.json)
        case .event(let name, let fields):
            json.add(Key.event, name)
            for key in fields.keys.sorted() { json.add(key, fields[key]!) }
        }
        return Array((json.finished + "\n").utf8)
    }

    public static func decode(_ line: UnsafeRawBufferPointer) throws(ProtocolError) -> LocalReply {
        let f = try Fields.parse(line, message: "reply", maxBytes: maxLine)
        if let event = try f.optionalString(Key.event, maxLength: 64) {
            var fields: [String: String] = [:]
            for member in f.value.members ?? [] where member.key != Key.event {
                fields[member.key] = member.value.stringValue ?? member.value.shortText
            }
            return .event(name: event, fields: fields)
        }
        guard try f.bool(Key.ok) else { return .failed(try f.string(Key.error, maxLength: 4096)) }
        if let report = try f.optionalObject(Key.status) { return .status(try ReceiverReport.decode(report)) }
        guard f.value[Key.clients] != nil else { return .done }
        return .clients(try f.objects(Key.clients, maxCount: 4096).map { (c) throws(ProtocolError) in try ClientSummary.decode(c) })
    }
}

/// What `msrecv status` shows: what the receiver is doing, with which host, at what volume,
/// and how its stream is (the STATUS it last sent, while it plays).
public struct ReceiverReport: Equatable, Sendable {
    public enum State: String, Sendable, CaseIterable {
        case searching, connecting, playing, waiting
        /// The host's user sent it away (`mshost kick`).
        case sentAway = "sent_away"
    }
    public var state: State
    /// The host it plays or tries, as its log names it; empty while it searches.
    public var host: String
    public var codec: String
    public var sampleRate: Int
    /// 0–100, `volumeLevels`.
    public var volume: Int
    public var muted: Bool
    public var playing: Status?
    /// What the host's player plays (its AUDIO metadata), the position where the card is.
    public var nowPlaying: PacketMetadata?

    public init(
        state: State, host: String, codec: String = "", sampleRate: Int = 0, volume: Int, muted: Bool, playing: Status? = nil,
        nowPlaying: PacketMetadata? = nil
    ) {
        self.state = state
        self.host = host
        self.codec = codec
        self.sampleRate = sampleRate
        self.volume = volume
        self.muted = muted
        self.playing = playing
        self.nowPlaying = nowPlaying
    }

    private enum Key {
        static let state = "state", host = "host", codec = "codec", sampleRate = "sample_rate", volume = "volume", muted = "muted"
        static let playing = "playing", nowPlaying = "now_playing"
    }

    var json: JSONWriter {
        var json = JSONWriter()
        json.add(Key.state, state.rawValue)
        json.add(Key.host, host)
        json.add(Key.codec, codec)
        json.add(Key.sampleRate, sampleRate)
        json.add(Key.volume, volume)
        json.add(Key.muted, muted)
        if let playing { json.add(Key.playing, object: playing.json) }
        if let nowPlaying { json.add(Key.nowPlaying, object: nowPlaying.json) }
        return json
    }

    static func decode(_ f: Fields) throws(ProtocolError) -> ReceiverReport {
        let name = try f.string(Key.state, maxLength: 16)
        guard let state = State(rawValue: name) else {
            throw f.error(Key.state, "is \"\(name)\", not \(State.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return ReceiverReport(
            state: state, host: try f.string(Key.host, maxLength: 512), codec: try f.string(Key.codec, maxLength: 16),
            sampleRate: try f.int(Key.sampleRate, in: 0...768_000), volume: try f.int(Key.volume, in: volumeLevels),
            muted: try f.bool(Key.muted), playing: try f.optionalObject(Key.playing).map { (p) throws(ProtocolError) in try Status.decode(p) },
            nowPlaying: try f.optionalObject(Key.nowPlaying).map { (p) throws(ProtocolError) in try PacketMetadata.decode(p) })
    }
}
