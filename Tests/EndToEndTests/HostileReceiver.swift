import Core
import Foundation
import Platform
import ProtocolMessages
import TestSupport
import Transport

/// A receiver played by a test, with the protocol's own message types, for attacks from the
/// receiver's side (as `FakeHost` plays a host): it connects over TLS and says what it likes.
enum HostileReceiver {
    /// Connected to mshost on `port` over TLS (from the loopback address `source`, if given),
    /// its HELLO sent.
    static func hello(
        port: UInt16, from source: String? = nil, clientID: String, clientName: String = "hostile", authenticationMethod: AuthMethod = .none,
        timeout: TimeInterval = 5
    ) throws -> any ByteChannel {
        let channel = try Configs.connect(port: port, from: source, timeout: timeout)
        try writeAll(
            channel,
            Hello(
                clientID: clientID, clientName: clientName, authenticationMethod: authenticationMethod, audioFormats: ["pcm"],
                maxBufferSize: "200ms", lowLatency: false, t1: 1
            ).frame
        ).get()
        return channel
    }

    /// The host's REJECT, decoded.
    static func rejection(from channel: any ByteChannel, _ reader: inout FrameReader) throws -> Reject {
        try FakeHost.expect(.reject, from: channel, &reader).withUnsafeBytes { try Reject.decode($0) }
    }

    enum ShareAnswer {
        case auth
        case reject(Reject)
    }

    /// The host's answer to a password share: its own half of the proof, or a REJECT.
    static func answerToShare(from channel: any ByteChannel, _ reader: inout FrameReader) throws -> ShareAnswer {
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            switch reader.next(from: channel) {
            case .header: reader.route(.scratch)
            case .frame(let h, _) where h.type == .auth: return .auth
            case .frame(let h, let payload) where h.type == .reject: return .reject(try Array(payload).withUnsafeBytes { try Reject.decode($0) })
            case .frame: continue
            case .wouldBlock: usleep(1_000)
            case .closed, .failed: throw ExpectationError("the host closed the connection without answering the share")
            }
        }
        throw ExpectationError("no answer to the share within 5 s")
    }
}
