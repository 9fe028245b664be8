import Audio
import Board
import Core
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// The speaker's volume as a person set it: the configured gain (`audio_output.volume`) until
/// someone moves it, then a level on the perceptual scale (`VolumeScale`); muting leaves the
/// level as it was, so unmuting returns to it. Kept by the engine across sessions; control
/// thread only (the audio thread reads the gain through `PlayoutCounters.volumeQ15`).
///
/// With a hardware mixer (`audio_output.mixer`) the card's control takes the attenuation as far
/// down as its range goes and software gain only the rest, so the samples stay bit-exact while
/// the hardware can do it all.
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

    /// The card's volume control, once opened (`attach`).
    private(set) var mixer: (any VolumeControl)?

    /// Uses `mixer` for the volume from now on (nil: software only).
    func attach(_ mixer: (any VolumeControl)?) { self.mixer = mixer }

    /// The level in dB, nil when silent (level 0, or a configured gain of 0).
    private var decibels: Double? {
        if let configured { return configured == 0 ? nil : 20 * log10(Double(configured) / Double(Gain.unity)) }
        return VolumeScale.decibels(level)
    }

    /// Puts the volume where it plays: the mixer's control (if any) and the gain the audio
    /// thread applies. A mixer that fails (the card went away) is said and given up: the volume
    /// is software again until the next session opens it.
    func apply(to counters: PlayoutCounters, log: Logger) {
        guard let mixer else { return counters.volumeQ15.store(q15, ordering: .relaxed) }
        let target = muted ? nil : decibels
        let hardware = min(max(target ?? mixer.range.lowerBound, mixer.range.lowerBound), mixer.range.upperBound)
        do {
            try mixer.set(muted: target == nil)
            try mixer.set(decibels: hardware)
            // What the control cannot go down to, software does; silence is silence either way.
            // Within its range the control alone (rounded down to its step) keeps the samples exact.
            let rest = target.map { pow(10, min(0, $0 - hardware) / 20) } ?? 0
            counters.volumeQ15.store(Gain(volume: rest).q15, ordering: .relaxed)
        } catch {
            log.error("receiving.audio_output.mixer: \(mixer.name) on \(mixer.device): \(error); the volume is in software until the card is opened again")
            self.mixer = nil
            counters.volumeQ15.store(q15, ordering: .relaxed)
        }
    }

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
        return "\(level) (\(formatDecibels(db)) dB)"
    }
}
