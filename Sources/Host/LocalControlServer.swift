import Config
import Core
import ProtocolMessages
import Transport

#if canImport(Glibc)
import Glibc
#endif

/// The host's local control socket, served on its reactor: a connection asks one request per
/// line and gets one answer line each; after `events` it also hears every event as it happens,
/// until it hangs up. A peer that sends a line too long, or stops reading while its answers pile
/// up, is dropped; nothing it does reaches the stream.
public final class LocalControlServer {
    let listener: LocalListener
    private var peers: [Int: Peer] = [:]
    private var nextID = 1
    /// Peers with answers or events written since the engine last looked.
    private var changed: Set<Int> = []
    static let maxRequest = 4096
    /// What may wait for a follower that reads slowly: a few thousand events.
    static let maxPending = 1 << 20

    private final class Peer {
        let channel: TCPChannel
        var input: [UInt8] = []
        var output = OutputQueue(capacity: LocalControlServer.maxPending)
        var following = false
        var closed = false

        init(channel: TCPChannel) { self.channel = channel }
    }

    init(listener: consuming LocalListener) { self.listener = listener }

    /// Where a host with this state directory listens (and where `mshost clients` asks).
    public static func socketPath(stateDirectory: String) -> String { stateDirectory + "/mshost.sock" }

    /// The socket in `sharing.state_dir`: the host's user may use it, and the members of
    /// `sharing.control_group`. Without it the host streams all the same, and says why.
    static func open(settings: SharingSettings, log: Logger) -> LocalControlServer? {
        let directory = settings.stateDirectory
        var group: gid_t?
        if let name = settings.controlGroup {
            guard let entry = getgrnam(name) else {
                log.error("sharing.control_group: there is no group \"\(name)\"; the local control socket is for this host's user only")
                return open(path: socketPath(stateDirectory: directory), group: nil, log: log)
            }
            group = entry.pointee.gr_gid
        }
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            log.error("sharing.state_dir: cannot create \(directory) for the local control socket: \(Errno.current)")
            return nil
        }
        // The group must be able to reach the socket in the directory; the keys in it stay the
        // user's own (their files are 0600).
        if let group, chown(directory, uid_t.max, group) != 0 || chmod(directory, 0o750) != 0 {
            log.error("sharing.control_group: cannot open \(directory) to the group: \(Errno.current)")
        }
        return open(path: socketPath(stateDirectory: directory), group: group, log: log)
    }

    private static func open(path: String, group: gid_t?, log: Logger) -> LocalControlServer? {
        do {
            let server = LocalControlServer(listener: try LocalListener(path: path, group: group))
            log.info("local control on \(path)\(group == nil ? "" : " (and its group)"): mshost clients, kick, volume, mute, events")
            return server
        } catch {
            log.error("local control socket: \(error); mshost clients and the other commands cannot reach this host")
            return nil
        }
    }

    /// The connections waiting, each with its id and descriptor, to be watched for reading.
    func acceptAll() -> [(id: Int, fd: CInt)] {
        var accepted: [(id: Int, fd: CInt)] = []
        while let channel = listener.accept() {
            peers[nextID] = Peer(channel: channel)
            accepted.append((nextID, channel.fileDescriptor))
            nextID += 1
        }
        return accepted
    }

    /// Reads what a peer sent, answers every complete line and writes what it can.
    func ready(_ id: Int, answer: (LocalRequest) -> LocalReply) {
        guard let peer = peers[id] else { return }
        changed.insert(id)
        var buffer = [UInt8](repeating: 0, count: 1024)
        reading: while !peer.closed {
            switch buffer.withUnsafeMutableBytes({ peer.channel.read(into: $0) }) {
            case .bytes(let n): peer.input += buffer[..<n]
            case .wouldBlock: break reading
            case .endOfStream, .failed: peer.closed = true
            }
        }
        while !peer.closed, let end = peer.input.firstIndex(of: UInt8(ascii: "\n")) {
            let line = Array(peer.input[..<end])
            peer.input.removeFirst(end + 1)
            let reply: LocalReply
            switch line.withUnsafeBytes({ LocalRequest.decode($0) }) {
            case .success(.events):
                peer.following = true
                reply = .done
            case .success(let request): reply = answer(request)
            case .failure(let e): reply = .failed(e.description)
            }
            if !peer.output.append(reply.line) { peer.closed = true }
        }
        if peer.input.count > Self.maxRequest {
            _ = peer.output.append(LocalReply.failed("a request is one line of at most \(Self.maxRequest) bytes").line)
            _ = peer.output.flush(to: peer.channel)
            peer.closed = true
        }
    }

    /// An event for every follower. Only queued: it may come from deep inside the engine.
    func publish(_ event: AudioShareEvent) {
        let line = LocalReply.event(name: event.name, fields: Dictionary(event.fields, uniquingKeysWith: { _, last in last })).line
        for (id, peer) in peers where peer.following {
            if !peer.output.append(line) { peer.closed = true }
            changed.insert(id)
        }
    }

    /// The peers written to since the last call, each with the interest it has now (nil: closed
    /// and forgotten, to unregister).
    func takeChanges() -> [(id: Int, interest: Interest?)] {
        defer { changed.removeAll() }
        return changed.map { ($0, interest($0)) }
    }

    /// Writes what waits; the peer's interest now, or nil once closed (and forgotten).
    private func interest(_ id: Int) -> Interest? {
        guard let peer = peers[id] else { return nil }
        if !peer.closed, case .failed = peer.output.flush(to: peer.channel) { peer.closed = true }
        guard !peer.closed else {
            peer.channel.close()
            peers[id] = nil
            return nil
        }
        return peer.output.isEmpty ? .read : [.read, .write]
    }

    func closeAll() {
        for peer in peers.values { peer.channel.close() }
        peers.removeAll()
    }
}
