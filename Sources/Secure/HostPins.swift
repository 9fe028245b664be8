#if canImport(Glibc)
import Glibc
#endif
import Core

/// The hosts this receiver trusts, by certificate fingerprint (DESIGN §5): pinned on first use
/// in `STATE_DIR/known_hosts` (one `HOST FINGERPRINT` line each), or named in the config
/// (`receiving.host_fingerprint`), which then is the only one accepted.
public struct HostPins {
    public let file: String
    public let configured: Fingerprint?

    public init(directory: String, configured: Fingerprint?) {
        file = directory + "/known_hosts"
        self.configured = configured
    }

    public enum Verdict: Equatable {
        case known
        /// First contact: now pinned.
        case pinned
        case refused(String)
    }

    /// Whether `host` (as this receiver names it) may present `fingerprint`; a first one is
    /// written down.
    public func check(host: String, presented fingerprint: Fingerprint?) -> Verdict {
        guard let fingerprint else { return .refused("host \(host) presented no certificate") }
        if let configured {
            return fingerprint == configured ? .known
                : .refused("host \(host) presented certificate \(fingerprint), not the one receiving.host_fingerprint names (\(configured))")
        }
        switch pinned(host) {
        case .some(fingerprint):
            return .known
        case .some(let old):
            return .refused("""
                host \(host) presented a different certificate (\(fingerprint)) from the one pinned on first use (\(old), in \(file)). \
                If the host was reinstalled or its key replaced, delete the line for \(host) from that file, or set \
                receiving.host_fingerprint to the new one (on the host: mshost --fingerprint); otherwise something is impersonating it
                """)
        case .none:
            return append("\(host) \(fingerprint)\n") ? .pinned : .refused("cannot pin host \(host)'s certificate in \(file): \(Errno.current)")
        }
    }

    /// Whether this receiver has met `host` (a device_id) before and pinned its key.
    public func isPinned(_ host: String) -> Bool { pinned(host) != nil }

    private func pinned(_ host: String) -> Fingerprint? {
        guard case .success(let bytes) = readWholeFile(file, limit: 1 << 20) else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, fields[0] == host, let fingerprint = Fingerprint(hex: String(fields[1])) { return fingerprint }
        }
        return nil
    }

    private func append(_ line: String) -> Bool {
        let fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let bytes = Array(line.utf8)
        return bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count && fsync(fd) == 0
    }
}
