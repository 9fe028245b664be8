#if canImport(Glibc)
import Glibc
#endif
import Codec
import Config
import Core
import ProtocolMessages
import Transport

/// The host's single control loop (DESIGN §4): reads the source paced by the monotonic clock,
/// encodes each frame once per codec in use, queues it to every receiver, answers handshakes
/// and time requests, and keeps the client list. Nothing here blocks on one receiver.
public final class HostEngine {
    private let settings: SharingSettings
    private let log: Logger
    private let signals: ShutdownSignals
    private let clock = SystemClock()
    private let sessionID = makeUUID()
    private let deviceID = makeUUID()
    private var clients: [ClientConnection] = []
    /// The Opus encoder's look-ahead, told to receivers so they can take it off the schedule.
    private var codecDelay = 0

    public init(settings: SharingSettings, log: Logger, signals: consuming ShutdownSignals) {
        self.settings = settings
        self.log = log
        self.signals = signals
    }

    /// Streams until the source ends (exit 0), a signal (exit 0) or a fatal error (exit 1).
    public func run() -> Int32 {
        let listener: TCPListener
        do {
            listener = try TCPListener(port: settings.port)
        } catch {
            log.error("\(error) (sharing.port)")
            return 1
        }
        var source: PCMSource
        switch PCMSource.open(settings.source, rate: settings.sampleRate, channels: settings.channels, loop: settings.loop) {
        case .success(let s): source = s
        case .failure(let e):
            log.error(e.message)
            return 1
        }
        var encoder: FrameEncoder
        do {
            encoder = try FrameEncoder(settings: settings)
        } catch {
            log.error("cannot create the Opus encoder: \(error)")
            return 1
        }
        codecDelay = encoder.opusDelay
        if settings.passwordRequired {
            log.info("sharing.password_required is set, but this build has no authentication yet: receivers are not asked for the password")
        }
        log.info("listening on port \(listener.port): \(settings.source), \(settings.codec.name) \(settings.sampleRate) Hz \(settings.channels) ch, \(formatDuration(settings.frameDuration)) frames, \(settings.bitrate / 1000) kbit/s, up to \(settings.maxClients) receivers")

        let streamStart = clock.now()
        log.event(.streamStarted(sessionID: sessionID, start: streamStart))
        var sequence: UInt64 = 0
        while true {
            let due = streamStart + Microseconds(sequence) * settings.frameDuration
            var now = clock.now()
            var waitFor = source.waitDescriptor
            if now >= due {
                switch source.read(into: encoder.pcm, frames: encoder.frameSamples) {
                case .frame:
                    let timestamp = UInt64(sequence) * UInt64(settings.frameDuration)
                    broadcast(encoder.encode(sequence: sequence, timestamp: timestamp, for: codecsInUse()))
                    sequence += 1
                    continue
                case .notReady:
                    break
                case .ended:
                    return finish(reason: .endOfStream, message: "source ended")
                case .failed(let why):
                    log.error(why)
                    return finish(reason: .shuttingDown, message: why, exitCode: 1)
                }
            } else {
                waitFor = nil
            }
            now = clock.now()
            let timeout = waitFor != nil ? 5_000 : max(0, due - now)
            if pollOnce(listener: listener, timeout: timeout, extra: waitFor, streamStart: streamStart, nextSequence: sequence) {
                return finish(reason: .shuttingDown, message: "signal")
            }
        }
    }

    private func codecsInUse() -> (opus: Bool, pcm: Bool) {
        var opus = false, pcm = false
        for c in clients where c.isStreaming {
            if c.codec == .opus { opus = true } else { pcm = true }
        }
        return (opus, pcm)
    }

    private func broadcast(_ frames: FrameEncoder.Frames) {
        for client in clients where client.isStreaming {
            let frame = client.codec == .opus ? frames.opus : frames.pcm
            guard let frame else { continue }
            if !client.outbox.append(frame) {
                drop(client, reason: .timeout, why: "receiver is not taking audio fast enough (queue full)")
                continue
            }
            flush(client)
        }
    }

    /// One `poll(2)` round over the listener, the receivers and the signal fd; true on a
    /// shutdown signal.
    private func pollOnce(listener: borrowing TCPListener, timeout: Microseconds, extra: CInt?, streamStart: Microseconds, nextSequence: UInt64) -> Bool {
        var fds = [pollfd(fd: signals.fileDescriptor, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: listener.fileDescriptor, events: Int16(POLLIN), revents: 0)]
        let polled = clients
        for c in polled {
            fds.append(pollfd(fd: c.channel.fileDescriptor, events: Int16(POLLIN) | (c.outbox.isEmpty ? 0 : Int16(POLLOUT)), revents: 0))
        }
        if let extra { fds.append(pollfd(fd: extra, events: Int16(POLLIN), revents: 0)) }
        let ms = timeout <= 0 ? 0 : CInt((timeout + 999) / 1000)
        _ = poll(&fds, nfds_t(fds.count), ms)
        if fds[0].revents != 0, signals.take() != nil { return true }
        if fds[1].revents != 0 {
            while let channel = listener.accept() {
                admit(channel, streamStart: streamStart)
            }
        }
        let now = clock.now()
        for (i, client) in polled.enumerated() {
            let revents = fds[2 + i].revents
            if revents & Int16(POLLOUT) != 0 { flush(client) }
            if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                service(client, streamStart: streamStart, nextSequence: nextSequence)
            }
            switch client.state {
            case .awaitingHello(let deadline) where now > deadline:
                reject(client, .connectionTimeout, "no HELLO within 5 s")
            case .closing(let deadline) where client.outbox.isEmpty || now > deadline:
                close(client)
            default:
                break
            }
        }
        clients.removeAll { $0.channel.fileDescriptor < 0 }
        return false
    }

    private func admit(_ channel: consuming TCPChannel, streamStart: Microseconds) {
        let address = channel.peerDescription
        let client = ClientConnection(channel: channel, address: address, now: clock.now())
        clients.append(client)
        let active = clients.filter { !$0.isClosing }.count
        if active > settings.maxClients {
            reject(client, .clientLimitReached, "this host serves at most \(settings.maxClients) receivers (sharing.max_clients)")
        }
    }

    /// Reads everything a receiver sent.
    private func service(_ client: ClientConnection, streamStart: Microseconds, nextSequence: UInt64) {
        while client.channel.fileDescriptor >= 0 && !client.isClosing {
            switch client.reader.next(from: &client.channel) {
            case .header(let h):
                if let why = acceptable(h, from: client) {
                    invalid(client, why)
                    return
                }
                client.reader.route(h.type == nil ? .discard : .scratch)
            case .frame(let h, let payload):
                handle(h, payload, from: client, streamStart: streamStart, nextSequence: nextSequence)
            case .wouldBlock:
                return
            case .closed(let midFrame):
                if midFrame {
                    log.failure(.invalidPacket("\(client.label): connection closed in the middle of a frame (truncated frame)"))
                    close(client, reason: "invalid_packet")
                } else {
                    close(client, reason: "closed")
                }
                return
            case .failed(let e):
                log.event(.networkError("\(client.label): \(e)"))
                close(client, reason: "network_error")
                return
            }
        }
    }

    /// Why a frame header from a receiver is not acceptable, or nil.
    private func acceptable(_ h: FrameHeader, from client: ClientConnection) -> String? {
        guard h.length <= WireProtocol.maxControlPayload else {
            return "frame of \(h.length) bytes (at most \(WireProtocol.maxControlPayload) from a receiver)"
        }
        switch (client.state, h.type) {
        case (.awaitingHello, .hello?): return nil
        case (.awaitingHello, _): return "expected HELLO first, got frame type \(h.rawType)"
        case (_, nil): return nil  // unknown types are skipped
        case (_, .timeRequest?), (_, .status?), (_, .bye?), (_, .control?), (_, .chat?): return nil
        case (_, let type?): return "unexpected \(type) frame from a receiver"
        }
    }

    private func handle(_ h: FrameHeader, _ payload: UnsafeRawBufferPointer, from client: ClientConnection, streamStart: Microseconds, nextSequence: UInt64) {
        let received = client.channel.lastArrival ?? clock.now()
        switch h.type {
        case .hello:
            welcome(client, hello: payload, received: received, streamStart: streamStart, nextSequence: nextSequence)
        case .timeRequest:
            switch TimeRequest.decode(payload) {
            case .success(let request):
                send(client, TimeResponse(t1: request.t1, t2: UInt64(received), t3: UInt64(clock.now())).frame)
            case .failure(let e):
                invalid(client, e.description)
            }
        case .status:
            switch Status.decode(payload) {
            case .success(let status): client.lastStatus = status
            case .failure(let e): invalid(client, e.description)
            }
        case .bye:
            close(client, reason: Bye.decode(payload).reason?.name ?? "bye")
        default:
            break  // CONTROL and CHAT arrive with permissions (a later issue); unknown types skipped
        }
    }

    private func welcome(_ client: ClientConnection, hello payload: UnsafeRawBufferPointer, received: Microseconds, streamStart: Microseconds, nextSequence: UInt64) {
        let hello: Hello
        switch Hello.decode(payload) {
        case .success(let h): hello = h
        case .failure(let e):
            invalid(client, e.description)
            return
        }
        client.clientID = hello.clientID
        client.name = hello.clientName
        let offered = settings.codec == .opus ? [WireCodec.opus, .pcm] : [.pcm]
        guard let codec = offered.first(where: { hello.audioFormats.contains($0.name) }) else {
            reject(client, .unsupportedCodec("receiver offers \(hello.audioFormats.joined(separator: ", ")); this host streams \(offered.map(\.name).joined(separator: " or "))"), nil)
            return
        }
        client.codec = codec
        let stream = StreamDescription(codec: codec, sampleRate: settings.sampleRate, channels: settings.channels,
                                       frameSamples: settings.samplesPerFrame, codecDelay: codec == .opus ? codecDelay : 0,
                                       bitrate: codec == .opus ? settings.bitrate : settings.sampleRate * settings.channels * 16)
        let permissions = GrantedPermissions(queueControl: settings.permissions.allowQueueControl,
                                             playbackControl: settings.permissions.allowPlaybackControl, chat: settings.permissions.allowChat)
        let welcome = Welcome(sessionID: sessionID, hostID: deviceID, hostName: settings.deviceName, stream: stream, streamStart: streamStart,
                              nextSequence: nextSequence, permissions: permissions, t1: hello.t1, t2: received, t3: clock.now())
        client.state = .streaming
        send(client, welcome.frame)
        log.event(.clientConnected(clientID: hello.clientID, name: hello.clientName, address: client.address))
        log.info("\(client.label) plays \(codec.name); \(clients.filter(\.isStreaming).count) receiver(s) connected")
    }

    private func send(_ client: ClientConnection, _ frame: [UInt8]) {
        guard client.outbox.append(frame) else {
            drop(client, reason: .timeout, why: "receiver is not reading (queue full)")
            return
        }
        flush(client)
    }

    private func flush(_ client: ClientConnection) {
        guard client.channel.fileDescriptor >= 0 else { return }
        if case .failure(let e) = client.outbox.flush(to: &client.channel) {
            log.event(.networkError("\(client.label): \(e)"))
            close(client, reason: "network_error")
        }
    }

    /// A malformed or out-of-order frame: InvalidPacket, then the connection ends.
    private func invalid(_ client: ClientConnection, _ why: String) {
        log.failure(.invalidPacket("\(client.label): \(why)"))
        if client.isStreaming {
            drop(client, reason: .invalidPacket, why: nil)
        } else {
            reject(client, .invalidPacket(why), nil)
        }
    }

    /// REJECT before WELCOME, then close once it is flushed.
    private func reject(_ client: ClientConnection, _ error: AudioShareError, _ note: String?) {
        if case .invalidPacket = error {} else { log.failure(error) }
        var message = note ?? ""
        if message.isEmpty, case .unsupportedCodec(let m) = error { message = m }
        if message.isEmpty, case .invalidPacket(let m) = error { message = m }
        _ = client.outbox.append(Reject(error, message: message).frame)
        flush(client)
        client.state = .closing(deadline: clock.now() + 1_000_000)
    }

    /// BYE to a streaming receiver, then close once it is flushed.
    private func drop(_ client: ClientConnection, reason: ByeReason, why: String?) {
        if let why { log.info("\(client.label): \(why)") }
        _ = client.outbox.append(Bye(reason).frame)
        flush(client)
        log.event(.clientDisconnected(clientID: client.clientID, reason: reason.name))
        client.state = .closing(deadline: clock.now() + 1_000_000)
    }

    private func close(_ client: ClientConnection, reason: String? = nil) {
        if let reason, client.isStreaming {
            log.event(.clientDisconnected(clientID: client.clientID, reason: reason))
        }
        client.channel.close()
    }

    /// BYE to everyone, a moment for the bytes to leave, then stop.
    private func finish(reason: ByeReason, message: String, exitCode: Int32 = 0) -> Int32 {
        for client in clients where client.isStreaming {
            _ = client.outbox.append(Bye(reason).frame)
            flush(client)
            log.event(.clientDisconnected(clientID: client.clientID, reason: reason.name))
            client.state = .closing(deadline: 0)
        }
        let deadline = clock.now() + 2_000_000
        while clients.contains(where: { !$0.outbox.isEmpty && $0.channel.fileDescriptor >= 0 }) && clock.now() < deadline {
            var fds = clients.filter { !$0.outbox.isEmpty }.map { pollfd(fd: $0.channel.fileDescriptor, events: Int16(POLLOUT), revents: 0) }
            _ = poll(&fds, nfds_t(fds.count), 50)
            for client in clients where !client.outbox.isEmpty { flush(client) }
        }
        for client in clients { client.channel.close() }
        log.event(.streamStopped(sessionID: sessionID, reason: reason == .endOfStream ? message : reason.name))
        return exitCode
    }
}
