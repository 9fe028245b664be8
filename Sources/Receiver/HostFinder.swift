import Core
import Discovery
import Transport

/// Browses for Moosync hosts on the owner's reactor and keeps the directory of those found;
/// says in the log when avahi-daemon goes and comes back (browsing resumes by itself).
public final class HostFinder {
    private let client: MDNSClient
    private let log: Logger
    public private(set) var directory = HostDirectory()

    public init(log: Logger) throws(DiscoveryError) {
        client = try MDNSClient(role: .browse)
        self.log = log
    }

    /// An event for one of `token`'s ids; whether the directory changed. Call once with nil
    /// after making the finder (the client may already have news).
    public func handle<Token: Hashable>(_ event: Reactor<Token>.Event?, id: Int32, _ reactor: inout Reactor<Token>, token: (Int32) -> Token) -> Bool {
        if let event { client.handle(event, id: id) }
        var changed = false
        for e in client.takeEvents() {
            switch e {
            case .waitingForDaemon(let why): log.warning("mDNS: \(why); browsing once avahi-daemon is back")
            case .daemonBack: log.info("mDNS: avahi-daemon is back: browsing again")
            case .failed(let why): log.warning("mDNS: \(why)")
            default: break
            }
            if directory.apply(e) { changed = true }
        }
        client.sync(into: &reactor, token: token)
        return changed
    }
}
