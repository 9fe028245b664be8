import Codec
import Config
import Core
import Platform
import ProtocolMessages
import Secure
import Transport

/// What wakes the host's control thread.
enum HostToken: Hashable {
    case signals, listener
    /// The source's descriptor (a pipe on stdin), watched while it has no frame ready.
    case source
    /// The next frame is due.
    case frame
    /// A receiver's connection, the deadline of its state, and its next read when a wake-up's
    /// budget left frames unread.
    case client(Int)
    case clientDeadline(Int)
    case clientRead(Int)
    /// The host's half of a receiver's password proof, worked out on a thread of its own.
    case clientProof(Int)
    /// The last moment for the goodbyes to leave when the host stops.
    case finish
    /// The service manager's watchdog is told the loop is alive (`ServiceNotifier`).
    case watchdog
    /// Avahi's descriptors and timers (`Advertiser`).
    case mdns(Int32)
    /// The local control socket (`mshost clients`, …), and each connection to it.
    case localControl
    case localPeer(Int)
}

/// The host's single control thread (DESIGN §4): one reactor serves the listener, every
/// receiver, the source and the frame clock. Each frame is read when due on the monotonic
/// clock, encoded once per codec in use and queued to every receiver; nothing waits on one
/// receiver.
///
/// `run()` is `start()` and then `step()` until the host is done; a test calls them itself,
/// on a `SteppedClock`, with `step(maxWait: 0)`.
public final class HostEngine {
    private let settings: SharingSettings
    private let log: Logger
    private let signals: ShutdownSignals
    private let transport: any ChannelTransport
    private let listener: TCPListener
    /// The stream's PCM and its encoder, from `start()`.
    private var source: PCMSource?
    private var encoder: FrameEncoder?
    private var reactor: Reactor<HostToken>
    private let sessionID = makeUUID()
    /// What the host tells the network and its receivers; its port is the listener's.
    private var advertisement: ServiceAdvertisement
    private var advertiser: Advertiser?
    /// Its JSON, for receivers that ask.
    private var advertisementFrame: [UInt8] = []
    /// Every receiver connection, for the engine and for whoever reads the client list.
    public let registry = ClientRegistry()
    /// The Opus encoder's look-ahead, told to receivers so they can take it off the schedule.
    private var codecDelay = 0
    private var streamStart: Microseconds = 0
    /// The buffer the group plays at (0 until a receiver says what it wants), and how far
    /// ahead in stream time a change of it is asked for: no receiver has played that yet, and
    /// every one hears of it before it comes.
    private var groupBuffer: Microseconds = 0
    static let bufferChangeNotice: Microseconds = 100_000
    private var sequence: UInt64 = 0
    /// What the host's player plays (`mshost now-playing`) and the stream time it was told at;
    /// AUDIO packets carry it when it changes and once a second, its position moved on.
    private var nowPlaying: (metadata: PacketMetadata, told: UInt64)?
    /// The stream time of the last packet that carried it; nil: changed since.
    private var metadataSent: UInt64?
    /// The recent frames of each codec encoded, for receivers that join.
    private var backlogs: [WireCodec: Backlog] = [:]
    /// Set once the host is stopping: the exit code and why.
    private var stopping: (code: Int32, reason: ByeReason)?
    private let admission: Admission
    private var limiter = ConnectionLimiter()
    /// Failed password proofs from every address, against the host's ceiling a minute.
    private let proofs = ProofBudget()
    /// Connections not yet welcomed the host holds at once, and from one address (each holds
    /// a TLS session of some 50 KB until its 5 s deadline).
    static let unauthenticatedLimit = 32
    static let unauthenticatedPerAddress = 4
    private var unauthenticatedLogged = Microseconds.min / 2
    private var sentAway = SentAway()
    private var localControl: LocalControlServer?
    /// systemd's notification socket, when systemd runs mshost.
    private let notifier: ServiceNotifier?

    /// Receivers connect on `listener` (`sharing.port`) over `transport`. `admission`: who may
    /// connect (a password to prove, certificates to accept); anyone by default.
    public init(
        settings: SharingSettings, log: Logger, signals: consuming ShutdownSignals, listener: consuming TCPListener,
        transport: any ChannelTransport = TCPTransport(), admission: Admission = Admission(), advertisement: ServiceAdvertisement,
        clock: any MonotonicClock = SystemClock(), notifier: ServiceNotifier? = nil
    ) {
        self.settings = settings
        self.listener = listener
        self.notifier = notifier
        self.advertisement = advertisement
        self.admission = admission
        self.log = log
        self.signals = signals
        self.transport = transport
        reactor = Reactor(clock: clock)
    }

    /// Streams until the source ends (exit 0), a signal (exit 0) or a fatal error (exit 1).
    public func run() -> Int32 {
        if let code = start() { return code }
        while true {
            if let code = step() { return code }
        }
    }

    /// Opens the source and the encoder, advertises the host and starts the stream; an exit
    /// code when it cannot.
    public func start() -> Int32? {
        do throws(SourceError) {
            source = try PCMSource.open(settings.source, rate: settings.sampleRate, channels: settings.channels, loop: settings.loop)
        } catch {
            log.error(error.description)
            return 1
        }
        let encoder: FrameEncoder
        do {
            encoder = try FrameEncoder(settings: settings)
        } catch {
            log.error("cannot create the Opus encoder: \(error)")
            return 1
        }
        self.encoder = encoder
        codecDelay = encoder.opusDelay
        log.info(
            "listening on port \(listener.port): \(settings.source), \(settings.codec.name) \(settings.sampleRate) Hz \(settings.channels) ch, "
                + "\(formatDuration(settings.frameDuration)) frames, \(settings.bitrate / 1000) kbit/s, up to \(settings.maxClients) receivers"
        )

        if signals.isWatched { reactor.register(.signals, fd: signals.fileDescriptor, interest: .read) }
        reactor.register(.listener, fd: listener.fileDescriptor, interest: .read)
        advertisement.port = listener.port
        advertisementFrame = advertisement.frame
        if settings.advertise, let advertiser = Advertiser(advertisement, name: settings.deviceName, log: log) {
            advertiser.report(log)
            advertiser.sync(&reactor)
            self.advertiser = advertiser
        }
        if let control = HostControl.open(settings: settings, log: log) {
            reactor.register(.localControl, fd: control.listener.fileDescriptor, interest: .read)
            localControl = control
            log.feed?.listener = { [unowned control] event in control.publish(LocalReply.event(event).line) }
        }
        if let fd = source?.waitDescriptor { reactor.register(.source, fd: fd, interest: []) }
        streamStart = reactor.now
        log.event(.streamStarted(sessionID: sessionID, start: streamStart))
        reactor.schedule(.frame, at: streamStart)
        notifier?.ready(&reactor, token: .watchdog)
        return nil
    }

    /// Serves what is ready or due, waiting at most `maxWait` (nil: until something is); the
    /// exit code once the host is done.
    public func step(maxWait: Microseconds? = nil) -> Int32? {
        for event in reactor.wait(maxWait: maxWait) {
            switch event {
            case .ready(.signals, _):
                if signals.take() != nil { stop() }
            case .ready(.listener, _):
                while let channel = transport.accept(from: listener) {
                    let source = ConnectionLimiter.source(of: channel.peerDescription)
                    switch limiter.connection(from: source, now: reactor.now) {
                    case .admit:
                        if let why = tooManyUnauthenticated(from: source) {
                            if reactor.now - unauthenticatedLogged >= 10_000_000 {
                                unauthenticatedLogged = reactor.now
                                log.info("refusing connections from \(source) while \(why)")
                            }
                            channel.close()
                        } else {
                            admit(channel)
                        }
                    case .refuse(_, let why):
                        if let why { log.info(why) }
                        channel.close()
                    }
                }
            case .ready(.source, _), .timer(.frame):
                if stopping == nil { produce() }
            case .ready(.client(let id), let interest):
                guard let client = registry[id] else { continue }
                serve(client, interest)
            case .timer(.clientRead(let id)):
                guard let client = registry[id] else { continue }
                serve(client, .read)
            case .ready(.clientProof(let id), _):
                reactor.unregister(.clientProof(id))
                guard let client = registry[id] else { continue }
                client.proofReady(now: reactor.now)
                sync(client)
            case .timer(.clientDeadline(let id)):
                guard let client = registry[id] else { continue }
                client.deadlinePassed(now: reactor.now)
                sync(client)
                agreeOnBuffer()
            case .ready(.mdns(let id), _), .timer(.mdns(let id)):
                advertiser?.handle(event, id: id, &reactor, log: log)
            case .ready(.localControl, _):
                localControl?.accept(into: &reactor, as: HostToken.localPeer)
            case .ready(.localPeer(let id), _):
                localControl?.ready(id, tooLong: LocalReply.tooLong.line) { line in
                    let request: LocalRequest
                    do throws(ProtocolError) { request = try LocalRequest.decode(line) } catch {
                        return LocalControlServer.Answer(LocalReply.failed(error.description).line)
                    }
                    if case .events = request { return LocalControlServer.Answer(LocalReply.done.line, follow: true) }
                    return LocalControlServer.Answer(answer(request).line)
                }
            case .timer(.finish):
                for client in registry.all { client.close() }
            case .timer(.watchdog):
                notifier?.pingWatchdog(&reactor, token: .watchdog)
            default:
                break
            }
            syncLocalControl()
        }
        if let stopping, !registry.all.contains(where: { $0.state != .closed && $0.hasPendingOutput }) {
            for client in registry.all { client.close() }
            localControl?.closeAll()
            log.event(.streamStopped(sessionID: sessionID, reason: stopping.reason))
            return stopping.code
        }
        return nil
    }

    /// What SIGINT and SIGTERM do: BYE to every receiver; `step()` returns 0 once the goodbyes
    /// have left, or after 2 s.
    public func stop() { finishStream(.shuttingDown, code: 0) }

    /// Reads, encodes and sends every frame that is due, then waits for the next.
    private func produce() {
        // Out of its property while it reads: a copy left there would make each read copy it.
        guard var source, let encoder else { return }
        self.source = nil
        defer { self.source = source }
        while true {
            let due = streamStart + Microseconds(sequence) * settings.frameDuration
            guard reactor.now >= due else {
                reactor.setInterest(.source, [])
                return reactor.schedule(.frame, at: due)
            }
            switch source.read(into: encoder.pcm, frames: encoder.frameSamples) {
            case .frame:
                let (codecs, tiers) = inUse()
                let frames = encoder.encode(sequence: sequence, metadata: metadataDue(at: sequence * UInt64(settings.frameDuration)), for: codecs, tiers: tiers)
                for client in registry.streaming {
                    if let tier = client.wantedTier, encoder.isWarm(tier, at: sequence) { client.switchToWantedTier(now: reactor.now) }
                }
                broadcast(frames)
                keep(frames)
                sequence += 1
            case .notReady:
                // A pipe slower than real time: its next bytes, or another look in 5 ms.
                reactor.setInterest(.source, .read)
                return reactor.schedule(.frame, after: 5_000)
            case .ended:
                if sequence > 0 {
                    let last = sequence - 1
                    broadcast(encoder.flush(sequence: last, for: inUse().codecs))
                }
                return finishStream(.endOfStream, code: 0)
            case .failed(let why):
                log.error(why)
                return finishStream(.shuttingDown, code: 1)
            }
        }
    }

    /// The metadata the packet at `timestamp` carries, if it is due: changed, or a second since
    /// it was last sent (a receiver that joins learns it within a second).
    private func metadataDue(at timestamp: UInt64) -> [UInt8]? {
        guard let (metadata, told) = nowPlaying else { return nil }
        if let sent = metadataSent, timestamp < sent + 1_000_000 { return nil }
        metadataSent = timestamp
        return metadata.movedOn(by: Int64(timestamp) - Int64(told)).encoded
    }

    /// The codecs receivers play and the Opus tiers they are sent or are to be switched to, and
    /// the host's own codec's best always: its backlog is ready for whoever joins.
    private func inUse() -> (codecs: SmallSet, tiers: SmallSet) {
        var codecs = SmallSet([settings.codec])
        var tiers = SmallSet()
        tiers.insert(0)
        for client in registry.streaming {
            codecs.insert(client.codec)
            tiers.insert(client.tier)
            if let wanted = client.wantedTier { tiers.insert(wanted) }
        }
        return (codecs, tiers)
    }

    /// The best tier's frames, for receivers that join.
    private func keep(_ frames: FrameEncoder.Frames) {
        for codec in [WireCodec.opus, .pcm, .flac] {
            guard let frame = frames[codec] else { continue }
            backlogs[codec, default: Backlog(frameDuration: settings.frameDuration)].append(frame, timestamp: frames.timestamp(of: codec))
        }
    }

    private func broadcast(_ frames: FrameEncoder.Frames) {
        let now = reactor.now
        for client in registry.streaming {
            guard let frame = frames[client.codec, tier: client.tier] else { continue }
            client.sendAudio(frame, now: now)
            sync(client)
        }
    }

    private func admit(_ channel: any ByteChannel) {
        let now = reactor.now
        let client = registry.add {
            ClientConnection(
                id: $0, channel: channel, now: now, log: log, admission: admission, permissions: settings.permissions,
                advertisement: advertisementFrame, clock: reactor.clock, proofs: proofs)
        }
        reactor.register(.client(client.id), fd: channel.fileDescriptor, interest: .read)
        sync(client)
    }

    /// Connections that have not authenticated yet hold TLS sessions, not places on the client
    /// list (`max_clients` counts welcomed receivers): a stranger could otherwise fill the list
    /// with bare connects. They have caps of their own, over all and per address; nil when
    /// another may come from `source`, else why not.
    private func tooManyUnauthenticated(from source: String) -> String? {
        let waiting = registry.unauthenticated(from: source)
        if waiting.fromSource >= Self.unauthenticatedPerAddress {
            return "\(waiting.fromSource) connections from there have not authenticated yet"
        }
        if waiting.all >= Self.unauthenticatedLimit { return "\(waiting.all) connections have not authenticated yet" }
        return nil
    }

    /// What a receiver's connection is ready for (or has left to read).
    private func serve(_ client: ClientConnection, _ interest: Interest) {
        client.ready(interest, now: reactor.now) { hello, received in
            let answer = negotiate(hello, received: received, certificate: client.certificate)
            if case .welcome = answer { limiter.succeeded(client.source) }
            return answer
        }
        sync(client)
        agreeOnBuffer()
    }

    /// Watches a client for what it now needs, and forgets it once closed.
    private func sync(_ client: ClientConnection) {
        // A proof the host answered is a guess from that moment: its address waits from now, not
        // from when the connection ends (a guesser that reconnects at once was let in again
        // before its close was seen). A WELCOME after it clears the wait.
        if client.failedAttempt && !client.addressPenalized && (client.failedProof || client.state == .closed) {
            limiter.failed(client.source, now: reactor.now)
            client.addressPenalized = true
        }
        if client.state == .closed {
            client.settleProof()
            reactor.unregister(.client(client.id))
            reactor.unregister(.clientProof(client.id))
            reactor.cancelTimer(.clientDeadline(client.id))
            reactor.cancelTimer(.clientRead(client.id))
            registry.remove(client.id)
            return
        }
        reactor.setInterest(.client(client.id), client.interest)
        if let proof = client.proofDescriptor {
            // Its reading waits for the host's half of the proof.
            reactor.register(.clientProof(client.id), fd: proof, interest: .read)
        } else if client.hasMoreToRead {
            reactor.schedule(.clientRead(client.id), at: reactor.now)
        }
        if let deadline = client.deadline {
            reactor.schedule(.clientDeadline(client.id), at: deadline)
        } else {
            reactor.cancelTimer(.clientDeadline(client.id))
        }
    }

    /// The group plays at the largest buffer any of its receivers wants (DESIGN §6): when that
    /// moves, every receiver is told to play at it from a little ahead in stream time, so they
    /// all change at the same packet. With none left that says, there is no group to keep.
    private func agreeOnBuffer() {
        let wanted = registry.streaming.compactMap(\.wantedBuffer).max() ?? 0
        guard wanted != groupBuffer else { return }
        guard wanted > 0 else {
            groupBuffer = 0
            return
        }
        let from = reactor.now - streamStart + Self.bufferChangeNotice
        log.info(
            "the group plays \(formatDuration(wanted)) behind this host from stream time "
                + "\(formatDuration(from))\(groupBuffer > 0 ? " (was \(formatDuration(groupBuffer)))" : "")"
        )
        groupBuffer = wanted
        for client in registry.streaming {
            client.tell(Control(.buffer(wanted, from: from)), now: reactor.now)
            sync(client)
        }
    }

    /// The local control connections whose interest changed (answers, events) are watched for it.
    private func syncLocalControl() { localControl?.sync(&reactor, as: HostToken.localPeer) }

    /// A request on the local control socket (`mshost clients`, `kick`, …).
    public func answer(_ request: LocalRequest) -> LocalReply {
        let now = reactor.now
        func client(_ id: Int) -> ClientConnection? {
            guard let client = registry[id], client.state != .closed, !client.isClosing else { return nil }
            return client
        }
        let unknown = { (id: Int) in LocalReply.failed("no receiver \(id) is connected (mshost clients lists them)") }
        switch request {
        case .clients:
            return .clients(registry.clients(now: now, bitrate: settings.bitrate(of:)))
        case .kick(let id, let seconds):
            guard let c = client(id) else { return unknown(id) }
            let how = seconds.map { "for \(formatDuration(Microseconds($0) * 1_000_000))" } ?? "until it restarts"
            // BYE is what tells a receiver to stay away; one still joining would only come back.
            guard c.isStreaming else { return .failed("receiver \(id) is still joining (authenticating); kick it once it streams") }
            c.bye(.kicked, why: "kicked by this host's user; it stays away \(how)", stayAwaySeconds: seconds, now: now)
            // Held here too, by its id and its certificate: a receiver that ignores the BYE is refused.
            sentAway.send(clientID: c.clientID, certificate: c.certificate, for: seconds, now: now)
            sync(c)
            return .done
        case .volume(let id, let level):
            guard let c = client(id), c.isStreaming else { return unknown(id) }
            c.tell(Control(.volume(level)), now: now)
            sync(c)
            return .done
        case .mute(let id, let on):
            guard let c = client(id), c.isStreaming else { return unknown(id) }
            c.tell(Control(.mute(on)), now: now)
            sync(c)
            return .done
        case .nowPlaying(let told):
            var metadata = nowPlaying?.metadata ?? PacketMetadata()
            if let song = told.songID {
                // Another song starts where it is said to, or nowhere known.
                if song != metadata.songID { metadata.position = nil }
                metadata.songID = song
            }
            if let position = told.position { metadata.position = position }
            if let volume = told.volume { metadata.volume = volume }
            guard metadata.encoded != nil else { return .failed("song_id is too long: the metadata must fit in \(AudioPacketHeader.maxMetadata) bytes") }
            nowPlaying = (metadata, UInt64(max(0, now - streamStart)))
            metadataSent = nil
            log.info(
                "now playing: "
                    + [
                        metadata.songID.map { "\"\(printable($0))\"" }, metadata.position.map { "at \($0) s" },
                        metadata.volume.map { "house volume \(Int(($0 * 100).rounded()))" },
                    ].compactMap { $0 }.joined(separator: ", "))
            return .done
        case .events, .status:
            return .failed("\(request.name) is not a host's to answer")
        }
    }

    /// What a receiver's HELLO gets: the stream in the first codec both sides have.
    private func negotiate(_ hello: Hello, received: Microseconds, certificate: Fingerprint?) -> ClientConnection.Negotiation {
        if let left = sentAway.away(clientID: hello.clientID, certificate: certificate, now: reactor.now) {
            let how = left.map { "for \(formatDuration($0)) more" } ?? "until this host restarts"
            log.info("\(printable(hello.clientName)) (\(hello.clientID)): sent away by this host's user \(how); refused")
            return .sentAway(message: "this receiver was sent away by the host's user \(how)")
        }
        guard registry.streaming.count < settings.maxClients else {
            return .reject(.clientLimitReached, message: "this host serves at most \(settings.maxClients) receivers (sharing.max_clients)")
        }
        let offered = settings.offeredCodecs
        guard let codec = offered.first(where: { hello.audioFormats.contains($0.name) }) else {
            let why = "receiver offers \(hello.audioFormats.joined(separator: ", ")); this host streams \(offered.map(\.name).joined(separator: " or "))"
            return .reject(.unsupportedCodec(why), message: why)
        }
        let stream = StreamDescription(
            codec: codec, sampleRate: settings.sampleRate, channels: settings.channels,
            frameSamples: settings.samplesPerFrame, codecDelay: codec == .opus ? codecDelay : 0,
            bitrate: settings.bitrate(of: codec))
        let permissions = GrantedPermissions(
            queueControl: settings.permissions.allowQueueControl,
            playbackControl: settings.permissions.allowPlaybackControl, chat: settings.permissions.allowChat)
        // What the receiver's buffer still holds of the past (the group's, if that is longer): it
        // starts with the first of these that can be on time instead of waiting out its buffer.
        let buffer = min(max(parseDuration(hello.maxBufferSize) ?? 0, groupBuffer, 0), Backlog.span)
        let elapsed = reactor.now - streamStart
        let backlog = backlogs[codec]?.frames(from: UInt64(max(elapsed - buffer, 0))) ?? []
        log.info(
            "\(hello.clientName) (\(hello.clientID)) plays \(codec.name), from \(backlog.count) recent packet(s); \(registry.streaming.count + 1) "
                + "receiver(s) connected"
        )
        return .welcome(
            Welcome(
                sessionID: sessionID, hostID: advertisement.deviceID, hostName: settings.deviceName, stream: stream, streamStart: streamStart,
                nextSequence: sequence, permissions: permissions, buffer: groupBuffer, t1: hello.t1, t2: received, t3: reactor.now), codec: codec,
            backlog: backlog, delivery: delivery(codec, buffer: buffer))
    }

    /// A receiver's bitrates, and the audio that may wait for its path: what leaves after half
    /// its buffer's worth arrives too late to play (a buffer not said, or shorter than 200 ms,
    /// counts as 200 ms).
    private func delivery(_ codec: WireCodec, buffer: Microseconds) -> ClientConnection.Delivery {
        ClientConnection.Delivery(
            bitrates: codec == .opus && settings.adaptiveBitrate ? settings.opusTiers : [settings.bitrate(of: codec)],
            queueBudget: max(buffer, 200_000) / 2)
    }

    /// BYE to everyone; the loop ends once the goodbyes have left, or after 2 s.
    private func finishStream(_ reason: ByeReason, code: Int32) {
        guard stopping == nil else { return }
        notifier?.send("STOPPING=1")
        stopping = (code, reason)
        let now = reactor.now
        reactor.unregister(.listener)
        reactor.unregister(.source)
        advertiser?.close(&reactor)
        advertiser = nil
        reactor.cancelTimer(.frame)
        for client in registry.all {
            if client.isStreaming { client.bye(reason, why: nil, now: now) } else { client.close() }
            sync(client)
        }
        reactor.schedule(.finish, after: 2_000_000)
    }
}
