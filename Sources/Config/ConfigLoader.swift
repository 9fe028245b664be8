import Audio
import Core
import Platform
import ProtocolMessages

/// Reads and validates the one JSON config file (DESIGN §7).
public enum ConfigLoader {
    public static let frameDurations: [Microseconds] = [2_500, 5_000, 10_000, 20_000, 40_000, 60_000]
    static let opusRates = [8_000, 12_000, 16_000, 24_000, 48_000]

    /// Loads `path`; a failure carries every error found, each naming its key path.
    public static func load(path: String) throws(ConfigErrors) -> Settings {
        let bytes: [UInt8]
        do throws(Errno) { bytes = try readWholeFile(path, limit: 1 << 20) } catch {
            let why = error == .fileTooLarge ? "file is larger than 1 MiB" : error.description
            throw ConfigErrors(file: path, errors: [ConfigError(path: "", message: "cannot read config file: \(why)")])
        }
        do throws(ConfigErrors) { return try parse(bytes: bytes) } catch { throw ConfigErrors(file: path, errors: error.errors) }
    }

    public static func parse(text: String) throws(ConfigErrors) -> Settings { try parse(bytes: Array(text.utf8)) }

    public static func parse(bytes: [UInt8]) throws(ConfigErrors) -> Settings {
        let root: JSONValue
        do throws(JSONParseError) { root = try JSONReader.parse(bytes) } catch {
            throw ConfigErrors(file: "", errors: [ConfigError(path: "", message: "invalid JSON: \(error.message)", position: error.position)])
        }
        var checker = ConfigChecker()
        let settings = validate(root, &checker)
        guard checker.errors.isEmpty else { throw ConfigErrors(file: "", errors: checker.errors) }
        return settings
    }

    static func validate(_ root: JSONValue, _ c: inout ConfigChecker) -> Settings {
        var settings = Settings()
        guard let top = c.object(root, path: "") else { return settings }
        if let sharing = c.object(c.value(top, "sharing", path: ""), path: "sharing") {
            settings.sharing = validateSharing(sharing, &c)
        }
        if let receiving = c.object(c.value(top, "receiving", path: ""), path: "receiving") {
            settings.receiving = validateReceiving(receiving, &c)
        }
        if let board = c.object(c.value(top, "board", path: ""), path: "board") {
            settings.board = validateBoard(board, &c)
        }
        c.finish()
        return settings
    }

    static let buttonRoles = ["volume_up", "volume_down", "play_mute"]

    static func validateBoard(_ b: JSONValue, _ c: inout ConfigChecker) -> BoardSettings {
        var out = BoardSettings()
        // Which key has each line: a line wired to two things is a mistake in the file.
        var taken: [String: String] = [:]
        func line(_ parent: JSONValue, _ key: String, path: String, input: Bool, _ c: inout ConfigChecker) -> GPIOLineSpec? {
            let p = path + "." + key
            guard let l = c.object(c.value(parent, key, path: path), path: p) else { return nil }
            let (chipValue, lineValue) = (c.value(l, "chip", path: p), c.value(l, "line", path: p))
            // Read whatever else the line has, so that it is not also called unknown.
            _ = (c.value(l, "active_low", path: p), c.value(l, "bias", path: p))
            guard chipValue != nil, lineValue != nil else {
                c.fail(p, "needs \"chip\" (e.g. \"gpiochip0\") and \"line\" (its offset on the chip)", at: parent[key])
                return nil
            }
            let chip = c.string(l, "chip", path: p, default: "")
            if chip.utf8.count > 64 || chip.contains(" ") {
                c.fail(p + ".chip", "expected a GPIO chip's name or path such as \"gpiochip0\", got \(l["chip"]?.shortText ?? "")", at: l["chip"])
            }
            var spec = GPIOLineSpec(chip: chip, offset: c.integer(l, "line", path: p, default: 0, range: 0...1023))
            spec.activeLow = c.bool(l, "active_low", path: p, default: false)
            spec.bias = GPIOLineSpec.Bias(rawValue: c.choice(l, "bias", path: p, default: "as_is", among: GPIOLineSpec.Bias.allCases.map(\.rawValue))) ?? .asIs
            if !input && spec.bias != .asIs { c.fail(p + ".bias", "is for buttons (inputs); an output line has none", at: l["bias"]) }
            let id = (chip.hasPrefix("/dev/") ? String(chip.dropFirst(5)) : chip) + " line \(spec.offset)"
            if let first = taken[id] {
                c.fail(p, "\(id) is already \(first): one line, one use", at: parent[key])
                return nil
            }
            taken[id] = p
            return spec
        }
        reserveLines(b, in: &taken, &c)
        if let buttons = c.object(c.value(b, "buttons", path: "board"), path: "board.buttons") {
            for role in buttonRoles where c.value(buttons, role, path: "board.buttons") != nil {
                out.buttons[role] = line(buttons, role, path: "board.buttons", input: true, &c)
            }
        }
        if let leds = c.object(c.value(b, "leds", path: "board"), path: "board.leds") {
            out.statusLED = line(leds, "status", path: "board.leds", input: false, &c)
            out.bufferLED = line(leds, "buffer", path: "board.leds", input: false, &c)
        }
        out.amplifierPower = line(b, "amp_power", path: "board", input: false, &c)
        out.amplifierIdle = c.duration(b, "amp_idle", path: "board", default: out.amplifierIdle, range: 1_000_000...86_400_000_000)
        return out
    }

    /// `board.reserved`: the lines the sound card's HAT uses (I2S, I2C, its ID EEPROM), with
    /// what for; a button, LED or amplifier on one of them is an error that says so. A board
    /// profile (board/) carries its DAC's.
    static func reserveLines(_ b: JSONValue, in taken: inout [String: String], _ c: inout ConfigChecker) {
        let p = "board.reserved"
        guard let r = c.object(c.value(b, "reserved", path: "board"), path: p) else { return }
        let chip = c.string(r, "chip", path: p, default: "")
        let purpose = c.string(r, "for", path: p, default: "the sound card")
        let lines = c.value(r, "lines", path: p)
        guard !chip.isEmpty, let lines else {
            c.fail(p, "needs \"chip\" and \"lines\" (the offsets the sound card uses)", at: b["reserved"])
            return
        }
        guard let offsets = lines.arrayValue else {
            c.fail(p + ".lines", "expected a list of line offsets, got \(lines.shortText)", at: lines)
            return
        }
        let name = chip.hasPrefix("/dev/") ? String(chip.dropFirst(5)) : chip
        for (i, offset) in offsets.enumerated() {
            guard let n = offset.intValue, (0...1023).contains(n) else {
                c.fail("\(p).lines[\(i)]", "expected a line offset from 0 to 1023, got \(offset.shortText)", at: offset)
                continue
            }
            taken["\(name) line \(n)"] = "reserved for \(purpose)"
        }
    }

    static func validateSharing(_ s: JSONValue, _ c: inout ConfigChecker) -> SharingSettings {
        var out = SharingSettings()
        let p = "sharing"
        out.enabled = c.bool(s, "enabled", path: p, default: out.enabled)
        out.deviceName = c.string(s, "device_name", path: p, default: out.deviceName)
        out.userName = c.string(s, "user_name", path: p, default: out.userName, allowEmpty: true)
        if out.userName.utf8.count > 200 {
            c.fail(p + ".user_name", "is \(out.userName.utf8.count) bytes; it goes in an mDNS TXT record, which holds at most 200 of it", at: s["user_name"])
        }
        out.advertise = c.bool(s, "advertise", path: p, default: out.advertise)
        if let value = c.value(s, "avatar", path: p) {
            out.avatarBase64 = avatar(value, path: p + ".avatar", &c)
        }
        if out.deviceName.utf8.count > 63 {
            c.fail(p + ".device_name", "is \(out.deviceName.utf8.count) bytes; an mDNS service name holds at most 63", at: s["device_name"])
        }
        out.password = password(s, path: p, &c)
        if let list = c.value(s, "allowed_clients", path: p) {
            if case .array(let items) = list.kind {
                for (i, item) in items.enumerated() {
                    if let text = item.stringValue, isFingerprint(text) {
                        out.allowedClients.append(canonicalFingerprint(text))
                    } else {
                        c.fail(
                            p + ".allowed_clients[\(i)]",
                            "expected a receiver's certificate fingerprint, 64 hex digits (`msrecv --fingerprint` prints it), got \(item.shortText)", at: item)
                    }
                }
            } else {
                c.fail(p + ".allowed_clients", "expected a list of certificate fingerprints, got \(list.shortText)", at: list)
            }
        }
        out.maxClients = c.integer(s, "max_clients", path: p, default: out.maxClients, range: 1...64)
        out.port = UInt16(c.integer(s, "port", path: p, default: Int(out.port), range: 1...65535))
        out.loop = c.bool(s, "loop", path: p, default: out.loop)
        out.encryption = encryption(s, path: p, &c)
        out.stateDirectory = stateDirectory(s, path: p, &c)
        if let value = c.value(s, "control_group", path: p) {
            if let name = value.stringValue, isGroupName(name) {
                out.controlGroup = name
            } else {
                c.fail(p + ".control_group", "expected the name of a group (letters, digits, _ and -, at most 32), got \(value.shortText)", at: value)
            }
        }
        if let value = c.value(s, "source", path: p) {
            if let text = value.stringValue, let spec = SourceSpec.parse(text) {
                out.source = spec
            } else {
                c.fail(p + ".source", "expected \"tone\", \"tone:HZ\", \"wav:PATH\", \"stdin\" or \"alsa:DEVICE\", got \(value.shortText)", at: value)
            }
        }
        if let value = c.value(s, "frame_ms", path: p) {
            let allowed = "2.5, 5, 10, 20, 40 or 60"
            if let ms = value.doubleValue, let us = frameDurations.first(where: { Double($0) == ms * 1000 }) {
                out.frameDuration = us
            } else {
                c.fail(p + ".frame_ms", "expected an Opus frame size in milliseconds: \(allowed), got \(value.shortText)", at: value)
            }
        }
        if let q = c.object(c.value(s, "audio_quality", path: p), path: p + ".audio_quality") {
            let qp = p + ".audio_quality"
            out.codec = WireCodec(name: c.choice(q, "codec", path: qp, default: WireCodec.opus.name, among: WireCodec.preference.map(\.name))) ?? .opus
            out.bitrate = c.integer(q, "bitrate", path: qp, default: out.bitrate, range: 6_000...510_000)
            out.channels = c.integer(q, "channels", path: qp, default: out.channels, range: 1...2)
            out.adaptiveBitrate = c.bool(q, "adaptive_bitrate", path: qp, default: out.adaptiveBitrate)
            if out.adaptiveBitrate && out.codec != .opus, let value = q["adaptive_bitrate"] {
                c.fail(qp + ".adaptive_bitrate", "only an Opus stream adapts its bitrate; audio_quality.codec is \(out.codec.name)", at: value)
            }
            out.adaptiveBitrate = out.adaptiveBitrate && out.codec == .opus
            if let value = c.value(q, "sample_rate", path: qp) {
                let rate = value.intValue ?? 0
                if out.codec == .opus && !opusRates.contains(rate) {
                    c.fail(qp + ".sample_rate", "expected an Opus sample rate (8000, 12000, 16000, 24000 or 48000), got \(value.shortText)", at: value)
                } else if !(8_000...192_000).contains(rate) {
                    c.fail(qp + ".sample_rate", "expected a whole number of Hz from 8000 to 192000, got \(value.shortText)", at: value)
                } else {
                    out.sampleRate = rate
                }
            }
        }
        if (Int64(out.sampleRate) * out.frameDuration) % 1_000_000 != 0 {
            c.fail(
                p + ".frame_ms", "\(Double(out.frameDuration) / 1000) ms at \(out.sampleRate) Hz is not a whole number of samples; choose a longer frame",
                at: s["frame_ms"] ?? s["audio_quality"])
        }
        if let perms = c.object(c.value(s, "permissions", path: p), path: p + ".permissions") {
            let pp = p + ".permissions"
            out.permissions.allowQueueControl = c.bool(perms, "allow_queue_control", path: pp, default: false)
            out.permissions.allowPlaybackControl = c.bool(perms, "allow_playback_control", path: pp, default: false)
            out.permissions.allowChat = c.bool(perms, "allow_chat", path: pp, default: true)
        }
        return out
    }

    /// The largest avatar image: its base64 and the rest of the advertisement fit one control message.
    static let avatarLimit = 10 * 1024

    /// The image file at the path `value` names, base64.
    static func avatar(_ value: JSONValue, path: String, _ c: inout ConfigChecker) -> String {
        guard let file = value.stringValue, file.hasPrefix("/") else {
            c.fail(path, "expected the absolute path of a small image (PNG or JPEG, at most \(avatarLimit / 1024) KB), got \(value.shortText)", at: value)
            return ""
        }
        do throws(Errno) {
            return base64(try readWholeFile(file, limit: avatarLimit))
        } catch .fileTooLarge {
            c.fail(path, "\(file) is larger than \(avatarLimit / 1024) KB; the advertisement carries it whole in one message", at: value)
        } catch {
            c.fail(path, "cannot read \(file): \(error)", at: value)
        }
        return ""
    }

    /// `password_verifier`, else `password`; `password_required` without either is an error.
    static func password(_ s: JSONValue, path p: String, _ c: inout ConfigChecker) -> PasswordSetting? {
        let required = c.bool(s, "password_required", path: p, default: false)
        let plaintext = c.string(s, "password", path: p, default: "", allowEmpty: true)
        var verifier: String?
        if let value = c.value(s, "password_verifier", path: p) {
            if let text = value.stringValue, isVerifier(text) {
                verifier = text
            } else {
                c.fail(
                    p + ".password_verifier", "expected what `mshost passwd` writes (\"spake2+p256:ITERATIONS:SALT:W0:L\"), got \(value.shortText)", at: value)
            }
        }
        // An empty allowed_clients admits no one by certificate: with no password either, the
        // host would take anyone.
        let listed = s["allowed_clients"].map { $0.arrayValue.map { !$0.isEmpty } ?? true } ?? false
        if required && verifier == nil && plaintext.isEmpty && s["password_verifier"] == nil && !listed {
            c.fail(
                p + ".password_required",
                "true, but there is no password and no allowed_clients: run `mshost passwd --config FILE` (it writes sharing.password_verifier), set "
                    + "sharing.password, or list receivers in sharing.allowed_clients",
                at: s["password_required"])
        }
        return verifier.map { .verifier($0) } ?? (plaintext.isEmpty ? nil : .plaintext(plaintext))
    }

    static func isVerifier(_ text: String) -> Bool {
        let fields = text.split(separator: ":", omittingEmptySubsequences: false)
        return fields.count == 5 && fields[0] == "spake2+p256" && Int(fields[1]) != nil
            && fields[2...].allSatisfy { !$0.isEmpty && unhex(String($0)) != nil }
    }

    static func encryption(_ section: JSONValue, path: String, _ c: inout ConfigChecker) -> Encryption {
        Encryption(rawValue: c.choice(section, "encryption", path: path, default: "tls", among: ["tls", "none"])) ?? .tls
    }

    static func isGroupName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, (1...32).contains(name.utf8.count), first == "_" || ("a"..."z").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || $0 == "-" || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
    }

    static func stateDirectory(_ section: JSONValue, path: String, _ c: inout ConfigChecker) -> String {
        let directory = c.string(section, "state_dir", path: path, default: defaultStateDirectory)
        if !directory.hasPrefix("/") {
            c.fail(
                path + ".state_dir", "expected an absolute path (the daemons do not depend on where they are started), got \"\(directory)\"",
                at: section["state_dir"])
        }
        return directory
    }

    /// The 32 bytes of a SHA-256 fingerprint written as hex, colons between pairs allowed.
    static func fingerprintBytes(_ text: String) -> [UInt8]? {
        unhex(text.filter { $0 != ":" }).flatMap { $0.count == 32 ? $0 : nil }
    }

    /// Lowercase hex pairs joined by colons, whatever was written (`text` is a fingerprint).
    static func canonicalFingerprint(_ text: String) -> String { hex(fingerprintBytes(text)!, separator: ":") }

    static func isFingerprint(_ text: String) -> Bool { fingerprintBytes(text) != nil }

    static func validateReceiving(_ r: JSONValue, _ c: inout ConfigChecker) -> ReceivingSettings {
        var out = ReceivingSettings()
        let p = "receiving"
        out.enabled = c.bool(r, "enabled", path: p, default: out.enabled)
        let hostID = c.string(r, "host_id", path: p, default: "", allowEmpty: true)
        out.hostID = hostID.isEmpty ? nil : hostID
        let hostName = c.string(r, "host_name", path: p, default: "", allowEmpty: true)
        out.hostName = hostName.isEmpty ? nil : hostName
        out.bufferSize = c.duration(r, "buffer_size", path: p, default: out.bufferSize, range: 10_000...10_000_000)
        if c.value(r, "max_buffer_size", path: p) != nil {
            let ceiling = c.duration(r, "max_buffer_size", path: p, default: out.bufferCeiling, range: 10_000...10_000_000)
            if ceiling < out.bufferSize {
                c.fail(
                    p + ".max_buffer_size",
                    "\(formatDuration(ceiling)) is below buffer_size \(formatDuration(out.bufferSize)): the buffer grows from buffer_size up to "
                        + "max_buffer_size",
                    at: r["max_buffer_size"])
            } else {
                out.maxBufferSize = ceiling
            }
        }
        out.clientName = c.string(r, "client_name", path: p, default: out.clientName)
        out.encryption = encryption(r, path: p, &c)
        out.stateDirectory = stateDirectory(r, path: p, &c)
        let password = c.string(r, "password", path: p, default: "", allowEmpty: true)
        out.password = password.isEmpty ? nil : password
        if let value = c.value(r, "host_fingerprint", path: p) {
            if let text = value.stringValue, isFingerprint(text) {
                out.hostFingerprint = canonicalFingerprint(text)
            } else {
                c.fail(
                    p + ".host_fingerprint",
                    "expected the host's SHA-256 certificate fingerprint, 64 hex digits (colons between pairs allowed; `mshost --fingerprint` prints "
                        + "it), got \(value.shortText)",
                    at: value)
            }
        }
        out.audioFormats = c.stringList(r, "audio_formats", path: p, default: out.audioFormats, among: WireCodec.preference.map(\.name))
        if let value = c.value(r, "host", path: p) {
            if let text = value.stringValue, isHostPort(text) {
                out.host = text
            } else {
                c.fail(p + ".host", "expected \"HOST:PORT\" (for example \"192.168.1.20:8080\"), got \(value.shortText)", at: value)
            }
        }
        // On by default without a host to find one; beside a host, only when asked for.
        out.autoDiscover = c.bool(r, "auto_discover", path: p, default: out.host == nil)
        if out.host == nil && !out.autoDiscover {
            c.fail(
                p + ".host", "required when receiving.auto_discover is false: set \"HOST:PORT\", or let the receiver find its host over mDNS",
                at: r["auto_discover"])
        }
        if out.host != nil && (out.hostID != nil || out.hostName != nil) {
            c.fail(
                p + (out.hostID != nil ? ".host_id" : ".host_name"), "picks among the hosts discovered, but receiving.host names one: keep one of the two",
                at: r["host_id"] ?? r["host_name"])
        }
        if let o = c.object(c.value(r, "audio_output", path: p), path: p + ".audio_output") {
            let op = p + ".audio_output"
            out.audioOutput.deviceID = c.string(o, "device_id", path: op, default: out.audioOutput.deviceID)
            out.audioOutput.volumeSync = c.bool(o, "volume_sync", path: op, default: out.audioOutput.volumeSync)
            out.audioOutput.independentVolume = c.bool(o, "independent_volume", path: op, default: out.audioOutput.independentVolume)
            let format = c.choice(o, "sample_format", path: op, default: "auto", among: ["auto"] + SampleFormat.preference.map(\.name))
            out.audioOutput.sampleFormat = SampleFormat(name: format)
            for key in ["mixer", "mixer_device"] where c.value(o, key, path: op) != nil {
                let value = c.string(o, key, path: op, default: "")
                guard !value.isEmpty else { continue }  // said why already
                guard value.utf8.count <= 64 else {
                    c.fail(
                        op + "." + key,
                        key == "mixer"
                            ? "expected a mixer control's name such as \"Digital\" or \"PCM\" (amixer scontrols lists them)"
                            : "expected a control device such as \"hw:0\"", at: o[key])
                    continue
                }
                if key == "mixer" { out.audioOutput.mixer = value } else { out.audioOutput.mixerDeviceSetting = value }
            }
            out.audioOutput.volume = c.number(o, "volume", path: op, default: out.audioOutput.volume, range: 0...1)
            out.audioOutput.latencyOffset = c.duration(o, "latency_offset", path: op, default: 0, range: -1_000_000...1_000_000)
            if !(10_000...11_000_000).contains(out.playoutLatency) {
                c.fail(
                    op + ".latency_offset",
                    "\(formatDuration(out.audioOutput.latencyOffset)) with receiving.buffer_size \(formatDuration(out.bufferSize)) leaves "
                        + "\(formatDuration(out.playoutLatency)) to play in; this speaker needs at least 10ms (raise buffer_size)",
                    at: o["latency_offset"])
            }
            let mix = c.choice(o, "channels", path: op, default: "stereo", among: ChannelMix.allCases.map(\.name))
            out.audioOutput.channels = ChannelMix(name: mix) ?? .stereo
        }
        if let ui = c.object(c.value(r, "ui", path: p), path: p + ".ui") {
            let up = p + ".ui"
            let leds = "a speaker has no display (its LEDs are wired in the board section)"
            c.notYet(ui, "show_host_metadata", path: up, unless: { $0.boolValue == true }, leds)
            c.notYet(ui, "show_connection_status", path: up, unless: { $0.boolValue == true }, leds)
            c.notYet(ui, "show_buffer_health", path: up, unless: { $0.boolValue == false }, leds)
        }
        return out
    }

    /// `HOST:PORT` or `[V6]:PORT` with a port from 1 to 65535.
    static func isHostPort(_ text: String) -> Bool {
        guard let colon = text.lastIndex(of: ":") else { return false }
        let host = text[..<colon]
        guard let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port), !host.isEmpty else { return false }
        if host.hasPrefix("[") { return host.hasSuffix("]") && host.count > 2 }
        return !host.contains(":") && !host.contains(" ")
    }
}
