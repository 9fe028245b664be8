import Audio
import Core
import Resample

/// Between the decoded frames and a paced sound card: keeps what the card plays on the host's
/// schedule whatever its crystal does (DESIGN §6), by resampling at the drift controller's
/// ratio and, beyond its reach, dropping or inserting audio at once, between a 5 ms fade-out
/// and a 5 ms fade-in (cut or paused mid-waveform, the card would play a step: a click). On a device that does not
/// pace itself (ALSA null/file) there is no DAC to follow: frames pass through untouched, so a
/// recording stays bit-exact. Either way the last step is the card's sample format
/// (`SampleConverter`). Audio thread only; all storage allocated at init.
struct DriftCompensator: ~Copyable {
    private let resampler: DriftResampler?
    private var controller = DriftController()
    private let channels: Int
    private let sampleRate: Int
    /// The resampler's output (at S16's scale), then the card's format.
    private let resampled: UnsafeMutableBufferPointer<Float>
    private let output: UnsafeMutableRawBufferPointer
    private var converter: SampleConverter
    /// Zero bytes: silence in every signed format.
    private let silence: UnsafeMutableRawBufferPointer
    /// The last frames passed through, so the resampler continues the signal when it takes
    /// over instead of starting from silence.
    private let history: UnsafeMutableBufferPointer<Float>
    private let historyFrames = DriftResampler.taps
    private var historyFilled = 0
    private var compensating = false
    /// Stream position of the first frame fed to the resampler after it took over (moved on
    /// by drops), and the frames fed since: the next frame out is `fed − pending` past it.
    private var resampledFrom = 0.0
    private var fed = 0
    private var ratio = 1.0
    /// Audio to drop (positive) or insert (negative) before the next frames, µs.
    private var pendingResync: Microseconds = 0
    /// The fades around a drop or insert, and the frames of each still to play: the fade-out
    /// plays the stream in its place, so the cut waits for it. Between them the output stays
    /// silent for as long as the resampler's filter spans the cut (its taps): it still holds
    /// the last frames before it, whose tail would otherwise come out behind the cut.
    private let spliceFrames: Int
    private var fadeOutLeft = 0
    private var muteLeft = 0
    private var fadeInLeft = 0
    /// Stream position of the next frame the card will be given, in stream frames.
    private(set) var position = 0.0

    /// `format`: the card's.
    init(resampler: DriftResampler?, channels: Int, sampleRate: Int, maxFrames: Int, format: SampleFormat) {
        self.resampler = resampler
        self.channels = channels
        self.sampleRate = sampleRate
        spliceFrames = sampleRate / 200
        let outputSamples = max(resampler?.maxOutputFrames ?? 0, maxFrames) * channels
        resampled = .allocate(capacity: (resampler?.maxOutputFrames ?? 0) * channels)
        resampled.initialize(repeating: 0)
        output = .allocate(byteCount: outputSamples * format.bytesPerSample, alignment: 16)
        output.initializeMemory(as: UInt8.self, repeating: 0)
        converter = SampleConverter(format: format)
        silence = .allocate(byteCount: maxFrames * channels * format.bytesPerSample, alignment: 16)
        silence.initializeMemory(as: UInt8.self, repeating: 0)
        history = .allocate(capacity: historyFrames * channels)
        history.initialize(repeating: 0)
    }

    deinit {
        resampled.deallocate()
        output.deallocate()
        silence.deallocate()
        history.deallocate()
    }

    /// Playback starts, or starts again after the card ran dry, with stream frame `frame`.
    /// Nothing from before a restart carries over: the frames the resampler held are late,
    /// and the card restarts on schedule.
    mutating func start(atStreamFrame frame: Double) {
        position = frame
        pendingResync = 0
        (fadeOutLeft, muteLeft, fadeInLeft) = (0, 0, 0)
        historyFilled = 0
        guard compensating, let resampler else { return }
        resampledFrom = frame
        fed = 0
        resampler.resume(after: UnsafeBufferPointer(start: nil, count: 0), frames: 0)
    }

    /// Stream time of the next frame the card will be given, µs.
    var positionMicroseconds: Microseconds { Microseconds((position * 1_000_000 / Double(sampleRate)).rounded()) }

    /// Audio still to drop (positive) or silence still to insert (negative), µs: the card is
    /// that much off the schedule until it goes in.
    var pendingMove: Microseconds { pendingResync }

    /// The drift controller's latest filtered error, µs.
    var filteredError: Double { controller.filteredError }
    /// The correction being applied (positive: playing faster than the stream).
    var correction: Double { controller.correction }

    enum Observation: Equatable {
        case none
        /// Playing at this correction, ppm.
        case tracking(ppm: Double)
        /// Too far off: this much audio (µs; positive late) is dropped or inserted next.
        case resync(by: Microseconds)
    }

    /// The schedule moved: the next observation resyncs at once if it is off by more than a little.
    mutating func restartControl() { controller.restart() }

    /// The card said the next frame leaves its DAC `error` µs after it is due.
    mutating func observe(error: Microseconds, interval: Microseconds) -> Observation {
        guard let resampler else { return .none }
        if !compensating { takeOver(resampler) }
        // Audio still to drop is late audio the card has not been spared yet: the error
        // measured now is that remainder, already dealt with.
        guard pendingResync == 0 else { return .none }
        switch controller.update(error: error, interval: interval) {
        case .ratio(let r):
            ratio = r
            return .tracking(ppm: (1 / r - 1) * 1e6)
        case .resync(let by):
            splice(by: by)
            return .resync(by: by)
        }
    }

    /// The playout latency changed by −`by` µs: that much audio is dropped (positive) or
    /// silence inserted (negative) before the next frames, spliced as a resync is. A device
    /// that does not pace itself has no schedule to keep.
    mutating func move(by: Microseconds) {
        guard by != 0, let resampler else { return }
        if !compensating { takeOver(resampler) }
        // A drop or insert not made yet takes this one along: one splice.
        if pendingResync != 0 {
            pendingResync += by
        } else {
            splice(by: by)
        }
    }

    private mutating func splice(by: Microseconds) {
        pendingResync = by
        // From the gain the last splice's fade-in has reached, if it is still under way.
        fadeOutLeft = muteLeft > 0 ? 0 : spliceFrames - fadeInLeft
        (muteLeft, fadeInLeft) = (0, 0)
        controller.reset()
    }

    /// Plays `frames` frames: through the resampler once it has taken over, else as they are.
    mutating func write<Sink: AudioSink & ~Copyable>(_ input: UnsafeBufferPointer<Float>, frames: Int, to sink: inout Sink) -> SinkStatus {
        guard compensating, let resampler else {
            remember(input, frames: frames)
            position += Double(frames)
            return play(UnsafeBufferPointer(rebasing: input[0..<(frames * channels)]), frames: frames, to: &sink)
        }
        var start = 0
        var played = 0
        // A splice begun goes through its fades even when the moves it was for cancelled out.
        if pendingResync != 0 || fadeOutLeft > 0 {
            if fadeOutLeft > 0 {
                start = min(frames, fadeOutLeft)
                let status = resample(input, 0..<start, with: resampler, to: &sink)
                guard case .written(let n) = status, fadeOutLeft == 0 else { return status }
                played = n
            }
            (muteLeft, fadeInLeft) = (DriftResampler.taps, spliceFrames)
        }
        if pendingResync > 0 {
            // Late: skip ahead in the stream.
            let drop = min(frames - start, framesFor(pendingResync))
            resampledFrom += Double(drop)
            pendingResync = drop == framesFor(pendingResync) ? 0 : pendingResync - microsecondsFor(drop)
            start += drop
        } else if pendingResync < 0 {
            // Early: hold the stream back with silence.
            let owed = framesFor(-pendingResync)
            pendingResync = 0
            let status = writeSilence(owed, to: &sink)
            guard status == .written(frames: owed) else { return Self.counting(played, silence: true, status) }
        }
        guard start < frames else {
            // The rest of the packet dropped: the stream still moved on by it.
            position = resampledFrom + Double(fed) - resampler.pendingFrames
            return .written(frames: played)
        }
        return Self.counting(played, resample(input, start..<frames, with: resampler, to: &sink))
    }

    /// `status` with the `played` frames written before it added (and none of its own when it
    /// wrote `silence`): what the caller counts as played.
    private static func counting(_ played: Int, silence: Bool = false, _ status: SinkStatus) -> SinkStatus {
        switch status {
        case .written(let n): .written(frames: played + (silence ? 0 : n))
        case .recoveredFromUnderrun(let n): .recoveredFromUnderrun(frames: played + (silence ? 0 : n))
        case .failed: status
        }
    }

    /// Resamples and plays the input frames `range`, through the fade-out or the fade-in in
    /// progress: the gain moves linearly over the frames the resampler made of them.
    private mutating func resample<Sink: AudioSink & ~Copyable>(
        _ input: UnsafeBufferPointer<Float>, _ range: Range<Int>,
        with resampler: DriftResampler, to sink: inout Sink
    ) -> SinkStatus {
        let produced = resampler.process(
            UnsafeBufferPointer(rebasing: input[(range.lowerBound * channels)..<(range.upperBound * channels)]),
            frames: range.count, ratio: ratio, into: resampled)
        fed += range.count
        position = resampledFrom + Double(fed) - resampler.pendingFrames
        let splice = Float(spliceFrames)
        if fadeOutLeft > 0 {
            // Down from fadeOutLeft / splice to (fadeOutLeft − these frames) / splice: silent at the cut.
            let step = Float(min(range.count, fadeOutLeft)) / Float(max(produced, 1))
            scale(0..<produced, from: Float(fadeOutLeft) / splice, by: -step / splice)
            fadeOutLeft -= min(range.count, fadeOutLeft)
        } else if muteLeft > 0 || fadeInLeft > 0 {
            let muted = min(produced, muteLeft)
            scale(0..<muted, from: 0, by: 0)
            muteLeft -= muted
            let faded = muteLeft > 0 ? 0 : min(produced - muted, fadeInLeft)
            scale(muted..<(muted + faded), from: (splice - Float(fadeInLeft)) / splice, by: 1 / splice)
            fadeInLeft -= faded
        }
        guard produced > 0 else { return .written(frames: 0) }
        return play(UnsafeBufferPointer(rebasing: resampled[0..<(produced * channels)]), resampled: true, frames: produced, to: &sink)
    }

    /// Multiplies the resampled `frames` by a gain that starts one `slope` past `from` and
    /// moves by `slope` a frame, never below 0.
    private func scale(_ frames: Range<Int>, from: Float, by slope: Float) {
        for frame in frames {
            let gain = max(0, from + slope * Float(frame - frames.lowerBound + 1))
            for c in 0..<channels { resampled[frame * channels + c] *= gain }
        }
    }

    /// Converts `frames` frames to the card's format and writes them: `samples` at full scale
    /// ±1.0, or at S16's (`resampled`).
    private mutating func play<Sink: AudioSink & ~Copyable>(
        _ samples: UnsafeBufferPointer<Float>, resampled: Bool = false, frames: Int,
        to sink: inout Sink
    ) -> SinkStatus {
        converter.convert(samples, resampled: resampled, into: output)
        return sink.write(UnsafeRawBufferPointer(rebasing: output[0..<(frames * sink.frameBytes)]), frames: frames)
    }

    /// Writes `frames` frames of silence (the stream does not move): all of them, or what
    /// ended the write (failed, or the card ran dry).
    func writeSilence<Sink: AudioSink & ~Copyable>(_ frames: Int, to sink: inout Sink) -> SinkStatus {
        var written = 0
        let frameBytes = sink.frameBytes
        while written < frames {
            let n = min(frames - written, silence.count / frameBytes)
            let status = sink.write(UnsafeRawBufferPointer(rebasing: silence[0..<(n * frameBytes)]), frames: n)
            guard case .written = status else { return status }
            written += n
        }
        return .written(frames: written)
    }

    /// The resampler takes over from pass-through, continuing from the frames just played.
    private mutating func takeOver(_ resampler: DriftResampler) {
        compensating = true
        resampledFrom = position
        fed = 0
        resampler.resume(after: UnsafeBufferPointer(rebasing: history[0..<(historyFilled * channels)]), frames: historyFilled)
    }

    private mutating func remember(_ input: UnsafeBufferPointer<Float>, frames: Int) {
        let keep = min(frames, historyFrames)
        let shift = min(historyFilled, historyFrames - keep)
        if shift > 0 && historyFilled > shift {
            // Keep the newest `shift` frames already there, then append.
            let from = (historyFilled - shift) * channels
            for i in 0..<(shift * channels) { history[i] = history[from + i] }
        }
        let base = shift * channels
        let source = (frames - keep) * channels
        for i in 0..<(keep * channels) { history[base + i] = input[source + i] }
        historyFilled = shift + keep
    }

    /// Whole frames in `us` at the stream's rate, rounded to the nearest.
    func framesFor(_ us: Microseconds) -> Int { Int((Double(us) * Double(sampleRate) / 1e6).rounded()) }
    private func microsecondsFor(_ frames: Int) -> Microseconds { Microseconds(Double(frames) * 1e6 / Double(sampleRate)) }
}
