import Audio
import Codec
import Config
import Core
import Platform
import Resample

/// The audio side of the receiver, as its engine sees it: open the device for a stream, start
/// playing into it, learn that it failed, stop; the card's hardware volume; a card kept open
/// between streams. The ALSA device and its real-time thread on a speaker (`AlsaOutput`); a
/// simulated card stepped by the caller in tests and the session fuzzer.
public protocol AudioOutput {
    associatedtype Device
    associatedtype Running: RunningPlayout
    var deviceName: String { get }
    /// Whether it plays in real time on a speaker: the pages a playing stream runs in are then
    /// locked, and the code that ran before a session released (a simulated output stepped by
    /// its caller, in a test's process, is not).
    var isRealTime: Bool { get }
    /// Opens the device for `format` without blocking (a busy device says so at once). A value,
    /// not a throw: the engine opens the device before the session that plays it exists.
    func open(format: StreamFormat, latency: Microseconds) -> Result<Device, AlsaError>
    /// Why `open` failed, for a person: the error, and what to do about it where that is known.
    func explain(_ error: AlsaError, format: StreamFormat) -> String
    /// Starts playing the pool's packets into `device`. `counters` carry over from an earlier
    /// playout of the same session (what was played, the volume).
    func start(
        _ device: Device, format: StreamFormat, schedule: PlayoutSchedule, pool: PacketPool, incoming: SPSCRing,
        clockMapping: SharedClockMapping, counters: PlayoutCounters
    ) throws(CodecError) -> Running
    /// The card's volume control `control` on `device` (`audio_output.mixer`, `mixer_device`).
    func openMixer(_ control: String, device: String) throws(AlsaMixer.OpenError) -> any VolumeControl
    /// How many streams so far played into a card kept open for them.
    var devicesReused: Int { get }
    /// Closes a card kept open for a quick return: none came.
    func closeKeptDevice()
}

extension AudioOutput {
    public func explain(_ error: AlsaError, format: StreamFormat) -> String { error.description }
}

public protocol RunningPlayout: AnyObject {
    var realtimeGranted: Bool { get }
    /// The sample format the device was opened for.
    var deviceFormat: SampleFormat { get }
    /// Why the device failed, once playing stopped for it.
    var deviceFailure: AlsaError? { get }
    /// Stops playing and waits for it to stop. The device closes, or with `keepingDevice` stays
    /// open for the next stream (the session ended, the card did not fail).
    func stop(keepingDevice: Bool)
}

/// The speaker's ALSA device, opened with the buffer policy below, and the real-time audio
/// thread that plays into it (DESIGN §4).
public struct AlsaOutput: AudioOutput {
    let settings: AudioOutputSettings
    /// The card the last stream played, kept open between sessions.
    private let kept = KeptCard()

    public init(settings: AudioOutputSettings) { self.settings = settings }

    public var deviceName: String { settings.deviceID }
    public var isRealTime: Bool { true }
    public var devicesReused: Int { kept.reuses }
    public func closeKeptDevice() { kept.close() }

    public func openMixer(_ control: String, device: String) throws(AlsaMixer.OpenError) -> any VolumeControl {
        try AlsaMixer(device: device, control: control)
    }

    /// The ALSA buffer: half the playout buffer, from 20 ms to 400 ms. The rest of the playout
    /// buffer absorbs network jitter; a bigger device buffer lets the audio thread sleep longer
    /// (each wake-up costs tens of µs of CPU). What is in the device is committed: a volume set
    /// in software is heard after it, well within the delay the playout buffer itself gives
    /// every change the host makes.
    static func deviceBufferTime(latency: Microseconds) -> Microseconds { min(max(latency / 2, 20_000), 400_000) }

    /// How long the control loop leaves received packets in the socket before reading them all
    /// at once: half the time a packet has between its arrival and its write to the device (the
    /// playout buffer less the device's), at most 250 ms. The other half is the network's
    /// allowance for a late packet (350 ms on a 1 s buffer). Each wake-up costs CPU (on a 1 s
    /// buffer, 5 a second instead of 10 took the thread from 0.88 to 0.61 ms of CPU a second);
    /// a packet only has to be in the jitter buffer before it is written. Shorter than a packet
    /// (5 ms on a 30 ms buffer of 10 ms packets), a timer would wake the thread more often than
    /// packets come, and spend half the allowance: each packet is then read as it arrives (nil).
    static func readInterval(latency: Microseconds, frameDuration: Microseconds) -> Microseconds? {
        let batched = min(max(latency - deviceBufferTime(latency: latency), 0) / 2, 250_000)
        return batched < frameDuration ? nil : batched
    }

    /// What a device is opened with for `format`: a kept card is played again only if it was
    /// opened with the same.
    private func request(format: StreamFormat, latency: Microseconds) -> KeptCard.Request {
        KeptCard.Request(
            device: settings.deviceID, sampleRate: format.sampleRate, channels: format.channels,
            formats: settings.sampleFormat.map { [$0] } ?? SampleFormat.preference, bufferTime: Int(Self.deviceBufferTime(latency: latency)))
    }

    /// The card kept open since the last stream if it was opened the same way, else a fresh one
    /// (the kept one closed first: it holds the device).
    public func open(format: StreamFormat, latency: Microseconds) -> Result<AlsaPlayback, AlsaError> {
        let request = request(format: format, latency: latency)
        if let card = kept.take(request) { return .success(card) }
        return Result { () throws(AlsaError) in
            try AlsaPlayback(
                device: request.device, sampleRate: request.sampleRate, channels: request.channels, formats: request.formats,
                bufferTime: request.bufferTime)
        }
    }

    public func explain(_ error: AlsaError, format: StreamFormat) -> String {
        guard error.call.description == "snd_pcm_hw_params_set_rate" else { return error.description }
        let rates = playbackRates(device: settings.deviceID, channels: format.channels)
        return "it cannot play the stream's \(format.sampleRate) Hz" + (rates.isEmpty ? "" : " (it plays \(rates.map(String.init).joined(separator: ", ")) Hz)")
            + ": play through a device that converts, \"plughw:…\" or a plug PCM in asound.conf"
    }

    public func start(
        _ device: AlsaPlayback, format: StreamFormat, schedule: PlayoutSchedule, pool: PacketPool, incoming: SPSCRing,
        clockMapping: SharedClockMapping, counters: PlayoutCounters
    ) throws(CodecError) -> AudioThread {
        typealias Engine = PlayoutEngine<AlsaPlayback, SystemClock>
        let deviceFormat = device.sampleFormat
        var engine = Engine(
            format: format, decoder: try Engine.decoder(for: format),
            resampler: DriftResampler(channels: format.channels, maxInputFrames: Engine.maxFrames(for: format)),
            pool: pool, incoming: incoming, sink: device, clock: SystemClock(), counters: counters, schedule: schedule,
            clockMapping: clockMapping)
        let keep = { [kept, request = request(format: format, latency: schedule.latency)] in kept.keep(device, as: request) }
        return AudioThread(counters: counters, deviceFormat: deviceFormat, keep: keep) {
            runAudioLoop(&engine, counters: counters, clock: SystemClock())
        }
    }
}

/// The speaker's card between streams. A session that ends (the path cut, the host restarting)
/// leaves it open: the next stream of the same format plays into it without closing and opening
/// the device, which on many DACs switches their output stage (a click through the amplifier),
/// and a USB one re-negotiates. It closes when the receiver stops waiting for a quick return
/// (`close()`), or when the next stream needs it opened otherwise.
final class KeptCard {
    /// The arguments the device was opened with.
    struct Request: Equatable {
        var device: String
        var sampleRate: Int
        var channels: Int
        var formats: [SampleFormat]
        var bufferTime: Int
    }

    private var card: (device: AlsaPlayback, request: Request)?
    /// How many streams played into a card kept open for them.
    private(set) var reuses = 0

    func keep(_ device: AlsaPlayback, as request: Request) { card = (device, request) }

    /// The kept card, prepared again, if it was opened as `request` asks and is still there; nil
    /// otherwise, and any card kept is closed.
    func take(_ request: Request) -> AlsaPlayback? {
        defer { card = nil }
        guard let card, card.request == request, (try? card.device.prepareAgain()) != nil else { return nil }
        reuses += 1
        return card.device
    }

    func close() { card = nil }
}

/// The real-time audio thread of a playout.
public final class AudioThread: RunningPlayout {
    private let counters: PlayoutCounters
    private let thread: NamedThread
    public let realtimeGranted: Bool
    public let deviceFormat: SampleFormat

    /// Hands the device on when the playout stops with the card still good.
    private let keep: () -> Void

    /// Starts `loop` with the counters' stop and failure flags clear.
    init(counters: PlayoutCounters, deviceFormat: SampleFormat, keep: @escaping () -> Void, _ loop: @escaping () -> Void) {
        self.counters = counters
        self.deviceFormat = deviceFormat
        self.keep = keep
        counters.beginPlayout()
        thread = NamedThread(name: "audio", realtime: true, loop)
        realtimeGranted = thread.realtimeGranted
    }

    public var deviceFailure: AlsaError? { counters.deviceFailure(call: "playback") }

    public func stop(keepingDevice: Bool) {
        counters.stopRequested.store(true, ordering: .releasing)
        thread.wakeAndJoin()
        if keepingDevice && deviceFailure == nil { keep() }
    }
}

extension PlayoutCounters {
    /// The sink error the audio thread stopped for, if it did.
    public func deviceFailure(call: StaticString) -> AlsaError? {
        let code = deviceFailure.load(ordering: .acquiring)
        return code < 0 ? AlsaError(code: code, call: call) : nil
    }
}

/// The longest the audio thread sleeps between steps: a full pool's drop request (the network
/// side waits up to 400 ms for it) and a stop are seen in time; every other wake-up would only
/// cost CPU.
public let audioThreadLongestSleep: Microseconds = 250_000

/// How long the audio thread sleeps when it holds no packet at all (before the stream starts,
/// or while the host sends nothing).
public let audioThreadIdleSleep: Microseconds = 10_000

/// The audio thread's loop: step the engine, sleep when it has nothing to do before a deadline,
/// at most `audioThreadLongestSleep`. A device that fails ends it: the control loop sees
/// `deviceFailure`, closes the device and opens it again when it can.
func runAudioLoop<Sink: AudioSink & ~Copyable, Clock: MonotonicClock>(_ engine: inout PlayoutEngine<Sink, Clock>, counters: PlayoutCounters, clock: Clock) {
    loop: while !counters.stopRequested.load(ordering: .acquiring) {
        switch engine.step() {
        case .played, .concealed, .skippedLate, .primed:
            continue
        case .waiting(let until):
            clock.sleep(until: min(until, clock.now() + audioThreadLongestSleep))
        case .idle:
            clock.sleep(until: clock.now() + audioThreadIdleSleep)
        case .sinkFailed:
            break loop
        case .finished:
            counters.finished.store(true, ordering: .releasing)
            while !counters.stopRequested.load(ordering: .acquiring) { clock.sleep(until: clock.now() + 5_000) }
        }
    }
    engine.releaseAll()
}
