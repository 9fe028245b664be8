import Core

/// Walks a parsed JSON document against what we expect, collecting every error rather than
/// stopping at the first, so `--check` can list them all at once.
struct ConfigChecker {
    private(set) var errors: [ConfigError] = []

    mutating func fail(_ path: String, _ message: String, at value: JSONValue?) {
        errors.append(ConfigError(path: path, message: message, position: value?.position))
    }

    /// The keys read of each object, by its path: every other key it has is unknown. The keys
    /// are written once, where they are read.
    private var keysRead: [String: Set<String>] = [:]
    /// The objects opened, to look for unknown keys in once everything is read.
    private var opened: [(path: String, value: JSONValue)] = []

    /// The object at `path`; nil when absent or not an object (the latter is reported).
    mutating func object(_ value: JSONValue?, path: String) -> JSONValue? {
        guard let value else { return nil }
        guard value.members != nil else {
            fail(path, "expected an object, got \(value.typeName)", at: value)
            return nil
        }
        opened.append((path, value))
        return value
    }

    /// `parent[key]`, the key noted as one this build reads.
    mutating func value(_ parent: JSONValue?, _ key: String, path: String) -> JSONValue? {
        keysRead[path, default: []].insert(key)
        return parent?[key]
    }

    /// Reports every key of an opened object that nothing read, with the likeliest one meant,
    /// and puts all the errors in the file's order.
    mutating func finish() {
        for (path, object) in opened {
            let known = keysRead[path, default: []].sorted()
            for member in object.members ?? [] where !known.contains(member.key) {
                var message = "unknown key"
                if let guess = suggestion(for: member.key, among: known) { message += "; did you mean \"\(guess)\"?" }
                errors.append(ConfigError(path: path.isEmpty ? member.key : path + "." + member.key, message: message, position: member.keyPosition))
            }
        }
        let line = { (e: ConfigError) in e.position?.line ?? Int.max }
        let column = { (e: ConfigError) in e.position?.column ?? Int.max }
        errors = errors.enumerated().sorted {
            (line($0.element), column($0.element), $0.offset) < (line($1.element), column($1.element), $1.offset)
        }.map(\.element)
    }

    /// A key this build reads but cannot act on yet: its default value is accepted (it is what
    /// the build does), any other is refused, saying why, rather than silently ignored.
    mutating func notYet(_ parent: JSONValue?, _ key: String, path: String, unless isDefault: (JSONValue) -> Bool, _ why: String) {
        guard let value = value(parent, key, path: path), !isDefault(value) else { return }
        fail(path + "." + key, "not supported yet: \(why)", at: value)
    }

    mutating func bool(_ parent: JSONValue?, _ key: String, path: String, default fallback: Bool) -> Bool {
        guard let value = value(parent, key, path: path) else { return fallback }
        guard let b = value.boolValue else {
            fail(path + "." + key, "expected true or false, got \(value.shortText)", at: value)
            return fallback
        }
        return b
    }

    mutating func string(_ parent: JSONValue?, _ key: String, path: String, default fallback: String, allowEmpty: Bool = false) -> String {
        guard let value = value(parent, key, path: path) else { return fallback }
        guard let s = value.stringValue else {
            fail(path + "." + key, "expected a string, got \(value.typeName) \(value.shortText)", at: value)
            return fallback
        }
        if s.isEmpty && !allowEmpty {
            fail(path + "." + key, "must not be empty", at: value)
            return fallback
        }
        return s
    }

    mutating func integer(_ parent: JSONValue?, _ key: String, path: String, default fallback: Int, range: ClosedRange<Int>) -> Int {
        guard let value = value(parent, key, path: path) else { return fallback }
        guard let i = value.intValue, range.contains(i) else {
            fail(path + "." + key, "expected a whole number from \(range.lowerBound) to \(range.upperBound), got \(value.shortText)", at: value)
            return fallback
        }
        return i
    }

    mutating func number(_ parent: JSONValue?, _ key: String, path: String, default fallback: Double, range: ClosedRange<Double>) -> Double {
        guard let value = value(parent, key, path: path) else { return fallback }
        guard let d = value.doubleValue, range.contains(d) else {
            fail(path + "." + key, "expected a number from \(range.lowerBound) to \(range.upperBound), got \(value.shortText)", at: value)
            return fallback
        }
        return d
    }

    mutating func choice(_ parent: JSONValue?, _ key: String, path: String, default fallback: String, among options: [String]) -> String {
        guard let value = value(parent, key, path: path) else { return fallback }
        guard let s = value.stringValue, options.contains(s) else {
            let list = options.map { "\"\($0)\"" }.joined(separator: " or ")
            fail(path + "." + key, "expected \(list), got \(value.shortText)", at: value)
            return fallback
        }
        return s
    }

    mutating func duration(_ parent: JSONValue?, _ key: String, path: String, default fallback: Microseconds, range: ClosedRange<Microseconds>) -> Microseconds
    {
        guard let value = value(parent, key, path: path) else { return fallback }
        guard let text = value.stringValue, let us = range.lowerBound < 0 ? parseSignedDuration(text) : parseDuration(text) else {
            fail(
                path + "." + key, "expected a duration like \(range.lowerBound < 0 ? "\"-12ms\" or \"40ms\"" : "\"2s\" or \"150ms\""), got \(value.shortText)",
                at: value)
            return fallback
        }
        guard range.contains(us) else {
            fail(
                path + "." + key, "expected a duration from \(formatDuration(range.lowerBound)) to \(formatDuration(range.upperBound)), got \(value.shortText)",
                at: value)
            return fallback
        }
        return us
    }

    mutating func stringList(_ parent: JSONValue?, _ key: String, path: String, default fallback: [String], among options: [String]) -> [String] {
        guard let value = value(parent, key, path: path) else { return fallback }
        guard let items = value.arrayValue else {
            fail(path + "." + key, "expected an array of strings, got \(value.typeName)", at: value)
            return fallback
        }
        var result: [String] = []
        for (i, item) in items.enumerated() {
            guard let s = item.stringValue, options.contains(s) else {
                let list = options.map { "\"\($0)\"" }.joined(separator: ", ")
                fail("\(path).\(key)[\(i)]", "expected one of \(list), got \(item.shortText)", at: item)
                continue
            }
            result.append(s)
        }
        if items.isEmpty { fail(path + "." + key, "must list at least one format", at: value) }
        return result.isEmpty ? fallback : result
    }
}
