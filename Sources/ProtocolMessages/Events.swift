import Core

/// The seed's `AudioShareError`: what went wrong, as a user and Moosync see it.
public enum AudioShareError: Error, Equatable, Sendable, CustomStringConvertible {
    case networkError(String)
    case authenticationFailed
    case unsupportedCodec(String)
    case bufferUnderrun
    case bufferOverrun
    case syncLost
    case clientLimitReached
    case invalidPacket(String)
    case connectionTimeout

    /// The seed's name, as logged and sent in REJECT.
    public var code: String {
        switch self {
        case .networkError: return "NetworkError"
        case .authenticationFailed: return "AuthenticationFailed"
        case .unsupportedCodec: return "UnsupportedCodec"
        case .bufferUnderrun: return "BufferUnderrun"
        case .bufferOverrun: return "BufferOverrun"
        case .syncLost: return "SyncLost"
        case .clientLimitReached: return "ClientLimitReached"
        case .invalidPacket: return "InvalidPacket"
        case .connectionTimeout: return "ConnectionTimeout"
        }
    }

    public var description: String {
        switch self {
        case .networkError(let why): return "\(code): \(why)"
        case .unsupportedCodec(let what): return "\(code): \(what)"
        case .invalidPacket(let why): return "\(code): \(why)"
        default: return code
        }
    }

    /// The error `code` names (`code` above is where the names are written), carrying `message`
    /// where it has room for one; a code this version does not know is a network error.
    public init(code: String, message: String) {
        let named: [AudioShareError] = [
            .authenticationFailed, .unsupportedCodec(message), .bufferUnderrun, .bufferOverrun, .syncLost, .clientLimitReached,
            .invalidPacket(message), .connectionTimeout,
        ]
        self = named.first { $0.code == code } ?? .networkError(message.isEmpty ? code : message)
    }
}

/// Why a session ended, as a receiver's `Disconnected` and a host's `ClientDisconnected` say.
public enum DisconnectReason: Equatable, Sendable {
    /// The peer's BYE said why (nil: a reason this version does not know).
    case bye(ByeReason?)
    /// This end ended it, for a reason its BYE (if it could send one) names.
    case ended(ByeReason)
    /// Receiver: the host's connection closed or failed without a BYE.
    case hostGone
    /// Receiver: the host is elsewhere now (mDNS), and is followed there.
    case hostMoved
    /// Host: the receiver's connection closed, or failed, without a BYE.
    case closed
    case networkError

    public var name: String {
        switch self {
        case .bye(let reason): reason?.name ?? "bye"
        case .ended(let reason): reason.name
        case .hostGone: "host_gone"
        case .hostMoved: "host_moved"
        case .closed: "closed"
        case .networkError: "network_error"
        }
    }
}

/// The seed's `AudioShareEvent`, as the daemons log them: one line each, `event=Name k=v ...`.
public enum AudioShareEvent: Sendable {
    case clientConnected(clientID: String, name: String, address: String)
    case clientDisconnected(clientID: String, reason: DisconnectReason)
    /// `start`: the host's CLOCK_MONOTONIC µs of stream time 0, for tools that measure sync.
    case streamStarted(sessionID: String, start: Microseconds)
    case streamStopped(sessionID: String, reason: ByeReason)
    case connected(host: String, codec: String, sampleRate: Int, channels: Int)
    case disconnected(reason: DisconnectReason)
    case bufferUnderrun(count: Int)
    case bufferOverrun(count: Int)
    case networkError(String)
    case syncLost
    /// The bitrate a receiver is sent changed; `clientID` on the host, nil on the receiver.
    case qualityChanged(clientID: String?, bitrate: Int)
    /// Ours: a receiver asked the host's player for something it is allowed to (CONTROL), or
    /// said something (CHAT); what Moosync acts on.
    case controlRequested(clientID: String, action: String, value: String)
    case chatMessage(clientID: String, text: String)

    public var name: String {
        switch self {
        case .clientConnected: return "ClientConnected"
        case .clientDisconnected: return "ClientDisconnected"
        case .streamStarted: return "StreamStarted"
        case .streamStopped: return "StreamStopped"
        case .connected: return "Connected"
        case .disconnected: return "Disconnected"
        case .bufferUnderrun: return "BufferUnderrun"
        case .bufferOverrun: return "BufferOverrun"
        case .networkError: return "NetworkError"
        case .syncLost: return "SyncLost"
        case .qualityChanged: return "QualityChanged"
        case .controlRequested: return "ControlRequested"
        case .chatMessage: return "ChatMessage"
        }
    }

    public var fields: [(String, String)] {
        switch self {
        case .clientConnected(let id, let name, let address): return [("client_id", id), ("client_name", name), ("address", address)]
        case .clientDisconnected(let id, let reason): return [("client_id", id), ("reason", reason.name)]
        case .streamStarted(let id, let start): return [("session_id", id), ("stream_start_us", String(start))]
        case .streamStopped(let id, let reason): return [("session_id", id), ("reason", reason.name)]
        case .connected(let host, let codec, let rate, let channels):
            return [("host", host), ("codec", codec), ("sample_rate", String(rate)), ("channels", String(channels))]
        case .disconnected(let reason): return [("reason", reason.name)]
        case .bufferUnderrun(let count): return [("underruns", String(count))]
        case .bufferOverrun(let count): return [("overruns", String(count))]
        case .networkError(let what): return [("error", what)]
        case .syncLost: return []
        case .qualityChanged(let id, let bitrate): return (id.map { [("client_id", $0)] } ?? []) + [("bitrate", String(bitrate))]
        case .controlRequested(let id, let action, let value): return [("client_id", id), ("action", action), ("value", value)]
        case .chatMessage(let id, let text): return [("client_id", id), ("text", text)]
        }
    }
}
