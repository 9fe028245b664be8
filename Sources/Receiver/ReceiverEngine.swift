#if canImport(Glibc)
import Glibc
#endif
import Audio
import Codec
import Config
import Core
import ProtocolMessages
import Resample
import Transport

/// The receiver's control loop (DESIGN §4): connect, negotiate, read frames straight into the
/// packet pool, hand them to the audio thread, report, and reconnect with backoff when the host
/// goes away. One thread, `poll(2)`; it may allocate, the audio thread never does.
public final class ReceiverEngine {
    private let settings: ReceivingSettings
    private let log: Logger
    private let signals: ShutdownSignals
    private let clock = SystemClock()
    private let clientID = makeUUID()
    private var pool: PacketPool?
    private var incoming: SPSCRing?

    public init(settings: ReceivingSettings, log: Logger, signals: consuming ShutdownSignals) {
        self.settings = settings
        self.log = log
        self.signals = signals
    }

    enum SessionEnd {
        case shutdown
        /// Try again after a pause; `streamed` when audio flowed (resets the backoff).
        case retry(streamed: Bool)
    }

    /// Runs until SIGINT/SIGTERM; the process exit code.
    public func run() -> Int32 {
        guard let hostText = settings.host, let (host, port) = parseHostPort(hostText) else {
            log.error("receiving.host is not set and this build has no mDNS discovery yet: set \"HOST:PORT\" in the config")
            return 2
        }
        AlsaLibrary.silenceLibraryErrors()
        var backoff: Microseconds = 500_000
        while true {
            switch runSession(host: host, port: port) {
            case .shutdown:
                return 0
            case .retry(let streamed):
                if streamed { backoff = 500_000 }
                log.info("reconnecting to \(host):\(port) in \(formatDuration(backoff))")
                if waitForSignal(timeout: backoff) { return 0 }
                backoff = min(backoff * 2, 10_000_000)
            }
        }
    }

    /// Sleeps up to `timeout` µs; true when a shutdown signal arrived.
    private func waitForSignal(timeout: Microseconds) -> Bool {
        var pfd = pollfd(fd: signals.fileDescriptor, events: Int16(POLLIN), revents: 0)
        let ready = poll(&pfd, 1, CInt(timeout / 1000))
        return ready > 0 && signals.take() != nil
    }

    private func runSession(host: String, port: UInt16) -> SessionEnd {
        var channel: TCPChannel
        switch TCPChannel.connect(host: host, port: port, timeout: 5_000_000) {
        case .success(let c): channel = c
        case .failure(let e):
            log.event(.networkError(e.description))
            return .retry(streamed: false)
        }
        var reader = FrameReader()
        let t1 = clock.now()
        if case .failure(let e) = writeAll(&channel, Handshake.hello(clientID: clientID, settings: settings, t1: t1).frame) {
            log.event(.networkError("sending HELLO to \(host):\(port): \(e)"))
            return .retry(streamed: false)
        }

        // WELCOME or REJECT within 5 s.
        let accepted: Handshake.Accepted
        switch awaitWelcome(&channel, &reader, t1: t1) {
        case .success(let a): accepted = a
        case .failure(.shutdown): return .shutdown
        case .failure(.ended): return .retry(streamed: false)
        }
        let welcome = accepted.welcome
        let format = accepted.format
        guard format.isPlayable, settings.audioFormats.contains(format.codec.name) else {
            log.failure(.unsupportedCodec("host offered \(format.codec.name) \(format.sampleRate) Hz \(format.channels) ch, \(format.frameSamples) frames per packet"))
            return .retry(streamed: false)
        }

        // What ran so far (configuration, connecting, the handshake) is done with until the next
        // session: its code need not stay mapped while the stream plays. No audio thread runs yet.
        releaseStartUpCode()
        // The device first: the memory alsa-lib frees after parsing its configuration is then
        // reused by the pool.
        let sink: AlsaPlayback
        do {
            sink = try AlsaPlayback(device: settings.audioOutput.deviceID, sampleRate: format.sampleRate, channels: format.channels,
                                    bufferTime: Int(deviceBufferTime))
        } catch {
            log.error("cannot open audio output \"\(settings.audioOutput.deviceID)\" (receiving.audio_output.device_id): \(error)")
            return .retry(streamed: false)
        }
        let (pool, incoming) = preparePool(format: format)
        let counters = PlayoutCounters()
        counters.volumeQ15.store(Gain(volume: settings.audioOutput.volume).q15, ordering: .relaxed)
        var clockSync = ClockSync()
        clockSync.add(accepted.exchange)
        let clockMapping = SharedClockMapping(clockSync.estimator.mapping)
        let schedule = PlayoutSchedule(streamStart: welcome.streamStart, latency: settings.bufferSize)
        let audio: NamedThread
        do {
            typealias Engine = PlayoutEngine<AlsaPlayback, SystemClock>
            let decoder = try Engine.decoder(for: format)
            let resampler = DriftResampler(channels: format.channels, maxInputFrames: Engine.maxFrames(for: format))
            var engine = PlayoutEngine(format: format, decoder: decoder, resampler: resampler, pool: pool, incoming: incoming, sink: sink,
                                       clock: clock, counters: counters, schedule: schedule, clockMapping: clockMapping)
            audio = NamedThread(name: "audio", realtime: true) {
                runAudioLoop(&engine, counters: counters, clock: SystemClock())
            }
        } catch {
            log.error("cannot start the decoder: \(error)")
            return .retry(streamed: false)
        }
        log.event(.connected(host: welcome.hostName.isEmpty ? "\(host):\(port)" : welcome.hostName, codec: format.codec.name,
                             sampleRate: format.sampleRate, channels: format.channels))
        log.info("stream \(welcome.sessionID): \(format.codec.name) \(format.sampleRate) Hz, \(format.channels) ch, \(formatDuration(format.frameDuration)) frames, buffer \(formatDuration(settings.bufferSize)), pool \(pool.slotCount) × \(pool.slotCapacity) B, clock offset \(clockSync.estimator.mapping.offset) µs, audio thread \(audio.realtimeGranted ? "SCHED_FIFO" : "normal priority")")

        var session = StreamSession(format: format, schedule: schedule, pool: pool, incoming: incoming, counters: counters,
                                    clockSync: clockSync, clockMapping: clockMapping)
        let end = session.run(channel: &channel, reader: &reader, engine: self)
        counters.stopRequested.store(true, ordering: .releasing)
        audio.join()
        resetPool()
        _ = report(session.reported, counters, force: true)
        switch end {
        case .shutdown:
            _ = writeAll(&channel, Bye(.leaving).frame, timeout: 200_000)
            log.event(.disconnected(reason: "shutting_down"))
            return .shutdown
        case .retry(let reason):
            log.event(.disconnected(reason: reason))
            return .retry(streamed: counters.packetsPlayed.load(ordering: .relaxed) > 0)
        }
    }

    enum HandshakeEnd: Error { case shutdown, ended }

    private func awaitWelcome(_ channel: inout TCPChannel, _ reader: inout FrameReader, t1: Microseconds) -> Result<Handshake.Accepted, HandshakeEnd> {
        let deadline = clock.now() + 5_000_000
        while true {
            switch reader.next(from: &channel) {
            case .header(let h):
                guard h.type == .welcome || h.type == .reject, h.length <= WireProtocol.maxControlPayload else {
                    log.failure(.invalidPacket("expected WELCOME or REJECT, got frame type \(h.rawType) of \(h.length) bytes"))
                    return .failure(.ended)
                }
                reader.route(.scratch)
            case .frame(let h, let payload):
                switch Handshake.parseReply(type: h.type!, payload: payload, t1: t1, t4: channel.lastArrival ?? clock.now()) {
                case .success(let a): return .success(a)
                case .failure(.rejected(let reject)):
                    log.failure(reject.error)
                    if !reject.message.isEmpty { log.info("the host says: \(reject.message)") }
                    return .failure(.ended)
                case .failure(.invalid(let why)):
                    log.failure(.invalidPacket(why))
                    return .failure(.ended)
                }
            case .wouldBlock:
                let left = deadline - clock.now()
                if left <= 0 {
                    log.failure(.connectionTimeout)
                    return .failure(.ended)
                }
                var fds = [pollfd(fd: channel.fileDescriptor, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: signals.fileDescriptor, events: Int16(POLLIN), revents: 0)]
                _ = poll(&fds, 2, CInt(max(left / 1000, 1)))
                if fds[1].revents != 0, signals.take() != nil { return .failure(.shutdown) }
            case .closed:
                log.event(.networkError("host closed the connection during the handshake"))
                return .failure(.ended)
            case .failed(let e):
                log.event(.networkError("reading from host: \(e)"))
                return .failure(.ended)
            }
        }
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

    /// With the audio thread joined, every slot (queued, buffered or half-filled) is free again.
    private func resetPool() {
        guard let pool, let incoming else { return }
        while incoming.pop() != nil {}
        pool.reclaimAll()
    }

    /// What was last logged, so each change is logged once.
    struct Reported {
        var underruns = 0
        var overruns = 0
        var sinkErrors = 0
        var resyncs = 0
        var refused = 0
        var sequenceRestarts = 0
    }

    func report(_ reported: Reported, _ counters: PlayoutCounters, force: Bool = false) -> Reported {
        var r = reported
        let underruns = counters.underruns.load(ordering: .relaxed)
        if underruns > r.underruns {
            log.event(.bufferUnderrun(count: underruns))
            r.underruns = underruns
        }
        let overruns = counters.overruns.load(ordering: .relaxed)
        if overruns > r.overruns {
            log.event(.bufferOverrun(count: overruns))
            r.overruns = overruns
        }
        let resyncs = counters.resyncs.load(ordering: .acquiring)
        if resyncs > r.resyncs {
            let by = counters.lastResync.load(ordering: .relaxed)
            log.event(.syncLost)
            log.info("resynced to the host's schedule: \(by > 0 ? "dropped" : "inserted") \(formatDuration(Microseconds(abs(by)))) of audio (\(resyncs) resync(s) so far)")
            r.resyncs = resyncs
        }
        let refused = counters.packetsRefused.load(ordering: .relaxed)
        if refused > r.refused {
            log.info("refused \(refused) AUDIO packet(s) with a timestamp far from the schedule")
            r.refused = refused
        }
        let restarts = counters.sequenceRestarts.load(ordering: .relaxed)
        if restarts > r.sequenceRestarts {
            log.info("the host's sequence numbers jumped beyond the jitter buffer's span \(restarts) time(s): the stream went on from the new ones")
            r.sequenceRestarts = restarts
        }
        let sinkErrors = counters.sinkErrors.load(ordering: .relaxed)
        if sinkErrors > r.sinkErrors {
            log.error("audio output \"\(settings.audioOutput.deviceID)\" failed \(sinkErrors) time(s)")
            r.sinkErrors = sinkErrors
        }
        if force {
            log.info("played \(counters.packetsPlayed.load(ordering: .relaxed)) packets (\(counters.framesPlayed.load(ordering: .relaxed)) frames), concealed \(counters.packetsConcealed.load(ordering: .relaxed)), late \(counters.packetsLate.load(ordering: .relaxed)), underruns \(underruns), overruns \(overruns)")
        }
        return r
    }

    /// The ALSA buffer: half the playout buffer, from 20 ms to 200 ms. The rest of the playout
    /// buffer absorbs network jitter; a bigger device buffer lets the audio thread sleep longer.
    var deviceBufferTime: Microseconds { min(max(settings.bufferSize / 2, 20_000), 200_000) }

    /// How long the control loop leaves received packets in the socket before reading them all
    /// at once: a quarter of the time a packet has between its arrival and its write to the
    /// device (the playout buffer less the device's), at most 250 ms. Each wake-up costs CPU
    /// (on a 1 s buffer, 5 a second instead of 10 took the thread from 0.88 to 0.61 ms of CPU a
    /// second); a packet only has to be in the jitter buffer well before it is written.
    var readInterval: Microseconds { min(max(settings.bufferSize - deviceBufferTime, 0) / 4, 250_000) }

    fileprivate var signalDescriptor: CInt { signals.fileDescriptor }
    fileprivate func takeSignal() -> Bool { signals.take() != nil }
    fileprivate var logger: Logger { log }
    fileprivate var now: Microseconds { clock.now() }
    fileprivate var bufferSize: Microseconds { settings.bufferSize }
}

/// The longest the audio thread sleeps between steps: a full pool's drop request (the network
/// side waits up to 250 ms for it) and a stop are seen in time; every other wake-up would only
/// cost CPU.
public let audioThreadLongestSleep: Microseconds = 100_000

/// How long the audio thread sleeps when it holds no packet at all (before the stream starts,
/// or while the host sends nothing).
public let audioThreadIdleSleep: Microseconds = 10_000

/// The audio thread's loop: step the engine, sleep when it has nothing to do before a deadline,
/// at most `audioThreadLongestSleep`.
func runAudioLoop<Sink: AudioSink & ~Copyable, Clock: MonotonicClock>(_ engine: inout PlayoutEngine<Sink, Clock>, counters: PlayoutCounters, clock: Clock) {
    while !counters.stopRequested.load(ordering: .acquiring) {
        switch engine.step() {
        case .played, .concealed, .skippedLate, .primed:
            continue
        case .waiting(let until):
            clock.sleep(until: min(until, clock.now() + audioThreadLongestSleep))
        case .idle:
            clock.sleep(until: clock.now() + audioThreadIdleSleep)
        case .sinkFailed:
            clock.sleep(until: clock.now() + 10_000)
        case .finished:
            counters.finished.store(true, ordering: .releasing)
            while !counters.stopRequested.load(ordering: .acquiring) { clock.sleep(until: clock.now() + 5_000) }
        }
    }
    engine.releaseAll()
}

/// One connected stream on the control thread: reads frames into the pool, answers the host,
/// sends STATUS, watches the audio thread's counters.
struct StreamSession {
    let format: StreamFormat
    let schedule: PlayoutSchedule
    let pool: PacketPool
    let counters: PlayoutCounters
    var ingest: AudioIngest
    var clockSync: ClockSync
    let clockMapping: SharedClockMapping
    var reported = ReceiverEngine.Reported()

    enum End {
        case shutdown
        case retry(reason: String)
    }

    init(format: StreamFormat, schedule: PlayoutSchedule, pool: PacketPool, incoming: SPSCRing, counters: PlayoutCounters,
         clockSync: ClockSync, clockMapping: SharedClockMapping) {
        self.format = format
        self.schedule = schedule
        self.pool = pool
        self.counters = counters
        self.clockSync = clockSync
        self.clockMapping = clockMapping
        ingest = AudioIngest(format: format, schedule: schedule, clockMapping: clockMapping, pool: pool, incoming: incoming, counters: counters)
    }

    mutating func run(channel: inout TCPChannel, reader: inout FrameReader, engine: ReceiverEngine) -> End {
        let log = engine.logger
        var nextStatus = engine.now + 1_000_000
        var nextRead = engine.now
        var endOfStream = false
        var sendFailed = false
        while true {
            if endOfStream {
                if counters.finished.load(ordering: .acquiring) { return .retry(reason: ByeReason.endOfStream.name) }
            } else if engine.now >= nextRead || clockSync.awaitingResponse {
                nextRead = engine.now + engine.readInterval
                // A TIME_RESP's arrival is a clock-sync sample: read it on its own time stamp.
                channel.readsAhead = !clockSync.awaitingResponse
                // Read everything available.
                readLoop: while true {
                    switch reader.next(from: &channel) {
                    case .header(let h):
                        if let failure = route(h, &reader, engine) {
                            log.failure(.invalidPacket(failure))
                            return .retry(reason: "invalid_packet")
                        }
                    case .frame(let h, let payload):
                        switch handle(h, payload, &channel, engine) {
                        case .none: break
                        case .some(.endOfStream):
                            endOfStream = true
                            counters.endOfStream.store(true, ordering: .releasing)
                            log.info("host ended the stream; playing out what is buffered")
                            break readLoop
                        case .some(.end(let end)): return end
                        }
                    case .wouldBlock:
                        break readLoop
                    case .closed(let midFrame):
                        log.event(.networkError(midFrame ? "host closed the connection in the middle of a frame" : "host closed the connection"))
                        return .retry(reason: "host_gone")
                    case .failed(let e):
                        log.event(.networkError("reading from host: \(e)"))
                        return .retry(reason: "host_gone")
                    }
                }
            }
            let now = engine.now
            // A host that closed may have said why first (BYE end_of_stream): a failed send only
            // stops sending; the next read finds the BYE or the end of the connection.
            let canSend = !endOfStream && !sendFailed
            if canSend && now >= clockSync.nextRequest {
                if case .failure(let e) = writeAll(&channel, clockSync.request(at: now).frame) {
                    log.event(.networkError("sending TIME_REQ: \(e)"))
                    sendFailed = true
                    nextRead = now
                }
            }
            if now >= nextStatus {
                reported = engine.report(reported, counters)
                if let line = clockSync.periodicReport(now: now) { log.info(line) }
                if canSend && !sendFailed, case .failure(let e) = writeAll(&channel, status().frame) {
                    log.event(.networkError("sending STATUS: \(e)"))
                    sendFailed = true
                    nextRead = now
                }
                nextStatus = now + 1_000_000
            }
            // Between reads, and after the host's BYE, the socket is left out of the poll set (a
            // closed socket would wake poll with POLLHUP again and again).
            // A time response is read as soon as it arrives: its arrival time is the sample.
            let watchSocket = !endOfStream && (now >= nextRead || clockSync.awaitingResponse)
            var wakeAt = endOfStream || sendFailed ? nextStatus : min(nextStatus, clockSync.nextRequest)
            if endOfStream {
                wakeAt = min(wakeAt, now + 100_000)  // to see the audio thread finish
            } else if !watchSocket {
                wakeAt = min(wakeAt, nextRead)
            }
            var fds = [pollfd(fd: watchSocket ? channel.fileDescriptor : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: engine.signalDescriptor, events: Int16(POLLIN), revents: 0)]
            _ = poll(&fds, 2, CInt(max((wakeAt - now + 999) / 1000, 0)))
            if fds[1].revents != 0, engine.takeSignal() { return .shutdown }
        }
    }

    enum Handled {
        case endOfStream
        case end(End)
    }

    /// Decides where a frame's payload goes; a reason string when the frame is not acceptable.
    private mutating func route(_ h: FrameHeader, _ reader: inout FrameReader, _ engine: ReceiverEngine) -> String? {
        guard let type = h.type else {
            guard h.length <= WireProtocol.maxControlPayload else { return "unknown frame type \(h.rawType) with \(h.length) bytes" }
            reader.route(.discard)
            return nil
        }
        switch type {
        case .audio:
            switch ingest.route(h) {
            case .success(let destination): reader.route(destination)
            case .failure(let e): return e.description
            }
        case .bye, .timeResponse, .control, .chat, .status:
            guard h.length <= WireProtocol.maxControlPayload else { return "\(type) frame of \(h.length) bytes" }
            reader.route(.scratch)
        case .hello, .challenge, .auth, .welcome, .reject, .timeRequest:
            return "unexpected \(type) frame while streaming"
        }
        return nil
    }

    private mutating func handle(_ h: FrameHeader, _ payload: UnsafeRawBufferPointer, _ channel: inout TCPChannel, _ engine: ReceiverEngine) -> Handled? {
        switch h.type {
        case .audio:
            if case .failure(let e) = ingest.complete(h, payload, now: engine.now) {
                engine.logger.failure(.invalidPacket(e.description))
                return .end(.retry(reason: "invalid_packet"))
            }
        case .timeResponse:
            let t4 = channel.lastArrival ?? engine.now
            let response: TimeResponse
            switch TimeResponse.decode(payload) {
            case .success(let r): response = r
            case .failure(let e):
                engine.logger.failure(.invalidPacket(e.description))
                return .end(.retry(reason: "invalid_packet"))
            }
            switch clockSync.receive(response, t4: t4) {
            case .accepted, .outlier:
                break
            case .refused(let why):
                engine.logger.info("clock: refused a TIME_RESP (\(clockSync.estimator.refused) so far): \(why)")
            case .stepped(let by):
                // The audio thread resyncs to the new clock at once and reports it (SyncLost,
                // then a resynced line).
                engine.logger.info("clock: the host's clock stepped by \(by) µs")
                counters.resyncRequests.add(1, ordering: .releasing)
            }
            clockMapping.store(clockSync.estimator.mapping)
        case .bye:
            let bye = Bye.decode(payload)
            if bye.reason == .endOfStream { return .endOfStream }
            engine.logger.info("host said goodbye: \(bye.reasonName)")
            return .end(.retry(reason: bye.reason?.name ?? "bye"))
        default:
            break  // CONTROL, CHAT: handled by later issues; skipped like unknown types
        }
        return nil
    }

    private func status() -> Status {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let played = counters.packetsPlayed.load(ordering: .relaxed)
        let concealed = counters.packetsConcealed.load(ordering: .relaxed)
        let buffered = counters.buffered.load(ordering: .relaxed)
        var s = Status()
        s.bitrate = format.bitrate
        s.packetLoss = played + concealed > 0 ? Double(concealed) / Double(played + concealed) : 0
        s.latency = schedule.latency
        s.bufferedPackets = buffered
        s.bufferHealth = min(1, Double(buffered) / Double(max(1, pool.slotCount)))
        s.underruns = counters.underruns.load(ordering: .relaxed)
        s.overruns = counters.overruns.load(ordering: .relaxed)
        s.volume = Gain(q15: counters.volumeQ15.load(ordering: .relaxed)).volume
        s.syncErrorMicroseconds = Int(clockSync.estimator.residual.rounded())
        s.playoutErrorMicroseconds = counters.playoutError.load(ordering: .relaxed)
        s.correctionPPM = Double(counters.correction.load(ordering: .relaxed)) / 100
        s.clockDriftPPM = clockSync.estimator.mapping.drift * 1e6
        s.cpuSeconds = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        s.memoryPeakKB = usage.ru_maxrss
        return s
    }
}
