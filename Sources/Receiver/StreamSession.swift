import Audio
import Config
import Core
import Platform
import ProtocolMessages
import Transport

#if canImport(Glibc)
import Glibc
#endif

/// What the speaker's owner has been advised on (a refused SCHED_FIFO, a refused page lock):
/// once per process is enough, not once per session. The engine's, lent to each session.
final class OwnerAdvice {
    enum Topic { case realtime, memoryLock }
    private var given: Set<Topic> = []

    /// Whether `topic` is new (it is not any more).
    func isNew(_ topic: Topic) -> Bool { given.insert(topic).inserted }
}

/// How long playback runs before its pages are locked: by then everything the audio thread
/// and the stream's control path run has been touched.
let memoryLockDelay: Microseconds = 3_000_000

/// The line a speaker's owner needs when the audio thread could not get real-time priority.
func realtimeAdvice() -> String {
    var limit = rlimit()
    getrlimit(__rlimit_resource_t(__RLIMIT_RTPRIO.rawValue), &limit)
    return
        "the audio thread runs at normal priority: SCHED_FIFO was refused (RLIMIT_RTPRIO is \(limit.rlim_cur)); playback is more likely to underrun "
        + "when the speaker is busy. Allow it with LimitRTPRIO=50 in msrecv's systemd unit, an rtprio line in /etc/security/limits.conf, or CAP_SYS_NICE"
}

/// While the audio device is gone, it is tried again after this, doubling up to the longest.
let firstDeviceRetry: Microseconds = 250_000
let longestDeviceRetry: Microseconds = 4_000_000

/// The streaming phase on the control thread: reads frames straight into the pool for the
/// audio thread, keeps the clock estimate, answers the host with TIME_REQ and STATUS, and
/// notices when the stream is over. It also keeps the audio side going: a device that is
/// missing, busy or unplugged is opened again on a backoff timer while the stream and the clock
/// sync go on, and playback starts again on schedule when it is back. Everything it does is one
/// reactor event's worth.
final class StreamSession<Output: AudioOutput> {
    enum End: Equatable {
        /// Retry later, and why (the Disconnected event's reason).
        case retry(DisconnectReason)
        /// The host's user sent this receiver away: for this long (µs), or until it restarts.
        case kicked(stayAway: Microseconds?)
    }

    let channel: any ByteChannel
    let format: StreamFormat
    let schedule: PlayoutSchedule
    let counters: PlayoutCounters
    private let pool: PacketPool
    private let incoming: SPSCRing
    private let clockMapping: SharedClockMapping
    private let output: Output
    private let log: Logger
    private var playout: Output.Running?
    /// The audio thread's steps at the last watchdog look.
    private var audioStepsSeen = -1
    /// While the device is gone: since when, and the wait before the next attempt.
    private var deviceGoneSince: Microseconds?
    private var deviceRetry = firstDeviceRetry
    private var reader: FrameReader
    private var ingest: AudioIngest
    private(set) var clockSync: ClockSync
    private var outbox = OutputQueue(capacity: 64 * 1024)
    /// A host found by discovery: the device_id its mDNS records gave, which its advertisement,
    /// asked for over this authenticated session, must repeat. Nil: not asked for (the host was
    /// named by address; its advertisement would only cost the speaker memory).
    private let discoveredDeviceID: String?
    private var advertisementAsked = false
    private let volume: SpeakerVolume
    private let advice: OwnerAdvice
    /// The last metadata the host's packets carried, and the stream time of its packet.
    private var nowPlaying: (metadata: PacketMetadata, timestamp: UInt64)?
    private var metadataRefused = false
    /// The device's sample format as last logged: said again only if a reopened device differs.
    private var loggedFormat: SampleFormat?
    /// The volume as the host last heard it from this speaker (STATUS carries it too).
    private var volumeReported: (level: Int, muted: Bool)
    /// The readiness a pending read or flush waits for.
    private var readWaitsFor: Interest = .read
    private var writeWaitsFor: Interest = []
    private var endOfStream = false
    /// A send failed: stop sending, and read on to find the host's BYE or close.
    private var sendFailed = false
    /// How long received packets wait in the socket before they are read all at once; nil:
    /// each is read as it arrives.
    let readInterval: Microseconds?
    var reported = PlayoutReport()
    /// What the stream is coded at now: WELCOME's, until an adaptive host says otherwise.
    private(set) var bitrate: Int
    /// The loss STATUS reports, over the second before it, and the counts it was measured to.
    private var recentLoss = 0.0
    private var lossCounted: (played: Int, concealed: Int) = (0, 0)
    /// The buffer this speaker wants the group to play at (its floor and ceiling are
    /// `buffer_size` and `max_buffer_size`), the packets late or concealed and the underruns it
    /// has judged, and its own offset on top of the group's buffer.
    private var bufferWanted: LatencyController
    private var troubleCounted = 0
    private var playedJudged = 0
    /// The last second's trouble, counted once this one shows it was not an outage's start.
    private var troubleHeld = 0
    /// Until when the seconds are an outage's tail: packets still concealed or late as the
    /// path comes back belong to it.
    private var outageTail: Microseconds = 0
    private let latencyOffset: Microseconds

    init(
        channel: any ByteChannel, reader: consuming FrameReader, format: StreamFormat, schedule: PlayoutSchedule, pool: PacketPool,
        incoming: SPSCRing, counters: PlayoutCounters, clockSync: ClockSync, clockMapping: SharedClockMapping, readInterval: Microseconds?,
        buffer: LatencyController, latencyOffset: Microseconds = 0, output: Output, log: Logger, discoveredDeviceID: String? = nil,
        volume: SpeakerVolume = SpeakerVolume(configuredGain: 1),
        advice: OwnerAdvice = OwnerAdvice()
    ) {
        self.advice = advice
        self.output = output
        self.volume = volume
        volumeReported = (volume.level, volume.muted)
        self.discoveredDeviceID = discoveredDeviceID
        self.incoming = incoming
        self.channel = channel
        self.reader = reader
        self.format = format
        bitrate = format.bitrate
        self.schedule = schedule
        self.pool = pool
        self.counters = counters
        self.clockSync = clockSync
        self.clockMapping = clockMapping
        self.readInterval = readInterval
        bufferWanted = buffer
        self.latencyOffset = latencyOffset
        self.log = log
        ingest = AudioIngest(format: format, schedule: schedule, clockMapping: clockMapping, pool: pool, incoming: incoming, counters: counters)
    }

    /// STATUS once a second, sent when the thread wakes up to read anyway.
    private func scheduleStatus(_ reactor: inout Reactor<ReceiverToken>) {
        reactor.schedule(.status, after: 1_000_000, tolerance: readInterval ?? 0)
    }

    /// Starts playing into `device` (or waits for it), and the session's timers: a TIME_REQ
    /// burst now, STATUS in a second, a read now.
    func start(_ reactor: inout Reactor<ReceiverToken>, device: Result<Output.Device, AlsaError>) -> End? {
        play(device, &reactor)
        reactor.schedule(.timeRequest, at: reactor.now)
        scheduleStatus(&reactor)
        return read(&reactor)
    }

    var realtimeGranted: Bool { playout?.realtimeGranted ?? false }

    /// Whether the audio thread has stepped since the last look, or is not meant to: no card
    /// open, the card failed (the thread stopped; the session reopens it), or the stream played
    /// out. A thread stuck in a write is not well: the watchdog ping is withheld.
    func audioThreadIsWell() -> Bool {
        guard let playout, playout.deviceFailure == nil, !counters.finished.load(ordering: .acquiring) else { return true }
        let steps = counters.steps.load(ordering: .relaxed)
        defer { audioStepsSeen = steps }
        return steps != audioStepsSeen
    }

    func handle(_ event: Reactor<ReceiverToken>.Event, _ reactor: inout Reactor<ReceiverToken>) -> End? {
        if let failure = playout?.deviceFailure { deviceFailed(failure, &reactor) }
        switch event {
        case .ready(.host, let ready):
            if ready.contains(.write) && !writeWaitsFor.isEmpty { flush(&reactor) }
            if ready.intersection(readWaitsFor) != [] { return read(&reactor) }
        case .timer(.read):
            return read(&reactor)
        case .timer(.timeRequest):
            if !sendFailed && !endOfStream, let request = clockSync.request(at: reactor.now) { send(request.frame, what: "TIME_REQ", &reactor) }
            // Once settled, a request a little late costs the estimate nothing, and a wake-up
            // of its own would cost the speaker more than the request.
            reactor.schedule(.timeRequest, at: clockSync.nextRequest, tolerance: clockSync.settled ? readInterval ?? 0 : 0)
        case .timer(.status):
            report(now: reactor.now)
            measureLoss()
            judgeBuffer(now: reactor.now)
            if !sendFailed && !endOfStream { send(status().frame, what: "STATUS", &reactor) }
            // Asked for after the clock-sync burst, which its answer (the avatar) would delay.
            if discoveredDeviceID != nil && !advertisementAsked && !sendFailed && !endOfStream {
                advertisementAsked = true
                send(ServiceAdvertisement.request, what: "ADVERTISEMENT", &reactor)
            }
            scheduleStatus(&reactor)
        case .timer(.playedOut):
            // Played out, or nothing left that could play (the device is gone).
            if counters.finished.load(ordering: .acquiring) || playout == nil { return .retry(.bye(.endOfStream)) }
            reactor.schedule(.playedOut, after: 100_000)
        case .timer(.device):
            play(output.open(format: format, latency: schedule.latency), &reactor)
        case .timer(.lockMemory):
            lockMemory()
        default:
            break
        }
        updateInterest(&reactor)
        return nil
    }

    /// The session is over: the audio thread stops, every packet is back in the pool, and what
    /// it counted is logged. The channel stays open for a last BYE.
    func end(_ reactor: inout Reactor<ReceiverToken>) {
        stopPlayout(keepingDevice: true)
        reported = reported.log(counters, log, summary: true)
        for token in [ReceiverToken.read, .timeRequest, .status, .playedOut, .device, .lockMemory] { reactor.cancelTimer(token) }
    }

    /// Starts the audio thread on the opened device, or notes that it is not there and tries
    /// again later. One log line when it goes, one when it is back.
    private func play(_ device: Result<Output.Device, AlsaError>, _ reactor: inout Reactor<ReceiverToken>) {
        let now = reactor.now
        do {
            playout = try output.start(
                try device.get(), format: format, schedule: schedule, pool: pool, incoming: incoming,
                clockMapping: clockMapping, counters: counters)
            ingest.accepting = true
            if playout!.deviceFormat != loggedFormat {
                loggedFormat = playout!.deviceFormat
                log.info("audio output \"\(output.deviceName)\" plays \(playout!.deviceFormat.name) at \(format.sampleRate) Hz")
            }
            if output.isRealTime { reactor.schedule(.lockMemory, after: memoryLockDelay) }
            if output.isRealTime && !playout!.realtimeGranted && advice.isNew(.realtime) {
                log.error(realtimeAdvice())
            }
            if let since = deviceGoneSince {
                log.info("audio output \"\(output.deviceName)\" is back after \(formatDuration((now - since) / 1000 * 1000)): playing on the host's schedule")
            }
            deviceGoneSince = nil
            deviceRetry = firstDeviceRetry
        } catch {
            ingest.accepting = false
            if deviceGoneSince == nil {
                deviceGoneSince = now
                log.error(
                    "cannot open audio output \"\(output.deviceName)\" (receiving.audio_output.device_id): "
                        + "\((error as? AlsaError).map { output.explain($0, format: format) } ?? "\(error)"); the stream goes on, and the device is "
                        + "tried again every \(formatDuration(longestDeviceRetry)) at most"
                )
            }
            reactor.schedule(.device, after: deviceRetry)
            deviceRetry = min(deviceRetry * 2, longestDeviceRetry)
        }
    }

    /// Locks what is resident now, which is what a playing stream runs: memory pressure then
    /// cannot evict it and make the audio thread wait for the SD card to read it back.
    private func lockMemory() {
        do throws(Errno) {
            let bytes = try lockResidentPages()
            log.info("memory: locked the \(bytes / 1024) KB a playing stream runs in")
        } catch {
            guard advice.isNew(.memoryLock) else { return }
            var limit = rlimit()
            getrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &limit)
            log.error(
                "memory: the stream's pages could not be locked (\(error); RLIMIT_MEMLOCK is \(limit.rlim_cur / 1024) KB): under memory pressure the "
                    + "audio thread may wait for the disk. Allow it with LimitMEMLOCK=16M in msrecv's systemd unit, a memlock line in "
                    + "/etc/security/limits.conf, or CAP_IPC_LOCK"
            )
        }
    }

    /// The audio thread stopped because the device failed (unplugged, gone): closed, and opened
    /// again as soon as it can be.
    private func deviceFailed(_ failure: AlsaError, _ reactor: inout Reactor<ReceiverToken>) {
        stopPlayout(keepingDevice: false)
        deviceGoneSince = reactor.now
        deviceRetry = firstDeviceRetry
        log.error("audio output \"\(output.deviceName)\" failed: \(failure); the stream goes on, and the device is opened again as soon as it can be")
        ingest.accepting = false
        reactor.schedule(.device, after: deviceRetry)
    }

    /// With the audio thread joined, every slot (queued, buffered or half-filled) is free again.
    /// The device stays open for the next session with `keepingDevice`, unless it failed.
    private func stopPlayout(keepingDevice: Bool) {
        guard let playout else { return }
        playout.stop(keepingDevice: keepingDevice)
        self.playout = nil
        while incoming.pop() != nil {}
        pool.reclaimAll()
        ingest.forgetPendingSlot()
    }

    /// Reads everything the host has sent, into the pool. Nothing after its BYE end_of_stream:
    /// the host leaves at once, and its close, seen in the wake-up that read the BYE (a read
    /// timer due with it), would cut short what is still buffered.
    private func read(_ reactor: inout Reactor<ReceiverToken>) -> End? {
        guard !endOfStream else { return nil }
        defer { updateInterest(&reactor) }
        // A TIME_RESP's arrival is a clock-sync sample: read it on its own time stamp.
        channel.readsAhead = !clockSync.awaitingResponse
        while true {
            switch reader.next(from: channel) {
            case .header(let h):
                switch route(h, now: reactor.now) {
                case .routed: break
                case .poolFull:
                    // The frame stays where it is until the audio thread made room.
                    reactor.schedule(.read, after: 2_000)
                    return nil
                case .invalid(let why):
                    log.failure(.invalidPacket(why))
                    return .retry(.ended(.invalidPacket))
                }
            case .frame(let h, let payload):
                if let end = handle(h, payload, now: reactor.now, &reactor) { return end }
                if endOfStream { return nil }
            case .wouldBlock(let interest):
                readWaitsFor = interest
                if let readInterval { reactor.schedule(.read, after: readInterval) }
                return nil
            case .closed(let midFrame):
                log.event(.networkError(midFrame ? "host closed the connection in the middle of a frame" : "host closed the connection"))
                return .retry(.hostGone)
            case .failed(let e):
                log.event(.networkError("reading from host: \(e)"))
                return .retry(.hostGone)
            }
        }
    }

    /// Between batched reads the socket is watched only for a TIME_RESP (its arrival time is
    /// the sample) and for what a pending flush needs; after the host's BYE not at all (a
    /// closed socket would wake every wait).
    private func updateInterest(_ reactor: inout Reactor<ReceiverToken>) {
        let reading: Interest = !endOfStream && (readInterval == nil || clockSync.awaitingResponse) ? readWaitsFor : []
        reactor.setInterest(.host, reading.union(writeWaitsFor))
    }

    private func send(_ frame: [UInt8], what: String, _ reactor: inout Reactor<ReceiverToken>) {
        guard outbox.append(frame) else { return sendFailure("sending \(what): the host is not reading", &reactor) }
        flush(&reactor)
    }

    private func flush(_ reactor: inout Reactor<ReceiverToken>) {
        switch outbox.flush(to: channel) {
        case .done: writeWaitsFor = []
        case .wouldBlock(let interest): writeWaitsFor = interest
        case .failed(let e): sendFailure("sending to host: \(e)", &reactor)
        }
    }

    /// A host that closed may have said why first (BYE end_of_stream): a failed send only stops
    /// sending; the next read finds the BYE or the end of the connection.
    private func sendFailure(_ why: String, _ reactor: inout Reactor<ReceiverToken>) {
        log.event(.networkError(why))
        sendFailed = true
        writeWaitsFor = []
        reactor.schedule(.read, at: reactor.now)
    }

    private enum Routed {
        case routed
        case poolFull
        case invalid(String)
    }

    /// Where a frame's payload goes, or why the frame is not acceptable.
    private func route(_ h: FrameHeader, now: Microseconds) -> Routed {
        guard let type = h.type else {
            guard h.length <= WireProtocol.maxControlPayload else { return .invalid("unknown frame type \(h.rawType) with \(h.length) bytes") }
            reader.route(.discard)
            return .routed
        }
        switch type {
        case .audio:
            switch ingest.route(h, now: now) {
            case .read(let destination): reader.route(destination)
            case .wait: return .poolFull
            case .invalid(let e): return .invalid(e.description)
            }
        case .bye, .timeResponse, .control, .chat, .status, .advertisement:
            guard h.length <= WireProtocol.maxControlPayload else { return .invalid("\(type) frame of \(h.length) bytes") }
            reader.route(.scratch)
        case .hello, .challenge, .auth, .welcome, .reject, .timeRequest:
            return .invalid("unexpected \(type) frame while streaming")
        }
        return .routed
    }

    private func handle(_ h: FrameHeader, _ payload: UnsafeRawBufferPointer, now: Microseconds, _ reactor: inout Reactor<ReceiverToken>) -> End? {
        switch h.type {
        case .audio:
            let sentAt: UInt64?
            do throws(IngestError) { sentAt = try ingest.complete(h, payload, now: now) } catch {
                log.failure(.invalidPacket(error.description))
                return .retry(.ended(.invalidPacket))
            }
            if let sentAt, clockSync.arrival(sentAt: sentAt, t4: channel.lastArrival ?? now) { clockMapping.store(clockSync.estimator.mapping) }
            if let carried = ingest.takeMetadata() { metadataArrived(carried.bytes, timestamp: carried.timestamp) }
        case .timeResponse:
            do throws(ProtocolError) { clockSample(try TimeResponse.decode(payload), t4: channel.lastArrival ?? now) } catch {
                log.failure(.invalidPacket(error.description))
                return .retry(.ended(.invalidPacket))
            }
        case .bye:
            let bye = Bye.decode(payload)
            if bye.reason == .kicked {
                let stayAway = bye.stayAwaySeconds.map { Microseconds($0) * 1_000_000 }
                log.info(
                    "the host's user sent this receiver away: it stays off the host \(stayAway.map { "for \(formatDuration($0))" } ?? "until msrecv restarts")")
                return .kicked(stayAway: stayAway)
            }
            guard bye.reason == .endOfStream else {
                log.info("host said goodbye: \(bye.reasonName)")
                return .retry(.bye(bye.reason))
            }
            endOfStream = true
            counters.endOfStream.store(true, ordering: .releasing)
            log.info("host ended the stream; playing out what is buffered")
            for token in [ReceiverToken.read, .timeRequest, .status] { reactor.cancelTimer(token) }
            reactor.schedule(.playedOut, at: now)
        case .advertisement:
            do throws(ProtocolError) {
                let ad = try ServiceAdvertisement.decode(json: payload)
                if let discoveredDeviceID, ad.deviceID != discoveredDeviceID {
                    log.warning(
                        "the host's advertisement over TLS names device_id \(ad.deviceID), not the \(discoveredDeviceID) its mDNS records gave: two "
                            + "hosts share one name or address"
                    )
                }
                log.info(
                    "host \"\(ad.deviceName)\" (device_id \(ad.deviceID))\(ad.userName.isEmpty ? "" : ", shared by \(ad.userName)"), Moosync "
                        + "\(ad.moosyncVersion), avatar \(ad.avatar.isEmpty ? "none" : "\(ad.avatar.utf8.count) bytes of base64")"
                )
            } catch {
                // Only what the host says about itself: the stream plays on.
                log.warning("the host's advertisement is not readable: \(error)")
            }
        case .control:
            do throws(ProtocolError) { obey(try Control.decode(payload)) } catch {
                // A command this receiver cannot read changes nothing: the stream plays on.
                log.warning("the host sent a CONTROL this receiver cannot read: \(error)")
            }
        default:
            break  // CHAT: skipped like unknown types
        }
        return nil
    }

    /// The host's user set this speaker's volume or muted it (`mshost volume`, `mshost mute`).
    private func obey(_ control: Control) {
        switch control.action {
        case .volume(let level): volume.set(level: level)
        case .mute(let on): volume.set(muted: on)
        case .refused(let action, let reason):
            return log.info("the host refused \(action): \(reason)")
        case .quality(let bitrate):
            self.bitrate = bitrate
            return log.event(.qualityChanged(clientID: nil, bitrate: bitrate))
        case .buffer(let group, let from):
            return playAt(group, from: from)
        case .play, .pause, .next, .previous, .queueAdd, .queueRemove:
            return log.info("the host sent \(control.name), which is for its player, not a speaker: ignored")
        }
        volumeMoved(by: "set by the host")
    }

    /// The host moved this speaker's volume (it knows, so nothing is reported back): it goes
    /// where it plays, and into the log.
    private func volumeMoved(by whom: String) {
        volume.apply(to: counters, log: log)
        volumeReported = (volume.level, volume.muted)
        log.info("volume \(volume.description), \(whom)")
    }

    /// What the host's player plays (song, position, house volume), from an AUDIO packet. Bad
    /// metadata is said once and changes nothing: the audio it came with plays.
    private func metadataArrived(_ bytes: [UInt8], timestamp: UInt64) {
        let metadata: PacketMetadata
        do throws(ProtocolError) {
            metadata = try bytes.withBytes(PacketMetadata.decode)
        } catch {
            if !metadataRefused { log.warning("the host's AUDIO metadata is ignored: \(error)") }
            metadataRefused = true
            return
        }
        if metadata.songID != nowPlaying?.metadata.songID, let song = metadata.songID { log.info("now playing \"\(printable(song))\"") }
        nowPlaying = (metadata, timestamp)
        if let house = metadata.volume, volume.follow(house: house) { volumeMoved(by: "the house volume") }
    }

    /// What the host's player plays now: its song, and the position the card is at (the
    /// metadata's, moved on by the stream time since its packet).
    func nowPlaying(at now: Microseconds) -> PacketMetadata? {
        guard let (metadata, timestamp) = nowPlaying else { return nil }
        guard let mapping = clockMapping.load() else { return metadata }
        let playing = mapping.host(fromLocal: now) - schedule.streamStart - schedule.latency
        return metadata.movedOn(by: playing - Microseconds(timestamp))
    }

    /// Someone at the speaker moved its volume (a button): the audio thread glides to it and,
    /// with `report`, the host hears of it (a CONTROL it shows to its user and to Moosync).
    func volumeChangedHere(report: Bool, _ reactor: inout Reactor<ReceiverToken>) {
        volume.apply(to: counters, log: log)
        guard report else { return }
        if volume.level != volumeReported.level { send(Control(.volume(volume.level)).frame, what: "the volume", &reactor) }
        if volume.muted != volumeReported.muted { send(Control(.mute(volume.muted)).frame, what: "the mute", &reactor) }
        volumeReported = (volume.level, volume.muted)
    }

    private func clockSample(_ response: TimeResponse, t4: Microseconds) {
        switch clockSync.receive(response, t4: t4) {
        case .accepted, .outlier:
            break
        case .refused(let why):
            log.info("clock: refused a TIME_RESP (\(clockSync.estimator.refused) so far): \(why)")
        case .stepped(let by):
            // The audio thread resyncs to the new clock at once and reports it (SyncLost,
            // then a resynced line).
            log.info("clock: the host's clock stepped by \(by) µs")
            counters.resyncRequests.add(1, ordering: .releasing)
        }
        clockMapping.store(clockSync.estimator.mapping)
    }

    /// Logs what changed, once a second.
    private func report(now: Microseconds) {
        reported = reported.log(counters, log)
        if let line = clockSync.periodicReport(now: now) { log.info(line) }
    }

    /// How full the jitter buffer is against what the latency holds (0…1): the packets waiting
    /// to play, out of the latency's worth (the pool's headroom is not counted).
    var bufferHealth: Double {
        let buffered = counters.buffered.load(ordering: .relaxed)
        let target = (ingest.playingLatency + format.frameDuration - 1) / format.frameDuration
        return min(1, Double(buffered) / Double(max(1, target)))
    }

    /// Once a second: packets late or concealed and underruns since the last move the buffer
    /// this speaker wants; the STATUS after next tells the host. Not in a second in which
    /// nothing played, nor when packets came later than the ceiling could have held them, nor
    /// in the second before such a second (its start: what was buffered still played) or the
    /// 2 s after it (its tail): an outage (a path frozen or cut for seconds) is not the
    /// buffer's to absorb, and would only raise the whole group's delay.
    private func judgeBuffer(now: Microseconds) {
        let trouble =
            counters.packetsLate.load(ordering: .relaxed) + counters.packetsConcealed.load(ordering: .relaxed)
            + counters.underruns.load(ordering: .relaxed)
        let played = counters.packetsPlayed.load(ordering: .relaxed)
        let lateness = ingest.takeWorstLateness()
        let reach = bufferWanted.ceiling + latencyOffset - ingest.playingLatency
        if trouble > troubleCounted && (played == playedJudged || lateness > reach) { outageTail = now + 2_000_000 }
        let outage = now <= outageTail
        let counted = outage ? 0 : troubleHeld
        troubleHeld = outage ? 0 : trouble - troubleCounted
        let was = bufferWanted.wanted
        if let wanted = bufferWanted.update(trouble: counted, now: now) {
            let why =
                wanted > was
                ? "\(counted) packet(s) came late or were concealed, or the card ran dry, in a second"
                : "a calm minute"
            log.info("buffer: \(why): this speaker asks the host for \(formatDuration(wanted)) (was \(formatDuration(was)))")
        }
        (troubleCounted, playedJudged) = (trouble, played)
    }

    /// The host says the group plays `group` behind it from stream time `from` on: so does
    /// this speaker, as far as its own bounds let it (and its offset on top).
    private func playAt(_ group: Microseconds, from: Microseconds) {
        let buffer = min(max(group, bufferWanted.floor), bufferWanted.ceiling)
        guard let change = LatencyChange(from: from, latency: buffer + latencyOffset) else {
            return log.warning("the host asked for a buffer of \(group) µs from stream time \(from) µs, which this speaker cannot play: ignored")
        }
        counters.latencyChange.store(change.packed, ordering: .releasing)
        let note =
            buffer < group
            ? ", but this speaker buffers at most \(formatDuration(buffer)) (receiving.max_buffer_size): it plays \(formatDuration(group - buffer)) "
                + "ahead of the others"
            : buffer > group
                ? ", but this speaker buffers at least \(formatDuration(buffer)) (receiving.buffer_size): it plays \(formatDuration(buffer - group)) "
                    + "behind the others"
                : ""
        log.info("buffer: the group plays \(formatDuration(group)) behind the host from stream time \(formatDuration(change.from))\(note)")
    }

    /// The share of the packets due since the last STATUS that were concealed (lost, or late
    /// and dropped): what an adaptive host steps its bitrate down on.
    private func measureLoss() {
        let played = counters.packetsPlayed.load(ordering: .relaxed)
        let concealed = counters.packetsConcealed.load(ordering: .relaxed)
        let due = (played - lossCounted.played) + (concealed - lossCounted.concealed)
        recentLoss = due > 0 ? Double(concealed - lossCounted.concealed) / Double(due) : 0
        lossCounted = (played, concealed)
    }

    /// What STATUS says now (and `msrecv status` shows).
    func status() -> Status {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let buffered = counters.buffered.load(ordering: .relaxed)
        var s = Status()
        s.bitrate = bitrate
        s.packetLoss = recentLoss
        s.latency = ingest.playingLatency
        s.wantedBuffer = bufferWanted.wanted
        s.bufferedPackets = buffered
        s.bufferHealth = bufferHealth
        s.underruns = counters.underruns.load(ordering: .relaxed)
        s.overruns = counters.overruns.load(ordering: .relaxed)
        s.volume = Double(volume.level) / Double(VolumeScale.range.upperBound)
        s.muted = volume.muted
        s.syncErrorMicroseconds = Int(clockSync.estimator.errorBound)
        s.roundTripMicroseconds = Int(clockSync.estimator.roundTrip)
        s.roundTripJitterMicroseconds = Int(clockSync.estimator.roundTripJitter)
        s.playoutErrorMicroseconds = counters.playoutError.load(ordering: .relaxed)
        s.correctionPPM = Double(counters.correction.load(ordering: .relaxed)) / 100
        s.clockDriftPPM = clockSync.estimator.mapping.drift * 1e6
        s.cpuSeconds = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        s.memoryPeakKB = peakResidentKilobytes() ?? 0
        return s
    }
}
