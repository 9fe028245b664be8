import Core

/// One thing wrong with the config file: where, which key, what was expected.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Dotted key path (`receiving.audio_output.device_id`), empty for the file itself.
    public var path: String
    public var message: String
    public var position: SourcePosition?

    public init(path: String, message: String, position: SourcePosition? = nil) {
        self.path = path
        self.message = message
        self.position = position
    }

    public var description: String {
        let location = position.map { "line \($0.line), column \($0.column): " } ?? ""
        return path.isEmpty ? location + message : location + path + ": " + message
    }
}

/// All the errors of one file, printed one per line.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var errors: [ConfigError]

    public var description: String {
        errors.map { "\(file): \($0)" }.joined(separator: "\n")
    }
}

/// Levenshtein distance, for did-you-mean suggestions on unknown keys.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.unicodeScalars)
    let b = Array(b.unicodeScalars)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}

/// The closest known key, if close enough to be a likely typo.
func suggestion(for key: String, among known: [String]) -> String? {
    let lowered = key.lowercased().replacingHyphens()
    var best: (String, Int)?
    for candidate in known {
        let d = editDistance(lowered, candidate)
        if d < (best?.1 ?? Int.max) { best = (candidate, d) }
    }
    guard let (candidate, distance) = best, distance <= max(2, candidate.count / 3) else { return nil }
    return candidate
}

extension String {
    fileprivate func replacingHyphens() -> String {
        String(map { $0 == "-" ? "_" : $0 })
    }
}
