import Audio
import Codec
import Core
import Receiver

/// A sound card this machine does not have, behind the receiver's `AudioOutput`: the audio
/// thread's work is done by the caller (`SteppedPlayout.step()`), on the caller's stepped clock.
/// The card can be missing, vanish while it plays, and have a hardware volume control. The
/// engine tests and the session fuzzer play into it.
public struct SteppedOutput: AudioOutput {
    /// What the test sets and reads: the card's state and what it played.
    public final class Card {
        /// Opening fails (ENODEV) until the clock reaches this.
        public var missingUntil: Microseconds = 0
        /// While set, the card is not there: writes fail the way an unplugged card's do, and so
        /// does opening it.
        public var unplugged = false
        /// The control `openMixer` finds (`audio_output.mixer`); none: the card has no mixer.
        public var mixer: SimulatedMixer?
        /// The playout running now, if any (the session owns it; its sink holds this card).
        public fileprivate(set) weak var playout: SteppedPlayout?
        public fileprivate(set) var opened = 0
        /// Frames written to the card, and the loudest sample among them (s16).
        public fileprivate(set) var framesWritten = 0
        public fileprivate(set) var peak = 0
        /// Cards kept open for a quick return that closed unused.
        public fileprivate(set) var keptClosed = 0

        public init() {}
    }

    public let clock: SteppedClock
    public let card: Card

    public init(clock: SteppedClock, card: Card = Card()) {
        self.clock = clock
        self.card = card
    }

    public var deviceName: String { "stepped" }
    public var isRealTime: Bool { false }
    public var devicesReused: Int { 0 }
    public func closeKeptDevice() { card.keptClosed += 1 }

    public func open(format: StreamFormat, latency: Microseconds) -> Result<Void, AlsaError> {
        guard clock.now() >= card.missingUntil, !card.unplugged else { return .failure(AlsaError(code: -19, call: "snd_pcm_open")) }
        card.opened += 1
        return .success(())
    }

    public func start(
        _ device: Void, format: StreamFormat, schedule: PlayoutSchedule, pool: PacketPool, incoming: SPSCRing,
        clockMapping: SharedClockMapping, counters: PlayoutCounters
    ) throws(CodecError) -> SteppedPlayout {
        typealias Engine = PlayoutEngine<SteppedSink, SteppedClock>
        let playout = SteppedPlayout(
            Engine(
                format: format, decoder: try Engine.decoder(for: format), resampler: nil, pool: pool, incoming: incoming,
                sink: SteppedSink(card: card, sampleRate: format.sampleRate, channels: format.channels), clock: clock, counters: counters,
                schedule: schedule, clockMapping: clockMapping), counters: counters)
        card.playout = playout
        return playout
    }

    public func openMixer(_ control: String, device: String) throws(AlsaMixer.OpenError) -> any VolumeControl {
        guard let mixer = card.mixer, mixer.name == control else {
            throw .noControl(control, device: device, available: card.mixer.map { [$0.name] } ?? [])
        }
        return mixer
    }
}

/// The audio thread's side of a `SteppedOutput`: the playout engine, stepped by the caller.
public final class SteppedPlayout: RunningPlayout {
    private var engine: PlayoutEngine<SteppedSink, SteppedClock>
    private let counters: PlayoutCounters
    public private(set) var stopped = false
    public var deviceFormat: SampleFormat { .s16 }
    public var realtimeGranted: Bool { false }
    public var deviceFailure: AlsaError? { counters.deviceFailure(call: "playback") }

    init(_ engine: consuming PlayoutEngine<SteppedSink, SteppedClock>, counters: PlayoutCounters) {
        self.engine = engine
        self.counters = counters
        counters.beginPlayout()
    }

    /// The audio thread's turn: the steps it would take at once, up to `limit`; it stops for
    /// good once the card fails.
    public func step(limit: Int = 4) {
        guard !stopped, deviceFailure == nil else { return }
        for _ in 0..<limit {
            switch engine.step() {
            case .played, .concealed, .skippedLate, .primed: continue
            case .finished:
                counters.finished.store(true, ordering: .releasing)
                return
            case .waiting, .idle, .sinkFailed: return
            }
        }
    }

    public func stop(keepingDevice: Bool) {
        guard !stopped else { return }
        stopped = true
        engine.releaseAll()
    }
}

/// The card as the playout engine writes to it: unpaced, counting what arrives.
struct SteppedSink: AudioSink, ~Copyable {
    let card: SteppedOutput.Card
    let sampleRate: Int
    let channels: Int
    var sampleFormat: SampleFormat { .s16 }
    var bufferFrames: Int { 4096 }
    var isPaced: Bool { false }
    var hardwareDelayFrames: Int { 0 }

    mutating func write(_ samples: UnsafeRawBufferPointer, frames: Int) -> SinkStatus {
        if card.unplugged { return .failed(AlsaError(code: -19, call: "snd_pcm_writei")) }
        for i in 0..<(frames * channels) { card.peak = max(card.peak, abs(Int(samples.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)))) }
        card.framesWritten += frames
        return .written(frames: frames)
    }

    mutating func outputDelay(atPointerStep: Bool) -> Int? { nil }
    mutating func start() {}
    mutating func drain() {}
}

/// A card's hardware volume control, remembering what it was set to.
public final class SimulatedMixer: VolumeControl {
    public let name: String
    public let device = "stepped"
    public let range: ClosedRange<Double>
    public let hasSwitch = true
    public private(set) var decibels: Double?
    public private(set) var muted = false
    /// While set, every change fails as a card that went away does.
    public var gone = false

    public init(name: String, range: ClosedRange<Double> = -60...0) {
        self.name = name
        self.range = range
    }

    public func set(decibels: Double) throws(AlsaError) {
        if gone { throw AlsaError(code: -19, call: "snd_mixer_selem_set_playback_dB_all") }
        self.decibels = min(max(decibels, range.lowerBound), range.upperBound)
    }

    public func set(muted: Bool) throws(AlsaError) {
        if gone { throw AlsaError(code: -19, call: "snd_mixer_selem_set_playback_switch_all") }
        self.muted = muted
    }
}
