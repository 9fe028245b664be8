import CAlsa
import Core

/// A card's hardware volume as the receiver drives it: set in dB within `range`, muted with a
/// switch where it has one. `AlsaMixer` on a speaker; a simulated control in tests.
public protocol VolumeControl: AnyObject {
    /// What the control can do, in dB.
    var range: ClosedRange<Double> { get }
    /// It has an on/off switch (a mute that is not just the lowest volume).
    var hasSwitch: Bool { get }
    /// The control's and the device's names, for the log.
    var name: String { get }
    var device: String { get }
    /// Sets every channel to `decibels` (within `range`), rounded down: never louder than asked.
    func set(decibels: Double) throws(AlsaError)
    /// Switches the output off or on; a control without a switch is left alone.
    func set(muted: Bool) throws(AlsaError)
}

/// A sound card's hardware volume: one simple mixer control (`snd_mixer`), such as "Digital" on
/// a HiFiBerry DAC+, set in dB over the range the card's driver gives. Control thread only.
public final class AlsaMixer: VolumeControl {
    private let mixer: OpaquePointer
    private let element: OpaquePointer
    /// What the control can do, in dB (centibels from the driver, here in dB).
    public let range: ClosedRange<Double>
    /// It has an on/off switch (a mute that is not just the lowest volume).
    public let hasSwitch: Bool
    public let name: String
    public let device: String

    public enum OpenError: Error, Equatable, CustomStringConvertible {
        case library(AlsaError, device: String)
        /// No such control; the playback volume controls the card has.
        case noControl(String, device: String, available: [String])
        case noDecibels(String, device: String)

        public var description: String {
            switch self {
            case .library(let e, let device): "cannot open the mixer of \"\(device)\": \(e)"
            case .noControl(let name, let device, let available):
                "\"\(device)\" has no mixer control \"\(name)\" with a playback volume"
                    + (available.isEmpty ? " (it has none)" : " (it has: \(available.joined(separator: ", ")))")
            case .noDecibels(let name, let device): "mixer control \"\(name)\" of \"\(device)\" does not say its range in dB"
            }
        }
    }

    /// `device`: a control device ("hw:0", "default", a `ctl.` name); `name`: the simple control.
    public init(device: String, control name: String) throws(OpenError) {
        var handle: OpaquePointer?
        func fail(_ rc: Int32, _ call: StaticString) -> OpenError { .library(AlsaError(code: rc, call: call), device: device) }
        var rc = snd_mixer_open(&handle, 0)
        guard rc >= 0, let mixer = handle else { throw fail(rc, "snd_mixer_open") }
        rc = snd_mixer_attach(mixer, device)
        if rc >= 0 { rc = snd_mixer_selem_register(mixer, nil, nil) }
        if rc >= 0 { rc = snd_mixer_load(mixer) }
        guard rc >= 0 else {
            snd_mixer_close(mixer)
            throw fail(rc, "snd_mixer_attach")
        }
        var found: OpaquePointer?
        var available: [String] = []
        var element = snd_mixer_first_elem(mixer)
        while let e = element {
            if snd_mixer_selem_has_playback_volume(e) != 0 {
                let elementName = String(cString: snd_mixer_selem_get_name(e))
                if elementName == name && snd_mixer_selem_get_index(e) == 0 { found = e }
                available.append(elementName)
            }
            element = snd_mixer_elem_next(e)
        }
        guard let found else {
            snd_mixer_close(mixer)
            throw .noControl(name, device: device, available: available)
        }
        var low = 0
        var high = 0
        guard snd_mixer_selem_get_playback_dB_range(found, &low, &high) >= 0, high > low else {
            snd_mixer_close(mixer)
            throw .noDecibels(name, device: device)
        }
        self.mixer = mixer
        self.element = found
        self.name = name
        self.device = device
        range = Double(low) / 100...Double(high) / 100
        hasSwitch = snd_mixer_selem_has_playback_switch(found) != 0
    }

    deinit { snd_mixer_close(mixer) }

    public func set(decibels: Double) throws(AlsaError) {
        let clamped = min(max(decibels, range.lowerBound), range.upperBound)
        try check(snd_mixer_selem_set_playback_dB_all(element, Int((clamped * 100).rounded()), -1), "snd_mixer_selem_set_playback_dB_all")
    }

    public func set(muted: Bool) throws(AlsaError) {
        guard hasSwitch else { return }
        try check(snd_mixer_selem_set_playback_switch_all(element, muted ? 0 : 1), "snd_mixer_selem_set_playback_switch_all")
    }
}
