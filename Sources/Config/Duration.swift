import Core

/// Parses `"2s"`, `"150ms"`, `"1.5s"`, `"2500us"`, `"10m"`, `"2h"` into microseconds; nil when it
/// is not that form.
public func parseDuration(_ text: String) -> Microseconds? {
    let units: [(String, Double)] = [("ms", 1000), ("us", 1), ("s", 1_000_000), ("m", 60_000_000), ("h", 3_600_000_000)]
    for (suffix, scale) in units where text.hasSuffix(suffix) {
        let number = text.dropLast(suffix.count)
        guard !number.isEmpty,
            number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
            number.first != ".", number.last != ".",
            let value = Double(number)
        else { return nil }
        let us = value * scale
        guard us.isFinite, us < 1e15 else { return nil }
        return Microseconds(us.rounded())
    }
    return nil
}

/// `parseDuration` with an optional sign: `"-12ms"`, `"+40ms"`.
public func parseSignedDuration(_ text: String) -> Microseconds? {
    if text.hasPrefix("-") { return parseDuration(String(text.dropFirst())).map { -$0 } }
    if text.hasPrefix("+") { return parseDuration(String(text.dropFirst())) }
    return parseDuration(text)
}

/// Formats microseconds the way a config file would say them.
public func formatDuration(_ us: Microseconds) -> String {
    if us != 0 && us % 3_600_000_000 == 0 { return "\(us / 3_600_000_000)h" }
    if us != 0 && us % 60_000_000 == 0 { return "\(us / 60_000_000)m" }
    if us % 1_000_000 == 0 { return "\(us / 1_000_000)s" }
    if us % 1000 == 0 { return "\(us / 1000)ms" }
    return "\(us)us"
}
