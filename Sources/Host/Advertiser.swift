import Config
import Core
import Discovery
import Platform
import ProtocolMessages
import Transport

extension ServiceAdvertisement {
    /// What this host tells the network (mDNS TXT) and its receivers (the JSON they may fetch).
    public init(settings: SharingSettings, deviceID: String, fingerprint: String, admission: Admission) {
        self.init()
        self.deviceID = deviceID
        deviceName = settings.deviceName
        userName = settings.userName
        avatar = settings.avatarBase64
        audioFormat = settings.codec.name
        sampleRate = settings.sampleRate
        channels = settings.channels
        bitrate = settings.bitrate(of: settings.codec)
        latency = settings.frameDuration <= 10_000 ? "low" : "normal"
        port = settings.port
        encryption = settings.encryption.rawValue
        authentication = (admission.password != nil ? AuthMethod.password : admission.allowedClients.isEmpty ? .none : .certificate).rawValue
        self.fingerprint = fingerprint
        maxClients = settings.maxClients
        queueControl = settings.permissions.allowQueueControl
        chat = settings.permissions.allowChat
    }
}

/// The host on mDNS: publishes `_moosync-audio._tcp` with the advertisement's TXT records, and
/// logs what becomes of it (published, renamed after a collision, waiting for avahi-daemon).
/// Without Avahi the host still streams to receivers that name its address.
struct Advertiser {
    private let client: MDNSClient

    init?(_ advertisement: ServiceAdvertisement, name: String, log: Logger) {
        do {
            client = try MDNSClient(role: .publish(name: name, port: advertisement.port, txt: advertisement.txtRecords))
        } catch {
            log.warning("not advertised over mDNS (receivers must name this host's address): \(error)")
            return nil
        }
    }

    func sync(_ reactor: inout Reactor<HostToken>) { client.sync(into: &reactor, token: HostToken.mdns) }

    func handle(_ event: Reactor<HostToken>.Event, id: Int32, _ reactor: inout Reactor<HostToken>, log: Logger) {
        client.handle(event, id: id)
        report(log)
        sync(&reactor)
    }

    /// Logs what happened since the last call (making the client already publishes).
    func report(_ log: Logger) {
        for e in client.takeEvents() {
            switch e {
            case .published(let name): log.info("mDNS: published \"\(name)\" (\(MDNSService.type))")
            case .renamed(let from, let to): log.info("mDNS: the name \"\(from)\" is taken on this network: publishing as \"\(to)\"")
            case .waitingForDaemon(let why): log.warning("mDNS: \(why); publishing once avahi-daemon is back")
            case .daemonBack: log.info("mDNS: avahi-daemon is back: publishing again")
            case .failed(let why): log.warning("mDNS: \(why)")
            case .found, .lost, .allForNow: break
            }
        }
    }

    /// Withdraws the service.
    func close(_ reactor: inout Reactor<HostToken>) { client.close(from: &reactor, token: HostToken.mdns) }
}
