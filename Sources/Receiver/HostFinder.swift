import Core
import Discovery
import Platform
import Transport

/// Where the receiver learns which hosts are on the network, on its reactor: mDNS on a speaker
/// (`HostFinder`), announcements a test scripts.
public protocol HostDiscovery: AnyObject {
    /// The hosts found so far.
    var directory: HostDirectory { get }
    /// An event for one of `token`'s ids; whether the directory changed. Called once with nil
    /// when discovery starts (there may already be news).
    func handle<Token: Hashable>(_ event: Reactor<Token>.Event?, id: Int32, _ reactor: inout Reactor<Token>, token: (Int32) -> Token) -> Bool
}

/// Browses for Moosync hosts on the owner's reactor and keeps the directory of those found;
/// says in the log when avahi-daemon goes and comes back (browsing resumes by itself).
public final class HostFinder: HostDiscovery {
    private let client: MDNSClient
    private let log: Logger
    public private(set) var directory = HostDirectory()

    public init(log: Logger) throws(DiscoveryError) {
        client = try MDNSClient(role: .browse)
        self.log = log
    }

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
