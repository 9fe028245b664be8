import Audio
import Core
import ProtocolMessages

/// Where the host's PCM comes from (`sharing.source`).
public enum SourceSpec: Equatable, Sendable, CustomStringConvertible {
    case tone(hz: Double)
    case wav(path: String)
    case stdin
    case alsa(device: String)

    public static func parse(_ text: String) -> SourceSpec? {
        if text == "tone" { return .tone(hz: 440) }
        if text == "stdin" { return .stdin }
        if text.hasPrefix("tone:"), let hz = Double(text.dropFirst(5)), hz > 0, hz < 24_000 { return .tone(hz: hz) }
        if text.hasPrefix("wav:"), text.count > 4 { return .wav(path: String(text.dropFirst(4))) }
        if text.hasPrefix("alsa:"), text.count > 5 { return .alsa(device: String(text.dropFirst(5))) }
        return nil
    }

    public var description: String {
        switch self {
        case .tone(let hz): return "tone:\(hz)"
        case .wav(let path): return "wav:\(path)"
        case .stdin: return "stdin"
        case .alsa(let device): return "alsa:\(device)"
        }
    }
}

/// How the host knows the password receivers must prove.
public enum PasswordSetting: Equatable, Sendable {
    /// `password_verifier`: "spake2+p256:ITERATIONS:SALT:W0:L", hex.
    case verifier(String)
    /// `password` (the seed's key): the verifier is derived from it at start.
    case plaintext(String)
}

/// What protects a connection (`encryption`): TLS by default; `none` is plaintext, for tests.
public enum Encryption: String, Equatable, Sendable {
    case tls
    case none
}

/// Where a daemon keeps what it makes on first run (its key and certificate, the hosts it has
/// pinned): `state_dir`.
public let defaultStateDirectory = "/var/lib/moosync"

public struct Permissions: Equatable, Sendable {
    public var allowQueueControl = false
    public var allowPlaybackControl = false
    public var allowChat = true

    public init() {}
}

/// The host's settings: the seed's `sharing` section plus ours.
public struct SharingSettings: Equatable, Sendable {
    public var enabled = true
    public var deviceName = "Moosync host"
    /// The seed's host_info.user_name: who shares (shown by whatever lists hosts).
    public var userName = ""
    /// The seed's host_info.avatar: the image at `avatar` (a path), base64, for the JSON
    /// advertisement only (TXT records are too small for it).
    public var avatarBase64 = ""
    /// Publish the host over mDNS (`_moosync-audio._tcp`), so that receivers find it.
    public var advertise = true
    public var maxClients = 10
    public var codec = WireCodec.opus
    public var bitrate = 128_000
    /// Opus only: each receiver gets the tier of `opusTiers` its path carries (DESIGN §5).
    public var adaptiveBitrate = true
    public var sampleRate = 48_000
    public var channels = 2
    public var permissions = Permissions()
    public var source = SourceSpec.tone(hz: 440)
    public var port: UInt16 = 8080
    /// Opus frame duration in µs (2.5 ms … 60 ms).
    public var frameDuration: Microseconds = 20_000
    /// Restart a finite source (a WAV) when it ends instead of finishing the stream.
    public var loop = false
    public var encryption = Encryption.tls
    public var stateDirectory = defaultStateDirectory
    /// Besides the host's own user, who may use its local control socket (`mshost clients`, …)
    /// in `stateDirectory`: the members of this group.
    public var controlGroup: String?
    /// A receiver must prove it knows the password (SPAKE2+): from the verifier
    /// (`password_verifier`, what `mshost passwd` writes) or a plaintext `password`.
    public var password: PasswordSetting?
    /// Receivers admitted by their certificate's fingerprint (lowercase hex, colons between
    /// pairs, as `msrecv --fingerprint` prints them).
    public var allowedClients: [String] = []

    public init() {}

    public var samplesPerFrame: Int { Int(Int64(sampleRate) * frameDuration / 1_000_000) }

    /// What a stream in `codec` carries, bit/s: Opus at `bitrate`, PCM at 16 bits a sample.
    /// The nominal bitrate of `codec`: Opus's setting; PCM's own; FLAC's at most PCM's.
    public func bitrate(of codec: WireCodec) -> Int { codec == .opus ? bitrate : sampleRate * channels * 16 }

    /// The Opus bitrates an adaptive host encodes, best first: `bitrate` and each half of it
    /// down to 16 kbit/s a channel (where Opus still codes music as music), at most four.
    public var opusTiers: [Int] {
        var tiers = [bitrate]
        while tiers.count < 4, tiers.last! / 2 >= 16_000 * channels { tiers.append(tiers.last! / 2) }
        return tiers
    }

    /// What a receiver may get, best first: the configured codec, then what costs the host
    /// little more (an Opus host's FLAC encoder runs anyway, PCM is a copy).
    public var offeredCodecs: [WireCodec] {
        switch codec {
        case .opus: return [.opus, .flac, .pcm]
        case .flac: return [.flac, .pcm]
        case .pcm: return [.pcm]
        }
    }
}

public struct AudioOutputSettings: Equatable, Sendable {
    public var deviceID = "default"
    /// Software volume, 0 … 1.
    public var volume = 1.0
    /// This speaker plays this much later (negative: earlier) than the house, for a DSP or an
    /// amplifier with a delay of its own.
    public var latencyOffset: Microseconds = 0
    public var channels = ChannelMix.stereo
    /// Volume changes made at the speaker (its buttons) are reported to the host.
    public var volumeSync = true
    /// The house volume the host's packets carry is not followed: this speaker's is its own.
    public var independentVolume = false
    /// The sample format to play in; nil: the best the card takes (`SampleFormat.preference`).
    public var sampleFormat: SampleFormat?
    /// The card's simple mixer control that takes the volume ("Digital"); nil: software gain.
    public var mixer: String?
    /// Where that control is: set, or the card of `deviceID` ("hw:1,0" and "plughw:1,0" → "hw:1";
    /// any other name is used as it is, as `default` and an asound.conf `ctl.` name are).
    public var mixerDeviceSetting: String?
    public var mixerDevice: String {
        if let mixerDeviceSetting { return mixerDeviceSetting }
        for prefix in ["hw:", "plughw:"] where deviceID.hasPrefix(prefix) {
            return "hw:" + deviceID.dropFirst(prefix.count).prefix { $0 != "," }
        }
        return deviceID
    }
}

/// The receiver's settings: the seed's `receiving` section plus ours.
public struct ReceivingSettings: Equatable, Sendable {
    public var enabled = true
    /// Playout delay behind the host's schedule (the seed's "2s" default suits Wi-Fi).
    public var bufferSize: Microseconds = 2_000_000
    /// `max_buffer_size`: how far the buffer may grow when packets come late (nil: the default,
    /// twice `bufferSize`, at most 10 s).
    public var maxBufferSize: Microseconds?
    public var bufferCeiling: Microseconds { maxBufferSize ?? max(min(2 * bufferSize, 10_000_000), bufferSize) }
    /// This speaker's own delay behind the host's clock: the house's `bufferSize` and its offset.
    public var playoutLatency: Microseconds { bufferSize + audioOutput.latencyOffset }
    /// The most it can be: the buffer grown to its ceiling.
    public var longestPlayoutLatency: Microseconds { bufferCeiling + audioOutput.latencyOffset }
    /// `HOST:PORT`: the host to play.
    public var host: String?
    /// Without `host`: find the host over mDNS (off, `host` is required). Beside `host` (off
    /// unless set): when its address does not answer, play the host pinned for it where mDNS
    /// sees it now (a new DHCP lease, say).
    public var autoDiscover = true
    /// Which discovered host to play: by its device_id, or else by its device_name. Neither:
    /// the only host there is.
    public var hostID: String?
    public var hostName: String?
    public var clientName = "Moosync speaker"
    public var audioFormats = WireCodec.preference.map(\.name)
    public var audioOutput = AudioOutputSettings()
    public var encryption = Encryption.tls
    public var stateDirectory = defaultStateDirectory
    /// The host's certificate fingerprint (64 hex digits) to accept instead of pinning on first use.
    public var hostFingerprint: String?
    /// What this receiver proves to a host that asks for a password.
    public var password: String?

    public init() {}
}

public struct Settings: Equatable, Sendable {
    public var sharing = SharingSettings()
    public var receiving = ReceivingSettings()
    /// The speaker's buttons, LEDs and amplifier line, if it has any.
    public var board = BoardSettings()

    public init() {}
}
