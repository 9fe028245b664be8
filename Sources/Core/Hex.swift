/// Bytes as lowercase hex digits, the pairs joined by `separator` ("" in the protocol's JSON,
/// ":" in a certificate fingerprint as openssl prints it).
public func hex(_ bytes: [UInt8], separator: String = "") -> String {
    let digits = Array("0123456789abcdef".utf8)
    let between = Array(separator.utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * (2 + between.count))
    for (i, b) in bytes.enumerated() {
        if i > 0 { out += between }
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// Pairs of hex digits, either case and nothing else, as bytes; nil when the text is not that.
public func unhex(_ text: String) -> [UInt8]? {
    let utf8 = Array(text.utf8)
    guard utf8.count % 2 == 0 else { return nil }
    func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
    var out: [UInt8] = []
    var i = 0
    while i < utf8.count {
        guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
        out.append(hi << 4 | lo)
        i += 2
    }
    return out
}
