import Audio
import Core
import Receiver
import Resample
import XCTest

/// A paced sound card on the stepped clock, exact by construction: it starts when its buffer
/// is full, takes frames at `rate × (1 + ppm)`, and notes when each frame left its DAC.
final class SimulatedCard {
    let clock: SteppedClock
    let effectiveRate: Double
    let bufferFrames: Int
    let delay: Microseconds
    var started: Microseconds?
    var written = 0
    /// Writes that found the buffer full and waited for the card to play (a wake-up each on a
    /// real card).
    var blockedWrites = 0
    /// Frames that carried a click, and when they left the DAC.
    var clicks: [Double] = []
    /// When the card will stall and for how long: it ran dry and restarted, as the application
    /// sees an underrun. Every frame not yet played then leaves that much later.
    var stall: (at: Microseconds, by: Microseconds)?
    private var stalls: [(fromFrame: Int, by: Microseconds)] = []

    init(clock: SteppedClock, ppm: Double, bufferFrames: Int = 4_800, delay: Microseconds = 1_500) {
        self.clock = clock
        effectiveRate = 48_000 * (1 + ppm / 1e6)
        self.bufferFrames = bufferFrames
        self.delay = delay
    }

    /// Frames taken from the buffer by now.
    func consumed(at t: Microseconds) -> Int {
        guard let started else { return 0 }
        return min(written, Int(Double(t - started) / 1e6 * effectiveRate))
    }

    func dacTime(ofFrame i: Int) -> Double {
        let before = stalls.filter { i < $0.fromFrame }.reduce(0) { $0 + $1.by }
        return Double(started! - before) + Double(delay) + Double(i) / effectiveRate * 1e6
    }

    /// Stalls now if it is time: true when it did.
    func stallIfDue() -> Bool {
        guard let stall, let start = started, clock.now() >= stall.at else { return false }
        stalls.append((consumed(at: clock.now()), stall.by))
        started = start + stall.by
        self.stall = nil
        return true
    }
}

struct SimulatedCardSink: AudioSink, ~Copyable {
    let card: SimulatedCard
    let sampleRate = 48_000
    let channels = 2
    // Stored, not computed from `card`: Swift 6.0.3 crashes on a computed property of a
    // noncopyable struct that reads a class reference.
    let bufferFrames: Int

    init(card: SimulatedCard) {
        self.card = card
        bufferFrames = card.bufferFrames
    }

    mutating func write(_ samples: UnsafeBufferPointer<Int16>, frames: Int) -> SinkStatus {
        let stalled = card.stallIfDue()
        var blocked = false
        for f in 0..<frames {
            let index = card.written
            // Wait (advance the clock) while the buffer is full.
            while let started = card.started, index - card.consumed(at: card.clock.now()) >= card.bufferFrames {
                _ = started
                blocked = true
                card.clock.advance(by: 100)
            }
            // A click spread over two frames by the resampler counts once, at its first.
            if samples[f * 2] > 5_000 && index - Int(card.clicks.last ?? -1_000) > 100 { card.clicks.append(Double(index)) }
            card.written += 1
            if card.started == nil && card.written >= card.bufferFrames { card.started = card.clock.now() }
        }
        if blocked { card.blockedWrites += 1 }
        return stalled ? .recoveredFromUnderrun(frames: frames) : .written(frames: frames)
    }

    mutating func outputDelay(atPointerStep: Bool) -> Int? {
        guard card.started != nil else { return nil }
        let hw = Int(Double(card.delay) * card.effectiveRate / 1e6)
        return card.written - card.consumed(at: card.clock.now()) + hw
    }

    mutating func drain() {}
}

final class DriftCompensationTests: XCTestCase {
    struct Played {
        /// The clicks' errors against the schedule, µs.
        var errors: [Double]
        /// Times the audio thread went to sleep.
        var sleeps: Int
        var blockedWrites: Int
    }

    /// Clicks every second of stream time, PCM 20 ms packets, played for `seconds` through the
    /// engine into a simulated card of `bufferFrames` at `latency`.
    private func play(ppm: Double, seconds: Int, stall: (at: Microseconds, by: Microseconds)? = nil, counters: PlayoutCounters = PlayoutCounters(),
                      bufferFrames: Int = 4_800, latency: Microseconds = 200_000) throws -> Played {
        let clock = SteppedClock(startingAt: 1_000_000)
        let format = StreamFormat(codec: .pcm, sampleRate: 48_000, channels: 2, frameSamples: 960, bitrate: 0)
        let pool = PacketPool(slotCount: 64, slotCapacity: format.maxAudioPayload)
        let incoming = SPSCRing(capacity: 64)
        let card = SimulatedCard(clock: clock, ppm: ppm, bufferFrames: bufferFrames)
        card.stall = stall
        let schedule = PlayoutSchedule(streamStart: 1_000_000, latency: latency)
        var engine = PlayoutEngine(format: format, decoder: nil,
                                   resampler: DriftResampler(channels: 2, maxInputFrames: PlayoutEngine<SimulatedCardSink, SteppedClock>.maxFrames(for: format)),
                                   pool: pool, incoming: incoming, sink: SimulatedCardSink(card: card), clock: clock,
                                   counters: counters, schedule: schedule, clockMapping: SharedClockMapping(ClockMapping(offset: 0)))
        var sequence: UInt64 = 0
        var sleeps = 0
        let packets = seconds * 50
        while Int(sequence) < packets || card.written < packets * 960 - bufferFrames {
            // The host's packets arrive when they are sent: at their stream time.
            while Int(sequence) < packets && 1_000_000 + Microseconds(sequence) * 20_000 <= clock.now(), let slot = pool.acquire() {
                let storage = pool.storage(slot)
                AudioPacketHeader(sequence: sequence, timestamp: sequence * 20_000, sampleRate: 48_000, channels: 2, codec: .pcm).encode(into: storage)
                for i in 0..<(960 * 2) {
                    let value: Int16 = sequence % 50 == 0 && i < 2 ? 20_000 : 0
                    storage.storeBytes(of: value.littleEndian, toByteOffset: AudioPacketHeader.size + 2 * i, as: Int16.self)
                }
                pool.setLength(slot, format.maxAudioPayload)
                _ = incoming.push(slot)
                sequence += 1
            }
            switch engine.step() {
            case .waiting(let until):
                sleeps += 1
                // As the audio thread does (runAudioLoop): packets that arrive meanwhile wait
                // in the ring until it steps again.
                clock.sleep(until: min(until, clock.now() + audioThreadLongestSleep))
            case .idle: clock.advance(by: 1_000)
            case .finished, .sinkFailed: return Played(errors: [], sleeps: sleeps, blockedWrites: card.blockedWrites)
            default: break
            }
            if clock.now() > 1_000_000 + Microseconds(seconds + 2) * 1_000_000 { break }
        }
        // Click m of the stream is due at streamStart + m s + latency.
        let errors = card.clicks.map { frame in
            let t = card.dacTime(ofFrame: Int(frame))
            let m = ((t - 1_000_000 - Double(latency)) / 1e6).rounded()
            return t - (1_000_000 + m * 1e6 + Double(latency))
        }
        return Played(errors: errors, sleeps: sleeps, blockedWrites: card.blockedWrites)
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

    /// A card that ran dry and restarted plays everything after 3 ms late: below the 10 ms
    /// resync threshold, but put right at once, not glided back over seconds.
    func testAnUnderrunIsFollowedByOneResync() throws {
        let counters = PlayoutCounters()
        let errors = try play(ppm: 100, seconds: 14, stall: (at: 9_000_000, by: 3_000), counters: counters).errors
        print("simulated card, 3 ms stall at 8 s: click errors (µs) \(errors.map { Int($0) })")
        XCTAssertEqual(counters.resyncs.load(ordering: .relaxed), 2, "one at start, one after the underrun")
        XCTAssertEqual(Double(counters.lastResync.load(ordering: .relaxed)), 3_000, accuracy: 100, "late by the stall")
        let after = errors.dropFirst(9)
        XCTAssertGreaterThan(after.count, 3)
        for e in after { XCTAssertLessThan(abs(e), 50, "back on schedule") }
    }

    /// A 200 ms device buffer (a 1 s playout buffer): each wake-up writes the packets that fit
    /// whole and sleeps again. Writing into a full buffer would block until the card freed a
    /// period: a wake-up per period on a real card (25 a second in all, measured on vcard).
    func testAWideDeviceBufferIsFilledWithoutBlockingAndFewWakeUps() throws {
        for ppm in [300.0, -300] {
            let counters = PlayoutCounters()
            let played = try play(ppm: ppm, seconds: 12, counters: counters, bufferFrames: 9_600, latency: 1_000_000)
            print("200 ms device buffer, \(ppm) ppm: \(played.sleeps) sleeps in 12 s, \(played.blockedWrites) blocked writes, click errors (µs) \(played.errors.map { Int($0) })")
            XCTAssertEqual(played.blockedWrites, 0, "\(ppm) ppm")
            XCTAssertLessThanOrEqual(played.sleeps, 12 * 15, "\(ppm) ppm: at most 15 wake-ups a second")
            XCTAssertEqual(counters.underruns.load(ordering: .relaxed), 0)
            let converged = played.errors.dropFirst(5).sorted()
            XCTAssertGreaterThan(converged.count, 4)
            XCTAssertLessThan(abs(converged[converged.count / 2]), 30, "\(ppm) ppm: on schedule")
        }
    }
}
