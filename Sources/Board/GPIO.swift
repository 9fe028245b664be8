import CGpiod
import Core

/// The GPIO lines a board's buttons and LEDs sit on. The libgpiod backend and the fake lines
/// that tests drive arrive with the GPIO issue; this names the library the shim compiled against.
public enum GPIOLibrary {
    /// "1.6.3" on bookworm (v1 API), "2.x" on trixie (v2 API).
    public static var version: String { String(cString: cgpiod_version_string()) }
}
