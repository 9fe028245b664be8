import Core
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// A daemon's local control socket, served on its reactor: a connection sends one request per
/// line and gets one answer line each; a connection its owner marks as following also gets
/// every line `publish` is given, until it hangs up. A peer that sends a line too long, or stops
/// reading while lines pile up, is dropped; nothing it does reaches the stream. What the lines
/// mean is the owner's (`ProtocolMessages.LocalRequest`).
///
/// Connections that hold a place and ask nothing cannot lock the owner's own tools out: one
/// silent for `idleTimeout` is closed when another comes, and when all places are taken the
/// newcomer gets the place of the one silent longest (followers last). Before, 20 idle
/// connections from a user of the socket's group left `mshost clients` without an answer.
public final class LocalControlServer {
    public let listener: LocalListener
    private let clock: any MonotonicClock
    private var peers: [Int: Peer] = [:]
    private var nextID = 1
    /// Peers with answers or published lines written since the owner last looked.
    private var changed: Set<Int> = []
    public static let maxRequest = 4096
    /// What may wait for a follower that reads slowly: a few thousand lines.
    public static let maxPending = 1 << 20
    /// Connections at once: a person and a few scripts.
    public static let maxPeers = 16
    /// A connection that has asked nothing for this long (and does not follow) gives its place up.
    public static let idleTimeout: Microseconds = 10_000_000

    /// The owner's answer to one request line, and whether the asker now follows what is published.
    public struct Answer {
        public var line: [UInt8]
        public var follow: Bool

        public init(_ line: [UInt8], follow: Bool = false) {
            self.line = line
            self.follow = follow
        }
    }

    private final class Peer {
        let channel: TCPChannel
        var input: [UInt8] = []
        var output = OutputQueue(capacity: LocalControlServer.maxPending)
        var following = false
        /// The peer has sent all it will: its complete lines are still answered.
        var sentAll = false
        var closed = false
        /// When it connected or last sent a whole request.
        var heard: Microseconds

        init(channel: TCPChannel, now: Microseconds) {
            self.channel = channel
            heard = now
        }
    }

    public init(listener: consuming LocalListener, clock: any MonotonicClock = SystemClock()) {
        self.listener = listener
        self.clock = clock
    }

    /// The connections waiting, each with its id and descriptor, to be watched for reading.
    public func acceptAll() -> [(id: Int, fd: CInt)] {
        var accepted: [(id: Int, fd: CInt)] = []
        while let channel = listener.accept() {
            let now = clock.now()
            makeRoom(now: now)
            peers[nextID] = Peer(channel: channel, now: now)
            accepted.append((nextID, channel.fileDescriptor))
            nextID += 1
        }
        return accepted
    }

    /// Closes the connections silent for `idleTimeout`, and if every place is still taken, the
    /// one silent longest (a follower only when all follow).
    private func makeRoom(now: Microseconds) {
        let open = peers.filter { !$0.value.closed }
        for (id, peer) in open where !peer.following && now - peer.heard >= Self.idleTimeout { drop(id) }
        let left = open.filter { !$0.value.closed }
        guard left.count >= Self.maxPeers else { return }
        let askers = left.filter { !$0.value.following }
        if let longest = (askers.isEmpty ? left : askers).min(by: { $0.value.heard < $1.value.heard })?.key { drop(longest) }
    }

    /// Closed at the owner's next look (`takeChanges`), which unregisters it.
    private func drop(_ id: Int) {
        peers[id]?.closed = true
        changed.insert(id)
    }

    /// Reads what a peer sent and answers every complete line (without its newline; `tooLong`
    /// answers a line over `maxRequest`, which ends the connection).
    public func ready(_ id: Int, tooLong: [UInt8], answer: (UnsafeRawBufferPointer) -> Answer) {
        guard let peer = peers[id] else { return }
        changed.insert(id)
        var buffer = [UInt8](repeating: 0, count: 1024)
        // At most a request's worth past what waits: a peer that writes without end cannot hold
        // the loop or fill the memory (the rest waits in the socket for the next readiness).
        reading: while !peer.sentAll && peer.input.count <= Self.maxRequest {
            switch buffer.withUnsafeMutableBytes({ peer.channel.read(into: $0) }) {
            case .bytes(let n): peer.input += buffer[..<n]
            case .wouldBlock: break reading
            case .endOfStream: peer.sentAll = true
            case .failed: peer.closed = true
            }
        }
        while !peer.closed, let end = peer.input.firstIndex(of: UInt8(ascii: "\n")) {
            peer.heard = clock.now()
            let reply = peer.input[..<end].withUnsafeBytes(answer)
            peer.input.removeFirst(end + 1)
            if reply.follow { peer.following = true }
            if !peer.output.append(reply.line) { peer.closed = true }
        }
        if peer.input.count > Self.maxRequest {
            _ = peer.output.append(tooLong)
            _ = peer.output.flush(to: peer.channel)
            peer.closed = true
        }
    }

    /// A line for every follower. Only queued: it may come from deep inside the owner.
    public func publish(_ line: [UInt8]) {
        for (id, peer) in peers where peer.following {
            if !peer.output.append(line) { peer.closed = true }
            changed.insert(id)
        }
    }

    /// The peers written to since the last call, each with the interest it has now (nil: closed
    /// and forgotten, to unregister).
    public func takeChanges() -> [(id: Int, interest: Interest?)] {
        defer { changed.removeAll() }
        return changed.map { ($0, interest($0)) }
    }

    /// The owner's reactor side of both: each connection waiting on the listener registered as
    /// `token(id)`, and each connection's readiness (or its end) brought up to date.
    public func accept<Token>(into reactor: inout Reactor<Token>, as token: (Int) -> Token) {
        for peer in acceptAll() { reactor.register(token(peer.id), fd: peer.fd, interest: .read) }
        // Those that gave their places up.
        sync(&reactor, as: token)
    }

    public func sync<Token>(_ reactor: inout Reactor<Token>, as token: (Int) -> Token) {
        for (id, interest) in takeChanges() {
            if let interest { reactor.setInterest(token(id), interest) } else { reactor.unregister(token(id)) }
        }
    }

    /// Writes what waits; the peer's interest now, or nil once closed (and forgotten).
    private func interest(_ id: Int) -> Interest? {
        guard let peer = peers[id] else { return nil }
        if !peer.closed, case .failed = peer.output.flush(to: peer.channel) { peer.closed = true }
        // One that has said all it will is closed once its answers are out (a follower stays).
        if peer.sentAll && !peer.following && peer.output.isEmpty { peer.closed = true }
        guard !peer.closed else {
            peer.channel.close()
            peers[id] = nil
            return nil
        }
        // Past its end the socket is always readable: watch it only for writing then.
        let read: Interest = peer.sentAll ? [] : .read
        return peer.output.isEmpty ? read : read.union(.write)
    }

    public func closeAll() {
        for peer in peers.values { peer.channel.close() }
        peers.removeAll()
    }
}

/// The asking end, for a command-line tool: one blocking connection to a daemon's socket.
public final class LocalControlClient {
    private let fd: CInt
    private var pending: [UInt8] = []

    public init(path: String) throws(LocalSocketError) { fd = try LocalListener.connect(path: path) }

    deinit { close(fd) }

    /// False when the daemon hung up (a closed socket is an answer to report, not a SIGPIPE).
    public func send(_ line: [UInt8]) -> Bool {
        line.withUnsafeBytes { bytes in
            var sent = 0
            while sent < bytes.count {
                let n = Glibc.send(fd, bytes.baseAddress! + sent, bytes.count - sent, CInt(MSG_NOSIGNAL))
                if n < 0 && Errno.current == .interrupted { continue }
                guard n > 0 else { return false }
                sent += n
            }
            return true
        }
    }

    /// The next line (without its newline), or nil when the daemon hung up or a line runs past
    /// `maxLength`.
    public func nextLine(maxLength: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            if let end = pending.firstIndex(of: UInt8(ascii: "\n")) {
                defer { pending.removeFirst(end + 1) }
                return Array(pending[..<end])
            }
            guard pending.count <= maxLength else { return nil }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && Errno.current == .interrupted { continue }
            guard n > 0 else { return nil }
            pending += buffer[..<n]
        }
    }
}
