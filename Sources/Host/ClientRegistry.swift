import Core
import ProtocolMessages

/// A receiver as the client list shows it.
public struct ClientInfo: Equatable, Sendable {
    /// The host's number for the connection.
    public var id: Int
    /// What the receiver calls itself (HELLO's client_id and client_name).
    public var clientID: String
    public var name: String
    public var address: String
    public var codec: WireCodec
    public var streaming: Bool
    /// Local monotonic µs.
    public var connectedAt: Microseconds
    /// Its last STATUS.
    public var status: Status?
}

/// Every receiver connection the host has, by the host's id for it: what the engine serves,
/// and what the client list and its commands (a later issue) read.
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
    /// Connections that count against `max_clients`: all but those on their way out.
    var activeCount: Int { connections.values.filter { !$0.isClosing && $0.state != .closed }.count }

    public var clients: [ClientInfo] {
        all.filter { $0.state != .closed }.map {
            ClientInfo(id: $0.id, clientID: $0.clientID, name: $0.name, address: $0.address, codec: $0.codec, streaming: $0.isStreaming,
                       connectedAt: $0.connectedAt, status: $0.lastStatus)
        }
    }
}
