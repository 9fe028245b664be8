import Core
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// The hosts this receiver trusts, by certificate fingerprint (DESIGN §5): pinned on first use
/// in `STATE_DIR/known_hosts` (one `HOST FINGERPRINT` line each), or named in the config
/// (`receiving.host_fingerprint`), which then is the only one accepted. A host never met is
/// checked at its TLS handshake and written down (`pin`) only once its session is welcomed.
///
/// It fails closed: a file that cannot be read (a symbolic link, over 1 MiB, a read error)
/// trusts no host, a host id that a line could not hold is refused, and the file holds at most
/// `maxHosts` hosts, however many device ids mDNS advertises.
public struct HostPins {
    public let file: String
    public let configured: Fingerprint?
    public static let maxHosts = 256
    static let maxFileSize = 1 << 20

    public init(directory: String, configured: Fingerprint?) {
        file = directory + "/known_hosts"
        self.configured = configured
    }

    public enum Verdict: Equatable {
        case known
        /// Never met: to be pinned once it is welcomed.
        case firstUse
        case refused(String)
    }

    /// Whether `host` (as this receiver names it) may present `fingerprint`. Writes nothing.
    public func check(host: String, presented fingerprint: Fingerprint?) -> Verdict {
        judge(host: host, presented: fingerprint).verdict
    }

    /// The verdict, and how many hosts the file holds (0 when it was not read).
    private func judge(host: String, presented fingerprint: Fingerprint?) -> (verdict: Verdict, held: Int) {
        guard let fingerprint else { return (.refused("host \(host.debugDescription) presented no certificate"), 0) }
        if let configured {
            return (
                fingerprint == configured
                    ? .known
                    : .refused(
                        "host \(host.debugDescription) presented certificate \(fingerprint), not the one receiving.host_fingerprint names (\(configured))"), 0
            )
        }
        guard Self.fitsALine(host) else {
            return (.refused("host id \(host.debugDescription) is empty, over 255 bytes or has spaces or control characters: not trusted"), 0)
        }
        let pins: [String: Fingerprint]
        do throws(Unreadable) { pins = try read() } catch { return (.refused(error.description), 0) }
        switch pins[host] {
        case .some(fingerprint): return (.known, pins.count)
        case .some(let old):
            return (
                .refused(
                    """
                    host \(host) presented a different certificate (\(fingerprint)) from the one pinned on first use (\(old), in \(file)). \
                    If the host was reinstalled or its key replaced, delete the line for \(host) from that file, or set \
                    receiving.host_fingerprint to the new one (on the host: mshost --fingerprint); otherwise something is impersonating it
                    """), pins.count
            )
        case .none: return (.firstUse, pins.count)
        }
    }

    public enum Pinned: Equatable {
        /// Known already, or named in the config.
        case known
        /// Written down now.
        case pinned
        case refused(String)
    }

    /// Writes down a host met for the first time, once its session was welcomed.
    public func pin(host: String, fingerprint: Fingerprint) -> Pinned {
        let (verdict, held) = judge(host: host, presented: fingerprint)
        switch verdict {
        case .known: return .known
        case .refused(let why): return .refused(why)
        case .firstUse: break
        }
        guard held < Self.maxHosts else {
            return .refused("\(file) holds \(Self.maxHosts) hosts already: host \(host) is not pinned; delete the lines of hosts that are gone")
        }
        let failed = { (e: Errno) in Pinned.refused("cannot pin host \(host)'s certificate in \(file): \(e)") }
        let fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return failed(.current) }
        defer { close(fd) }
        if let e = Array("\(host) \(fingerprint)\n".utf8).withUnsafeBytes({ writeAll(fd, $0) }) { return failed(e) }
        guard fsync(fd) == 0 else { return failed(.current) }
        return .pinned
    }

    /// Whether this receiver has met `host` (a device_id) before and pinned its key.
    public func isPinned(_ host: String) -> Bool { pinnedKey(host) != nil }

    /// The key pinned for `host`, if any (or the configured one, which is the only one).
    public func pinnedKey(_ host: String) -> Fingerprint? {
        if let configured { return configured }
        return (try? read())?[host]
    }

    /// Non-empty, at most 255 bytes, and no spaces or control characters: a host id that
    /// cannot break a line or add one.
    static func fitsALine(_ host: String) -> Bool {
        !host.isEmpty && host.utf8.count <= 255
            && !host.unicodeScalars.contains {
                $0.properties.isWhitespace || $0.properties.generalCategory == .control || $0.properties.generalCategory == .format
            }
    }

    /// Why the file cannot be trusted: it cannot be read.
    private struct Unreadable: Error, CustomStringConvertible {
        let file: String
        let errno: Errno
        var description: String {
            "cannot read \(file) (\(errno)): no host is trusted until it can be read; make it a plain file under 1 MiB that msrecv can read, or remove it"
        }
    }

    /// The pins, or why the file cannot be trusted. No file: none yet.
    private func read() throws(Unreadable) -> [String: Fingerprint] {
        let bytes: [UInt8]
        do throws(Errno) { bytes = try readWholeFile(file, limit: Self.maxFileSize, followingLinks: false) } catch {
            guard error == Errno(ENOENT) else { throw Unreadable(file: file, errno: error) }
            return [:]
        }
        var pins: [String: Fingerprint] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, let fingerprint = Fingerprint(hex: String(fields[1])), pins[String(fields[0])] == nil {
                pins[String(fields[0])] = fingerprint
            }
        }
        return pins
    }
}
