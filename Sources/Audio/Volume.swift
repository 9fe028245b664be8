import Core

#if canImport(Glibc)
import Glibc
#endif

/// The 0–100 volume a person sets (a button, `mshost volume`, the host's CONTROL): perceptual,
/// each step the same number of decibels, 100 at full scale and 0 silent. 60 dB from top to
/// bottom, about the range a living room hears between loud and barely there.
public enum VolumeScale {
    public static let range = volumeLevels
    public static let decibelsPerStep = 0.6

    /// The gain of a level, in dB (nil: silent).
    public static func decibels(_ level: Int) -> Double? {
        let level = min(max(level, range.lowerBound), range.upperBound)
        return level == 0 ? nil : Double(level - range.upperBound) * decibelsPerStep
    }

    /// The gain of a level, Q15 (`Gain`).
    public static func q15(_ level: Int) -> Int32 {
        guard let db = decibels(level) else { return 0 }
        return Gain(volume: pow(10, db / 20)).q15
    }

    /// The level nearest a linear gain (0…1): where a configured gain sits on the scale.
    public static func level(gain: Double) -> Int {
        guard gain > 0 else { return 0 }
        let steps = (20 * log10(min(gain, 1)) / decibelsPerStep).rounded()
        return max(range.upperBound + Int(max(steps, -Double(range.upperBound))), 1)
    }
}

/// Decibels for a person, to a tenth, with a true minus sign: "−30.0", "0.0", "6.0".
public func formatDecibels(_ db: Double) -> String {
    let tenths = Int((db * 10).rounded())
    return "\(tenths < 0 ? "−" : "")\(abs(tenths) / 10).\(abs(tenths) % 10)"
}
