// What is wired to a speaker's GPIO lines, as the config says it: here, not beside the rest of
// the settings, so that the GPIO code (Board) reads it without the config loader and the
// config loader describes it without libgpiod.

/// One GPIO line: a chip (`gpiochip0` or `/dev/gpiochip0`) and an offset on it.
public struct GPIOLineSpec: Equatable, Sendable {
    public enum Bias: String, CaseIterable, Sendable {
        case asIs = "as_is"
        case pullUp = "pull_up"
        case pullDown = "pull_down"
        case disabled = "disabled"
    }
    public var chip: String
    public var offset: Int
    /// The line reads (or is driven) low when active: a button to ground, an LED to the supply.
    public var activeLow = false
    public var bias = Bias.asIs

    public init(chip: String, offset: Int, activeLow: Bool = false, bias: Bias = .asIs) {
        self.chip = chip
        self.offset = offset
        self.activeLow = activeLow
        self.bias = bias
    }
}

/// The `board` section: what is wired to the speaker's GPIO lines. Keys are named for the
/// buttons' and LEDs' roles (`Board.ButtonRole`: volume_up, volume_down, play_mute).
public struct BoardSettings: Equatable, Sendable {
    public var buttons: [String: GPIOLineSpec] = [:]
    public var statusLED: GPIOLineSpec?
    public var bufferLED: GPIOLineSpec?
    public var amplifierPower: GPIOLineSpec?
    /// The amplifier is switched off after this long without sound.
    public var amplifierIdle: Microseconds = 300_000_000

    public init() {}

    public var isEmpty: Bool { buttons.isEmpty && statusLED == nil && bufferLED == nil && amplifierPower == nil }
}
