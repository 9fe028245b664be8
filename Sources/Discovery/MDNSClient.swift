import CAvahi
import Core
import Transport

/// One sighting of a service: its instance name, on one interface over one protocol (a host on
/// two networks, or on IPv4 and IPv6, is seen once on each).
public struct Sighting: Hashable, Sendable {
    public var name: String
    public var interface: Int32
    /// 0 IPv4, 1 IPv6 (Avahi's protocol numbers).
    public var proto: Int32

    public init(name: String, interface: Int32 = 1, proto: Int32 = 0) {
        self.name = name
        self.interface = interface
        self.proto = proto
    }
}

/// A sighting resolved: where the service listens and its TXT records in the order published.
public struct DiscoveredService: Equatable, Sendable {
    public var sighting: Sighting
    /// Numeric; an IPv6 link-local address carries its interface (`fe80::1%2`).
    public var address: String
    public var port: UInt16
    public var txt: [String]

    public var name: String { sighting.name }

    public init(_ sighting: Sighting, address: String, port: UInt16, txt: [String]) {
        self.sighting = sighting
        self.address = address
        self.port = port
        self.txt = txt
    }
}

/// What happened on the network since the owner last asked (`MDNSClient.takeEvents()`).
public enum DiscoveryEvent: Equatable, Sendable {
    /// The service is on the network under `name` (after a collision, Avahi's alternative).
    case published(name: String)
    /// `name` was taken by another service: publishing again as `as`.
    case renamed(from: String, to: String)
    /// A sighting resolved, or resolved again with something changed.
    case found(DiscoveredService)
    /// A sighting gone (the service left that network, or stopped answering).
    case lost(Sighting)
    /// The browser has reported what the network knows now.
    case allForNow
    /// avahi-daemon is not there (not started, or gone): waiting for it.
    case waitingForDaemon(String)
    /// Connected to avahi-daemon again after it was gone: publishing or browsing anew.
    case daemonBack
    case failed(String)
}

/// One connection to avahi-daemon on the owner's reactor, publishing one service or browsing
/// for one service type (resolving each instance it finds). A daemon that restarts is survived:
/// the client is made anew, and publishes or browses again. Callbacks only queue events: the
/// owner reads them with `takeEvents()` after handing the reactor's events over.
public final class MDNSClient {
    public enum Role: Equatable {
        case publish(name: String, port: UInt16, txt: [String])
        case browse
    }

    private let avahi: Avahi
    private let loop: AvahiLoop
    private let role: Role
    private var client: OpaquePointer?
    private var group: OpaquePointer?
    private var browser: OpaquePointer?
    /// One per sighting the browser reported.
    private var resolvers: [Sighting: OpaquePointer] = [:]
    /// The name asked for, and the name published (Avahi's alternative after a collision).
    private let configuredName: String
    private var publishedName: String
    private var events: [DiscoveryEvent] = []
    /// Making the client failed, or the daemon went away: try again after `retryInterval`.
    private var retryPending = false
    /// Set by a callback that found the client, its browser or its entry group failed: done by
    /// `handle` once Avahi's dispatch has returned, so that nothing is freed under its feet.
    private var startOverRequested = false
    private var wasLost = false
    private let retryInterval: Microseconds = 1_000_000

    public init(role: Role) throws(DiscoveryError) {
        avahi = try Avahi.load()
        guard let loop = AvahiLoop() else { throw .outOfMemory }
        self.loop = loop
        self.role = role
        if case .publish(let name, _, _) = role { configuredName = name } else { configuredName = "" }
        publishedName = configuredName
        connect()
        startOverIfRequested()
    }

    deinit { disconnect() }

    public func takeEvents() -> [DiscoveryEvent] {
        defer { events.removeAll() }
        return events
    }

    // MARK: The reactor

    /// Mirrors Avahi's descriptors and timers in `reactor` under `token(id)`: call after making
    /// the client and after every `handle`.
    public func sync<Token: Hashable>(into reactor: inout Reactor<Token>, token: (Int32) -> Token) {
        if retryPending {
            reactor.schedule(token(Self.retryToken), after: retryInterval)
            retryPending = false
        }
        loop.sync(into: &reactor, token: token)
    }

    /// An event the reactor reported for `token(id)`.
    public func handle<Token: Hashable>(_ event: Reactor<Token>.Event, id: Int32) {
        switch event {
        case .ready(_, let interest): loop.ready(id, interest)
        case .timer:
            if id == Self.retryToken {
                connect()
            } else {
                loop.expired(id)
            }
        }
        startOverIfRequested()
    }

    /// Stops publishing or browsing and leaves the reactor.
    public func close<Token: Hashable>(from reactor: inout Reactor<Token>, token: (Int32) -> Token) {
        disconnect()
        reactor.cancelTimer(token(Self.retryToken))
        loop.removeAll(from: &reactor, token: token)
    }

    /// Avahi's ids start at 1: 0 is the reconnect timer.
    private static let retryToken: Int32 = 0

    // MARK: The client

    private func connect() {
        var error: Int32 = 0
        // NO_FAIL: with the bus there and the daemon not (yet), the client waits for it.
        client = avahi.f.avahi_client_new!(
            loop.api, AVAHI_CLIENT_NO_FAIL,
            { client, state, me in
                Unmanaged<MDNSClient>.fromOpaque(me!).takeUnretainedValue().clientChanged(client!, state)
            }, Unmanaged.passUnretained(self).toOpaque(), &error)
        if client == nil {
            noteLost(DiscoveryError.avahi(error, "cannot reach avahi-daemon", avahi).description)
            retryPending = true
        }
    }

    private func disconnect() {
        for resolver in resolvers.values { _ = avahi.f.avahi_service_resolver_free!(resolver) }
        resolvers = [:]
        if let browser { _ = avahi.f.avahi_service_browser_free!(browser) }
        browser = nil
        if let group { _ = avahi.f.avahi_entry_group_free!(group) }
        group = nil
        if let client { avahi.f.avahi_client_free!(client) }
        client = nil
    }

    private func startOverIfRequested() {
        guard startOverRequested else { return }
        startOverRequested = false
        startOver()
    }

    /// Frees everything and makes a new client after `retryInterval`: after the daemon went away,
    /// or a browser or an entry group failed (what a new client publishes or browses afresh).
    private func startOver() {
        for sighting in resolvers.keys { events.append(.lost(sighting)) }
        disconnect()
        retryPending = true
    }

    private func noteLost(_ why: String) {
        if !wasLost { events.append(.waitingForDaemon(why)) }
        wasLost = true
    }

    /// `client` is the callback's own: on the first call `avahi_client_new` has not returned yet.
    private func clientChanged(_ client: OpaquePointer, _ state: AvahiClientState) {
        switch state {
        case AVAHI_CLIENT_S_RUNNING:
            if wasLost {
                events.append(.daemonBack)
                // The name that collided may be free on the network as it is now.
                publishedName = configuredName
            }
            wasLost = false
            switch role {
            case .publish: publish(client)
            case .browse: browse(client)
            }
        case AVAHI_CLIENT_S_COLLISION, AVAHI_CLIENT_S_REGISTERING:
            // The daemon's own host name is being (re)registered: the service follows it once
            // the daemon is running again.
            if let group { _ = avahi.f.avahi_entry_group_reset!(group) }
        case AVAHI_CLIENT_CONNECTING:
            noteLost("avahi-daemon is not running")
        case AVAHI_CLIENT_FAILURE:
            // The daemon went away (restarted, stopped): everything it held is gone with it.
            let code = avahi.f.avahi_client_errno!(client)
            noteLost(DiscoveryError.avahi(code, "lost avahi-daemon", avahi).description)
            self.client = client
            startOverRequested = true
        default:
            break
        }
    }

    // MARK: Publishing

    private func publish(_ client: OpaquePointer) {
        guard case .publish(_, let port, let txt) = role else { return }
        if group == nil {
            group = avahi.f.avahi_entry_group_new!(
                client,
                { group, state, me in
                    Unmanaged<MDNSClient>.fromOpaque(me!).takeUnretainedValue().groupChanged(group!, state)
                }, Unmanaged.passUnretained(self).toOpaque())
            guard group != nil else {
                return events.append(.failed(DiscoveryError.avahi(avahi.f.avahi_client_errno!(client), "cannot publish", avahi).description))
            }
        }
        // A string list holds its entries last added first, and is sent reversed: the records
        // leave in the order given.
        var records: UnsafeMutablePointer<AvahiStringList>?
        for record in txt { records = avahi.f.avahi_string_list_add!(records, record) }
        defer { avahi.f.avahi_string_list_free!(records) }
        // A service of the same name in this daemon is refused at once (across daemons the
        // group reports a collision later): Avahi's next name, "Name #2", is tried.
        for _ in 0..<32 {
            let code = avahi.f.avahi_entry_group_add_service_strlst!(
                group, -1, -1, AvahiPublishFlags(0), publishedName, MDNSService.type, nil, nil, port, records)
            if code == AVAHI_ERR_COLLISION {
                rename()
                continue
            }
            let committed = code == 0 ? avahi.f.avahi_entry_group_commit!(group) : code
            if committed != 0 {
                events.append(.failed(DiscoveryError.avahi(committed, "cannot publish \"\(publishedName)\"; trying again", avahi).description))
                startOverRequested = true
            }
            return
        }
    }

    private func rename() {
        let next = avahi.f.avahi_alternative_service_name!(publishedName)!
        defer { avahi.f.avahi_free!(next) }
        let old = publishedName
        publishedName = String(cString: next)
        events.append(.renamed(from: old, to: publishedName))
    }

    private func groupChanged(_ group: OpaquePointer, _ state: AvahiEntryGroupState) {
        switch state {
        case AVAHI_ENTRY_GROUP_ESTABLISHED:
            events.append(.published(name: publishedName))
        case AVAHI_ENTRY_GROUP_COLLISION:
            rename()
            _ = avahi.f.avahi_entry_group_reset!(group)
            if let client { publish(client) }
        case AVAHI_ENTRY_GROUP_FAILURE:
            events.append(.failed("publishing \"\(publishedName)\" failed; trying again"))
            startOverRequested = true
        default:
            break
        }
    }

    // MARK: Browsing

    private func browse(_ client: OpaquePointer) {
        guard browser == nil else { return }
        browser = avahi.f.avahi_service_browser_new!(
            client, -1, -1, MDNSService.type, nil, AvahiLookupFlags(0),
            { _, interface, proto, event, name, type, domain, _, me in
                Unmanaged<MDNSClient>.fromOpaque(me!).takeUnretainedValue().browsed(interface, proto, event, name, type, domain)
            }, Unmanaged.passUnretained(self).toOpaque())
        if browser == nil {
            events.append(
                .failed(DiscoveryError.avahi(avahi.f.avahi_client_errno!(client), "cannot browse for \(MDNSService.type); trying again", avahi).description))
            startOverRequested = true
        }
    }

    private func browsed(
        _ interface: AvahiIfIndex, _ proto: AvahiProtocol, _ event: AvahiBrowserEvent,
        _ name: UnsafePointer<CChar>?, _ type: UnsafePointer<CChar>?, _ domain: UnsafePointer<CChar>?
    ) {
        switch event {
        case AVAHI_BROWSER_NEW:
            guard let client, let name else { return }
            let key = Sighting(name: String(cString: name), interface: interface, proto: proto)
            guard resolvers[key] == nil else { return }
            // Addresses of the protocol the service was seen on: an IPv6 sighting gives IPv6.
            let resolver = avahi.f.avahi_service_resolver_new!(
                client, interface, proto, name, type, domain, proto, AvahiLookupFlags(0),
                {
                    _, interface, proto, event, name, _, _, _, address, port, txt, _, me in
                    Unmanaged<MDNSClient>.fromOpaque(me!).takeUnretainedValue().resolved(interface, proto, event, name, address, port, txt)
                }, Unmanaged.passUnretained(self).toOpaque())
            if let resolver { resolvers[key] = resolver }
        case AVAHI_BROWSER_REMOVE:
            guard let name else { return }
            let key = Sighting(name: String(cString: name), interface: interface, proto: proto)
            if let resolver = resolvers.removeValue(forKey: key) { _ = avahi.f.avahi_service_resolver_free!(resolver) }
            events.append(.lost(key))
        case AVAHI_BROWSER_ALL_FOR_NOW:
            events.append(.allForNow)
        case AVAHI_BROWSER_FAILURE:
            events.append(
                .failed(
                    DiscoveryError.avahi(client.map { avahi.f.avahi_client_errno!($0) } ?? Int32(AVAHI_ERR_FAILURE), "browsing failed; trying again", avahi)
                        .description))
            startOverRequested = true
        default:
            break
        }
    }

    private func resolved(
        _ interface: AvahiIfIndex, _ proto: AvahiProtocol, _ event: AvahiResolverEvent, _ name: UnsafePointer<CChar>?,
        _ address: UnsafePointer<AvahiAddress>?, _ port: UInt16, _ txt: UnsafeMutablePointer<AvahiStringList>?
    ) {
        guard let name else { return }
        let sighting = Sighting(name: String(cString: name), interface: interface, proto: proto)
        guard event == AVAHI_RESOLVER_FOUND, let address else {
            // The host did not answer: that sighting is gone, and the browser's next NEW for it
            // (the host back) resolves it afresh.
            if let resolver = resolvers.removeValue(forKey: sighting) { _ = avahi.f.avahi_service_resolver_free!(resolver) }
            events.append(.lost(sighting))
            return
        }
        var text = [CChar](repeating: 0, count: Int(AVAHI_ADDRESS_STR_MAX))
        _ = avahi.f.avahi_address_snprint!(&text, text.count, address)
        var numeric = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if address.pointee.proto == Int32(AVAHI_PROTO_INET6) && numeric.lowercased().hasPrefix("fe80:") { numeric += "%\(interface)" }
        var records: [String] = []
        var entry = txt
        while let e = entry, records.count < 64 {
            let bytes = UnsafeRawBufferPointer(start: avahi.f.avahi_string_list_get_text!(e), count: avahi.f.avahi_string_list_get_size!(e))
            records.append(String(decoding: bytes, as: UTF8.self))
            entry = avahi.f.avahi_string_list_get_next!(e)
        }
        events.append(.found(DiscoveredService(sighting, address: numeric, port: port, txt: records)))
    }
}
