import Audio
import Board
import Config
import Core
import Discovery
import Platform
import ProtocolMessages
import Secure
import Transport

#if canImport(Glibc)
import Glibc
#endif

/// Where a session connects: the configured address, or the host discovery picked.
public struct HostTarget: Equatable, Sendable {
    /// For the log: the address as configured, or the host's mDNS name and where it is.
    public var label: String
    /// Where to connect, in order: the configured host and port, or every address discovery saw.
    public var endpoints: [DiscoveredHost.Endpoint]
    /// What its certificate is pinned under: the address as configured, or its device_id.
    public var pinKey: String
    /// The fingerprint its mDNS advertisement gives, if any: what it must present.
    public var advertisedFingerprint: String?
}

/// How long the receiver waits before it tries a host again, and for discovery to settle.
public enum ReceiverTiming {
    public static let firstBackoff: Microseconds = 500_000
    public static let longestBackoff: Microseconds = 5_000_000
    /// For a minute after a session that played, a host that restarts or a path that comes
    /// back is tried at least this often: the music is back within this of its return.
    public static let longestBackoffAfterPlaying: Microseconds = 2_000_000
    public static let afterPlaying: Microseconds = 60_000_000
    /// After a password was refused: not a retry every few seconds that hammers a host (and
    /// fills its log) with a password that will not change until someone edits the config.
    public static let refusedBackoff: Microseconds = 30_000_000
    /// Discovery quiet this long since its last change: a host not named can be picked.
    public static let settleTime: Microseconds = 1_000_000
}

/// The receiver daemon's control thread (DESIGN §4): one reactor serves the shutdown signals,
/// mDNS, the channel to the host and every timer, through a session's phases: find the host
/// (when none is configured), connect and handshake, stream, and on the way out the last BYE.
/// A session that ends for any reason other than a shutdown is retried with backoff, through
/// discovery again: a host that moved is found where it is now. It may allocate; the audio
/// thread never does.
///
/// `Output` is the card: ALSA and a real-time thread on a speaker, a simulated card stepped by
/// a test. `run()` is `start()` and then `step()` until the daemon is done; a test calls them
/// itself, on a `SteppedClock`, with `step(maxWait: 0)`.
public final class ReceiverEngine<Output: AudioOutput> {
    private let settings: ReceivingSettings
    private let log: Logger
    private let signals: ShutdownSignals
    /// The transport for one target (TLS checks the certificate against what the target expects).
    private let transport: (HostTarget) -> any ChannelTransport
    private let clientID = makeUUID()
    private var reactor: Reactor<ReceiverToken>
    private var pool: PacketPool?
    private var incoming: SPSCRing?
    private var backoff = ReceiverTiming.firstBackoff
    private var phase = Phase.idle
    private let output: Output
    /// Kept across sessions: what the host's user or a button last set.
    private let volume: SpeakerVolume
    /// The hosts whose users sent this receiver away (by pin key), and until when (nil: until
    /// msrecv restarts).
    private var sentAway: [String: Microseconds?] = [:]
    private var localControl: LocalControlServer?
    /// The speaker's buttons, LEDs and amplifier line (`board`), if it has any.
    private let board: BoardController?
    /// The host refused this speaker's password or certificate: the status LED says so until a
    /// handshake succeeds.
    private var authenticationFailed = false
    /// What the host playing now calls itself (WELCOME).
    private var playingHostName = ""
    /// The clock estimate of the last session, and the host (pin key) it is of: a reconnect to
    /// that host plays on schedule at once instead of learning its clock again.
    private var lastClock: (pinKey: String, sync: ClockSync)?
    private let advice = OwnerAdvice()

    private enum Phase {
        case idle
        /// Waiting for discovery to find the host to play.
        case discovering
        /// The target's name is being looked up, off this thread.
        case resolving(BackgroundWork<Result<[SocketAddress], TransportError>>)
        case handshake(HandshakePhase, remaining: [SocketAddress])
        case streaming(StreamSession<Output>)
        /// Shutting down: our BYE is on its way out.
        case leaving(any ByteChannel, OutputQueue)
    }

    /// When the last session that played ended.
    private var playedUntil: Microseconds?
    private let password: PasswordKeys?

    /// The configured host, or nil: discovery (`finder`) picks one.
    private var configured: HostTarget?
    /// The configured host's address failed last time (`movedHost`).
    private var configuredFailed = false
    private var finder: (any HostDiscovery)?
    /// Starts discovery (mDNS on a speaker).
    private let discover: (Logger) throws(DiscoveryError) -> any HostDiscovery
    private var target: HostTarget?
    /// Discovery has been quiet for `ReceiverTiming.settleTime` since its last change: a host not named can be picked.
    private var settled = false
    /// Whether this receiver has played a host (by device_id) before and pinned its key: such
    /// a host is dialled as soon as discovery resolves it, without waiting for quiet.
    /// Which hosts it plays, with TLS; nil without.
    private let trust: HostTrust?
    /// The last hosts-found line logged, so that a wait logs each new situation once.
    private var lastDiscoveryNote = ""
    /// systemd's notification socket, when systemd runs msrecv.
    private let notifier: ServiceNotifier?

    public init(
        settings: ReceivingSettings, log: Logger, signals: consuming ShutdownSignals, output: Output,
        transport: @escaping (HostTarget) -> any ChannelTransport = { _ in TCPTransport() },
        board: BoardController? = nil, clock: any MonotonicClock = SystemClock(), trust: HostTrust? = nil,
        discover: @escaping (Logger) throws(DiscoveryError) -> any HostDiscovery = { log throws(DiscoveryError) in try HostFinder(log: log) },
        notifier: ServiceNotifier? = nil
    ) {
        self.settings = settings
        self.notifier = notifier
        self.output = output
        self.discover = discover
        self.trust = trust
        self.log = log
        self.signals = signals
        self.transport = transport
        self.board = board
        password = settings.password.map(PasswordKeys.init)
        volume = SpeakerVolume(configuredGain: settings.audioOutput.volume, independent: settings.audioOutput.independentVolume)
        reactor = Reactor(clock: clock)
    }

    /// Runs until SIGINT/SIGTERM; the process exit code.
    public func run() -> Int32 {
        if let code = start() { return code }
        while true {
            if let code = step() { return code }
        }
    }

    /// Starts discovery, the local control socket and the buttons, and the first connection;
    /// an exit code when the receiver cannot run.
    public func start() -> Int32? {
        if let hostText = settings.host {
            guard let (host, port) = parseHostPort(hostText) else {
                log.error("receiving.host: expected \"HOST:PORT\", got \"\(hostText)\"")
                return 2
            }
            configured = HostTarget(label: hostText, endpoints: [DiscoveredHost.Endpoint(address: host, port: port)], pinKey: hostText)
            if settings.autoDiscover {
                // Only a help: without it the configured address is played all the same.
                do {
                    finder = try discover(log)
                    _ = finder?.handle(nil, id: 0, &reactor, token: ReceiverToken.mdns)
                    log.info("also looking over mDNS for the host pinned for \(hostText), should its address change")
                } catch {
                    log.warning("receiving.auto_discover: \(error); only \(hostText) is tried")
                }
            }
        } else {
            do {
                finder = try discover(log)
            } catch {
                log.error("\(error); or set receiving.host to the host's \"HOST:PORT\"")
                return 1
            }
            log.info("looking for \(wanted) over mDNS (\(MDNSService.type))")
            _ = finder?.handle(nil, id: 0, &reactor, token: ReceiverToken.mdns)
            // Nothing found is news too, once discovery has had its time.
            reactor.schedule(.settle, after: ReceiverTiming.settleTime)
        }
        AlsaLibrary.silenceLibraryErrors()
        if signals.isWatched { reactor.register(.signals, fd: signals.fileDescriptor, interest: .read) }
        if let control = ReceiverControl.open(settings: settings, log: log) {
            reactor.register(.localControl, fd: control.listener.fileDescriptor, interest: .read)
            localControl = control
        }
        for (index, input) in (board?.inputs ?? []).enumerated() {
            if let fd = input?.line.descriptor { reactor.register(.button(index), fd: fd, interest: .read) }
        }
        connect()
        notifier?.ready(&reactor, token: .watchdog)
        return nil
    }

    /// Serves what is ready or due, waiting at most `maxWait` (nil: until something is); the
    /// exit code once the receiver is done.
    public func step(maxWait: Microseconds? = nil) -> Int32? {
        for event in reactor.wait(maxWait: maxWait) {
            switch event {
            case .ready(.signals, _):
                if signals.take() != nil, let code = stop() { return code }
            case .timer(.retry):
                connect()
            case .ready(.mdns(let id), _), .timer(.mdns(let id)):
                if finder?.handle(event, id: id, &reactor, token: ReceiverToken.mdns) == true { discoveryChanged() }
            case .timer(.settle):
                settled = true
                pickDiscoveredHost()
            case .timer(.sentAwayOver):
                pickDiscoveredHost()
                scheduleSentAwayOver()
            case .ready(.localControl, _):
                localControl?.accept(into: &reactor, as: ReceiverToken.localPeer)
            case .ready(.localPeer(let id), _):
                localControl?.ready(id, tooLong: LocalReply.tooLong.line) { line in
                    let request: LocalRequest
                    do throws(ProtocolError) { request = try LocalRequest.decode(line) } catch {
                        return LocalControlServer.Answer(LocalReply.failed(error.description).line)
                    }
                    guard case .status = request else {
                        return LocalControlServer.Answer(LocalReply.failed("a receiver answers status; \(request.name) is mshost's").line)
                    }
                    return LocalControlServer.Answer(LocalReply.status(status()).line)
                }
            case .ready(.button(let index), _):
                guard let actions = board?.inputReady(index, now: reactor.now) else {
                    reactor.unregister(.button(index))
                    break
                }
                pressed(actions)
            case .timer(.board):
                pressed(board?.poll(reactor.now) ?? [])
            case .timer(.closeCard):
                output.closeKeptDevice()
            case .timer(.watchdog):
                if case .streaming(let session) = phase {
                    notifier?.pingWatchdog(&reactor, token: .watchdog, healthy: session.audioThreadIsWell())
                } else {
                    notifier?.pingWatchdog(&reactor, token: .watchdog)
                }
            default:
                if let code = handle(event) { return code }
            }
            localControl?.sync(&reactor, as: ReceiverToken.localPeer)
        }
        showOnBoard()
        return nil
    }

    /// What SIGINT and SIGTERM do: a streaming session says BYE, and `step()` returns once it
    /// has left (within 200 ms); the exit code when there is nothing to wait for.
    public func stop() -> Int32? { leave() ? 0 : nil }

    /// The stream log line's word on `audio_output.latency_offset` and `channels`.
    private var offsetNote: String {
        let offset = settings.audioOutput.latencyOffset
        let mix = settings.audioOutput.channels
        return (offset == 0 ? "" : " (this speaker \(offset > 0 ? "+" : "")\(formatDuration(offset)))")
            + (mix == .stereo ? "" : ", \(mix.name) channel\(mix == .mono ? "s mixed" : " only")")
    }

    /// The buttons' actions: the volume moves here, the audio thread glides to it, and with
    /// `volume_sync` the host hears of it.
    private func pressed(_ actions: [ButtonAction]) {
        guard !actions.isEmpty else { return }
        for action in actions { volume.apply(action) }
        log.info("volume \(volume.description), set by a button")
        if case .streaming(let session) = phase { session.volumeChangedHere(report: settings.audioOutput.volumeSync, &reactor) }
    }

    /// The LEDs and the amplifier line follow what the receiver does; the board's next
    /// deadline (a blink, a repeat) is its timer.
    private func showOnBoard() {
        guard let board else { return }
        var state = SpeakerState(activity: .idle)
        switch phase {
        case .idle, .discovering:
            // Waiting to try again is still looking for the host; sent away, it is not.
            if authenticationFailed {
                state.activity = .authenticationFailed
            } else if let configured, staysAway(from: configured.pinKey) {
                state.activity = .idle
            } else {
                state.activity = .searching
            }
        case .resolving, .handshake: state.activity = authenticationFailed ? .authenticationFailed : .connecting
        case .streaming(let session):
            state = SpeakerState(activity: .playing, bufferHealth: session.bufferHealth, underruns: session.counters.underruns.load(ordering: .relaxed))
        case .leaving: break
        }
        board.show(state, now: reactor.now)
        if let due = board.nextDeadline { reactor.schedule(.board, at: due) } else { reactor.cancelTimer(.board) }
    }

    /// What `msrecv status` shows.
    public func status() -> ReceiverReport {
        let host = target?.label ?? ""
        var report = ReceiverReport(state: .waiting, host: host, volume: volume.level, muted: volume.muted)
        switch phase {
        case .discovering:
            report.state = .searching
            report.host = ""
        case .resolving, .handshake: report.state = .connecting
        case .streaming(let session):
            report.state = .playing
            if !playingHostName.isEmpty { report.host = "\"\(playingHostName)\" (\(host))" }
            report.codec = session.format.codec.name
            report.sampleRate = session.format.sampleRate
            report.playing = session.status()
            report.nowPlaying = session.nowPlaying(at: reactor.now)
        case .idle, .leaving:
            if let configured, staysAway(from: configured.pinKey) { report.state = .sentAway }
        }
        return report
    }

    /// The device_id of the host discovery picked last; nil when the host is configured.
    private var discoveredDeviceID: String? { configured == nil ? target?.pinKey : nil }

    /// The host this receiver is looking for, in words.
    private var wanted: String {
        if let id = settings.hostID { return "the host with device_id \(id)" }
        if let name = settings.hostName { return "the host named \"\(name)\"" }
        return "a Moosync host"
    }

    /// The hosts found changed: wait for quiet before picking among them, unless the one that
    /// fits is named by device_id or is a host played before (a name may turn out to fit two,
    /// and a host never met may be one of several still announcing); a host that moved while
    /// playing is followed.
    private func discoveryChanged() {
        // Beside a configured host, discovery only says where that host went (`movedHost`).
        guard configured == nil else { return }
        settled = false
        reactor.schedule(.settle, after: ReceiverTiming.settleTime)
        switch phase {
        case .discovering:
            pickDiscoveredHost()
        case .streaming(let session):
            // Moved: seen again, with the key it presented, and at none of the places it was when
            // this session began. An advertisement with another key is not the host moving.
            let key = target?.advertisedFingerprint.flatMap(Fingerprint.init(hex:))
            guard let target, let now = finder?.directory.hosts.values.first(where: { $0.id == target.pinKey && $0.advertisesPinnedKey { _ in key } }),
                !now.endpoints.contains(where: target.endpoints.contains)
            else { return }
            log.info("\(target.label) moved to \(now.endpoint): reconnecting")
            backoff = ReceiverTiming.firstBackoff
            finish(session, .retry(.hostMoved))
        default:
            break
        }
    }

    /// While discovering: connects to the host to play if discovery has found it, else says
    /// (once per situation) what it found and what is missing.
    private func pickDiscoveredHost() {
        guard case .discovering = phase, let finder else { return }
        var note: String
        // The host played last is kept when another appears: pinned, and what the user heard.
        let sentAway = finder.directory.hosts.values.map(\.id).filter(staysAway(from:))
        switch finder.directory.choose(
            id: settings.hostID, name: settings.hostName, playing: discoveredDeviceID, excluding: Set(sentAway),
            pinned: { [trust] in trust?.pinnedKey($0) })
        {
        case .host(let host) where settings.hostID != nil || settled || trust?.knows(host.id) == true:
            lastDiscoveryNote = ""
            return dial(
                HostTarget(
                    label: "\"\(host.shownName)\" (\(host.endpoint))", endpoints: host.endpoints,
                    pinKey: host.id, advertisedFingerprint: host.advertisement.flatMap { $0.fingerprint.isEmpty ? nil : $0.fingerprint }))
        case .several(let hosts) where settled:
            note =
                settings.hostName != nil
                ? "several hosts fit receiving.host_name \"\(settings.hostName ?? "")\"; set receiving.host_id to the device_id of the one to play"
                : "several Moosync hosts are on the network; set receiving.host_id (or receiving.host_name) to the one to play"
            note += ":" + hosts.map { "\n  " + $0.summary }.joined()
        case .none where settled:
            let found = finder.directory.sorted
            note =
                found.isEmpty
                ? "no Moosync host found yet; waiting for one"
                : "\(wanted) is not among the hosts found; waiting for it. Found:" + found.map { "\n  " + $0.summary }.joined()
        default:
            return
        }
        if note != lastDiscoveryNote { log.info(note) }
        lastDiscoveryNote = note
    }

    /// One event for the current phase; an exit code when the daemon is done.
    private func handle(_ event: Reactor<ReceiverToken>.Event) -> Int32? {
        switch phase {
        case .idle, .discovering:
            break
        case .resolving(let lookup):
            guard case .ready(.lookup, _) = event, let found = lookup.take() else { break }
            reactor.unregister(.lookup)
            switch found {
            case .success(let addresses): dial(addresses[...])
            case .failure(let e):
                log.event(.networkError(e.description))
                endSession(streamed: false)
            }
        case .handshake(let handshake, let remaining):
            switch event {
            case .ready(.host, _): advance(handshake, remaining: remaining)
            case .ready(.keys, _):
                reactor.unregister(.keys)
                reactor.register(.host, fd: handshake.channel.fileDescriptor, interest: .read)
                advance(handshake, remaining: remaining)
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

    private func connect() {
        // What ran before (configuration, this device's identity, the last session) is done
        // with. Released now, its code and the TLS handshake's (key exchange, certificates: a
        // megabyte of pages) are never resident together; the handshake's goes when the
        // stream starts.
        releaseWhatRanBefore()
        if let configured {
            guard staysAway(from: configured.pinKey) else { return dial(movedHost(of: configured) ?? configured) }
            phase = .idle
            if let until = sentAway[configured.pinKey] ?? nil { reactor.schedule(.retry, at: until) }
            return
        }
        phase = .discovering
        pickDiscoveredHost()
    }

    /// Numeric addresses are dialled at once; a name is looked up on a thread of its own: a DNS
    /// server that does not answer holds the lookup for seconds, and buttons, `msrecv status` and
    /// signals must not wait with it.
    private func dial(_ target: HostTarget) {
        self.target = target
        let literals = target.endpoints.compactMap { SocketAddress.literal(host: $0.address, port: $0.port) }
        guard literals.count < target.endpoints.count else { return dial(literals[...]) }
        let endpoints = target.endpoints
        let label = target.label
        do {
            // The answer crosses threads as a value.
            let lookup = try BackgroundWork(name: "lookup") { Result { () throws(TransportError) in try Self.resolve(endpoints, label: label) } }
            reactor.register(.lookup, fd: lookup.descriptor, interest: .read)
            phase = .resolving(lookup)
        } catch {
            log.event(.networkError("cannot look up \(label): \(error)"))
            endSession(streamed: false)
        }
    }

    /// Every address of `endpoints`, or why there is none.
    private static func resolve(_ endpoints: [DiscoveredHost.Endpoint], label: String) throws(TransportError) -> [SocketAddress] {
        var addresses: [SocketAddress] = []
        var failure: TransportError?
        for endpoint in endpoints {
            do throws(TransportError) { addresses += try SocketAddress.resolve(host: endpoint.address, port: endpoint.port) } catch { failure = error }
        }
        guard !addresses.isEmpty else { throw failure ?? .resolve(host: label, "no address") }
        return addresses
    }

    /// Starts connecting to the first of `addresses`; the rest are tried if it fails.
    private func dial(_ addresses: ArraySlice<SocketAddress>) {
        guard let address = addresses.first, let target else { return endSession(streamed: false) }
        let channel: any ByteChannel
        do throws(TransportError) { channel = try transport(target).connect(to: address) } catch {
            guard addresses.count > 1 else {
                log.event(.networkError(error.description))
                return endSession(streamed: false)
            }
            return dial(addresses.dropFirst())
        }
        let handshake = HandshakePhase(
            channel: channel,
            hello: { [clientID, settings] t1 in
                HandshakeMessages.hello(clientID: clientID, settings: settings, t1: t1)
            }, password: password, log: log)
        reactor.register(.host, fd: channel.fileDescriptor, interest: .write)
        reactor.schedule(.handshake, after: HandshakePhase.timeout)
        advance(handshake, remaining: Array(addresses.dropFirst()))
    }

    private func advance(_ handshake: HandshakePhase, remaining: [SocketAddress]) {
        switch handshake.advance(clock: reactor.clock) {
        case .waiting(let interest):
            reactor.setInterest(.host, interest)
            phase = .handshake(handshake, remaining: remaining)
        case .deriving(let descriptor):
            // The channel is not watched meanwhile: a host that hangs up would wake the loop
            // for nothing until the keys are there.
            reactor.unregister(.host)
            reactor.register(.keys, fd: descriptor, interest: .read)
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
            authenticationFailed = true
            handshake.channel.close()
            backoff = max(backoff, ReceiverTiming.refusedBackoff)
            endSession(streamed: false)
        case .welcomed(let accepted):
            authenticationFailed = false
            reactor.cancelTimer(.handshake)
            guard pin(handshake.channel) else {
                handshake.channel.close()
                return endSession(streamed: false)
            }
            startStreaming(handshake, accepted)
        }
    }

    /// A host met for the first time is pinned once welcomed (after its password proof, where
    /// there is a password); false (logged) when it cannot be, and then it is not played.
    private func pin(_ channel: any ByteChannel) -> Bool {
        guard let trust, let target else { return true }
        let presented = channel.peerCertificateFingerprint.flatMap(Fingerprint.init(bytes:))
        switch trust.welcomed(target, presented: presented) {
        case .known: return true
        case .pinned:
            log.info("TLS: pinned host \(target.pinKey)'s certificate \(presented!) on first use (\(trust.pins.file))")
            return true
        case .refused(let why):
            log.event(.networkError(why))
            return false
        }
    }

    private func startStreaming(_ handshake: HandshakePhase, _ accepted: HandshakeMessages.Accepted) {
        let welcome = accepted.welcome
        let format = accepted.format
        playingHostName = welcome.hostName
        guard format.isPlayable, settings.audioFormats.contains(format.codec.name) else {
            let why = format.unplayable ?? "not in receiving.audio_formats"
            log.failure(
                .unsupportedCodec(
                    "host offered \(format.codec.name) \(format.sampleRate) Hz \(format.channels) ch, \(format.frameSamples) frames per packet: \(why)"))
            handshake.channel.close()
            return endSession(streamed: false)
        }
        // What ran so far (configuration, connecting, the handshake) is done with until the next
        // session: its code need not stay mapped while the stream plays. No audio thread runs yet.
        releaseWhatRanBefore()
        let clockSync =
            resumedClock(accepted.exchange)
            ?? {
                var fresh = ClockSync()
                fresh.add(accepted.exchange)
                return fresh
            }()
        let clockMapping = SharedClockMapping(clockSync.estimator.mapping)
        // The group's buffer if it has agreed on one, within this speaker's own bounds; a speaker
        // with an offset plays on a schedule of its own, the house's shifted.
        let buffer = welcome.buffer > 0 ? min(max(welcome.buffer, settings.bufferSize), settings.bufferCeiling) : settings.bufferSize
        let schedule = PlayoutSchedule(streamStart: welcome.streamStart, latency: buffer + settings.audioOutput.latencyOffset)
        // The device before the pool: the memory alsa-lib frees after parsing its configuration
        // is then reused by the pool. A device that is not there does not end the session.
        reactor.cancelTimer(.closeCard)
        let reuses = output.devicesReused
        let device = output.open(format: format, latency: schedule.latency)
        if output.devicesReused > reuses { log.info("audio output \"\(output.deviceName)\" stayed open since the last stream") }
        let (pool, incoming) = preparePool(format: format)
        let counters = PlayoutCounters()
        if let control = settings.audioOutput.mixer, volume.mixer == nil { volume.attach(openMixer(control)) }
        volume.apply(to: counters, log: log)
        counters.channelMix.store(settings.audioOutput.channels.rawValue, ordering: .relaxed)
        log.event(
            .connected(
                host: welcome.hostName.isEmpty ? handshake.channel.peerDescription : welcome.hostName, codec: format.codec.name,
                sampleRate: format.sampleRate, channels: format.channels))
        let session = StreamSession(
            channel: handshake.channel, reader: handshake.takeReader(), format: format, schedule: schedule, pool: pool,
            incoming: incoming, counters: counters, clockSync: clockSync, clockMapping: clockMapping,
            readInterval: AlsaOutput.readInterval(latency: schedule.latency, frameDuration: format.frameDuration),
            buffer: LatencyController(floor: settings.bufferSize, ceiling: settings.bufferCeiling, now: reactor.now),
            latencyOffset: settings.audioOutput.latencyOffset, output: output, log: log,
            discoveredDeviceID: discoveredDeviceID, volume: volume, advice: advice)
        phase = .streaming(session)
        // The amplifier is switched on before the audio thread plays the first sound.
        showOnBoard()
        let end = session.start(&reactor, device: device)
        log.info(
            "stream \(welcome.sessionID): \(format.codec.name) \(format.sampleRate) Hz, \(format.channels) ch, "
                + "\(formatDuration(format.frameDuration)) frames, buffer \(formatDuration(buffer))\(offsetNote), pool \(pool.slotCount) × "
                + "\(pool.slotCapacity) B (for a buffer of up to \(formatDuration(settings.bufferCeiling))), clock offset "
                + "\(clockSync.estimator.mapping.offset) µs, audio thread \(session.realtimeGranted ? "SCHED_FIFO" : "normal priority")"
        )
        if let end { finish(session, end) }
    }

    /// Unmaps the code that ran so far (it comes back 16 KB at a time as it runs again), after
    /// undoing the last session's lock, which would keep it (a locked page cannot be released).
    /// A speaker's memory policy: a card that does not play in real time is a test's, whose
    /// process is not this daemon's to unmap.
    private func releaseWhatRanBefore() {
        guard output.isRealTime else { return }
        unlockAllPages()
        releaseCodePages()
    }

    /// The last session's clock estimate if it was of this host and the handshake agrees with it.
    private func resumedClock(_ exchange: (t1: Microseconds, t2: Microseconds, t3: Microseconds, t4: Microseconds)) -> ClockSync? {
        guard let lastClock, lastClock.pinKey == target?.pinKey else { return nil }
        guard let resumed = lastClock.sync.resumed(with: exchange) else {
            log.info("clock: the host's clock is not where it was in the last session (its machine restarted?): learning it again")
            return nil
        }
        return resumed
    }

    /// The session is over: the audio thread stops, what it counted is logged, and the host is
    /// tried again later.
    private func finish(_ session: StreamSession<Output>, _ end: StreamSession<Output>.End) {
        session.end(&reactor)
        session.channel.close()
        if let target { lastClock = (target.pinKey, session.clockSync) }
        // As long as a return is tried every few seconds: a host back within that finds the card open.
        reactor.schedule(.closeCard, after: ReceiverTiming.afterPlaying)
        switch end {
        case .retry(let reason):
            log.event(.disconnected(reason: reason))
            endSession(streamed: session.counters.packetsPlayed.load(ordering: .relaxed) > 0)
        case .kicked(let stayAway):
            log.event(.disconnected(reason: .bye(.kicked)))
            // `updateValue`: a kick without a time is stored as nil, "until msrecv restarts";
            // assigning that nil through the subscript would remove the entry instead.
            if let target { sentAway.updateValue(stayAway.map { reactor.now + $0 }, forKey: target.pinKey) }
            backoff = ReceiverTiming.firstBackoff
            endSession(streamed: false)
            // Discovering, it looks among the other hosts at once; one that sent it away is back
            // in the running when its time is up.
            if configured == nil { scheduleSentAwayOver() }
        }
    }

    /// Discovery's next look at a host that sent this receiver away: when the first of those
    /// times still to come is up.
    private func scheduleSentAwayOver() {
        if let next = sentAway.values.compactMap({ $0 }).filter({ $0 > reactor.now }).min() { reactor.schedule(.sentAwayOver, at: next) }
    }

    /// Whether the host's user sent this receiver away from `key` and the time is not over:
    /// then it waits (for the time left, or until it restarts) instead of connecting.
    private func staysAway(from key: String) -> Bool {
        guard let entry = sentAway[key] else { return false }
        guard let until = entry else { return true }
        if reactor.now >= until {
            sentAway[key] = nil
            return false
        }
        return true
    }

    /// With `auto_discover` beside `host`: where the host pinned for that address is now, when
    /// the address did not answer last time and mDNS sees that host (its advertised key the
    /// pinned one) elsewhere. A host never played from there has no pin, and is not guessed at.
    private func movedHost(of configured: HostTarget) -> HostTarget? {
        guard configuredFailed, let finder, let pinned = trust?.pinnedKey(configured.pinKey),
            let host = finder.directory.sorted.first(where: { $0.advertisement.flatMap { Fingerprint(hex: $0.fingerprint) } == pinned }),
            host.endpoints != configured.endpoints
        else { return nil }
        log.info("\(configured.label) did not answer; the host pinned for it is at \(host.endpoints[0]) now (mDNS): connecting there")
        return HostTarget(
            label: "\(configured.label) at \(host.endpoints[0])", endpoints: host.endpoints, pinKey: configured.pinKey,
            advertisedFingerprint: host.advertisement?.fingerprint)
    }

    /// Forgets the channel and schedules the next attempt: sooner after a session that played.
    private func endSession(streamed: Bool) {
        if let configured, target?.pinKey == configured.pinKey {
            // The configured address failed: the next attempt may go where mDNS sees its host.
            // Anywhere else failed: back to the configured address.
            configuredFailed = !streamed && target?.endpoints == configured.endpoints
        }
        reactor.unregister(.host)
        reactor.unregister(.lookup)
        reactor.unregister(.keys)
        reactor.cancelTimer(.handshake)
        phase = .idle
        if streamed {
            backoff = ReceiverTiming.firstBackoff
            playedUntil = reactor.now
        }
        if let configured, staysAway(from: configured.pinKey) {
            // The one host there is sent it away: back when the time is up, or never.
            guard let until = sentAway[configured.pinKey] ?? nil else {
                return log.info("not connecting to \(settings.host ?? "") again until msrecv restarts")
            }
            let seconds = (max(0, until - reactor.now) + 999_999) / 1_000_000
            log.info("connecting to \(settings.host ?? "") again in \(formatDuration(seconds * 1_000_000))")
            return reactor.schedule(.retry, at: until)
        }
        log.info(
            configured != nil
                ? "reconnecting to \(settings.host ?? "") in \(formatDuration(backoff))"
                : "looking for \(wanted) again in \(formatDuration(backoff))")
        reactor.schedule(.retry, after: backoff)
        let recentlyPlayed = playedUntil.map { reactor.now - $0 < ReceiverTiming.afterPlaying } ?? false
        backoff = min(backoff * 2, recentlyPlayed ? ReceiverTiming.longestBackoffAfterPlaying : ReceiverTiming.longestBackoff)
    }

    /// SIGINT/SIGTERM: a streaming session says BYE (given 200 ms to leave); true when there is
    /// nothing left to wait for.
    private func leave() -> Bool {
        notifier?.send("STOPPING=1")
        defer { output.closeKeptDevice() }
        guard case .streaming(let session) = phase else { return true }
        session.end(&reactor)
        log.event(.disconnected(reason: .ended(.shuttingDown)))
        var outbox = OutputQueue(capacity: 64)
        _ = outbox.append(Bye(.leaving).frame)
        guard case .wouldBlock(let interest) = outbox.flush(to: session.channel) else { return true }
        reactor.setInterest(.host, interest)
        reactor.cancelTimer(.retry)
        reactor.schedule(.leave, after: 200_000)
        phase = .leaving(session.channel, outbox)
        return false
    }

    /// The card's volume control `audio_output.mixer` names; nil (said once per session) when it
    /// cannot be had: the volume is software then.
    private func openMixer(_ control: String) -> (any VolumeControl)? {
        let device = settings.audioOutput.mixerDevice
        do {
            let mixer = try output.openMixer(control, device: device)
            log.info(
                "volume on \(device)'s \"\(control)\" (\(formatDecibels(mixer.range.lowerBound)) to \(formatDecibels(mixer.range.upperBound)) "
                    + "dB\(mixer.hasSwitch ? ", with a switch" : ""))"
            )
            return mixer
        } catch {
            log.error("receiving.audio_output.mixer: \(error); the volume is in software")
            return nil
        }
    }

    /// The pool is allocated once and kept while later sessions fit in it.
    private func preparePool(format: StreamFormat) -> (PacketPool, SPSCRing) {
        let slots = packetPoolSlots(bufferSize: settings.longestPlayoutLatency, frameDuration: format.frameDuration)
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
