/// Standard base64 (RFC 4648, with padding): the seed's avatar in JSON.
public func base64(_ bytes: [UInt8]) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    var out: [UInt8] = []
    out.reserveCapacity((bytes.count + 2) / 3 * 4)
    var i = 0
    while i < bytes.count {
        let n = min(3, bytes.count - i)
        let chunk = UInt32(bytes[i]) << 16 | (n > 1 ? UInt32(bytes[i + 1]) << 8 : 0) | (n > 2 ? UInt32(bytes[i + 2]) : 0)
        for k in 0..<4 {
            out.append(k <= n ? alphabet[Int(chunk >> UInt32(18 - 6 * k) & 63)] : UInt8(ascii: "="))
        }
        i += 3
    }
    return String(decoding: out, as: UTF8.self)
}
