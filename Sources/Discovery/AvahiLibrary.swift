import CAvahi

/// mDNS names.
public enum MDNSService {
    public static let type = "_moosync-audio._tcp"
}

/// Why discovery cannot work, in words for the log.
public struct DiscoveryError: Error, Equatable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }

    /// An Avahi error code.
    static func avahi(_ code: Int32, _ what: String, _ library: Avahi) -> DiscoveryError {
        DiscoveryError("\(what): \(library.f.avahi_strerror!(code).map { String(cString: $0) } ?? "error \(code)")")
    }
}

/// libavahi-client, loaded on first use (CAvahi says why it is not linked).
struct Avahi {
    let table: UnsafePointer<ms_avahi_library>

    static func load() -> Result<Avahi, DiscoveryError> {
        guard let table = ms_avahi_library() else {
            return .failure(
                DiscoveryError(
                    "mDNS discovery needs libavahi-client3 (apt-get install libavahi-client3 avahi-daemon): \(String(cString: ms_avahi_load_error()))"))
        }
        return .success(Avahi(table: table))
    }

    var f: ms_avahi_library { table.pointee }
}
