import CAvahi

/// mDNS names.
public enum MDNSService {
    public static let type = "_moosync-audio._tcp"
}

/// Why discovery cannot work, in words for the log.
public enum DiscoveryError: Error, Equatable, CustomStringConvertible {
    /// libavahi-client could not be loaded (the loader's words).
    case libraryMissing(String)
    case outOfMemory
    /// What failed, and Avahi's words for its error code.
    case avahi(what: String, code: Int32, reason: String)

    /// An Avahi error code, with the library's words for it.
    static func avahi(_ code: Int32, _ what: String, _ library: Avahi) -> DiscoveryError {
        .avahi(what: what, code: code, reason: library.f.avahi_strerror!(code).map { String(cString: $0) } ?? "error \(code)")
    }

    public var description: String {
        switch self {
        case .libraryMissing(let why): "mDNS discovery needs libavahi-client3 (apt-get install libavahi-client3 avahi-daemon): \(why)"
        case .outOfMemory: "out of memory"
        case .avahi(let what, _, let reason): "\(what): \(reason)"
        }
    }
}

/// libavahi-client, loaded on first use (CAvahi says why it is not linked).
struct Avahi {
    let table: UnsafePointer<ms_avahi_library>

    static func load() throws(DiscoveryError) -> Avahi {
        guard let table = ms_avahi_library() else { throw .libraryMissing(String(cString: ms_avahi_load_error())) }
        return Avahi(table: table)
    }

    var f: ms_avahi_library { table.pointee }
}
