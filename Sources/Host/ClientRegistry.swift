import Core
import ProtocolMessages

/// Every receiver connection the host has, by the host's id for it: what the engine serves,
/// and what the client list and its commands read.
public final class ClientRegistry {
    private(set) var connections: [Int: ClientConnection] = [:]
    private var nextID = 1

    init() {}

    func add(_ make: (Int) -> ClientConnection) -> ClientConnection {
        let connection = make(nextID)
        connections[nextID] = connection
        nextID += 1
        return connection
    }

    func remove(_ id: Int) { connections[id] = nil }

    subscript(id: Int) -> ClientConnection? { connections[id] }

    /// In the order they connected.
    var all: [ClientConnection] { connections.keys.sorted().compactMap { connections[$0] } }
    var streaming: [ClientConnection] { all.filter(\.isStreaming) }
    /// Connections not yet welcomed, and how many of them come from `source` (an address
    /// without its port).
    func unauthenticated(from source: String) -> (all: Int, fromSource: Int) {
        let waiting = connections.values.filter(\.isUnauthenticated)
        return (waiting.count, waiting.filter { $0.source == source }.count)
    }

    /// The client list: every receiver connected and not on its way out, with its last STATUS.
    public func clients(now: Microseconds, bitrate: (WireCodec) -> Int) -> [ClientSummary] {
        all.filter { $0.state != .closed && !$0.isClosing }.map {
            ClientSummary(
                id: $0.id, clientID: $0.clientID, name: $0.name, address: $0.address, codec: $0.codec.name, bitrate: $0.bitrate ?? bitrate($0.codec),
                streaming: $0.isStreaming, connectedSeconds: Int(max(0, now - $0.connectedAt) / 1_000_000), status: $0.lastStatus)
        }
    }
}
