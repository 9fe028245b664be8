import Board
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

    /// `independent`: the house volume the host's packets carry is not followed.
    init(configuredGain: Double, independent: Bool = false) {
        configured = Gain(volume: configuredGain).q15
        level = VolumeScale.level(gain: configuredGain)
        self.independent = independent
    }

    private let independent: Bool
    /// The house volume last seen (0…1), so that only a change moves the speaker: a button's
    /// change holds until the host's player moves its own volume.
    private var house: Double?

    /// The host's packets carry the house volume: a new one sets this speaker's level, unless
    /// the speaker's volume is independent. Whether it moved.
    func follow(house volume: Double) -> Bool {
        guard !independent, volume != house else { return false }
        house = volume
        let before = q15
        set(level: Int((volume * Double(VolumeScale.range.upperBound)).rounded()))
        return q15 != before
    }

    var q15: Int32 { muted ? 0 : configured ?? VolumeScale.q15(level) }

    func set(level: Int) {
        self.level = min(max(level, VolumeScale.range.lowerBound), VolumeScale.range.upperBound)
        configured = nil
    }

    func set(muted: Bool) { self.muted = muted }

    /// Levels one button press moves: 2.4 dB, the whole scale in 25 presses (or about four
    /// seconds of holding).
    static let buttonStep = 4
    /// What the last button steps moved the level by, latest last: a long press gives back what
    /// its own steps took, no more (steps clamped at 0 took less than a step).
    private var buttonSteps: [Int] = []

    /// A button's action (`Board.Buttons`). A step unmutes: someone turning it up wants to hear it.
    func apply(_ action: ButtonAction) {
        switch action {
        case .volumeStep(let steps):
            let before = level
            set(level: level + steps * Self.buttonStep)
            muted = false
            buttonSteps.append(level - before)
            if buttonSteps.count > 64 { buttonSteps.removeFirst() }
        case .mute(let restoringSteps):
            set(level: level - buttonSteps.suffix(restoringSteps).reduce(0, +))
            buttonSteps.removeAll()
            muted = true
        case .toggleMute:
            muted.toggle()
        }
    }

    /// For a log line: "40 (−36.0 dB)", "muted".
    var description: String {
        if muted { return "muted" }
        guard let db = VolumeScale.decibels(level) else { return "0 (silent)" }
        let tenths = Int((db * 10).rounded())
        return "\(level) (\(tenths < 0 ? "−" : "")\(abs(tenths) / 10).\(abs(tenths) % 10) dB)"
    }
}
