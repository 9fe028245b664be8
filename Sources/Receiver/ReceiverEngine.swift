#if canImport(Glibc)
import Glibc
#endif
import Audio
import Config
import Core
import ProtocolMessages
import Transport

/// The receiver daemon's control thread (DESIGN §4): one reactor serves the shutdown signals,
/// the channel to the host and every timer, through a session's phases: connect and handshake,
/// stream, and on the way out the last BYE. A session that ends for any reason other than a
/// shutdown is retried with backoff. It may allocate; the audio thread never does.
public final class ReceiverEngine {
    private let settings: ReceivingSettings
    private let log: Logger
    private let signals: ShutdownSignals
    private let transport: any ChannelTransport
    private let clientID = makeUUID()
    private var reactor: Reactor<ReceiverToken>
    private var pool: PacketPool?
    private var incoming: SPSCRing?
    private var backoff = ReceiverEngine.firstBackoff
    private var phase = Phase.idle

    private enum Phase {
        case idle
        case handshake(HandshakePhase, remaining: [SocketAddress])
        case streaming(StreamSession<AlsaOutput>)
        /// Shutting down: our BYE is on its way out.
        case leaving(any ByteChannel, OutputQueue)
    }

    static let firstBackoff: Microseconds = 500_000
    static let longestBackoff: Microseconds = 10_000_000
    /// After a password was refused: not a retry every few seconds that hammers a host (and
    /// fills its log) with a password that will not change until someone edits the config.
    static let refusedBackoff: Microseconds = 30_000_000
    private let password: PasswordKeys?

    public init(settings: ReceivingSettings, log: Logger, signals: consuming ShutdownSignals, transport: any ChannelTransport = TCPTransport(),
                clock: any MonotonicClock = SystemClock()) {
        self.settings = settings
        self.log = log
        self.signals = signals
        self.transport = transport
        password = settings.password.map(PasswordKeys.init)
        reactor = Reactor(clock: clock)
    }

    /// Runs until SIGINT/SIGTERM; the process exit code.
    public func run() -> Int32 {
        guard let hostText = settings.host, let (host, port) = parseHostPort(hostText) else {
            log.error("receiving.host is not set and this build has no mDNS discovery yet: set \"HOST:PORT\" in the config")
            return 2
        }
        AlsaLibrary.silenceLibraryErrors()
        reactor.register(.signals, fd: signals.fileDescriptor, interest: .read)
        connect(host: host, port: port)
        while true {
            for event in reactor.wait() {
                if case .ready(.signals, _) = event, signals.take() != nil {
                    if leave() { return 0 }
                    continue
                }
                if case .timer(.retry) = event {
                    connect(host: host, port: port)
                    continue
                }
                if let code = handle(event) { return code }
            }
        }
    }

    /// One event for the current phase; an exit code when the daemon is done.
    private func handle(_ event: Reactor<ReceiverToken>.Event) -> Int32? {
        switch phase {
        case .idle:
            break
        case .handshake(let handshake, let remaining):
            switch event {
            case .ready(.host, _): advance(handshake, remaining: remaining)
            case .timer(.handshake):
                log.failure(.connectionTimeout)
                log.info("no WELCOME from \(handshake.channel.peerDescription) within \(formatDuration(HandshakePhase.timeout))")
                endSession(streamed: false)
            default: break
            }
        case .streaming(let session):
            if let end = session.handle(event, &reactor) { finish(session, end) }
        case .leaving(let channel, var outbox):
            switch event {
            case .ready(.host, _):
                guard case .wouldBlock = outbox.flush(to: channel) else { return 0 }
                phase = .leaving(channel, outbox)
            case .timer(.leave): return 0
            default: break
            }
        }
        return nil
    }

    private func connect(host: String, port: UInt16) {
        // What ran before (configuration, this device's identity, the last session) is done
        // with. Released now, its code and the TLS handshake's (key exchange, certificates: a
        // megabyte of pages) are never resident together; the handshake's goes when the
        // stream starts. The last session's lock would keep it: undone first.
        unlockAllPages()
        releaseStartUpCode()
        switch SocketAddress.resolve(host: host, port: port) {
        case .success(let addresses): dial(addresses[...])
        case .failure(let e):
            log.event(.networkError(e.description))
            endSession(streamed: false)
        }
    }

    /// Starts connecting to the first of `addresses`; the rest are tried if it fails.
    private func dial(_ addresses: ArraySlice<SocketAddress>) {
        guard let address = addresses.first else { return endSession(streamed: false) }
        switch transport.connect(to: address) {
        case .success(let channel):
            let handshake = HandshakePhase(channel: channel, hello: { [clientID, settings] t1 in
                Handshake.hello(clientID: clientID, settings: settings, t1: t1)
            }, password: password, log: log)
            reactor.register(.host, fd: channel.fileDescriptor, interest: .write)
            reactor.schedule(.handshake, after: HandshakePhase.timeout)
            advance(handshake, remaining: Array(addresses.dropFirst()))
        case .failure(let e):
            guard addresses.count > 1 else {
                log.event(.networkError(e.description))
                return endSession(streamed: false)
            }
            dial(addresses.dropFirst())
        }
    }

    private func advance(_ handshake: HandshakePhase, remaining: [SocketAddress]) {
        switch handshake.advance(clock: reactor.clock) {
        case .waiting(let interest):
            reactor.setInterest(.host, interest)
            phase = .handshake(handshake, remaining: remaining)
        case .unreachable(let why):
            reactor.unregister(.host)
            reactor.cancelTimer(.handshake)
            handshake.channel.close()
            guard !remaining.isEmpty else {
                log.event(.networkError(why))
                return endSession(streamed: false)
            }
            dial(remaining[...])
        case .failed:
            handshake.channel.close()
            endSession(streamed: false)
        case .refused:
            handshake.channel.close()
            backoff = max(backoff, Self.refusedBackoff)
            endSession(streamed: false)
        case .welcomed(let accepted):
            reactor.cancelTimer(.handshake)
            startStreaming(handshake, accepted)
        }
    }

    private func startStreaming(_ handshake: HandshakePhase, _ accepted: Handshake.Accepted) {
        let welcome = accepted.welcome, format = accepted.format
        guard format.isPlayable, settings.audioFormats.contains(format.codec.name) else {
            log.failure(.unsupportedCodec("host offered \(format.codec.name) \(format.sampleRate) Hz \(format.channels) ch, \(format.frameSamples) frames per packet"))
            handshake.channel.close()
            return endSession(streamed: false)
        }
        // What ran so far (configuration, connecting, the handshake) is done with until the next
        // session: its code need not stay mapped while the stream plays. No audio thread runs yet.
        // The last session's lock would keep it (and a locked page cannot be released).
        unlockAllPages()
        releaseStartUpCode()
        var clockSync = ClockSync()
        clockSync.add(accepted.exchange)
        let clockMapping = SharedClockMapping(clockSync.estimator.mapping)
        let schedule = PlayoutSchedule(streamStart: welcome.streamStart, latency: settings.bufferSize)
        // The device before the pool: the memory alsa-lib frees after parsing its configuration
        // is then reused by the pool. A device that is not there does not end the session.
        let output = AlsaOutput(settings: settings.audioOutput)
        let device = output.open(format: format, latency: settings.bufferSize)
        let (pool, incoming) = preparePool(format: format)
        let counters = PlayoutCounters()
        counters.volumeQ15.store(Gain(volume: settings.audioOutput.volume).q15, ordering: .relaxed)
        log.event(.connected(host: welcome.hostName.isEmpty ? handshake.channel.peerDescription : welcome.hostName, codec: format.codec.name,
                             sampleRate: format.sampleRate, channels: format.channels))
        let session = StreamSession(channel: handshake.channel, reader: handshake.takeReader(), format: format, schedule: schedule, pool: pool,
                                    incoming: incoming, counters: counters, clockSync: clockSync, clockMapping: clockMapping,
                                    readInterval: AlsaOutput.readInterval(latency: settings.bufferSize), output: output, log: log)
        phase = .streaming(session)
        let end = session.start(&reactor, device: device)
        log.info("stream \(welcome.sessionID): \(format.codec.name) \(format.sampleRate) Hz, \(format.channels) ch, \(formatDuration(format.frameDuration)) frames, buffer \(formatDuration(settings.bufferSize)), pool \(pool.slotCount) × \(pool.slotCapacity) B, clock offset \(clockSync.estimator.mapping.offset) µs, audio thread \(session.realtimeGranted ? "SCHED_FIFO" : "normal priority")")
        if let end { finish(session, end) }
    }

    /// The session is over: the audio thread stops, what it counted is logged, and the host is
    /// tried again later.
    private func finish(_ session: StreamSession<AlsaOutput>, _ end: StreamSession<AlsaOutput>.End) {
        session.end(&reactor)
        session.channel.close()
        guard case .retry(let reason) = end else { return }
        log.event(.disconnected(reason: reason))
        endSession(streamed: session.counters.packetsPlayed.load(ordering: .relaxed) > 0)
    }

    /// Forgets the channel and schedules the next attempt: sooner after a session that played.
    private func endSession(streamed: Bool) {
        reactor.unregister(.host)
        reactor.cancelTimer(.handshake)
        phase = .idle
        if streamed { backoff = Self.firstBackoff }
        log.info("reconnecting to \(settings.host ?? "") in \(formatDuration(backoff))")
        reactor.schedule(.retry, after: backoff)
        backoff = min(backoff * 2, Self.longestBackoff)
    }

    /// SIGINT/SIGTERM: a streaming session says BYE (given 200 ms to leave); true when there is
    /// nothing left to wait for.
    private func leave() -> Bool {
        guard case .streaming(let session) = phase else { return true }
        session.end(&reactor)
        log.event(.disconnected(reason: ByeReason.shuttingDown.name))
        var outbox = OutputQueue(capacity: 64)
        _ = outbox.append(Bye(.leaving).frame)
        guard case .wouldBlock(let interest) = outbox.flush(to: session.channel) else { return true }
        reactor.setInterest(.host, interest)
        reactor.cancelTimer(.retry)
        reactor.schedule(.leave, after: 200_000)
        phase = .leaving(session.channel, outbox)
        return false
    }

    /// The pool is allocated once and kept while later sessions fit in it.
    private func preparePool(format: StreamFormat) -> (PacketPool, SPSCRing) {
        let slots = packetPoolSlots(bufferSize: settings.bufferSize, frameDuration: format.frameDuration)
        if let pool, let incoming, pool.slotCount >= slots, pool.slotCapacity >= format.maxAudioPayload {
            return (pool, incoming)
        }
        let newPool = PacketPool(slotCount: slots, slotCapacity: format.maxAudioPayload)
        let newRing = SPSCRing(capacity: slots)
        pool = newPool
        incoming = newRing
        return (newPool, newRing)
    }
}
