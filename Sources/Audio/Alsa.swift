import CAlsa
import Core
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// A negative alsa-lib return code, typed, with the call that failed.
public struct AlsaError: Error, Equatable, CustomStringConvertible {
    public var code: Int32
    public var call: StaticString

    public init(code: Int32, call: StaticString) {
        self.code = code
        self.call = call
    }

    public var description: String { "\(call): " + String(cString: snd_strerror(code)) }

    public static func == (a: AlsaError, b: AlsaError) -> Bool { a.code == b.code && a.call.description == b.call.description }
}

@inline(__always)
func check(_ rc: Int32, _ call: StaticString) throws(AlsaError) {
    if rc < 0 { throw AlsaError(code: rc, call: call) }
}

public enum AlsaLibrary {
    public static var version: String { String(cString: snd_asoundlib_version()) }
    /// alsa-lib prints its own errors to stderr unless told not to; we print ours.
    public static func silenceLibraryErrors() { calsa_silence_library_errors() }
}

/// The configuration one PCM ended up with.
public struct PCMConfiguration: Equatable, Sendable {
    public var sampleRate: Int
    public var channels: Int
    public var sampleFormat: SampleFormat
    public var bufferFrames: Int
    public var periodFrames: Int
}

/// Opens a PCM for interleaved samples in the first of `formats` it takes, at exactly `rate`
/// and `channels`, with a buffer near `bufferTime` µs in 4 periods.
/// Always opened non-blocking: a device another process holds answers -EBUSY at once instead of
/// holding the caller until it is free. `blocking` then switches reads and writes back to
/// blocking (the audio thread's writes are paced by the card).
func openPCM(
    device: String, stream: snd_pcm_stream_t, blocking: Bool, formats: [SampleFormat] = [.s16], rate: Int, channels: Int,
    bufferTime: Int
) throws(AlsaError) -> (OpaquePointer, PCMConfiguration) {
    var handle: OpaquePointer?
    try check(snd_pcm_open(&handle, device, stream, Int32(SND_PCM_NONBLOCK)), "snd_pcm_open")
    guard let pcm = handle else { throw AlsaError(code: -5, call: "snd_pcm_open") }
    if blocking, case let rc = snd_pcm_nonblock(pcm, 0), rc < 0 {
        snd_pcm_close(pcm)
        throw AlsaError(code: rc, call: "snd_pcm_nonblock")
    }
    // alsa-lib keeps the parsed alsa.conf tree (a few hundred KB of heap) for later opens; a
    // daemon opens one device per session, so it is read again then and the heap goes back now.
    snd_config_update_free_global()
    returnFreeHeapToSystem()
    do {
        var hw: OpaquePointer?
        try check(snd_pcm_hw_params_malloc(&hw), "snd_pcm_hw_params_malloc")
        defer { snd_pcm_hw_params_free(hw) }
        try check(snd_pcm_hw_params_any(pcm, hw), "snd_pcm_hw_params_any")
        try check(snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED), "snd_pcm_hw_params_set_access")
        // None taken: the last is asked for anyway, and its refusal is the error.
        let taken: SampleFormat? = formats.first { snd_pcm_hw_params_test_format(pcm, hw, $0.alsa) == 0 }
        let format: SampleFormat = taken ?? formats.last ?? .s16
        try check(snd_pcm_hw_params_set_format(pcm, hw, format.alsa), "snd_pcm_hw_params_set_format")
        try check(snd_pcm_hw_params_set_channels(pcm, hw, UInt32(channels)), "snd_pcm_hw_params_set_channels")
        try check(snd_pcm_hw_params_set_rate(pcm, hw, UInt32(rate), 0), "snd_pcm_hw_params_set_rate")
        var buffer = UInt32(bufferTime)
        var dir: Int32 = 0
        try check(snd_pcm_hw_params_set_buffer_time_near(pcm, hw, &buffer, &dir), "snd_pcm_hw_params_set_buffer_time_near")
        var period = UInt32(bufferTime / 4)
        try check(snd_pcm_hw_params_set_period_time_near(pcm, hw, &period, &dir), "snd_pcm_hw_params_set_period_time_near")
        try check(snd_pcm_hw_params(pcm, hw), "snd_pcm_hw_params")
        var bufferFrames: snd_pcm_uframes_t = 0
        var periodFrames: snd_pcm_uframes_t = 0
        try check(snd_pcm_hw_params_get_buffer_size(hw, &bufferFrames), "snd_pcm_hw_params_get_buffer_size")
        try check(snd_pcm_hw_params_get_period_size(hw, &periodFrames, &dir), "snd_pcm_hw_params_get_period_size")
        if stream == SND_PCM_STREAM_PLAYBACK {
            // Start when the buffer is full, not at the first frame (alsa-lib's default): frames
            // are written a buffer ahead of their due time, so the card starts on schedule and
            // does not run dry between the first writes.
            var sw: OpaquePointer?
            try check(snd_pcm_sw_params_malloc(&sw), "snd_pcm_sw_params_malloc")
            defer { snd_pcm_sw_params_free(sw) }
            try check(snd_pcm_sw_params_current(pcm, sw), "snd_pcm_sw_params_current")
            try check(snd_pcm_sw_params_set_start_threshold(pcm, sw, bufferFrames), "snd_pcm_sw_params_set_start_threshold")
            try check(snd_pcm_sw_params(pcm, sw), "snd_pcm_sw_params")
        }
        return (
            pcm,
            PCMConfiguration(
                sampleRate: rate, channels: channels, sampleFormat: format, bufferFrames: Int(bufferFrames),
                periodFrames: Int(periodFrames))
        )
    } catch {
        snd_pcm_close(pcm)
        throw error
    }
}

/// The rates a playback device takes for `channels` interleaved channels, among the usual
/// ones: what to tell a person whose stream's rate it does not take. Empty when it cannot be
/// opened at all.
public func playbackRates(device: String, channels: Int) -> [Int] {
    var handle: OpaquePointer?
    guard snd_pcm_open(&handle, device, SND_PCM_STREAM_PLAYBACK, Int32(SND_PCM_NONBLOCK)) >= 0, let pcm = handle else { return [] }
    defer { snd_pcm_close(pcm) }
    var hw: OpaquePointer?
    guard snd_pcm_hw_params_malloc(&hw) >= 0 else { return [] }
    defer { snd_pcm_hw_params_free(hw) }
    guard snd_pcm_hw_params_any(pcm, hw) >= 0, snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED) >= 0,
        snd_pcm_hw_params_set_channels(pcm, hw, UInt32(channels)) >= 0
    else { return [] }
    return [8_000, 11_025, 16_000, 22_050, 32_000, 44_100, 48_000, 88_200, 96_000, 176_400, 192_000].filter {
        snd_pcm_hw_params_test_rate(pcm, hw, UInt32($0), 0) == 0
    }
}

extension SampleFormat {
    var alsa: snd_pcm_format_t {
        switch self {
        case .s16: SND_PCM_FORMAT_S16_LE
        case .s24: SND_PCM_FORMAT_S24_LE
        case .s24Packed: SND_PCM_FORMAT_S24_3LE
        case .s32: SND_PCM_FORMAT_S32_LE
        }
    }
}

enum Recovery {
    /// Interrupted or not ready: try the same call again.
    case retry
    /// The device ran dry (playback) or over (capture), or was suspended: prepared again.
    case restarted
    case failed(AlsaError)
}

/// What a negative read/write return means, recovering the PCM where that is possible.
func recover(_ pcm: OpaquePointer, from code: Int32, in call: StaticString) -> Recovery {
    if code == -EAGAIN || code == -EINTR { return .retry }
    // -EPIPE: an xrun; -ESTRPIPE: the device was suspended. Both recover by prepare.
    if code == -EPIPE || code == -ESTRPIPE {
        let rc = snd_pcm_prepare(pcm)
        return rc < 0 ? .failed(AlsaError(code: rc, call: "snd_pcm_prepare")) : .restarted
    }
    return .failed(AlsaError(code: code, call: call))
}

/// ALSA playback: the speaker's real sink. Blocking writes, so a real card paces the audio
/// thread; an underrun is recovered (the PCM prepared again) and reported as a status.
public final class AlsaPlayback: AudioSink {
    private let pcm: OpaquePointer
    public let configuration: PCMConfiguration
    public let device: String

    public var sampleRate: Int { configuration.sampleRate }
    public var channels: Int { configuration.channels }
    public var sampleFormat: SampleFormat { configuration.sampleFormat }
    public var bufferFrames: Int { configuration.bufferFrames }
    /// Frames in the last write, to tell a device that holds them from one that swallows them.
    private var lastWrite = 0
    private var pointerSteps: PointerStepWatch

    public let isPaced: Bool
    public let hardwareDelayFrames: Int

    /// `formats`: the sample formats to ask for, best first; the card's choice is `sampleFormat`.
    public init(device: String, sampleRate: Int, channels: Int, formats: [SampleFormat] = SampleFormat.preference, bufferTime: Int = 80_000) throws(AlsaError) {
        let opened = try openPCM(
            device: device, stream: SND_PCM_STREAM_PLAYBACK, blocking: true, formats: formats, rate: sampleRate, channels: channels,
            bufferTime: bufferTime)
        pcm = opened.0
        configuration = opened.1
        self.device = device
        pointerSteps = PointerStepWatch(nominalRate: sampleRate)
        // ALSA's file and null PCMs take what they are given at once; everything else here is a
        // card (or plays into one) and keeps its own time.
        let type = snd_pcm_type(pcm)
        isPaced = type != SND_PCM_TYPE_FILE && type != SND_PCM_TYPE_NULL
        // Prepared and empty, the delay is what the card adds after its buffer.
        var delay: snd_pcm_sframes_t = 0
        hardwareDelayFrames = isPaced && snd_pcm_delay(pcm, &delay) == 0 ? max(Int(delay), 0) : 0
    }

    deinit { snd_pcm_close(pcm) }

    public func write(_ samples: UnsafeRawBufferPointer, frames: Int) -> SinkStatus {
        var offset = 0
        while offset < frames {
            let n = snd_pcm_writei(pcm, samples.baseAddress! + offset * frameBytes, snd_pcm_uframes_t(frames - offset))
            if n >= 0 {
                offset += Int(n)
                continue
            }
            switch recover(pcm, from: Int32(n), in: "snd_pcm_writei") {
            case .retry: continue
            case .restarted:
                lastWrite = offset
                return .recoveredFromUnderrun(frames: offset)
            case .failed(let e): return .failed(e)
            }
        }
        lastWrite = frames
        return .written(frames: frames)
    }

    public func outputDelay(atPointerStep: Bool) -> Int? {
        guard snd_pcm_state(pcm) == SND_PCM_STATE_RUNNING else { return nil }
        let pcm = self.pcm
        func readDelay() -> Int? {
            var delay: snd_pcm_sframes_t = 0
            return snd_pcm_delay(pcm, &delay) == 0 ? Int(delay) : nil
        }
        guard let delay = atPointerStep ? pointerSteps.delayAtStep(clock: SystemClock(), readDelay: readDelay) : readDelay() else { return nil }
        // A device that does not even hold the frames just written is not playing them in time.
        return delay >= lastWrite ? delay : nil
    }

    public func start() {
        if snd_pcm_state(pcm) == SND_PCM_STATE_PREPARED { _ = snd_pcm_start(pcm) }
    }

    /// A card kept open after its stream ended (played out and run dry by now, or still
    /// playing the end of it), ready for the next stream as a freshly opened one is: what it
    /// still holds dropped, prepared and empty. Fails for a card unplugged meanwhile.
    public func prepareAgain() throws(AlsaError) {
        if snd_pcm_state(pcm) != SND_PCM_STATE_PREPARED {
            try check(snd_pcm_drop(pcm), "snd_pcm_drop")
            try check(snd_pcm_prepare(pcm), "snd_pcm_prepare")
        }
        lastWrite = 0
    }

    public func drain() { snd_pcm_drain(pcm) }
}

/// ALSA capture for the host's `alsa:DEVICE` source, non-blocking: the host's control thread
/// takes what the card has captured when a frame is due, and looks again shortly when it has
/// not captured a whole frame yet.
public final class AlsaCapture {
    private let pcm: OpaquePointer
    public let configuration: PCMConfiguration
    /// Frames of the frame being read that have arrived.
    private var filled = 0

    public enum Read: Equatable {
        case frame
        case notReady
        case failed(AlsaError)
    }

    public init(device: String, sampleRate: Int, channels: Int) throws(AlsaError) {
        let opened = try openPCM(
            device: device, stream: SND_PCM_STREAM_CAPTURE, blocking: false, rate: sampleRate, channels: channels,
            bufferTime: 200_000)
        pcm = opened.0
        configuration = opened.1
        let rc = snd_pcm_start(pcm)
        if rc < 0 {
            snd_pcm_close(pcm)
            throw AlsaError(code: rc, call: "snd_pcm_start")
        }
    }

    deinit { snd_pcm_close(pcm) }

    /// Continues filling `samples` (the same buffer until it says `.frame`) with `frames`
    /// frames, recovering from overruns.
    public func read(into samples: UnsafeMutableBufferPointer<Int16>, frames: Int) -> Read {
        while filled < frames {
            let n = snd_pcm_readi(pcm, samples.baseAddress! + filled * configuration.channels, snd_pcm_uframes_t(frames - filled))
            if n >= 0 {
                filled += Int(n)
                continue
            }
            if n == -EAGAIN { return .notReady }
            switch recover(pcm, from: Int32(n), in: "snd_pcm_readi") {
            case .retry: continue
            case .restarted: _ = snd_pcm_start(pcm)
            case .failed(let e): return .failed(e)
            }
        }
        filled = 0
        return .frame
    }
}
