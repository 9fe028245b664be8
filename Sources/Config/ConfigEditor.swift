import Core

/// Changes one key of a config file's text and leaves the rest as it was written: what
/// `mshost passwd` does to `sharing.password_verifier` (and to a plaintext `sharing.password`,
/// which it empties).
public enum ConfigEditor {
    /// `text` with `sharing.password_verifier` set to `verifier` and `sharing.password` emptied,
    /// or why not (not JSON, or no `sharing` object to put it in).
    public static func settingPasswordVerifier(_ verifier: String, in text: String) throws(ConfigError) -> String {
        let bytes = Array(text.utf8)
        let root: JSONValue
        do throws(JSONParseError) { root = try JSONReader.parse(bytes) } catch {
            throw ConfigError(path: "", message: "invalid JSON: \(error.message)", position: error.position)
        }
        guard let sharing = root["sharing"], case .object(let members) = sharing.kind else {
            throw ConfigError(path: "sharing", message: "no \"sharing\" object to put the verifier in")
        }
        var edits: [(range: Range<Int>, replacement: String)] = []
        let quoted = JSONWriter.quoted(verifier)
        if let existing = members.first(where: { $0.key == "password_verifier" }) {
            let start = offset(of: existing.value.position, in: bytes)
            edits.append((start..<endOfValue(from: start, in: bytes), quoted))
        } else {
            // Right after the object's opening brace, on a line of its own.
            let brace = offset(of: sharing.position, in: bytes) + 1
            edits.append((brace..<brace, "\n    \"password_verifier\": \(quoted)" + (members.isEmpty ? "\n" : ",")))
        }
        if let plaintext = members.first(where: { $0.key == "password" }) {
            let start = offset(of: plaintext.value.position, in: bytes)
            edits.append((start..<endOfValue(from: start, in: bytes), "\"\""))
        }
        var out = bytes
        for edit in edits.sorted(by: { $0.range.lowerBound > $1.range.lowerBound }) {
            out.replaceSubrange(edit.range, with: Array(edit.replacement.utf8))
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The byte offset of a line and column (columns count characters, as the reader does).
    private static func offset(of position: SourcePosition, in bytes: [UInt8]) -> Int {
        var line = 1
        var i = 0
        while line < position.line, i < bytes.count {
            if bytes[i] == UInt8(ascii: "\n") { line += 1 }
            i += 1
        }
        var column = 1
        while column < position.column, i < bytes.count {
            i += 1
            if i < bytes.count, bytes[i] & 0xC0 != 0x80 { column += 1 }
        }
        return i
    }

    /// Where the value starting at `start` ends: after its closing quote for a string, else at
    /// the next comma, brace or bracket.
    private static func endOfValue(from start: Int, in bytes: [UInt8]) -> Int {
        var i = start
        if bytes[i] == UInt8(ascii: "\"") {
            i += 1
            while i < bytes.count && bytes[i] != UInt8(ascii: "\"") { i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1 }
            return min(i + 1, bytes.count)
        }
        while i < bytes.count && ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]")].contains(bytes[i]) { i += 1 }
        return i
    }
}
