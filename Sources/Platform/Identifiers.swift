#if canImport(Glibc)
import Glibc
#endif

/// A random UUID v4 string (client, session and device ids, as the seed's `uuid-v4`).
public func makeUUID() -> String {
    var rng = SystemRandomNumberGenerator()
    var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
    bytes[6] = bytes[6] & 0x0F | 0x40
    bytes[8] = bytes[8] & 0x3F | 0x80
    let hex = bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }
    return [hex[0..<4], hex[4..<6], hex[6..<8], hex[8..<10], hex[10..<16]].map { $0.joined() }.joined(separator: "-")
}

/// The UUID kept in `directory/file`, made there on first use: an id that outlives restarts (a
/// host's device_id, by which receivers pick it and pin its key).
public func persistentUUID(directory: String, file: String) throws(Errno) -> String {
    let path = directory + "/" + file
    if let bytes = try? readWholeFile(path, limit: 64) {
        let text = String(decoding: bytes, as: UTF8.self).trimmingNewline
        if text.utf8.count == 36 && text.allSatisfy({ $0.isHexDigit || $0 == "-" }) { return text }
    }
    try makeDirectory(directory, mode: 0o755)
    let id = makeUUID()
    // An unreadable or damaged file is replaced, never left half-written.
    _ = unlink(path + ".new")
    try writeNewFile(path + ".new", Array((id + "\n").utf8), mode: 0o644)
    guard rename(path + ".new", path) == 0 else { throw .current }
    return id
}

extension String {
    fileprivate var trimmingNewline: String { hasSuffix("\n") ? String(dropLast()) : self }
}
