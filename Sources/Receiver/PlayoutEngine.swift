import Audio
import Codec
import Core
import ProtocolMessages
import Resample

/// When the host's stream plays (DESIGN §6): sample k is due at the DAC at
/// `streamStart + k / rate + latency`, in host time.
public struct PlayoutSchedule: Equatable, Sendable {
    /// Host monotonic µs of stream time 0.
    public var streamStart: Microseconds
    /// `receiving.buffer_size`.
    public var latency: Microseconds

    public init(streamStart: Microseconds, latency: Microseconds) {
        self.streamStart = streamStart
        self.latency = latency
    }
}

/// The receiver's real-time path (DESIGN §4): jitter buffer → decode (or conceal) → volume →
/// sink, over storage allocated at init. `step()` is called in a loop by the audio thread and
/// allocates nothing; it returns what it did so the loop decides when to sleep.
public struct PlayoutEngine<Sink: AudioSink & ~Copyable, Clock: MonotonicClock>: ~Copyable {
    public enum Step: Equatable {
        case played
        case concealed
        /// A packet whose due time had already passed before playback started was skipped.
        case skippedLate
        /// The first Opus packet was decoded only to warm the decoder up (joining mid-stream,
        /// a fresh decoder's first 6.5 ms are not the signal yet).
        case primed
        /// Nothing to do before this local time.
        case waiting(until: Microseconds)
        /// No packet yet.
        case idle
        /// End of stream reached and played out.
        case finished
        case sinkFailed
    }

    private let pool: PacketPool
    private let incoming: SPSCRing
    private var jitter: JitterBuffer
    private let decoder: PacketDecoder?
    public private(set) var sink: Sink
    private let clock: Clock
    private let counters: PlayoutCounters
    public let format: StreamFormat
    /// Its latency changes when the host asks (`PlayoutCounters.latencyChange`).
    public private(set) var schedule: PlayoutSchedule
    /// The host's clock as this machine sees it, kept current by the control loop, and the last
    /// mapping read from it.
    private let clockMapping: SharedClockMapping
    private var mapping: ClockMapping
    private let sinkLead: Microseconds
    /// How far ahead of its due time a packet is written once the card plays. With a device
    /// buffer of four packets or more, the buffer less the packet: the packet then fits whole,
    /// where a full buffer would block the write until the card frees a period, a wake-up per
    /// period. A smaller buffer (30 ms of latency) is filled to the brim: there every frame
    /// queued counts. Until the card plays, it is filled to the brim in any case: the card
    /// starts when its buffer is full, which puts the first frame out on time.
    private let playingWriteLead: Microseconds
    private var cardPlaying = false
    /// Before a paced card's first start, and after it ran dry, the first packet goes in behind
    /// silence that puts its first frame out when it is due, and the card is started at once.
    /// Written this far ahead of that time: the buffer less the packet and an eighth of one (the
    /// card is filled without a write that would wait for room), plus the card's own delay.
    private let refillWriteLead: Microseconds
    /// The first packet after the card ran dry is skipped when it is due sooner than this: the
    /// packets after it may not have come yet, and a card filled short would run dry again.
    private let refillLead: Microseconds
    /// The first packet of all is skipped only when due sooner than this: the card's delay and
    /// a quarter packet to write it. A host sends the recent past on joining, so the packets
    /// after it are in hand and the card fills up at once behind it: the first sound comes as
    /// soon as it can be on schedule.
    private let startLead: Microseconds
    /// The decoder's output runs this far behind the packet's timestamp.
    private let codecDelay: Microseconds
    /// The audio the device holds when the audio thread wakes up to write again: half its
    /// buffer, at most 100 ms, and a packet. Each wake-up writes every packet that is due, so a
    /// 200 ms device buffer costs about 14 wake-ups a second instead of 50 (a 400 ms one 4),
    /// and what is left rides out a stall or a host clock step of tens of milliseconds without
    /// running dry: a deeper buffer need not keep more for that.
    private let lowWater: Microseconds
    /// The decoded packet, full scale ±1.0.
    private let pcm: UnsafeMutableBufferPointer<Float>
    private var compensator: DriftCompensator
    private var started = false
    /// The card stands empty, prepared: a paced card before the first start, and after it ran
    /// dry. Its first frame then goes in behind silence that puts it out when it is due.
    private var cardRanDry: Bool
    private var primed = false
    /// Frames of the fade-in still to apply: playback that starts mid-song ramps up over
    /// `fadeInFrames` instead of jumping from silence to full level (a click).
    private var fadeRemaining = 0
    private let fadeInFrames: Int
    /// The volume: a change glides over 5 ms.
    private var gain: GainRamp
    private var lastSequence: UInt64 = 0
    private var lastTimestamp: Microseconds = 0
    private var dropRequestsSeen = 0
    private var readingsSincePointerStep = Self.readingsPerPointerStep
    private var resyncRequestsSeen = 0
    private static var readingsPerPointerStep: Int { 25 }

    /// The decoder a stream needs: nil for PCM.
    public static func decoder(for format: StreamFormat) throws(CodecError) -> PacketDecoder? {
        try PacketDecoder.make(for: format.codec, sampleRate: format.sampleRate, channels: format.channels)
    }

    /// Frames one decoded packet can hold: Opus returns up to 120 ms, PCM one frame.
    public static func maxFrames(for format: StreamFormat) -> Int { max(format.sampleRate * 120 / 1000, format.frameSamples) }

    /// `decoder` comes from `decoder(for:)`; `resampler` (for `maxFrames(for:)` input frames)
    /// absorbs a paced card's drift, nil to play every frame as decoded. The initialiser cannot
    /// fail: Swift 6.0.3 miscompiles a throwing init of this noncopyable generic struct.
    public init(
        format: StreamFormat, decoder: PacketDecoder?, resampler: DriftResampler?, pool: PacketPool, incoming: SPSCRing,
        sink: consuming Sink, clock: Clock, counters: PlayoutCounters, schedule: PlayoutSchedule, clockMapping: SharedClockMapping
    ) {
        self.format = format
        self.decoder = decoder
        self.schedule = schedule
        self.clockMapping = clockMapping
        mapping = clockMapping.load() ?? ClockMapping(offset: 0)
        self.pool = pool
        self.incoming = incoming
        self.clock = clock
        self.counters = counters
        jitter = JitterBuffer(capacity: pool.slotCount)
        sinkLead = Microseconds(sink.bufferFrames) * 1_000_000 / Microseconds(sink.sampleRate)
        playingWriteLead = sinkLead >= 4 * format.frameDuration ? sinkLead - format.frameDuration : sinkLead
        lowWater = min(sinkLead / 2, 100_000) + format.frameDuration
        // The silence before the first frame is shorter by the card's own delay: the packet can
        // be that much further ahead.
        let hardwareDelay = Microseconds(sink.hardwareDelayFrames) * 1_000_000 / Microseconds(sink.sampleRate)
        refillWriteLead = max(sinkLead - format.frameDuration - format.frameDuration / 8, 0) + hardwareDelay
        refillLead = max(sinkLead - format.frameDuration - format.frameDuration / 4, 0) + hardwareDelay
        startLead = hardwareDelay + format.frameDuration / 4
        cardRanDry = sink.isPaced
        let sampleFormat = sink.sampleFormat
        self.sink = sink
        let maxFrames = Self.maxFrames(for: format)
        compensator = DriftCompensator(
            resampler: resampler, channels: format.channels, sampleRate: format.sampleRate, maxFrames: maxFrames,
            format: sampleFormat)
        pcm = .allocate(capacity: maxFrames * format.channels)
        pcm.initialize(repeating: 0)
        fadeInFrames = format.sampleRate / 200  // 5 ms
        gain = GainRamp(q15: counters.volumeQ15.load(ordering: .relaxed), rampFrames: format.sampleRate / 200)
        // The counters outlive an engine (a device that comes back gets a new one): only
        // requests made from now on are this engine's.
        dropRequestsSeen = counters.dropRequests.load(ordering: .acquiring)
        resyncRequestsSeen = counters.resyncRequests.load(ordering: .acquiring)
        codecDelay = Microseconds(format.codecDelay) * 1_000_000 / Microseconds(format.sampleRate)
        counters.playoutLatency.store(Int(schedule.latency), ordering: .relaxed)
    }

    deinit { pcm.deallocate() }

    public mutating func step() -> Step {
        counters.steps.add(1, ordering: .relaxed)
        drainIncoming()
        honourDropRequests()
        guard let next = jitter.nextSequence else {
            return counters.endOfStream.load(ordering: .acquiring) ? finish() : .idle
        }
        let slot = jitter.peekNext()
        let timestamp: Microseconds
        if let slot {
            timestamp = Self.timestamp(of: pool.contents(slot))
        } else if started {
            // The jitter buffer keeps the gap within its span, and a restart re-bases `last*`.
            timestamp = lastTimestamp + Microseconds(truncatingIfNeeded: next &- lastSequence) * format.frameDuration
        } else {
            return .idle
        }
        // A new latency from this packet on. Before the card plays (or after it ran dry) it holds
        // at once: the start puts the packet out on the new schedule. While the card plays, the
        // packet is written on the old one and the card moved by the difference as it goes in.
        let newLatency = latencyAsked(at: timestamp)
        let cardQueued = started && !cardRanDry
        if let newLatency, !cardQueued { changeLatency(to: newLatency) }
        // A move still to go in shifts when the card needs this packet: a latency grown by more
        // than the card holds would otherwise let it run dry before the silence went in.
        let due = hostClock().local(fromHost: schedule.streamStart + timestamp + schedule.latency) + (cardQueued ? compensator.pendingMove : 0)
        let now = clock.now()
        let firstFrameDue = due - codecDelay
        if cardRanDry {
            if now < firstFrameDue - refillWriteLead { return .waiting(until: firstFrameDue - refillWriteLead) }
        } else {
            // Never further ahead of the DAC than the device can hold: an unpaced device (ALSA
            // null/file) must not be written ahead, and a paced one would only block.
            let writeLead = cardPlaying ? playingWriteLead : sinkLead
            if now < due - writeLead { return .waiting(until: due - min(writeLead, lowWater)) }
        }

        guard let slot else {
            if counters.endOfStream.load(ordering: .acquiring) && jitter.count == 0 { return finish() }
            // Missing: wait while the device still has half its buffer to play, then conceal.
            // After a dry run there is nothing to conceal from: skipped.
            let concealAt = due - sinkLead / 2
            if now < concealAt && !cardRanDry { return .waiting(until: concealAt) }
            _ = jitter.advance()
            lastSequence = next
            lastTimestamp = timestamp
            if cardRanDry { return .skippedLate }
            counters.packetsConcealed.add(1, ordering: .relaxed)
            if cardQueued, let newLatency { changeLatency(to: newLatency, movingTheCard: true) }
            return write(frames: conceal()) ? .concealed : .sinkFailed
        }

        _ = jitter.advance()
        lastSequence = next
        lastTimestamp = timestamp
        // Before the start a packet already due cannot play on time, nor one due too soon to go
        // in behind its silence: skipped, playback starts with the first that can.
        if cardRanDry ? now > firstFrameDue - (started ? refillLead : startLead) : !started && now > due {
            pool.release(slot)
            if started {
                counters.packetsLate.add(1, ordering: .relaxed)
            } else {
                counters.packetsDueBeforeStart.add(1, ordering: .relaxed)
            }
            return .skippedLate
        }
        let frames = decode(pool.contents(slot))
        pool.release(slot)
        if !started && !primed, case .opus? = decoder {
            primed = true
            return .primed
        }
        guard let skipped = startPlaying(at: timestamp, firstFrameDue: firstFrameDue) else { return .sinkFailed }
        if cardQueued, let newLatency { changeLatency(to: newLatency, movingTheCard: true) }
        counters.packetsPlayed.add(1, ordering: .relaxed)
        return write(frames: frames, skipping: skipped) ? .played : .sinkFailed
    }

    /// The latency the host asked for from `timestamp` on, when it is not the one playing.
    private func latencyAsked(at timestamp: Microseconds) -> Microseconds? {
        guard let change = LatencyChange(packed: counters.latencyChange.load(ordering: .acquiring)),
            timestamp >= change.from, change.latency != schedule.latency
        else { return nil }
        return change.latency
    }

    /// Plays at `latency` from now on; with `movingTheCard`, what the card holds already stays
    /// and the compensator drops or inserts the difference, spliced.
    private mutating func changeLatency(to latency: Microseconds, movingTheCard: Bool = false) {
        if movingTheCard { compensator.move(by: schedule.latency - latency) }
        schedule.latency = latency
        counters.playoutLatency.store(Int(latency), ordering: .relaxed)
        counters.latencyChanges.add(1, ordering: .relaxed)
    }

    @inline(__always)
    private mutating func drainIncoming() {
        while let slot = incoming.pop() {
            let packet = pool.contents(slot)
            let sequence = AudioPacketHeader.sequence(of: packet)
            let pool = self.pool
            let counters = self.counters
            let result = jitter.insert(slot: slot, sequence: sequence) { evicted in
                pool.release(evicted)
                counters.overruns.add(1, ordering: .relaxed)
            }
            switch result {
            case .stored:
                break
            case .restarted:
                // The host's sequence numbers jumped beyond the buffer's span: what was held is
                // gone, and the stream goes on from this packet, whose timestamp says when it
                // plays; the card is put right at the next reading.
                lastSequence = sequence &- 1
                lastTimestamp = Self.timestamp(of: packet) - format.frameDuration
                counters.sequenceRestarts.add(1, ordering: .relaxed)
                restartControl()
            case .late, .duplicate:
                pool.release(slot)
                counters.packetsLate.add(1, ordering: .relaxed)
            }
        }
        counters.buffered.store(jitter.count, ordering: .relaxed)
    }

    @inline(__always)
    private mutating func honourDropRequests() {
        let requested = counters.dropRequests.load(ordering: .acquiring)
        while dropRequestsSeen < requested {
            dropRequestsSeen += 1
            if let slot = jitter.dropOldest() {
                pool.release(slot)
                counters.overruns.add(1, ordering: .relaxed)
            }
        }
    }

    /// The current host clock mapping; the last one read if the control loop is mid-write.
    @inline(__always)
    private mutating func hostClock() -> ClockMapping {
        if let current = clockMapping.load() { mapping = current }
        return mapping
    }

    /// A queued packet's timestamp, µs of stream time: `AudioIngest` let in only those near
    /// the schedule, so the conversion cannot trap.
    @inline(__always)
    private static func timestamp(of packet: UnsafeRawBufferPointer) -> Microseconds {
        Microseconds(truncatingIfNeeded: AudioPacketHeader.timestamp(of: packet))
    }

    private func decode(_ packet: UnsafeRawBufferPointer) -> Int {
        let data = UnsafeRawBufferPointer(rebasing: packet[AudioPacketHeader.size...])
        switch decoder {
        case nil:
            return PCMCodec.decode(data, channels: format.channels, into: pcm)
        case .opus(let opus)?:
            let n = opus.decode(data, into: pcm, maxFrames: pcm.count / format.channels)
            return n > 0 ? Int(n) : conceal()
        case .flac(let flac)?:
            let n = flac.decode(data, into: pcm)
            return n > 0 ? n : conceal()
        }
    }

    /// Opus conceals a missing packet from what came before; PCM and FLAC play silence.
    private func conceal() -> Int {
        if case .opus(let opus)? = decoder {
            let n = opus.conceal(into: pcm, frames: format.frameSamples)
            if n > 0 { return Int(n) }
        }
        UnsafeMutableBufferPointer(rebasing: pcm[0..<format.samplesPerPacket]).update(repeating: 0)
        return format.frameSamples
    }

    /// Plays the decoded frames after the first `skipped`.
    private mutating func write(frames decoded: Int, skipping skipped: Int = 0) -> Bool {
        let skipped = min(skipped, decoded)
        let frames = decoded - skipped
        guard frames > 0 else { return true }
        let samples = UnsafeMutableBufferPointer(rebasing: pcm[(skipped * format.channels)..<(decoded * format.channels)])
        if fadeRemaining > 0 { fadeIn(samples, frames: frames) }
        ChannelMix(rawValue: counters.channelMix.load(ordering: .relaxed))?.apply(samples, channels: format.channels)
        gain.apply(samples, channels: format.channels, toward: counters.volumeQ15.load(ordering: .relaxed))
        guard accept(compensator.write(UnsafeBufferPointer(samples), frames: frames, to: &sink)) else { return false }
        followTheCard(interval: Microseconds(frames) * 1_000_000 / Microseconds(format.sampleRate))
        return true
    }

    /// Counts what a write did (silence is not counted as played); false when the device failed.
    private mutating func accept(_ status: SinkStatus, silence: Bool = false) -> Bool {
        switch status {
        case .written(let n):
            if !silence { counters.framesPlayed.add(n, ordering: .relaxed) }
        case .recoveredFromUnderrun(let n):
            counters.underruns.add(1, ordering: .relaxed)
            if !silence { counters.framesPlayed.add(n, ordering: .relaxed) }
            // The card stands empty until its buffer is full again. Filled with what is late
            // by now, it would play that late and then have to drop it: a second jump, and on
            // a multi-room system an echo. It starts again on schedule instead.
            cardRanDry = true
            restartControl()
        case .failed(let error):
            counters.deviceFailure.store(min(error.code, -1), ordering: .releasing)
            return false
        }
        return true
    }

    /// When will the next frame leave the card, against when it is due: the drift controller's
    /// input. Nothing to follow until a paced card is playing.
    private mutating func followTheCard(interval: Microseconds) {
        let resyncRequests = counters.resyncRequests.load(ordering: .acquiring)
        if resyncRequests != resyncRequestsSeen {
            resyncRequestsSeen = resyncRequests
            restartControl()
        }
        // Twice a second (and first) the reading waits for the card's pointer to move: exact on
        // a card that moves it in DMA bursts, where the others are late by up to a burst. The
        // controller follows the earliest reading, so those are the ones it steers by.
        let atPointerStep = readingsSincePointerStep >= Self.readingsPerPointerStep
        readingsSincePointerStep = atPointerStep ? 1 : readingsSincePointerStep + 1
        guard let delay = sink.outputDelay(atPointerStep: atPointerStep) else {
            readingsSincePointerStep = Self.readingsPerPointerStep
            cardPlaying = false
            return
        }
        cardPlaying = true
        // The card plays its queue at its own rate, which the controller has learnt: it cancels
        // the card's drift (a card 300 ppm fast empties a 100 ms queue 30 µs sooner).
        let cardRate = Double(sink.sampleRate) * (1 - compensator.correction)
        let leaves = clock.now() + Microseconds((Double(delay) * 1e6 / cardRate).rounded())
        let due = hostClock().local(fromHost: schedule.streamStart + compensator.positionMicroseconds + schedule.latency)
        switch compensator.observe(error: leaves - due, interval: interval) {
        case .none:
            break
        case .tracking(let ppm):
            counters.playoutError.store(Int(compensator.filteredError.rounded()), ordering: .relaxed)
            counters.correction.store(Int((ppm * 100).rounded()), ordering: .relaxed)
        case .resync(let by):
            counters.lastResync.store(Int(by), ordering: .relaxed)
            counters.resyncs.add(1, ordering: .releasing)
        }
    }

    /// The schedule moved or the card restarted: the next reading, taken at a pointer step so
    /// that a DMA burst cannot make it look late, decides at once whether to resync.
    private mutating func restartControl() {
        compensator.restartControl()
        readingsSincePointerStep = Self.readingsPerPointerStep
    }

    /// Before the first frame is written, and the first after the card ran dry: fade in, and
    /// count the stream's position from this packet. A card that stands empty is started so
    /// that the packet's first frame leaves it when due. The frames of the packet to skip
    /// because the card started late; nil when the card failed.
    private mutating func startPlaying(at timestamp: Microseconds, firstFrameDue: Microseconds) -> Int? {
        guard !started || cardRanDry else { return 0 }
        var skipped = 0
        if cardRanDry {
            // Cleared first: a card that runs dry while being started is started again with the next packet.
            cardRanDry = false
            guard let late = startCard(firstFrameDue: firstFrameDue) else { return nil }
            skipped = late
        }
        fadeRemaining = fadeInFrames
        started = true
        // The decoder's output runs `codecDelay` samples behind the packet's timestamp.
        compensator.start(atStreamFrame: Double(timestamp) * Double(format.sampleRate) / 1e6 - Double(format.codecDelay - skipped))
        return skipped
    }

    /// Puts silence in the empty card up to `firstFrameDue` (less the card's own delay) and
    /// starts it. Writing the silence took time (tens of µs, more on a busy machine), and the
    /// card plays from when it is started: from that moment the packet's first frame leaves after
    /// the silence and the card's delay. Early is made up with more silence; late comes back as
    /// frames (≥ 0) to skip. A start that itself took long (the thread was preempted) says
    /// nothing exact: no trim, the controller's first reading puts it right. At least an eighth
    /// of a packet of silence: a card started empty would run dry at once. Nil: the card failed.
    private mutating func startCard(firstFrameDue: Microseconds) -> Int? {
        let silence = max(compensator.framesFor(firstFrameDue - clock.now()) - sink.hardwareDelayFrames, format.frameSamples / 8)
        guard accept(compensator.writeSilence(silence, to: &sink), silence: true) else { return nil }
        let before = clock.now()
        sink.start()
        let after = clock.now()
        guard after - before <= Self.exactStartSpan else { return 0 }
        let leaves = before + (after - before) / 2 + Microseconds(silence + sink.hardwareDelayFrames) * 1_000_000 / Microseconds(format.sampleRate)
        let late = compensator.framesFor(leaves - firstFrameDue)
        if late >= 0 { return late }
        return accept(compensator.writeSilence(-late, to: &sink), silence: true) ? 0 : nil
    }

    /// A card's start that takes longer than this was interrupted: when it began playing is not known.
    private static var exactStartSpan: Microseconds { 200 }

    /// A linear ramp from silence over the first `fadeInFrames` frames played.
    private mutating func fadeIn(_ samples: UnsafeMutableBufferPointer<Float>, frames: Int) {
        let channels = format.channels
        for frame in 0..<min(frames, fadeRemaining) {
            let position = fadeInFrames - fadeRemaining + frame
            for c in 0..<channels {
                let i = frame * channels + c
                samples[i] *= Float(position) / Float(fadeInFrames)
            }
        }
        fadeRemaining -= min(frames, fadeRemaining)
    }

    private mutating func finish() -> Step {
        sink.drain()
        return .finished
    }

    /// Gives every packet still held back to the pool (the session is over).
    public mutating func releaseAll() {
        drainIncoming()
        let pool = self.pool
        jitter.reset { pool.release($0) }
    }
}
