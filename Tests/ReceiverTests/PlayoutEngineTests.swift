import Audio
import Core
import ProtocolMessages
import Receiver
import XCTest

/// Records when each write happened and its last sample (after the start's fade-in), on the
/// stepped clock.
struct TimedSink: AudioSink, ~Copyable {
    let sampleRate = 48_000
    let channels = 2
    let sampleFormat = SampleFormat.s16
    let bufferFrames: Int
    var isPaced: Bool { false }
    var hardwareDelayFrames: Int { 0 }
    let clock: SteppedClock
    var writes: [(time: Microseconds, frames: Int, last: Int16)] = []
    /// The first frame written, channel 0: where the fade-in starts.
    var firstSamples: [Int16] = []

    init(bufferFrames: Int, clock: SteppedClock) {
        self.bufferFrames = bufferFrames
        self.clock = clock
        writes.reserveCapacity(64)
    }

    mutating func write(_ bytes: UnsafeRawBufferPointer, frames: Int) -> SinkStatus {
        let sample = { (i: Int) in bytes.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self) }
        if writes.isEmpty { firstSamples = (0..<frames).map { sample($0 * channels) } }
        writes.append((clock.now(), frames, sample(frames * channels - 1)))
        return .written(frames: frames)
    }

    mutating func outputDelay(atPointerStep: Bool) -> Int? { nil }

    mutating func start() {}

    mutating func drain() {}
}

final class PlayoutEngineTests: XCTestCase {
    let format = StreamFormat(codec: .pcm, sampleRate: 48_000, channels: 2, frameSamples: 480, bitrate: 0)  // 10 ms
    var pool: PacketPool!
    var incoming: SPSCRing!
    var counters: PlayoutCounters!
    let clock = SteppedClock(startingAt: 1_000_000)
    /// The host's clock equals ours unless a test says otherwise.
    let mapping = SharedClockMapping(ClockMapping(offset: 0))

    override func setUp() {
        pool = PacketPool(slotCount: 16, slotCapacity: format.maxAudioPayload)
        incoming = SPSCRing(capacity: 16)
        counters = PlayoutCounters()
    }

    /// Queues a PCM packet whose samples all equal `value`.
    func send(sequence: UInt64, value: Int16) {
        let slot = pool.acquire()!
        let storage = pool.storage(slot)
        AudioPacketHeader(sequence: sequence, timestamp: sequence * 10_000, sampleRate: 48_000, channels: 2, codec: .pcm).encode(into: storage)
        for i in 0..<format.samplesPerPacket {
            storage.storeBytes(of: value.littleEndian, toByteOffset: AudioPacketHeader.size + 2 * i, as: Int16.self)
        }
        pool.setLength(slot, format.maxAudioPacket)
        XCTAssertTrue(incoming.push(slot))
    }

    func makeEngine(origin: Microseconds, bufferFrames: Int = 960) throws -> PlayoutEngine<TimedSink, SteppedClock> {
        PlayoutEngine(
            format: format, decoder: nil, resampler: nil, pool: pool, incoming: incoming, sink: TimedSink(bufferFrames: bufferFrames, clock: clock),
            clock: clock, counters: counters, schedule: PlayoutSchedule(streamStart: origin, latency: 0),
            clockMapping: mapping)
    }

    func testNothingIsWrittenEarlierThanItsDueTimeMinusTheDeviceBuffer() throws {
        // Device holds 20 ms; stream time 0 is due at t = 1.1 s.
        var engine = try makeEngine(origin: 1_100_000)
        send(sequence: 0, value: 1)
        send(sequence: 1, value: 2)
        XCTAssertEqual(engine.step(), .waiting(until: 1_080_000))
        clock.sleep(until: 1_079_999)
        XCTAssertEqual(engine.step(), .waiting(until: 1_080_000))
        clock.advance(by: 1)
        XCTAssertEqual(engine.step(), .played)
        XCTAssertEqual(engine.step(), .waiting(until: 1_090_000))
        clock.sleep(until: 1_090_000)
        XCTAssertEqual(engine.step(), .played)
        XCTAssertEqual(engine.sink.writes.map(\.time), [1_080_000, 1_090_000])
        XCTAssertEqual(engine.sink.writes.map(\.last), [1, 2])
    }

    func testAMissingPacketIsConcealedOnlyOnceTheDeviceIsHalfEmpty() throws {
        var engine = try makeEngine(origin: 1_100_000)
        send(sequence: 0, value: 1)
        clock.sleep(until: 1_080_000)
        XCTAssertEqual(engine.step(), .played)
        // Packet 1 (due 1.110 s) is missing; packet 2 has arrived.
        send(sequence: 2, value: 3)
        clock.sleep(until: 1_090_000)
        XCTAssertEqual(engine.step(), .waiting(until: 1_100_000))
        clock.sleep(until: 1_100_000)
        XCTAssertEqual(engine.step(), .concealed)
        XCTAssertEqual(engine.sink.writes.last?.last, 0)  // PCM concealment is silence
        clock.sleep(until: 1_100_000)
        XCTAssertEqual(engine.step(), .played)
        XCTAssertEqual(engine.sink.writes.last?.last, 3)
        XCTAssertEqual(counters.packetsConcealed.load(ordering: .relaxed), 1)
    }

    func testPacketsAlreadyDueAtStartAreSkippedNotPlayedLate() throws {
        var engine = try makeEngine(origin: 900_000)  // stream time 0 was due 100 ms ago
        for seq in 0..<12 { send(sequence: UInt64(seq), value: Int16(seq)) }
        var skipped = 0
        var step = engine.step()
        while step == .skippedLate {
            skipped += 1
            step = engine.step()
        }
        XCTAssertEqual(step, .played)
        XCTAssertEqual(skipped, 10)  // packets due at 0.90 … 0.99 s; the one due now (1.00 s) plays
        XCTAssertEqual(counters.packetsDueBeforeStart.load(ordering: .relaxed), 10)
        XCTAssertEqual(counters.packetsLate.load(ordering: .relaxed), 0, "not lost: playback had not begun")
        XCTAssertEqual(engine.sink.writes.map(\.last), [10])
    }

    func testAFullPoolDropsTheOldestPacketOnRequest() throws {
        var engine = try makeEngine(origin: 2_000_000)
        for seq in 0..<4 { send(sequence: UInt64(seq), value: Int16(seq + 1)) }
        counters.dropRequests.add(1, ordering: .relaxed)
        _ = engine.step()
        XCTAssertEqual(counters.overruns.load(ordering: .relaxed), 1)
        clock.sleep(until: 2_000_000)
        XCTAssertEqual(engine.step(), .played)
        XCTAssertEqual(engine.sink.writes.first?.last, 2)  // packet 0 was dropped
    }

    func testEndOfStreamPlaysOutThenFinishes() throws {
        var engine = try makeEngine(origin: 1_100_000)
        send(sequence: 0, value: 5)
        counters.endOfStream.store(true, ordering: .relaxed)
        clock.sleep(until: 1_080_000)
        XCTAssertEqual(engine.step(), .played)
        clock.sleep(until: 1_200_000)
        XCTAssertEqual(engine.step(), .finished)
        engine.releaseAll()
        XCTAssertEqual(pool.freeCount, 16)
    }

    func testPlaybackStartsWithAFiveMillisecondFadeIn() throws {
        var engine = try makeEngine(origin: 1_100_000)
        send(sequence: 0, value: 10_000)
        clock.sleep(until: 1_080_000)
        XCTAssertEqual(engine.step(), .played)
        let ramp = engine.sink.firstSamples
        XCTAssertEqual(ramp[0], 0)
        XCTAssertEqual(ramp[120], 5_000)
        XCTAssertEqual(Double(ramp[239]), 10_000 * 239 / 240, accuracy: 1, "9958.3, dithered to S16")
        XCTAssertTrue(ramp[240...].allSatisfy { $0 == 10_000 })
        XCTAssertTrue(zip(ramp, ramp.dropFirst()).allSatisfy { $0 <= $1 }, "the ramp only rises")
    }

    func testVolumeIsAppliedInSoftware() throws {
        var engine = try makeEngine(origin: 1_100_000)
        counters.volumeQ15.store(Gain(volume: 0.5).q15, ordering: .relaxed)
        send(sequence: 0, value: 1000)
        clock.sleep(until: 1_080_000)
        XCTAssertEqual(engine.step(), .played)
        XCTAssertEqual(engine.sink.writes.first?.last, 500)
    }

    func testDueTimesFollowTheHostClockMapping() throws {
        // The host's clock is 250 ms ahead of ours and runs 500 ppm fast.
        mapping.store(ClockMapping(reference: 1_000_000, offset: 250_000, drift: 500e-6))
        var engine = try makeEngine(origin: 1_350_000)
        send(sequence: 0, value: 1)
        // Host time 1.350 s is local 1.1 s minus 500 ppm of the 100 ms since the reference.
        let expected = ClockMapping(reference: 1_000_000, offset: 250_000, drift: 500e-6).local(fromHost: 1_350_000) - 20_000
        XCTAssertEqual(expected, 1_079_950)
        XCTAssertEqual(engine.step(), .waiting(until: expected))
    }

    func testPoolSizeFollowsBufferAndFrameSize() {
        XCTAssertEqual(packetPoolSlots(bufferSize: 2_000_000, frameDuration: 20_000), 100 + 13 + 8)
        XCTAssertEqual(packetPoolSlots(bufferSize: 30_000, frameDuration: 2_500), 12 + 100 + 8)
        // The longest buffer a config allows, in the shortest packets, fits; nothing goes past it.
        XCTAssertEqual(packetPoolSlots(bufferSize: 11_000_000, frameDuration: 2_500), maxPacketPoolSlots)
        XCTAssertEqual(packetPoolSlots(bufferSize: 60_000_000, frameDuration: 2_500), maxPacketPoolSlots)
        XCTAssertEqual(packetPoolSlots(bufferSize: 60_000_000, frameDuration: 1), maxPacketPoolSlots)
    }
}
