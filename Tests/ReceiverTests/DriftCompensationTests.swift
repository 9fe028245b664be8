import Audio
import Core
import Foundation
import ProtocolMessages
import Receiver
import Resample
import XCTest

/// A paced sound card on the stepped clock, exact by construction: it starts when its buffer
/// is full, takes frames at `rate × (1 + ppm)`, and notes when each frame left its DAC. When
/// the application falls behind it runs dry and stops, as a real card does: the next write
/// finds the underrun and starts a new run, which begins once the buffer is full again.
final class SimulatedCard {
    let clock: SteppedClock
    let effectiveRate: Double
    let bufferFrames: Int
    let delay: Microseconds
    var written = 0
    /// Writes that found the buffer full and waited for the card to play (a wake-up each on a
    /// real card).
    var blockedWrites = 0
    var underruns = 0
    /// Frames that carried a click, and when they left the DAC.
    var clicks: [Double] = []
    /// Every frame's left channel, when a test listens to the waveform.
    var samples: [Int16]?
    /// Each run of the card: its first frame, and when it started taking frames.
    private var runs: [(fromFrame: Int, at: Microseconds)] = []
    /// The first frame of the run playing or about to start.
    private var runFrom = 0
    private var playing = false
    private var underrunUnreported = false

    init(clock: SteppedClock, ppm: Double, bufferFrames: Int = 4_800, delay: Microseconds = 1_500) {
        self.clock = clock
        effectiveRate = 48_000 * (1 + ppm / 1e6)
        self.bufferFrames = bufferFrames
        self.delay = delay
    }

    private func framesWanted(at t: Microseconds) -> Int {
        guard playing, let run = runs.last else { return 0 }
        return Int(Double(t - run.at) / 1e6 * effectiveRate)
    }

    /// Frames taken from the buffer by now.
    func consumed(at t: Microseconds) -> Int {
        playing ? runFrom + min(written - runFrom, framesWanted(at: t)) : runFrom
    }

    var queued: Int? { playing ? written - consumed(at: clock.now()) : nil }

    func dacTime(ofFrame i: Int) -> Double {
        let run = runs.last { $0.fromFrame <= i }!
        return Double(run.at) + Double(delay) + Double(i - run.fromFrame) / effectiveRate * 1e6
    }

    /// Stops the card if it has played everything it was given. The application learns of it
    /// at its next write, as from ALSA's -EPIPE.
    func stopIfDry() {
        guard playing, framesWanted(at: clock.now()) > written - runFrom else { return }
        playing = false
        runFrom = written
        underruns += 1
        underrunUnreported = true
    }

    /// Whether the card ran dry since the last write asked.
    func takeUnderrun() -> Bool {
        defer { underrunUnreported = false }
        return underrunUnreported
    }

    /// One frame more; the card starts when its buffer is full.
    func append() {
        written += 1
        if written - runFrom >= bufferFrames { start() }
    }

    /// Starts a card that stands prepared, as snd_pcm_start does.
    func start() {
        guard !playing else { return }
        playing = true
        runs.append((runFrom, clock.now()))
    }
}

struct SimulatedCardSink: AudioSink, ~Copyable {
    let card: SimulatedCard
    let sampleRate = 48_000
    let channels = 2
    let sampleFormat = SampleFormat.s16
    // Stored, not computed from `card`: Swift 6.0.3 crashes on a computed property of a
    // noncopyable struct that reads a class reference.
    let bufferFrames: Int
    let hardwareDelayFrames: Int
    var isPaced: Bool { true }

    init(card: SimulatedCard) {
        self.card = card
        bufferFrames = card.bufferFrames
        hardwareDelayFrames = Int(Double(card.delay) * card.effectiveRate / 1e6)
    }

    mutating func write(_ bytes: UnsafeRawBufferPointer, frames: Int) -> SinkStatus {
        card.stopIfDry()
        if card.takeUnderrun() { return .recoveredFromUnderrun(frames: 0) }
        var blocked = false
        for f in 0..<frames {
            // Wait (advance the clock) while the buffer is full.
            while let queued = card.queued, queued >= card.bufferFrames {
                blocked = true
                card.clock.advance(by: 100)
            }
            // A click spread over two frames by the resampler counts once, at its first.
            let left = bytes.loadUnaligned(fromByteOffset: 4 * f, as: Int16.self)
            if left > 5_000 && card.written - Int(card.clicks.last ?? -1_000) > 100 { card.clicks.append(Double(card.written)) }
            card.samples?.append(left)
            card.append()
        }
        if blocked { card.blockedWrites += 1 }
        return .written(frames: frames)
    }

    mutating func outputDelay(atPointerStep: Bool) -> Int? {
        card.stopIfDry()
        guard let queued = card.queued else { return nil }
        return queued + Int(Double(card.delay) * card.effectiveRate / 1e6)
    }

    mutating func start() { card.start() }

    mutating func drain() {}
}

final class DriftCompensationTests: XCTestCase {
    struct MachineStall {
        var at: Microseconds
        var by: Microseconds
        var hostLag: Microseconds = 0
    }

    struct Played {
        /// The clicks' errors against the schedule, µs.
        var errors: [Double]
        /// Times the audio thread went to sleep.
        var sleeps: Int
        var blockedWrites: Int
        var cardUnderruns: Int
    }

    /// The host's clock as the receiver's estimate sees it jumps by `by` µs at local time `at`
    /// (the session then asks the audio thread to resync, as on a host clock step).
    struct ClockStep {
        var at: Microseconds
        var by: Microseconds
    }

    /// At local time `at` the control loop asks for `latency` from stream time `from` on.
    struct LatencyStep {
        var at: Microseconds
        var from: Microseconds
        var latency: Microseconds
    }

    /// Clicks every second of stream time (or a 997 Hz tone at half scale), PCM packets of
    /// `frame`, played for `seconds` through the engine into a simulated card of `bufferFrames`
    /// at `latency`. A machine stall stops the host and the audio thread for its length while
    /// the card plays on; the host comes back `hostLag` after the audio thread and then sends
    /// what it owes at once.
    private func play(
        ppm: Double, seconds: Int, machineStall: MachineStall? = nil, clockStep: ClockStep? = nil, latencyStep asked: LatencyStep? = nil,
        tone: Bool = false,
        counters: PlayoutCounters = PlayoutCounters(), card listened: SimulatedCard? = nil,
        bufferFrames: Int = 4_800, latency: Microseconds = 200_000, frame: Microseconds = 20_000
    ) throws -> Played {
        let clock = listened?.clock ?? SteppedClock(startingAt: 1_000_000)
        let frameSamples = Int(frame) * 48 / 1_000
        let format = StreamFormat(codec: .pcm, sampleRate: 48_000, channels: 2, frameSamples: frameSamples, bitrate: 0)
        let pool = PacketPool(slotCount: 64, slotCapacity: format.maxAudioPayload)
        let incoming = SPSCRing(capacity: 64)
        let card = listened ?? SimulatedCard(clock: clock, ppm: ppm, bufferFrames: bufferFrames)
        let mapping = SharedClockMapping(ClockMapping(offset: 0))
        var step = clockStep
        var latencyStep = asked
        let schedule = PlayoutSchedule(streamStart: 1_000_000, latency: latency)
        var engine = PlayoutEngine(
            format: format, decoder: nil,
            resampler: DriftResampler(channels: 2, maxInputFrames: PlayoutEngine<SimulatedCardSink, SteppedClock>.maxFrames(for: format)),
            pool: pool, incoming: incoming, sink: SimulatedCardSink(card: card), clock: clock,
            counters: counters, schedule: schedule, clockMapping: mapping)
        var sequence: UInt64 = 0
        var sleeps = 0
        var stall = machineStall
        var hostBack: Microseconds = 0
        let packetsPerSecond = Int(1_000_000 / frame)
        let packets = seconds * packetsPerSecond
        while Int(sequence) < packets || card.written < packets * frameSamples - bufferFrames {
            if let s = stall, clock.now() >= s.at {
                clock.advance(by: s.by)
                hostBack = clock.now() + s.hostLag
                stall = nil
            }
            if let s = step, clock.now() >= s.at {
                mapping.store(ClockMapping(offset: s.by))
                counters.resyncRequests.add(1, ordering: .releasing)
                step = nil
            }
            if let s = latencyStep, clock.now() >= s.at {
                counters.latencyChange.store(try XCTUnwrap(LatencyChange(from: s.from, latency: s.latency)).packed, ordering: .releasing)
                latencyStep = nil
            }
            // The host's packets arrive when they are sent: at their stream time.
            while Int(sequence) < packets && 1_000_000 + Microseconds(sequence) * frame <= clock.now() && clock.now() >= hostBack,
                let slot = pool.acquire()
            {
                let storage = pool.storage(slot)
                AudioPacketHeader(sequence: sequence, timestamp: sequence * UInt64(frame), sampleRate: 48_000, channels: 2, codec: .pcm).encode(into: storage)
                for i in 0..<(frameSamples * 2) {
                    let t = Double(Int(sequence) * frameSamples + i / 2) / 48_000
                    let value: Int16 =
                        tone
                        ? Int16((16_000 * sin(2 * Double.pi * 997 * t)).rounded())
                        : Int(sequence) % packetsPerSecond == 0 && i < 2 ? 20_000 : 0
                    storage.storeBytes(of: value.littleEndian, toByteOffset: AudioPacketHeader.size + 2 * i, as: Int16.self)
                }
                pool.setLength(slot, format.maxAudioPacket)
                _ = incoming.push(slot)
                sequence += 1
            }
            switch engine.step() {
            case .waiting(let until):
                sleeps += 1
                // As the audio thread does (runAudioLoop): packets that arrive meanwhile wait
                // in the ring until it steps again.
                clock.sleep(until: min(until, clock.now() + audioThreadLongestSleep))
            case .idle: clock.sleep(until: clock.now() + audioThreadIdleSleep)
            case .finished, .sinkFailed: return Played(errors: [], sleeps: sleeps, blockedWrites: card.blockedWrites, cardUnderruns: card.underruns)
            default: break
            }
            if clock.now() > 1_000_000 + Microseconds(seconds + 2) * 1_000_000 { break }
        }
        // Click m of the stream is due at streamStart + m s + the latency for its stream time.
        let errors = card.clicks.map { frame in
            let t = card.dacTime(ofFrame: Int(frame))
            let m = ((t - 1_000_000 - Double(latency)) / 1e6).rounded()
            let due = asked.map { m * 1e6 >= Double($0.from) ? $0.latency : latency } ?? latency
            return t - (1_000_000 + m * 1e6 + Double(due))
        }
        return Played(errors: errors, sleeps: sleeps, blockedWrites: card.blockedWrites, cardUnderruns: card.underruns)
    }

    func testTheCompensatorKeepsASimulatedDriftingCardOnSchedule() throws {
        for ppm in [300.0, -300, 0] {
            let errors = try play(ppm: ppm, seconds: 15).errors
            print("simulated card \(ppm) ppm: click errors (µs) \(errors.map { Int($0) })")
            let converged = errors.dropFirst(5).sorted()
            XCTAssertGreaterThan(converged.count, 5)
            // Measured: −13, +18 and −20 µs median (a frame is 21 µs).
            XCTAssertLessThan(abs(converged[converged.count / 2]), 30, "\(ppm) ppm")
            XCTAssertLessThan(converged.last! - converged.first!, 100, "\(ppm) ppm: steady")
        }
    }

    /// A machine that stops for longer than the device buffer holds (a VM whose host took its
    /// CPUs away) makes the card run dry. It costs one underrun, and the card starts again on
    /// schedule: what fell due while it stood dry is skipped, not played late (the click due
    /// then is missing, none is late), and the first packet after it goes in behind silence
    /// that fills the card, so it leaves on time even when the host comes back later than the
    /// receiver and its next packets are late.
    func testAMachineStallCostsOneUnderrunAndNoLateAudio() throws {
        // The click at stream second 8 is due at 9 s + latency on this clock, while the card
        // stands dry.
        let cases: [(latency: Microseconds, frame: Microseconds, bufferFrames: Int, stall: MachineStall)] = [
            (200_000, 20_000, 4_800, MachineStall(at: 9_050_000, by: 250_000)),
            (30_000, 10_000, 960, MachineStall(at: 9_000_000, by: 34_000)),
            (30_000, 10_000, 960, MachineStall(at: 9_000_000, by: 34_000, hostLag: 8_000)),
            (30_000, 10_000, 960, MachineStall(at: 9_000_000, by: 120_000)),
        ]
        for c in cases {
            let name = "\(c.latency / 1000) ms latency, \(c.stall.by / 1000) ms machine stall, host \(c.stall.hostLag / 1000) ms later"
            let undisturbed = try play(ppm: 100, seconds: 14, bufferFrames: c.bufferFrames, latency: c.latency, frame: c.frame).errors
            let counters = PlayoutCounters()
            let played = try play(
                ppm: 100, seconds: 14, machineStall: c.stall, counters: counters,
                bufferFrames: c.bufferFrames, latency: c.latency, frame: c.frame)
            let resyncs = counters.resyncs.load(ordering: .relaxed)
            let lastResync = counters.lastResync.load(ordering: .relaxed)
            print(
                "simulated card, \(name): \(played.cardUnderruns) underrun(s), \(resyncs) resyncs (the last by \(lastResync) µs), "
                    + "click errors (µs) \(played.errors.map { Int($0) })")
            XCTAssertEqual(played.cardUnderruns, 1, name)
            XCTAssertEqual(counters.underruns.load(ordering: .relaxed), 1, "\(name): the engine counted it")
            XCTAssertEqual(resyncs, 0, "\(name): the start and the restart on schedule, with the card's 1.5 ms delay taken off the silence")
            XCTAssertEqual(played.errors.count, undisturbed.count - 1, "\(name): the click due while the card stood dry was skipped")
            for e in played.errors { XCTAssertLessThan(abs(e), 1_000, "\(name): nothing played late") }
            for e in played.errors.dropFirst(4) { XCTAssertLessThan(abs(e), 50, "\(name): on schedule") }
        }
    }

    /// A resync (the host's clock moved 12.3 ms either way: that much audio dropped, or
    /// silence inserted) is spliced in between a 5 ms fade-out and a 5 ms fade-in: the card
    /// never plays a step larger than the tone's own, nor a corner sharper than twice its own
    /// curvature (the resampler's filter smears a cut over its taps: a step it plays at low
    /// level would still show there). In 2.5 ms packets the fade-out spans two. Cut at once,
    /// the same resyncs stepped by 20 034 (the drop) and 6 678 (the insert).
    func testAResyncIsSplicedInBetweenFadesWithoutAStep() throws {
        let omega = 2 * Double.pi * 997 / 48_000
        let toneStep = 16_000 * omega
        let toneCurvature = 16_000 * omega * omega
        for (by, frame) in [(12_300, 20_000), (-12_300, 20_000), (12_300, 2_500), (-12_300, 2_500)] as [(Microseconds, Microseconds)] {
            let counters = PlayoutCounters()
            let card = SimulatedCard(clock: SteppedClock(startingAt: 1_000_000), ppm: 100)
            card.samples = []
            _ = try play(
                ppm: 100, seconds: 8, clockStep: ClockStep(at: 5_000_000, by: by), tone: true, counters: counters, card: card,
                frame: frame)
            let samples = try XCTUnwrap(card.samples).map(Double.init)
            // From 1 s on: the start's own fade-in is the engine's, tested elsewhere.
            let played = Array(samples.dropFirst(48_000))
            let largest = zip(played, played.dropFirst()).map { abs($1 - $0) }.max() ?? 0
            let sharpest = (1..<(played.count - 1)).map { (i: Int) -> Double in abs(played[i + 1] - 2 * played[i] + played[i - 1]) }.max() ?? 0
            print(
                "resync by \(by) µs, \(frame) µs packets: \(counters.resyncs.load(ordering: .relaxed)) resync "
                    + "(\(counters.lastResync.load(ordering: .relaxed)) µs), "
                    + "largest step \(Int(largest)) (the tone's own \(Int(toneStep))), sharpest corner \(Int(sharpest)) (the tone's own \(Int(toneCurvature)))")
            XCTAssertEqual(counters.resyncs.load(ordering: .relaxed), 1)
            XCTAssertEqual(Double(counters.lastResync.load(ordering: .relaxed)), Double(by), accuracy: 200)
            XCTAssertLessThan(largest, toneStep * 1.2, "no step beyond the tone's own")
            XCTAssertLessThan(sharpest, toneCurvature * 2, "no corner: nothing of the cut is heard")
            XCTAssertGreaterThan(samples.suffix(48_000).max() ?? 0, 15_000, "the tone is back at full level")
        }
    }

    /// The host asks for a new latency from a stream time on (its group's delay moved): the
    /// clicks before it play on the old schedule, those after on the new, and the card is moved
    /// once, as the first packet from that time goes in: the difference of silence inserted or
    /// of audio dropped, spliced (a tone through it steps no more than it does itself), with
    /// no underrun, and no resync of the drift controller's own.
    func testANewLatencyMovesTheCardOnceFromItsStreamTime() throws {
        let omega = 2 * Double.pi * 997 / 48_000
        let toneStep = 16_000 * omega
        // Asked at 5 s (stream time 4 s) from stream time 4.1 s: the click at 5 s is the first
        // on the new schedule.
        for (latency, frame) in [(450_000, 20_000), (120_000, 20_000), (450_000, 2_500), (120_000, 2_500)] as [(Microseconds, Microseconds)] {
            let name = "200 → \(latency / 1000) ms in \(frame) µs packets"
            let change = LatencyStep(at: 5_000_000, from: 4_100_000, latency: latency)
            let counters = PlayoutCounters()
            let played = try play(ppm: 100, seconds: 10, latencyStep: change, counters: counters, frame: frame)
            print(
                "latency \(name): \(played.cardUnderruns) underruns, \(counters.latencyChanges.load(ordering: .relaxed)) change(s), "
                    + "\(counters.resyncs.load(ordering: .relaxed)) resyncs, click errors (µs) \(played.errors.map { Int($0) })")
            XCTAssertEqual(counters.latencyChanges.load(ordering: .relaxed), 1, name)
            XCTAssertEqual(counters.playoutLatency.load(ordering: .relaxed), Int(latency), name)
            XCTAssertEqual(counters.resyncs.load(ordering: .relaxed), 0, "\(name): the move was the change's, not the controller's")
            XCTAssertEqual(played.cardUnderruns, 0, name)
            XCTAssertEqual(played.errors.count, 9, "\(name): every click from 1 s to 9 s played, once")
            // From 4 s: the drift controller has converged on the card's 100 ppm by then.
            for (m, e) in zip(1..., played.errors) where m >= 4 {
                XCTAssertLessThan(abs(e), 50, "\(name): the click at \(m) s on its schedule")
            }

            let card = SimulatedCard(clock: SteppedClock(startingAt: 1_000_000), ppm: 100)
            card.samples = []
            _ = try play(ppm: 100, seconds: 8, latencyStep: change, tone: true, card: card, frame: frame)
            let samples = try XCTUnwrap(card.samples).map(Double.init).dropFirst(48_000)
            let largest = zip(samples, samples.dropFirst()).map { abs($1 - $0) }.max() ?? 0
            print("latency \(name), a 997 Hz tone through it: largest step \(Int(largest)) (the tone's own \(Int(toneStep)))")
            XCTAssertLessThan(largest, toneStep * 1.2, "\(name): no step beyond the tone's own")
            XCTAssertGreaterThan(samples.suffix(48_000).max() ?? 0, 15_000, "\(name): the tone is back at full level")
        }
    }

    /// A 200 ms device buffer (a 1 s playout buffer): each wake-up writes the packets that fit
    /// whole and sleeps again. Writing into a full buffer would block until the card freed a
    /// period: a wake-up per period on a real card (25 a second in all, measured on vcard).
    func testAWideDeviceBufferIsFilledWithoutBlockingAndFewWakeUps() throws {
        for ppm in [300.0, -300] {
            let counters = PlayoutCounters()
            let played = try play(ppm: ppm, seconds: 12, counters: counters, bufferFrames: 9_600, latency: 1_000_000)
            print(
                "200 ms device buffer, \(ppm) ppm: \(played.sleeps) sleeps in 12 s, \(played.blockedWrites) blocked writes, click errors (µs) "
                    + "\(played.errors.map { Int($0) })"
            )
            XCTAssertEqual(played.blockedWrites, 0, "\(ppm) ppm")
            XCTAssertLessThanOrEqual(played.sleeps, 12 * 15, "\(ppm) ppm: at most 15 wake-ups a second")
            XCTAssertEqual(counters.underruns.load(ordering: .relaxed), 0)
            let converged = played.errors.dropFirst(5).sorted()
            XCTAssertGreaterThan(converged.count, 4)
            XCTAssertLessThan(abs(converged[converged.count / 2]), 30, "\(ppm) ppm: on schedule")
        }
    }
}
