import Core

/// The seed's service advertisement: what a host tells the network about itself. Flat in the
/// mDNS TXT records (`key=value`, the avatar left out: TXT records are small), nested as the seed
/// writes it in the JSON a connected receiver can fetch. Both use the same leaf keys.
public struct ServiceAdvertisement: Equatable, Sendable {
    public static let serviceType = "moosync-audio-share"
    public static let version = "1.0"

    public var deviceID = ""
    public var deviceName = ""
    public var userName = ""
    /// Base64 image, JSON only.
    public var avatar = ""
    public var moosyncVersion = MoosyncVersion.current
    public var audioFormat = WireCodec.opus.name
    public var sampleRate = 48_000
    public var channels = 2
    public var bitrate = 128_000
    /// The seed's "low" / "normal".
    public var latency = "low"
    public var transport = "tcp"
    public var port: UInt16 = 8080
    public var encryption = "tls"
    /// An `AuthMethod`'s name (kept as text: a host of a later version may name one this
    /// version does not know, and is listed all the same).
    public var authentication = AuthMethod.none.rawValue
    public var maxClients = 10
    public var queueControl = false
    public var chat = false
    public var metadataSync = false
    /// SHA-256 of the host's certificate, hex; empty without TLS.
    public var fingerprint = ""

    public init() {}

    private enum Key {
        static let serviceType = "service_type", version = "version"
        static let hostInfo = "host_info", deviceID = "device_id", deviceName = "device_name", userName = "user_name"
        static let avatar = "avatar", moosyncVersion = "moosync_version"
        static let streamInfo = "stream_info", audioFormat = "audio_format", sampleRate = "sample_rate", channels = "channels"
        static let bitrate = "bitrate", latency = "latency"
        static let network = "network", transport = "protocol", port = "port", encryption = "encryption"
        static let authentication = "authentication", fingerprint = "fingerprint"
        static let capabilities = "capabilities", maxClients = "max_clients", queueControl = "queue_control", chat = "chat"
        static let metadataSync = "metadata_sync"
    }

    /// The values under their keys, grouped as the seed's JSON groups them.
    private var groups: [(String, [(String, Value)])] {
        [
            (
                Key.hostInfo,
                [
                    (Key.deviceID, .text(deviceID)), (Key.deviceName, .text(deviceName)), (Key.userName, .text(userName)),
                    (Key.moosyncVersion, .text(moosyncVersion)),
                ]
            ),
            (
                Key.streamInfo,
                [
                    (Key.audioFormat, .text(audioFormat)), (Key.sampleRate, .number(sampleRate)), (Key.channels, .number(channels)),
                    (Key.bitrate, .number(bitrate)), (Key.latency, .text(latency)),
                ]
            ),
            (
                Key.network,
                [
                    (Key.transport, .text(transport)), (Key.port, .number(Int(port))), (Key.encryption, .text(encryption)),
                    (Key.authentication, .text(authentication)), (Key.fingerprint, .text(fingerprint)),
                ]
            ),
            (
                Key.capabilities,
                [
                    (Key.maxClients, .number(maxClients)), (Key.queueControl, .flag(queueControl)), (Key.chat, .flag(chat)),
                    (Key.metadataSync, .flag(metadataSync)),
                ]
            ),
        ]
    }

    private enum Value {
        case text(String)
        case number(Int)
        case flag(Bool)
        var txt: String {
            switch self {
            case .text(let s): return s
            case .number(let n): return String(n)
            case .flag(let b): return b ? "true" : "false"
            }
        }
    }

    /// `key=value` strings for the mDNS TXT record.
    public var txtRecords: [String] {
        ["\(Key.version)=\(Self.version)"] + groups.flatMap { $0.1.map { "\($0.0)=\($0.1.txt)" } }
    }

    public var json: String {
        var root = JSONWriter()
        root.add(Key.serviceType, Self.serviceType)
        root.add(Key.version, Self.version)
        for (group, values) in groups {
            var object = JSONWriter()
            for (key, value) in values {
                switch value {
                case .text(let s): object.add(key, s)
                case .number(let n): object.add(key, n)
                case .flag(let b): object.add(key, b)
                }
            }
            if group == Key.hostInfo { object.add(Key.avatar, avatar) }
            root.add(group, object: object)
        }
        return root.finished
    }

    /// H→R: the JSON, for a receiver that asked.
    public var frame: [UInt8] { FrameWriter.frame(.advertisement, json: json) }

    /// R→H: asks for the host's advertisement.
    public static let request = FrameWriter.frame(.advertisement, payload: [])

    /// Reads TXT records as found on the network: unknown keys are ignored, known ones checked.
    public static func decode(txt records: [String]) throws(ProtocolError) -> ServiceAdvertisement {
        var members: [String] = []
        for record in records.prefix(64) {
            guard let eq = record.firstIndex(of: "="), record.utf8.count <= 255 else { continue }
            let key = String(record[..<eq])
            let value = String(record[record.index(after: eq)...])
            members.append("\(JSONWriter.quoted(key)): \(JSONWriter.quoted(value))")
        }
        let text = Array(("{" + members.joined(separator: ",") + "}").utf8)
        let f = try text.withBytes { bytes throws(ProtocolError) in try Fields.parse(bytes, message: "TXT record") }
        return try read { key, kind throws(ProtocolError) in
            guard let s = try f.optionalString(key, maxLength: 255) else { return nil }
            switch kind {
            case .text: return .text(s)
            case .number:
                guard let n = Int(s), (0...Int(Int32.max)).contains(n) else { throw f.error(key, "is \"\(s)\", expected a number") }
                return .number(n)
            case .flag:
                guard s == "true" || s == "false" else { throw f.error(key, "is \"\(s)\", expected true or false") }
                return .flag(s == "true")
            }
        }
    }

    /// Reads the JSON a host serves.
    public static func decode(json payload: UnsafeRawBufferPointer) throws(ProtocolError) -> ServiceAdvertisement {
        let root = try Fields.parse(payload, message: "advertisement")
        var ad = try read { key, kind throws(ProtocolError) in
            for group in [Key.hostInfo, Key.streamInfo, Key.network, Key.capabilities] {
                guard let g = try root.optionalObject(group), g.value[key] != nil else { continue }
                switch kind {
                case .text: return try g.optionalString(key, maxLength: 255).map(Value.text)
                case .number: return try g.optionalInt(key, in: 0...Int(Int32.max)).map(Value.number)
                case .flag: return try g.optionalBool(key).map(Value.flag)
                }
            }
            return nil
        }
        ad.avatar = try root.optionalObject(Key.hostInfo)?.optionalString(Key.avatar, maxLength: 64 * 1024) ?? ""
        return ad
    }

    private enum Kind { case text, number, flag }

    /// Fills every field from `lookup` (nil: absent, the default stays).
    private static func read(_ lookup: (String, Kind) throws(ProtocolError) -> Value?) throws(ProtocolError) -> ServiceAdvertisement {
        var ad = ServiceAdvertisement()
        func text(_ key: String, _ field: inout String) throws(ProtocolError) {
            if case .text(let s)? = try lookup(key, .text) { field = s }
        }
        func number(_ key: String, _ field: inout Int) throws(ProtocolError) {
            if case .number(let n)? = try lookup(key, .number) { field = n }
        }
        func flag(_ key: String, _ field: inout Bool) throws(ProtocolError) {
            if case .flag(let b)? = try lookup(key, .flag) { field = b }
        }
        try text(Key.deviceID, &ad.deviceID)
        try text(Key.deviceName, &ad.deviceName)
        try text(Key.userName, &ad.userName)
        try text(Key.moosyncVersion, &ad.moosyncVersion)
        try text(Key.audioFormat, &ad.audioFormat)
        try number(Key.sampleRate, &ad.sampleRate)
        try number(Key.channels, &ad.channels)
        try number(Key.bitrate, &ad.bitrate)
        try text(Key.latency, &ad.latency)
        try text(Key.transport, &ad.transport)
        var port = Int(ad.port)
        try number(Key.port, &port)
        guard let p = UInt16(exactly: port), p > 0 else { throw .notAPort(port) }
        ad.port = p
        try text(Key.encryption, &ad.encryption)
        try text(Key.authentication, &ad.authentication)
        try text(Key.fingerprint, &ad.fingerprint)
        try number(Key.maxClients, &ad.maxClients)
        try flag(Key.queueControl, &ad.queueControl)
        try flag(Key.chat, &ad.chat)
        try flag(Key.metadataSync, &ad.metadataSync)
        return ad
    }
}
