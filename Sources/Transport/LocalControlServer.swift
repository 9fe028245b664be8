#if canImport(Glibc)
import Glibc
#endif
import Core

/// A daemon's local control socket, served on its reactor: a connection sends one request per
/// line and gets one answer line each; a connection its owner marks as following also gets
/// every line `publish` is given, until it hangs up. A peer that sends a line too long, or stops
/// reading while lines pile up, is dropped; nothing it does reaches the stream. What the lines
/// mean is the owner's (`ProtocolMessages.LocalRequest`).
public final class LocalControlServer {
    public let listener: LocalListener
    private var peers: [Int: Peer] = [:]
    private var nextID = 1
    /// Peers with answers or published lines written since the owner last looked.
    private var changed: Set<Int> = []
    public static let maxRequest = 4096
    /// What may wait for a follower that reads slowly: a few thousand lines.
    public static let maxPending = 1 << 20
    /// Connections at once: a person and a few scripts. More are closed as they come.
    public static let maxPeers = 16

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

        init(channel: TCPChannel) { self.channel = channel }
    }

    public init(listener: consuming LocalListener) { self.listener = listener }

    /// The connections waiting, each with its id and descriptor, to be watched for reading.
    public func acceptAll() -> [(id: Int, fd: CInt)] {
        var accepted: [(id: Int, fd: CInt)] = []
        while let channel = listener.accept() {
            guard peers.count < Self.maxPeers else {
                channel.close()
                continue
            }
            peers[nextID] = Peer(channel: channel)
            accepted.append((nextID, channel.fileDescriptor))
            nextID += 1
        }
        return accepted
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

    public init(path: String) throws(LocalSocketError) { fd = try LocalListener.connect(path: path).get() }

    deinit { close(fd) }

    /// False when the daemon hung up.
    public func send(_ line: [UInt8]) -> Bool { line.withUnsafeBytes { writeAll(fd, $0) } == nil }

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
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            pending += buffer[..<n]
        }
    }
}
