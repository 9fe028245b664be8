import Core
import Discovery
import ProtocolMessages
import Secure

/// A Moosync host found over mDNS: where it listens (every sighting's address, IPv4 first), and
/// its advertisement as its TXT records give it (nil, with the reason, when they are not a
/// Moosync advertisement).
public struct DiscoveredHost: Equatable, Sendable {
    /// The sighting whose address is tried first (and whose TXT records are read).
    public var service: DiscoveredService
    public var endpoints: [Endpoint]
    public var advertisement: ServiceAdvertisement?
    public var problem: String?

    public struct Endpoint: Equatable, Sendable, CustomStringConvertible {
        public var address: String
        public var port: UInt16

        public var description: String { address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)" }
    }

    /// `sightings`: of one name, not empty.
    init(_ sightings: [DiscoveredService]) {
        // IPv4 first (no scope to carry), then by interface: the same order every time.
        let ordered = sightings.sorted { ($0.sighting.proto, $0.sighting.interface, $0.address) < ($1.sighting.proto, $1.sighting.interface, $1.address) }
        service = ordered[0]
        var endpoints: [Endpoint] = []
        for s in ordered where !endpoints.contains(Endpoint(address: s.address, port: s.port)) { endpoints.append(Endpoint(address: s.address, port: s.port)) }
        self.endpoints = endpoints
        do throws(ProtocolError) { advertisement = try ServiceAdvertisement.decode(txt: service.txt) } catch { problem = error.description }
    }

    /// Whether its advertisement names the key pinned for its device_id, if one is.
    public func advertisesPinnedKey(_ pinned: (String) -> Fingerprint?) -> Bool {
        guard let key = pinned(id) else { return true }
        return advertisement.flatMap { Fingerprint(hex: $0.fingerprint) } == key
    }

    /// Its device_id, or (without one) its mDNS name: what its key is pinned under.
    public var id: String { advertisement.map(\.deviceID).flatMap { $0.isEmpty ? nil : $0 } ?? service.name }
    public var deviceName: String { advertisement.map(\.deviceName).flatMap { $0.isEmpty ? nil : $0 } ?? service.name }
    public var endpoint: String { endpoints[0].description }

    /// Its mDNS name as it may be printed: anyone on the network chooses it, and a newline in it
    /// would forge a line of the log or of `msrecv discover`.
    public var shownName: String { printable(service.name) }

    /// One line for the log and `msrecv discover`.
    public var summary: String {
        var line = "\"\(shownName)\" at \(endpoints.map(\.description).joined(separator: ", "))"
        guard let ad = advertisement else { return line + ": not a Moosync advertisement (\(problem ?? "?"))" }
        line += ": device_id \(ad.deviceID.isEmpty ? "(none)" : ad.deviceID)"
        if ad.deviceName != service.name { line += ", device_name \"\(ad.deviceName)\"" }
        if !ad.userName.isEmpty { line += ", shared by \(ad.userName)" }
        line +=
            ", \(ad.audioFormat) \(ad.sampleRate) Hz \(ad.channels) ch \(ad.bitrate / 1000) kbit/s, \(ad.encryption), auth \(ad.authentication), up "
            + "to \(ad.maxClients) receivers"
        if !ad.fingerprint.isEmpty { line += ", certificate \(ad.fingerprint)" }
        return line
    }
}

/// The hosts browsing has found, by mDNS name, and which one a receiver plays.
public struct HostDirectory: Equatable, Sendable {
    private var sightings: [String: [Sighting: DiscoveredService]] = [:]
    public private(set) var hosts: [String: DiscoveredHost] = [:]

    public init() {}

    /// What a discovery event changes; whether it changed anything.
    @discardableResult
    public mutating func apply(_ event: DiscoveryEvent) -> Bool {
        switch event {
        case .found(let service):
            guard sightings[service.name]?[service.sighting] != service else { return false }
            sightings[service.name, default: [:]][service.sighting] = service
            return update(service.name)
        case .lost(let sighting):
            guard sightings[sighting.name]?.removeValue(forKey: sighting) != nil else { return false }
            return update(sighting.name)
        case .waitingForDaemon:
            // What the daemon knew went with it: browsing starts afresh once it is back.
            defer {
                sightings = [:]
                hosts = [:]
            }
            return !hosts.isEmpty
        case .published, .renamed, .allForNow, .daemonBack, .failed:
            return false
        }
    }

    private mutating func update(_ name: String) -> Bool {
        let old = hosts[name]
        if let seen = sightings[name], !seen.isEmpty {
            hosts[name] = DiscoveredHost(Array(seen.values))
        } else {
            sightings[name] = nil
            hosts[name] = nil
        }
        return hosts[name] != old
    }

    public enum Choice: Equatable, Sendable {
        case host(DiscoveredHost)
        /// None that fits (yet).
        case none
        /// More than one fits: the user must say which.
        case several([DiscoveredHost])
    }

    /// The host named by `id` (device_id), else by `name` (device_name or mDNS name), else the
    /// only one there is; among several, `playing` (the device_id of the host played last) is
    /// kept. Hosts whose TXT records are not a Moosync advertisement never fit, nor do those in
    /// `excluding` (their users sent this receiver away). One device_id
    /// under two names (a name's record lingering after a rename) is one host.
    ///
    /// mDNS is not authenticated: an advertisement of a device_id this receiver has pinned
    /// (`pinned`) counts only if it names the pinned key. Before, a second advertisement of a
    /// real device_id under a name that sorts first was always dialled first, failed, and was
    /// dialled again, for ever.
    public func choose(
        id: String?, name: String?, playing: String? = nil, excluding: Set<String> = [],
        pinned: (String) -> Fingerprint? = { _ in nil }
    ) -> Choice {
        var candidates: [DiscoveredHost] = []
        for host in sorted
        where host.advertisement != nil && !excluding.contains(host.id) && host.advertisesPinnedKey(pinned)
            && !candidates.contains(where: { $0.id == host.id })
        {
            if let id, host.id != id { continue }
            if id == nil, let name, host.deviceName != name && host.service.name != name { continue }
            candidates.append(host)
        }
        if candidates.count > 1, let playing, let kept = candidates.first(where: { $0.id == playing }) { return .host(kept) }
        switch candidates.count {
        case 0: return .none
        case 1: return .host(candidates[0])
        default: return .several(candidates)
        }
    }

    /// Hosts in name order, for listing.
    public var sorted: [DiscoveredHost] { hosts.values.sorted { $0.service.name < $1.service.name } }
}
