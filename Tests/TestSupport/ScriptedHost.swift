import Core
import Platform
import ProtocolMessages
import Transport

/// One end of a connection played by a test on its own thread: it collects the frames the
/// other end sends, and sends what the test decides. Nothing in it waits.
public final class ScriptedPeer {
    public let channel: any ByteChannel
    private var reader = FrameReader()
    /// Frames the other end sent that the test has not taken.
    public private(set) var received: [(type: FrameType, payload: [UInt8])] = []
    public private(set) var closedByOtherEnd = false

    public init(_ channel: any ByteChannel) { self.channel = channel }

    /// Connects to `port` on loopback (the connection completes as the other end's loop runs).
    public convenience init(connectingTo port: UInt16) throws {
        let address = SocketAddress.literal(host: "127.0.0.1", port: port)!
        self.init(try TCPTransport(stampingArrivals: false).connect(to: address))
    }

    /// Reads what has arrived.
    public func poll() {
        guard !closedByOtherEnd else { return }
        while true {
            switch reader.next(from: channel) {
            case .header: reader.route(.scratch)
            case .frame(let header, let payload):
                if let type = header.type { received.append((type, Array(payload))) }
            case .wouldBlock: return
            case .closed, .failed:
                closedByOtherEnd = true
                return
            }
        }
    }

    /// The first frame of `type` the other end sent, taken (frames before it stay).
    public func take(_ type: FrameType) -> [UInt8]? {
        guard let index = received.firstIndex(where: { $0.type == type }) else { return nil }
        return received.remove(at: index).payload
    }

    /// Every frame of `type` waiting, taken.
    public func takeAll(_ type: FrameType) -> [[UInt8]] {
        var taken: [[UInt8]] = []
        while let payload = take(type) { taken.append(payload) }
        return taken
    }

    public func send(_ frame: [UInt8]) { _ = writeAll(channel, frame) }
}

/// A host played by a test on the test's own thread, over real loopback TCP, stepped between
/// the receiver engine's steps. It takes connections and collects what the receiver sends;
/// the test decides every answer, true or hostile.
public final class ScriptedHost {
    /// 20 ms packets of 48 kHz stereo PCM.
    public static let frameSamples = 960
    public static let packetDuration: Microseconds = 20_000

    public let listener: TCPListener
    /// The receiver's current connection.
    public private(set) var peer: ScriptedPeer?
    /// Connections taken so far.
    public private(set) var connections = 0

    public init() throws { listener = try TCPListener(port: 0) }

    /// Where a receiver finds it (`receiving.host`).
    public var address: String { "127.0.0.1:\(listener.port)" }
    public var received: [(type: FrameType, payload: [UInt8])] { peer?.received ?? [] }

    /// Takes a waiting connection (replacing the current one), and reads what has arrived.
    public func poll() {
        if let next = listener.accept(stampingArrivals: false) {
            peer?.channel.close()
            peer = ScriptedPeer(next)
            connections += 1
        }
        peer?.poll()
    }

    public func take(_ type: FrameType) -> [UInt8]? { peer?.take(type) }

    /// Sends `frame` on the current connection.
    public func send(_ frame: [UInt8]) {
        guard let peer else { preconditionFailure("no receiver is connected") }
        peer.send(frame)
    }

    /// Answers every TIME_REQ waiting with the host's clock `now` (one instant for receipt and
    /// reply).
    public func answerTimeRequests(now: Microseconds) {
        while let request = take(.timeRequest) {
            guard let t1 = request.withUnsafeBytes({ try? TimeRequest.decode($0).t1 }) else { continue }
            send(TimeResponse(t1: t1, t2: UInt64(now), t3: UInt64(now)).frame)
        }
    }

    /// Closes the connection, as a host that goes away does.
    public func hangUp() {
        peer?.channel.close()
        peer = nil
    }

    /// The WELCOME for `hello`: 48 kHz stereo PCM in packets of `frameSamples`, its stream
    /// starting at `streamStart` on the host's clock, received at `t2` and answered at `t3`.
    public static func welcome(
        for hello: Hello, streamStart: Microseconds, t2: Microseconds, t3: Microseconds, frameSamples: Int = frameSamples, buffer: Microseconds = 0
    ) -> Welcome {
        let stream = StreamDescription(codec: .pcm, sampleRate: 48_000, channels: 2, frameSamples: frameSamples, codecDelay: 0, bitrate: 1_536_000)
        return Welcome(
            sessionID: "scripted", hostID: "scripted-host", hostName: "scripted host", stream: stream, streamStart: streamStart,
            nextSequence: 0, permissions: GrantedPermissions(queueControl: false, playbackControl: false, chat: false), buffer: buffer,
            t1: hello.t1, t2: t2, t3: t3)
    }

    /// An AUDIO frame of PCM silence; `click` puts a pulse of `click` on its first frame.
    public static func pcmAudio(sequence: UInt64, timestamp: UInt64, click: Int16 = 0, frameSamples: Int = frameSamples) -> [UInt8] {
        var payload = [UInt8](repeating: 0, count: AudioPacketHeader.size + frameSamples * 4)
        payload.withUnsafeMutableBytes {
            AudioPacketHeader(sequence: sequence, timestamp: timestamp, sampleRate: 48_000, channels: 2, codec: .pcm).encode(into: $0)
            $0.storeBytes(of: click.littleEndian, toByteOffset: AudioPacketHeader.size, as: Int16.self)
            $0.storeBytes(of: click.littleEndian, toByteOffset: AudioPacketHeader.size + 2, as: Int16.self)
        }
        return FrameWriter.frame(.audio, payload: payload)
    }
}
