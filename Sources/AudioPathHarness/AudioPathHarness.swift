import Audio
import Codec
import Core
import ProtocolMessages
import Receiver
import Resample
import Transport

#if canImport(Glibc)
import Glibc
#endif

/// Drives the receiver's whole steady-state audio path in one thread with a stepped clock:
/// frame parsing → packet pool → jitter buffer → Opus (or FLAC) decode → gain → drift compensation
/// (controller and resampler, following a card whose crystal is 120 ppm fast) → sink. The
/// counted-allocation test and the benchmark both run it, so they measure the code msrecv runs
/// on a speaker.
public final class AudioPathHarness {
    public let format: StreamFormat
    private let clock = SteppedClock()
    private let counters = PlayoutCounters()
    private let clockMapping = SharedClockMapping(ClockMapping(offset: 0))
    private var hostClockOffset: Microseconds = 0
    private let channel: ReplayChannel
    private var reader = FrameReader()
    private var ingest: AudioIngest
    private var engine: PlayoutEngine<PacedMemorySink, SteppedClock>
    public private(set) var packetsPushed = 0

    /// Encodes one second of a two-tone signal as Opus (or FLAC) packets (set-up; this allocates).
    public init(codec: WireCodec = .opus, bitrate: Int = 128_000, volume: Double = 0.8) throws {
        let format = StreamFormat(codec: codec, sampleRate: 48_000, channels: 2, frameSamples: 960, bitrate: bitrate)
        self.format = format
        let opus = codec == .opus ? try OpusEncoderHandle(sampleRate: format.sampleRate, channels: format.channels, bitrate: bitrate) : nil
        let flac = codec == .flac ? try FLACEncoderHandle(sampleRate: format.sampleRate, channels: format.channels, frameSamples: format.frameSamples) : nil
        var packets: [[UInt8]] = []
        var pcm = [Int16](repeating: 0, count: format.samplesPerPacket)
        var out = [UInt8](repeating: 0, count: format.maxAudioPacket)
        for p in 0..<50 {
            for f in 0..<format.frameSamples {
                let t = Double(p * format.frameSamples + f) / Double(format.sampleRate)
                let low: Double = 6000 * sin(2 * Double.pi * 440 * t)
                let high: Double = 3000 * sin(2 * Double.pi * 1320 * t)
                let v = Int16(low + high)
                pcm[2 * f] = v
                pcm[2 * f + 1] = v
            }
            let n = try pcm.withUnsafeBufferPointer { input in
                try out.withUnsafeMutableBytes { output in
                    if let opus { return try opus.encode(input, frames: format.frameSamples, into: output) }
                    return flac!.encode(input, into: output) ?? 0
                }
            }
            if n > 0 { packets.append(Array(out[0..<n])) }
        }
        if let flac, let n = out.withUnsafeMutableBytes({ flac.finish(into: $0) }) { packets.append(Array(out[0..<n])) }
        channel = ReplayChannel(packets: packets, format: format)
        let slots = packetPoolSlots(bufferSize: 60_000, frameDuration: format.frameDuration)
        let pool = PacketPool(slotCount: slots, slotCapacity: format.maxAudioPayload)
        let incoming = SPSCRing(capacity: slots)
        counters.volumeQ15.store(Gain(volume: volume).q15, ordering: .relaxed)
        let schedule = PlayoutSchedule(streamStart: 0, latency: 60_000)
        ingest = AudioIngest(format: format, schedule: schedule, clockMapping: clockMapping, pool: pool, incoming: incoming, counters: counters)
        engine = PlayoutEngine(
            format: format, decoder: try PacketDecoder.make(for: codec, sampleRate: format.sampleRate, channels: format.channels),
            resampler: DriftResampler(channels: format.channels, maxInputFrames: PlayoutEngine<PacedMemorySink, SteppedClock>.maxFrames(for: format)),
            pool: pool, incoming: incoming,
            sink: PacedMemorySink(clock: clock, ppm: 120, sampleRate: format.sampleRate, channels: format.channels, bufferFrames: 1920),
            clock: clock, counters: counters, schedule: schedule, clockMapping: clockMapping)
    }

    /// Receives, schedules, decodes and plays `count` more packets. Allocates nothing.
    public func run(packets count: Int) {
        for _ in 0..<count {
            channel.load(sequence: UInt64(packetsPushed))
            receive()
            packetsPushed += 1
            play()
        }
    }

    private func receive() {
        while true {
            switch reader.next(from: channel) {
            case .header(let h):
                guard case .read(let destination) = ingest.route(h, now: clock.now()) else { preconditionFailure("harness frame refused") }
                reader.route(destination)
            case .frame(let h, let payload):
                do throws(IngestError) { _ = try ingest.complete(h, payload, now: clock.now()) } catch {
                    preconditionFailure("harness frame refused: \(error)")
                }
            case .wouldBlock, .closed, .failed:
                return
            }
        }
    }

    private func play() {
        while true {
            switch engine.step() {
            case .played, .primed: return
            case .waiting(let until): clock.sleep(until: until)
            case let other: preconditionFailure("harness playout stopped: \(other)")
            }
        }
    }

    /// The host's clock, as the receiver's estimate sees it, moves by `microseconds`, and the
    /// audio thread is asked to resync (as after a host clock step): the next packets drop audio
    /// (forward) or insert silence (back), spliced in between fades.
    public func stepHostClock(by microseconds: Int) {
        hostClockOffset += Microseconds(microseconds)
        clockMapping.store(ClockMapping(offset: hostClockOffset))
        counters.resyncRequests.add(1, ordering: .releasing)
    }

    /// The host asks for `latency` from the next packet on (its group's delay moved): the audio
    /// thread inserts or drops the difference, spliced in between fades.
    public func changeLatency(to microseconds: Int) {
        let change = LatencyChange(from: Microseconds(packetsPushed) * format.frameDuration, latency: Microseconds(microseconds))!
        counters.latencyChange.store(change.packed, ordering: .releasing)
    }

    public var latencyChanges: Int { counters.latencyChanges.load(ordering: .relaxed) }
    public var packetsPlayed: Int { counters.packetsPlayed.load(ordering: .relaxed) }
    /// Hard resyncs so far: none unless the host's clock stepped (the card starts on schedule
    /// and the controller holds it).
    public var resyncs: Int { counters.resyncs.load(ordering: .relaxed) }
    public var packetsConcealed: Int { counters.packetsConcealed.load(ordering: .relaxed) }
    public var framesPlayed: Int { engine.sink.framesWritten }
    public var checksum: Int64 { engine.sink.checksum }
}

/// Serves one AUDIO frame at a time from memory, as a socket would, rewriting its sequence
/// number and timestamp in place.
final class ReplayChannel: ByteChannel {
    private let frames: UnsafeMutableRawBufferPointer
    private let frameOffsets: [Int]
    private let frameLengths: [Int]
    private let frameDuration: UInt64
    private var current = 0..<0

    init(packets: [[UInt8]], format: StreamFormat) {
        let headers = WireProtocol.frameHeaderSize + AudioPacketHeader.size
        frames = .allocate(byteCount: packets.reduce(0) { $0 + headers + $1.count }, alignment: 8)
        var offsets: [Int] = []
        var lengths: [Int] = []
        var offset = 0
        for packet in packets {
            let length = headers + packet.count
            let frame = UnsafeMutableRawBufferPointer(rebasing: frames[offset..<(offset + length)])
            FrameHeader(type: .audio, length: AudioPacketHeader.size + packet.count).encode(into: frame)
            AudioPacketHeader(sequence: 0, timestamp: 0, sampleRate: UInt32(format.sampleRate), channels: UInt8(format.channels), codec: format.codec)
                .encode(into: UnsafeMutableRawBufferPointer(rebasing: frame[WireProtocol.frameHeaderSize...]))
            packet.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: frame[headers...]).copyMemory(from: $0) }
            offsets.append(offset)
            lengths.append(length)
            offset += length
        }
        frameOffsets = offsets
        frameLengths = lengths
        frameDuration = UInt64(format.frameDuration)
    }

    deinit { frames.deallocate() }

    func load(sequence: UInt64) {
        let index = Int(sequence % UInt64(frameOffsets.count))
        let start = frameOffsets[index]
        let frame = UnsafeMutableRawBufferPointer(rebasing: frames[start..<(start + frameLengths[index])])
        let audio = UnsafeMutableRawBufferPointer(rebasing: frame[WireProtocol.frameHeaderSize...])
        audio.storeBigEndian(sequence, at: AudioPacketHeader.Layout.sequence)
        audio.storeBigEndian(sequence * frameDuration, at: AudioPacketHeader.Layout.timestamp)
        current = start..<(start + frameLengths[index])
    }

    var fileDescriptor: CInt { -1 }
    var peerDescription: String { "replay" }
    var readsAhead = false
    func handshake() -> HandshakeProgress { .done }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        guard !current.isEmpty else { return .wouldBlock(.read) }
        let n = min(buffer.count, current.count)
        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: frames[current.lowerBound..<(current.lowerBound + n)]))
        current = (current.lowerBound + n)..<current.upperBound
        return .bytes(n)
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> IOResult { .bytes(bytes.count) }
    func close() {}
}

/// A sound card in memory on the harness's stepped clock: it starts when its buffer is full and
/// plays at `rate × (1 + ppm)`, so the engine follows it with its drift controller and resampler
/// as it follows a real card. Writing into a full buffer waits, moving the clock on.
struct PacedMemorySink: AudioSink, ~Copyable {
    let sampleRate: Int
    let channels: Int
    let sampleFormat: SampleFormat
    let bufferFrames: Int
    var isPaced: Bool { true }
    var hardwareDelayFrames: Int { 0 }
    private let clock: SteppedClock
    private let effectiveRate: Double
    private var started: Microseconds?
    private(set) var framesWritten = 0
    /// A running checksum of every sample written, so a benchmark's work cannot be optimised out.
    private(set) var checksum: Int64 = 0

    init(clock: SteppedClock, ppm: Double, sampleRate: Int, channels: Int, sampleFormat: SampleFormat = .s16, bufferFrames: Int) {
        self.clock = clock
        self.sampleFormat = sampleFormat
        effectiveRate = Double(sampleRate) * (1 + ppm / 1e6)
        self.sampleRate = sampleRate
        self.channels = channels
        self.bufferFrames = bufferFrames
    }

    private func consumed(at t: Microseconds) -> Int {
        guard let started else { return 0 }
        return min(framesWritten, Int(Double(t - started) * effectiveRate / 1e6))
    }

    mutating func write(_ samples: UnsafeRawBufferPointer, frames: Int) -> SinkStatus {
        checksum = checksum(checksum, adding: samples, frames: frames)
        framesWritten += frames
        if started == nil && framesWritten >= bufferFrames { start() }
        while started != nil && framesWritten - consumed(at: clock.now()) > bufferFrames { clock.advance(by: 500) }
        return .written(frames: frames)
    }

    mutating func outputDelay(atPointerStep: Bool) -> Int? {
        started == nil ? nil : framesWritten - consumed(at: clock.now())
    }

    mutating func start() {
        if started == nil { started = clock.now() }
    }

    mutating func drain() {}
}
