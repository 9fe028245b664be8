import Core
import Discovery
import ProtocolMessages

/// A Moosync host found over mDNS: where it listens, and its advertisement as its TXT records
/// give it (nil, with the reason, when they are not a Moosync advertisement).
public struct DiscoveredHost: Equatable, Sendable {
    public var service: DiscoveredService
    public var advertisement: ServiceAdvertisement?
    public var problem: String?

    init(_ service: DiscoveredService) {
        self.service = service
        switch ServiceAdvertisement.decode(txt: service.txt) {
        case .success(let ad): advertisement = ad
        case .failure(let e): problem = e.description
        }
    }

    /// Its device_id, or (without one) its mDNS name: what its key is pinned under.
    public var id: String { advertisement.map(\.deviceID).flatMap { $0.isEmpty ? nil : $0 } ?? service.name }
    public var deviceName: String { advertisement.map(\.deviceName).flatMap { $0.isEmpty ? nil : $0 } ?? service.name }
    public var endpoint: String { service.address.contains(":") ? "[\(service.address)]:\(service.port)" : "\(service.address):\(service.port)" }

    /// One line for the log and `msrecv discover`.
    public var summary: String {
        var line = "\"\(service.name)\" at \(endpoint)"
        guard let ad = advertisement else { return line + ": not a Moosync advertisement (\(problem ?? "?"))" }
        line += ": device_id \(ad.deviceID.isEmpty ? "(none)" : ad.deviceID)"
        if ad.deviceName != service.name { line += ", device_name \"\(ad.deviceName)\"" }
        if !ad.userName.isEmpty { line += ", shared by \(ad.userName)" }
        line += ", \(ad.audioFormat) \(ad.sampleRate) Hz \(ad.channels) ch \(ad.bitrate / 1000) kbit/s, \(ad.encryption), auth \(ad.authentication), up to \(ad.maxClients) receivers"
        if !ad.fingerprint.isEmpty { line += ", certificate \(ad.fingerprint)" }
        return line
    }
}

/// The hosts browsing has found, by mDNS name, and which one a receiver plays.
public struct HostDirectory: Equatable, Sendable {
    public private(set) var hosts: [String: DiscoveredHost] = [:]

    public init() {}

    /// What a discovery event changes; whether it changed anything.
    @discardableResult
    public mutating func apply(_ event: DiscoveryEvent) -> Bool {
        switch event {
        case .found(let service):
            let host = DiscoveredHost(service)
            // A host seen over IPv4 and IPv6 is one host: the IPv4 sighting is kept (no scope to
            // carry), unless the host moved to another port.
            if let old = hosts[service.name], !old.service.address.contains(":"), service.address.contains(":"), old.service.port == service.port {
                return false
            }
            guard hosts[service.name] != host else { return false }
            hosts[service.name] = host
            return true
        case .lost(let name):
            return hosts.removeValue(forKey: name) != nil
        case .waitingForDaemon:
            // What the daemon knew went with it: browsing starts afresh once it is back.
            defer { hosts = [:] }
            return !hosts.isEmpty
        case .published, .renamed, .allForNow, .daemonBack, .failed:
            return false
        }
    }

    public enum Choice: Equatable, Sendable {
        case host(DiscoveredHost)
        /// None that fits (yet).
        case none
        /// More than one fits: the user must say which.
        case several([DiscoveredHost])
    }

    /// The host named by `id` (device_id), else by `name` (device_name or mDNS name), else the
    /// only one there is. Hosts whose TXT records are not a Moosync advertisement never fit.
    public func choose(id: String?, name: String?) -> Choice {
        let candidates = hosts.values.filter { host in
            guard host.advertisement != nil else { return false }
            if let id { return host.id == id }
            if let name { return host.deviceName == name || host.service.name == name }
            return true
        }.sorted { $0.service.name < $1.service.name }
        switch candidates.count {
        case 0: return .none
        case 1: return .host(candidates[0])
        default: return .several(candidates)
        }
    }

    /// Hosts in name order, for listing.
    public var sorted: [DiscoveredHost] { hosts.values.sorted { $0.service.name < $1.service.name } }
}
