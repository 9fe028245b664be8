// A small JSON reader that keeps the line and column of every value and key, so a config error
// can say exactly where it is (DESIGN §4: no Foundation on the speaker, parsers fuzzed).

public struct SourcePosition: Equatable, Sendable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public var description: String { "line \(line), column \(column)" }
}

public struct JSONMember: Sendable {
    public var key: String
    public var keyPosition: SourcePosition
    public var value: JSONValue
}

public struct JSONValue: Sendable {
    public indirect enum Kind: Sendable {
        case null
        case bool(Bool)
        /// The literal text is kept so integers stay exact and messages quote what was written.
        case number(Double, literal: String)
        case string(String)
        case array([JSONValue])
        /// Members in document order; duplicates are reported by the parser.
        case object([JSONMember])
    }

    public var kind: Kind
    public var position: SourcePosition

    public init(_ kind: Kind, at position: SourcePosition = SourcePosition(line: 1, column: 1)) {
        self.kind = kind
        self.position = position
    }

    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = kind else { return nil }
        return members.first { $0.key == key }?.value
    }

    public var stringValue: String? {
        if case .string(let s) = kind { return s }
        return nil
    }

    public var doubleValue: Double? {
        if case .number(let d, _) = kind { return d }
        return nil
    }

    /// An integer only when the literal is one (no fraction or exponent) and fits.
    public var intValue: Int? {
        guard case .number(_, let literal) = kind,
            !literal.contains(where: { $0 == "." || $0 == "e" || $0 == "E" })
        else { return nil }
        return Int(literal)
    }

    public var boolValue: Bool? {
        if case .bool(let b) = kind { return b }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = kind { return a }
        return nil
    }

    public var members: [JSONMember]? {
        if case .object(let m) = kind { return m }
        return nil
    }

    /// What a value is, for "expected X, got Y" messages.
    public var typeName: String {
        switch kind {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// The value as a person would write it, short, for messages.
    public var shortText: String {
        switch kind {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(_, let literal): return literal
        case .string(let s): return JSONWriter.quoted(s.count > 40 ? String(s.prefix(40)) + "…" : s)
        case .array: return "[...]"
        case .object: return "{...}"
        }
    }
}

public struct JSONParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public var position: SourcePosition

    public var description: String { "invalid JSON at \(position): \(message)" }
}

public enum JSONReader {
    /// Nesting beyond this is refused rather than recursed into (a fuzzed or hostile document
    /// must not exhaust the stack).
    public static let maxDepth = 64

    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue { try parse(Array(text.utf8)) }

    public static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        try bytes.withBytes { raw throws(JSONParseError) in try parse(raw.bindMemory(to: UInt8.self)) }
    }

    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> JSONValue {
        var parser = Parser(bytes: bytes)
        do {
            parser.skipWhitespace()
            let value = try parser.parseValue(depth: 0)
            parser.skipWhitespace()
            if parser.index < bytes.count {
                throw parser.error("unexpected \(parser.describeCurrent()) after the end of the document")
            }
            return value
        } catch let error as JSONParseError {
            throw error
        } catch {
            preconditionFailure("JSON parser throws only JSONParseError")
        }
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0
        var line = 1
        var lineStart = 0
        /// The last column worked out, and at which index: positions are asked for in order, so
        /// each is counted on from the one before. Counted from the line's start every time, a
        /// 16 KB document on one line cost some 10⁸ steps.
        var counted = (index: 0, column: 1)

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        /// Where `index` is, counted on from the last position asked for. Columns count
        /// characters, not bytes: UTF-8 continuation bytes are skipped.
        mutating func here() -> SourcePosition {
            if counted.index < lineStart || counted.index > index { counted = (lineStart, 1) }
            counted = (index, Self.column(of: index, from: counted, in: bytes))
            return SourcePosition(line: line, column: counted.column)
        }

        /// Where `index` is, counted from the line's start: for an error, once.
        var position: SourcePosition { SourcePosition(line: line, column: Self.column(of: index, from: (lineStart, 1), in: bytes)) }

        private static func column(of index: Int, from known: (index: Int, column: Int), in bytes: UnsafeBufferPointer<UInt8>) -> Int {
            var column = known.column
            for i in known.index..<index where bytes[i] & 0xC0 != 0x80 { column += 1 }
            return column
        }

        func error(_ message: String) -> JSONParseError { JSONParseError(message: message, position: position) }

        func describeCurrent() -> String {
            guard index < bytes.count else { return "end of input" }
            let b = bytes[index]
            if b >= 0x20 && b < 0x7F { return "character '\(Character(Unicode.Scalar(b)))'" }
            return "byte 0x\(String(b, radix: 16))"
        }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0D: index += 1
                case 0x0A:
                    index += 1
                    line += 1
                    lineStart = index
                default: return
                }
            }
        }

        mutating func parseValue(depth: Int) throws -> JSONValue {
            guard depth < JSONReader.maxDepth else { throw error("nesting deeper than \(JSONReader.maxDepth) levels") }
            guard index < bytes.count else { throw error("unexpected end of input, expected a value") }
            let start = here()
            switch bytes[index] {
            case UInt8(ascii: "{"): return JSONValue(try parseObject(depth: depth), at: start)
            case UInt8(ascii: "["): return JSONValue(try parseArray(depth: depth), at: start)
            case UInt8(ascii: "\""): return JSONValue(.string(try parseString()), at: start)
            case UInt8(ascii: "t"):
                try expectWord("true")
                return JSONValue(.bool(true), at: start)
            case UInt8(ascii: "f"):
                try expectWord("false")
                return JSONValue(.bool(false), at: start)
            case UInt8(ascii: "n"):
                try expectWord("null")
                return JSONValue(.null, at: start)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return JSONValue(try parseNumber(), at: start)
            default: throw error("unexpected \(describeCurrent()), expected a value")
            }
        }

        mutating func expectWord(_ word: StaticString) throws {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count else { throw error("unexpected end of input") }
            for i in 0..<count where bytes[index + i] != word.utf8Start[i] {
                throw error("unexpected \(describeCurrent()), expected a value")
            }
            index += count
        }

        mutating func parseObject(depth: Int) throws -> JSONValue.Kind {
            index += 1
            var members: [JSONMember] = []
            var keys = Set<String>()
            skipWhitespace()
            if index < bytes.count && bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                    throw error("unexpected \(describeCurrent()), expected a key in double quotes")
                }
                let keyPosition = here()
                let key = try parseString()
                guard keys.insert(key).inserted else {
                    throw JSONParseError(message: "duplicate key \"\(key)\"", position: keyPosition)
                }
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                    throw error("unexpected \(describeCurrent()), expected ':' after key \"\(key)\"")
                }
                index += 1
                skipWhitespace()
                let value = try parseValue(depth: depth + 1)
                members.append(JSONMember(key: key, keyPosition: keyPosition, value: value))
                skipWhitespace()
                guard index < bytes.count else { throw error("unexpected end of input, expected ',' or '}'") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                if bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    return .object(members)
                }
                throw error("unexpected \(describeCurrent()), expected ',' or '}'")
            }
        }

        mutating func parseArray(depth: Int) throws -> JSONValue.Kind {
            index += 1
            var elements: [JSONValue] = []
            skipWhitespace()
            if index < bytes.count && bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            while true {
                skipWhitespace()
                elements.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                guard index < bytes.count else { throw error("unexpected end of input, expected ',' or ']'") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                if bytes[index] == UInt8(ascii: "]") {
                    index += 1
                    return .array(elements)
                }
                throw error("unexpected \(describeCurrent()), expected ',' or ']'")
            }
        }

        mutating func parseNumber() throws -> JSONValue.Kind {
            let start = index
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            func digits(_ p: inout Parser) -> Int {
                let s = p.index
                while p.index < p.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p.bytes[p.index]) { p.index += 1 }
                return p.index - s
            }
            let intStart = index
            guard digits(&self) > 0 else { throw error("invalid number: expected a digit") }
            if bytes[intStart] == UInt8(ascii: "0") && index - intStart > 1 {
                throw JSONParseError(message: "invalid number: leading zeros are not allowed", position: position)
            }
            if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
                index += 1
                guard digits(&self) > 0 else { throw error("invalid number: expected a digit after '.'") }
            }
            if index < bytes.count && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
                index += 1
                if index < bytes.count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) { index += 1 }
                guard digits(&self) > 0 else { throw error("invalid number: expected a digit in the exponent") }
            }
            let literal = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            guard let value = Double(literal), value.isFinite else { throw error("number \(literal) is out of range") }
            return .number(value, literal: literal)
        }

        mutating func parseString() throws -> String {
            index += 1
            var scalars = String.UnicodeScalarView()
            var runStart = index
            func flushRun(_ p: Parser, to end: Int, into s: inout String.UnicodeScalarView) throws {
                guard end > runStart else { return }
                let run = UnsafeBufferPointer(rebasing: p.bytes[runStart..<end])
                guard let text = String(validating: run, as: UTF8.self) else {
                    throw p.error("string is not valid UTF-8")
                }
                s.append(contentsOf: text.unicodeScalars)
            }
            while true {
                guard index < bytes.count else { throw error("unterminated string") }
                let b = bytes[index]
                if b == UInt8(ascii: "\"") {
                    try flushRun(self, to: index, into: &scalars)
                    index += 1
                    return String(scalars)
                }
                if b < 0x20 {
                    throw error(b == 0x0A ? "unterminated string (line break inside quotes)" : "control character in string")
                }
                if b == UInt8(ascii: "\\") {
                    try flushRun(self, to: index, into: &scalars)
                    index += 1
                    guard index < bytes.count else { throw error("unterminated string") }
                    let e = bytes[index]
                    index += 1
                    switch e {
                    case UInt8(ascii: "\""): scalars.append("\"")
                    case UInt8(ascii: "\\"): scalars.append("\\")
                    case UInt8(ascii: "/"): scalars.append("/")
                    case UInt8(ascii: "b"): scalars.append("\u{08}")
                    case UInt8(ascii: "f"): scalars.append("\u{0C}")
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "u"): scalars.append(try parseUnicodeEscape())
                    default:
                        index -= 1
                        throw error("invalid escape '\\\(Character(Unicode.Scalar(e)))' in string")
                    }
                    runStart = index
                    continue
                }
                index += 1
            }
        }

        mutating func hex4() throws -> UInt32 {
            guard index + 4 <= bytes.count else { throw error("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[index]
                let d: UInt32
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
                default: throw error("invalid hex digit in \\u escape")
                }
                v = v << 4 | d
                index += 1
            }
            return v
        }

        mutating func parseUnicodeEscape() throws -> Unicode.Scalar {
            let high = try hex4()
            if (0xD800..<0xDC00).contains(high) {
                guard index + 6 <= bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                    throw error("unpaired surrogate in \\u escape")
                }
                index += 2
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in \\u escape") }
                return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))!
            }
            guard let scalar = Unicode.Scalar(high) else { throw error("unpaired surrogate in \\u escape") }
            return scalar
        }
    }
}

/// Builds compact JSON text for the protocol's control frames.
public struct JSONWriter {
    public private(set) var text = "{"
    private var needsComma = false

    public init() {}

    public static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where isControl(scalar):
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private mutating func key(_ k: String) {
        if needsComma { text += "," }
        needsComma = true
        text += JSONWriter.quoted(k) + ":"
    }

    public mutating func add(_ k: String, _ v: String) {
        key(k)
        text += JSONWriter.quoted(v)
    }
    public mutating func add(_ k: String, _ v: Int) {
        key(k)
        text += String(v)
    }
    public mutating func add(_ k: String, _ v: UInt64) {
        key(k)
        text += String(v)
    }
    public mutating func add(_ k: String, _ v: Double) {
        key(k)
        text += v.isFinite ? String(v) : "null"
    }
    public mutating func add(_ k: String, _ v: Bool) {
        key(k)
        text += v ? "true" : "false"
    }
    public mutating func add(_ k: String, strings: [String]) {
        key(k)
        text += "[" + strings.map(JSONWriter.quoted).joined(separator: ",") + "]"
    }
    public mutating func add(_ k: String, object: JSONWriter) {
        key(k)
        text += object.finished
    }
    /// A value already written as JSON (one writer's `finished`).
    public mutating func add(_ k: String, json: String) {
        key(k)
        text += json
    }

    public var finished: String { text + "}" }
}
