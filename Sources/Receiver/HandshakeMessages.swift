import Config
import Core
import ProtocolMessages

/// HELLO and WELCOME/REJECT as the receiver speaks them (DESIGN §5).
enum HandshakeMessages {
    static func hello(clientID: String, settings: ReceivingSettings, t1: Microseconds) -> Hello {
        Hello(
            clientID: clientID, clientName: settings.clientName, authenticationMethod: settings.password == nil ? .none : .password,
            audioFormats: settings.audioFormats,
            maxBufferSize: formatDuration(settings.playoutLatency), lowLatency: settings.playoutLatency <= 100_000, t1: t1)
    }

    struct Accepted {
        var welcome: Welcome
        var format: StreamFormat
        /// The handshake's time exchange: HELLO's t1, the host's t2 and t3, WELCOME's arrival t4.
        var exchange: (t1: Microseconds, t2: Microseconds, t3: Microseconds, t4: Microseconds)
    }

    enum Failure: Error {
        case rejected(Reject)
        case invalid(ProtocolError)
        /// A WELCOME that answers another HELLO than this one's (`t1`).
        case notAnAnswer(t1: Microseconds, expected: Microseconds)
    }

    /// Reads a WELCOME (which must answer the HELLO sent at `t1`; `t4`: when it arrived here) or
    /// a REJECT.
    static func parseReply(type: FrameType, payload: UnsafeRawBufferPointer, t1: Microseconds, t4: Microseconds) throws(Failure) -> Accepted {
        if type == .reject {
            let reject: Reject
            do throws(ProtocolError) { reject = try Reject.decode(payload) } catch { throw .invalid(error) }
            throw .rejected(reject)
        }
        let welcome: Welcome
        do throws(ProtocolError) { welcome = try Welcome.decode(payload) } catch { throw .invalid(error) }
        guard welcome.t1 == t1 else { throw .notAnAnswer(t1: welcome.t1, expected: t1) }
        let s = welcome.stream
        let format = StreamFormat(
            codec: s.codec, sampleRate: s.sampleRate, channels: s.channels, frameSamples: s.frameSamples,
            bitrate: s.bitrate, codecDelay: s.codecDelay)
        return Accepted(welcome: welcome, format: format, exchange: (t1, welcome.t2, welcome.t3, t4))
    }
}
