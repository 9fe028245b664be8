import Core

/// Why a peer's message was not accepted: the message, the key path and what was wrong, for an
/// `InvalidPacket` line a person can act on.
public enum ProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Larger than such a message may be.
    case tooLarge(message: String, bytes: Int, limit: Int)
    /// A message of a fixed size that is not that size.
    case wrongSize(message: String, bytes: Int, size: Int)
    case notJSON(message: String, JSONParseError)
    case notAnObject(message: String, found: String)
    /// One key: missing, out of its range, of the wrong type, too long, with control characters…
    case field(message: String, key: String, problem: String)
    /// A HELLO of a major protocol version this host does not speak.
    case unsupportedVersion(String)
    /// An AUTH message whose first byte is no step of the proof.
    case unknownAuthStep(UInt8?)
    /// An advertisement whose port is not a TCP port.
    case notAPort(Int)

    public var description: String {
        switch self {
        case .tooLarge(let message, let bytes, let limit): "\(message) of \(bytes) bytes (at most \(limit))"
        case .wrongSize(let message, let bytes, let size): "\(message) of \(bytes) bytes (it is \(size))"
        case .notJSON(let message, let e): "\(message) is not valid JSON: \(e)"
        case .notAnObject(let message, let found): "\(message) is \(found), not a JSON object"
        case .field(let message, let key, let problem): "\(message)'s \(key) \(problem)"
        case .unsupportedVersion(let version): "protocol_version \(version) is not supported (this host speaks \(WireProtocol.version))"
        case .unknownAuthStep(let step): "AUTH without a known step (\(step.map(String.init) ?? "empty"))"
        case .notAPort(let port): "the advertised port \(port) is not a TCP port"
        }
    }
}

/// Reads one JSON object of a peer's message. Every number is range-checked and every string and
/// list is length-checked here, before any arithmetic or storage uses it (DESIGN §5): a peer can
/// be wrong or hostile.
struct Fields {
    let message: String
    let path: String
    let value: JSONValue

    /// Parses a whole payload, which must be a JSON object.
    static func parse(_ payload: UnsafeRawBufferPointer, message: String, maxBytes: Int = WireProtocol.maxControlPayload) throws(ProtocolError) -> Fields {
        guard payload.count <= maxBytes else { throw .tooLarge(message: message, bytes: payload.count, limit: maxBytes) }
        let json: JSONValue
        do throws(JSONParseError) { json = try JSONReader.parse(payload.bindMemory(to: UInt8.self)) } catch { throw .notJSON(message: message, error) }
        guard json.members != nil else { throw .notAnObject(message: message, found: json.typeName) }
        return Fields(message: message, path: "", value: json)
    }

    private func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func error(_ key: String, _ why: String) -> ProtocolError { .field(message: message, key: name(key), problem: why) }

    private func present(_ key: String) throws(ProtocolError) -> JSONValue {
        guard let v = value[key], !v.isNull else { throw error(key, "is missing") }
        return v
    }

    func object(_ key: String) throws(ProtocolError) -> Fields {
        let v = try present(key)
        guard v.members != nil else { throw error(key, "is \(v.typeName), expected an object") }
        return Fields(message: message, path: name(key), value: v)
    }

    func optionalObject(_ key: String) throws(ProtocolError) -> Fields? {
        guard let v = value[key], !v.isNull else { return nil }
        return try object(key)
    }

    func int(_ key: String, in range: ClosedRange<Int64>) throws(ProtocolError) -> Int64 {
        let v = try present(key)
        guard let i = v.int64Value else { throw error(key, "is \(v.shortText), expected an integer") }
        guard range.contains(i) else { throw error(key, "is \(i), outside \(range.lowerBound)...\(range.upperBound)") }
        return i
    }

    func int(_ key: String, in range: ClosedRange<Int>) throws(ProtocolError) -> Int {
        Int(try int(key, in: Int64(range.lowerBound)...Int64(range.upperBound)))
    }

    func optionalInt(_ key: String, in range: ClosedRange<Int>) throws(ProtocolError) -> Int? {
        guard let v = value[key], !v.isNull else { return nil }
        return try int(key, in: range)
    }

    func double(_ key: String, in range: ClosedRange<Double>) throws(ProtocolError) -> Double {
        let v = try present(key)
        guard let d = v.doubleValue, d.isFinite else { throw error(key, "is \(v.shortText), expected a number") }
        guard range.contains(d) else { throw error(key, "is \(v.shortText), outside \(range.lowerBound)...\(range.upperBound)") }
        return d
    }

    func optionalDouble(_ key: String, in range: ClosedRange<Double>) throws(ProtocolError) -> Double? {
        guard let v = value[key], !v.isNull else { return nil }
        return try double(key, in: range)
    }

    func bool(_ key: String) throws(ProtocolError) -> Bool {
        let v = try present(key)
        guard let b = v.boolValue else { throw error(key, "is \(v.shortText), expected true or false") }
        return b
    }

    func optionalBool(_ key: String) throws(ProtocolError) -> Bool? {
        guard let v = value[key], !v.isNull else { return nil }
        return try bool(key)
    }

    func string(_ key: String, maxLength: Int) throws(ProtocolError) -> String {
        let v = try present(key)
        guard let s = v.stringValue else { throw error(key, "is \(v.shortText), expected a string") }
        guard s.utf8.count <= maxLength else { throw error(key, "is \(s.utf8.count) bytes long (at most \(maxLength))") }
        guard !hasControlCharacters(s) else { throw error(key, "has control characters") }
        return s
    }

    func optionalString(_ key: String, maxLength: Int) throws(ProtocolError) -> String? {
        guard let v = value[key], !v.isNull else { return nil }
        return try string(key, maxLength: maxLength)
    }

    func objects(_ key: String, maxCount: Int) throws(ProtocolError) -> [Fields] {
        let v = try present(key)
        guard let items = v.arrayValue else { throw error(key, "is \(v.typeName), expected a list of objects") }
        guard items.count <= maxCount else { throw error(key, "has \(items.count) entries (at most \(maxCount))") }
        var out: [Fields] = []
        for (i, item) in items.enumerated() {
            guard item.members != nil else { throw error(key, "holds \(item.shortText), expected objects") }
            out.append(Fields(message: message, path: "\(name(key))[\(i)]", value: item))
        }
        return out
    }

    func strings(_ key: String, maxCount: Int, maxLength: Int) throws(ProtocolError) -> [String] {
        let v = try present(key)
        guard let items = v.arrayValue else { throw error(key, "is \(v.typeName), expected a list of strings") }
        guard items.count <= maxCount else { throw error(key, "has \(items.count) entries (at most \(maxCount))") }
        var out: [String] = []
        for item in items {
            guard let s = item.stringValue, s.utf8.count <= maxLength, !hasControlCharacters(s) else {
                throw error(key, "holds \(item.shortText), expected strings of at most \(maxLength) bytes without control characters")
            }
            out.append(s)
        }
        return out
    }
}

/// Limits on what a peer may send, shared by the messages.
public enum MessageLimits {
    /// Ids (uuid-v4 is 36) and names a person gives a device.
    public static let idLength = 64
    public static let nameLength = 64
    public static let maxTime = WireProtocol.maxTime
    public static let times: ClosedRange<Int64> = 0...maxTime
    /// A playout buffer (`receiving.buffer_size`, `max_buffer_size`), µs: 10 ms to 10 s.
    public static let buffers: ClosedRange<Int> = 10_000...10_000_000
}

extension JSONValue {
    var isNull: Bool {
        if case .null = kind { return true }
        return false
    }

    /// An integer only when the literal is one and fits in 64 bits.
    var int64Value: Int64? { intValue.map(Int64.init) }
}
