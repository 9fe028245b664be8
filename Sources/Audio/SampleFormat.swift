import Core

/// How a sound card takes its samples, in the order a speaker prefers them: 32 bits keep all the
/// path carries (Opus decodes to float), S16 is what every card takes. The raw values match the
/// C converter's (`CFractionalDelay.ms_convert`).
public enum SampleFormat: Int32, NamedCase, Sendable {
    case s32 = 3
    /// 24 bits in the low three bytes of a 32-bit word.
    case s24 = 1
    /// 24 bits in three bytes.
    case s24Packed = 2
    case s16 = 0

    /// Best first: what msrecv asks a card for, in turn.
    public static let preference: [SampleFormat] = [.s32, .s24, .s24Packed, .s16]

    public var bytesPerSample: Int {
        switch self {
        case .s16: 2
        case .s24Packed: 3
        case .s24, .s32: 4
        }
    }

    /// ALSA's name, as `audio_output.sample_format` and aplay spell it.
    public var name: String {
        switch self {
        case .s16: "S16_LE"
        case .s24: "S24_LE"
        case .s24Packed: "S24_3LE"
        case .s32: "S32_LE"
        }
    }
}
