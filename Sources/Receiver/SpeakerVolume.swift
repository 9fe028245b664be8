import Core

/// The speaker's volume as a person set it: the configured gain (`audio_output.volume`) until
/// someone moves it, then a level on the perceptual scale (`VolumeScale`); muting leaves the
/// level as it was, so unmuting returns to it. Kept by the engine across sessions; control
/// thread only (the audio thread reads the gain through `PlayoutCounters.volumeQ15`).
final class SpeakerVolume {
    private(set) var level: Int
    private(set) var muted = false
    /// The configured gain, exact (1.0 leaves samples bit-exact), until a level is set.
    private var configured: Int32?

    init(configuredGain: Double) {
        configured = Gain(volume: configuredGain).q15
        level = VolumeScale.level(gain: configuredGain)
    }

    var q15: Int32 { muted ? 0 : configured ?? VolumeScale.q15(level) }

    func set(level: Int) {
        self.level = min(max(level, VolumeScale.range.lowerBound), VolumeScale.range.upperBound)
        configured = nil
    }

    func set(muted: Bool) { self.muted = muted }

    /// For a log line: "40 (−36.0 dB)", "muted".
    var description: String {
        if muted { return "muted" }
        guard let db = VolumeScale.decibels(level) else { return "0 (silent)" }
        let tenths = Int((db * 10).rounded())
        return "\(level) (\(tenths < 0 ? "−" : "")\(abs(tenths) / 10).\(abs(tenths) % 10) dB)"
    }
}
