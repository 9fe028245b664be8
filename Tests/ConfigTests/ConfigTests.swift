import Config
import Core
import Foundation
import XCTest

final class ConfigTests: XCTestCase {
    private func errors(_ text: String) -> [String] {
        do throws(ConfigErrors) {
            _ = try ConfigLoader.parse(text: text)
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    private func settings(_ text: String) throws -> Settings { try ConfigLoader.parse(text: text) }

    func testEmptyObjectGivesTheSeedDefaults() throws {
        let s = try settings("{}")
        XCTAssertEqual(s.receiving.bufferSize, 2_000_000)
        XCTAssertEqual(s.receiving.audioOutput.deviceID, "default")
        XCTAssertEqual(s.sharing.port, 8080)
        XCTAssertEqual(s.sharing.frameDuration, 20_000)
        XCTAssertEqual(s.sharing.codec, .opus)
        XCTAssertEqual(s.sharing.source, .tone(hz: 440))
    }

    func testEveryKeyIsRead() throws {
        let s = try settings(
            """
            {"sharing": {"enabled": true, "device_name": "Living room", "password_required": false, "password": "",
                         "max_clients": 3, "port": 9000, "source": "wav:/music/a.wav", "frame_ms": 10, "loop": true,
                         "audio_quality": {"codec": "pcm", "bitrate": 96000, "sample_rate": 44100, "channels": 1, "adaptive_bitrate": false},
                         "permissions": {"allow_queue_control": true, "allow_playback_control": true, "allow_chat": false}},
             "receiving": {"enabled": false, "auto_discover": false, "buffer_size": "150ms", "host": "10.0.0.2:9000",
                           "client_name": "Kitchen", "audio_formats": ["pcm"],
                           "audio_output": {"device_id": "hw:0", "volume_sync": true, "independent_volume": false, "volume": 0.25},
                           "ui": {"show_host_metadata": true, "show_connection_status": true, "show_buffer_health": false}}}
            """)
        XCTAssertEqual(s.sharing.deviceName, "Living room")
        XCTAssertEqual(s.sharing.maxClients, 3)
        XCTAssertEqual(s.sharing.port, 9000)
        XCTAssertEqual(s.sharing.source, .wav(path: "/music/a.wav"))
        XCTAssertEqual(s.sharing.frameDuration, 10_000)
        XCTAssertEqual(s.sharing.codec, .pcm)
        XCTAssertEqual(s.sharing.sampleRate, 44_100)
        XCTAssertEqual(s.sharing.channels, 1)
        XCTAssertTrue(s.sharing.loop)
        XCTAssertFalse(s.sharing.permissions.allowChat)
        XCTAssertEqual(s.receiving.bufferSize, 150_000)
        XCTAssertEqual(s.receiving.host, "10.0.0.2:9000")
        XCTAssertEqual(s.receiving.audioFormats, ["pcm"])
        XCTAssertEqual(s.receiving.audioOutput.deviceID, "hw:0")
        XCTAssertEqual(s.receiving.audioOutput.volume, 0.25)
    }

    func testEncryptionIsTLSByDefaultAndItsKeysAreChecked() throws {
        let defaults = try settings("{}")
        XCTAssertEqual(defaults.sharing.encryption, .tls)
        XCTAssertEqual(defaults.receiving.encryption, .tls)
        XCTAssertEqual(defaults.sharing.stateDirectory, "/var/lib/moosync")
        XCTAssertNil(defaults.receiving.hostFingerprint)
        let fingerprint = (0..<32).map { _ in "AB" }.joined(separator: ":")
        let s = try settings(
            """
            {"sharing": {"encryption": "none", "state_dir": "/srv/moosync"},
             "receiving": {"encryption": "tls", "state_dir": "/data/moosync", "host_fingerprint": "\(fingerprint)"}}
            """)
        XCTAssertEqual(s.sharing.encryption, .none)
        XCTAssertEqual(s.sharing.stateDirectory, "/srv/moosync")
        XCTAssertEqual(s.receiving.stateDirectory, "/data/moosync")
        XCTAssertEqual(s.receiving.hostFingerprint, fingerprint.lowercased())
        XCTAssertEqual(
            errors(
                """
                {"sharing": {"encryption": "ssl", "state_dir": "state"}, "receiving": {"host_fingerprint": "abcd"}}
                """),
            [
                "line 1, column 28: sharing.encryption: expected \"tls\" or \"none\", got \"ssl\"",
                "line 1, column 48: sharing.state_dir: expected an absolute path (the daemons do not depend on where they are started), got \"state\"",
                "line 1, column 92: receiving.host_fingerprint: expected the host's SHA-256 certificate fingerprint, 64 hex digits (colons between "
                    + "pairs allowed; `mshost --fingerprint` prints it), got \"abcd\"",
            ])
    }

    func testSpeakerPlacementAndControlKeys() throws {
        let s = try settings(
            """
            {"sharing": {"control_group": "audio"},
             "receiving": {"buffer_size": "200ms", "audio_output": {"latency_offset": "-12ms", "channels": "left"}}}
            """)
        XCTAssertEqual(s.sharing.controlGroup, "audio")
        XCTAssertEqual(s.receiving.audioOutput.latencyOffset, -12_000)
        XCTAssertEqual(s.receiving.playoutLatency, 188_000)
        XCTAssertEqual(s.receiving.audioOutput.channels, .left)
        XCTAssertEqual(try settings("{}").receiving.audioOutput.channels, .stereo)
        XCTAssertEqual(
            errors(
                """
                {"sharing": {"control_group": "no such group!"},
                 "receiving": {"buffer_size": "200ms", "audio_output": {"latency_offset": "-300ms", "channels": "surround"}}}
                """),
            [
                "line 1, column 31: sharing.control_group: expected the name of a group (letters, digits, _ and -, at most 32), got \"no such group!\"",
                "line 2, column 75: receiving.audio_output.latency_offset: -300ms with receiving.buffer_size 200ms leaves -100ms to play in; this "
                    + "speaker needs at least 10ms (raise buffer_size)",
                "line 2, column 97: receiving.audio_output.channels: expected \"stereo\" or \"left\" or \"right\" or \"mono\", got \"surround\"",
            ])
        XCTAssertEqual(
            errors(#"{"receiving": {"audio_output": {"latency_offset": "soon"}}}"#),
            ["line 1, column 51: receiving.audio_output.latency_offset: expected a duration like \"-12ms\" or \"40ms\", got \"soon\""])
        XCTAssertEqual(
            errors(#"{"receiving": {"audio_output": {"latency_offset": "2s"}}}"#),
            ["line 1, column 51: receiving.audio_output.latency_offset: expected a duration from -1s to 1s, got \"2s\""])
    }

    /// The hardware mixer: the control's name, and where it is (by default the card of the
    /// output device); the sample format.
    func testMixerAndFormatKeys() throws {
        func output(_ json: String) throws -> AudioOutputSettings { try settings("{\"receiving\": {\"audio_output\": \(json)}}").receiving.audioOutput }
        XCTAssertNil(try output("{}").mixer)
        XCTAssertEqual(try output(#"{"device_id": "hw:1,0", "mixer": "Digital"}"#).mixer, "Digital")
        XCTAssertEqual(try output(#"{"device_id": "hw:1,0", "mixer": "Digital"}"#).mixerDevice, "hw:1")
        XCTAssertEqual(try output(#"{"device_id": "plughw:2,0", "mixer": "PCM"}"#).mixerDevice, "hw:2")
        XCTAssertEqual(try output(#"{"device_id": "hifiberry", "mixer": "Digital"}"#).mixerDevice, "hifiberry")
        XCTAssertEqual(try output(#"{"device_id": "hw:1,0", "mixer": "Digital", "mixer_device": "default"}"#).mixerDevice, "default")
        XCTAssertEqual(
            errors("{\"receiving\": {\"audio_output\": {\"mixer\": \"\(String(repeating: "x", count: 65))\", \"mixer_device\": 3}}}"),
            [
                "line 1, column 42: receiving.audio_output.mixer: expected a mixer control's name such as \"Digital\" or \"PCM\" (amixer scontrols lists them)",
                "line 1, column 127: receiving.audio_output.mixer_device: expected a string, got a number 3",
            ])
        XCTAssertEqual(errors(#"{"receiving": {"audio_output": {"mixer": ""}}}"#), ["line 1, column 42: receiving.audio_output.mixer: must not be empty"])
        // The sample format: the best the card takes unless one is named.
        XCTAssertNil(try output("{}").sampleFormat)
        XCTAssertEqual(try output(#"{"sample_format": "S24_3LE"}"#).sampleFormat, .s24Packed)
        XCTAssertEqual(
            errors(#"{"receiving": {"audio_output": {"sample_format": "FLOAT_LE"}}}"#),
            [#"line 1, column 50: receiving.audio_output.sample_format: expected "auto" or "S32_LE" or "S24_LE" or "S24_3LE" or "S16_LE", got "FLOAT_LE""#])
    }

    func testTheBoardSectionNamesLinesAndRefusesALineUsedTwice() throws {
        let s = try settings(
            """
            {"board": {"buttons": {"volume_up": {"chip": "gpiochip0", "line": 17, "active_low": true, "bias": "pull_up"},
                                   "volume_down": {"chip": "gpiochip0", "line": 27, "active_low": true, "bias": "pull_up"}},
                       "leds": {"status": {"chip": "/dev/gpiochip0", "line": 22}},
                       "amp_power": {"chip": "gpiochip0", "line": 5}, "amp_idle": "5m"}}
            """)
        XCTAssertEqual(s.board.buttons["volume_up"], GPIOLineSpec(chip: "gpiochip0", offset: 17, activeLow: true, bias: .pullUp))
        XCTAssertEqual(s.board.buttons.count, 2)
        XCTAssertEqual(s.board.statusLED, GPIOLineSpec(chip: "/dev/gpiochip0", offset: 22))
        XCTAssertNil(s.board.bufferLED)
        XCTAssertEqual(s.board.amplifierPower?.offset, 5)
        XCTAssertEqual(s.board.amplifierIdle, 300_000_000)
        XCTAssertTrue(try settings("{}").board.isEmpty)
        XCTAssertEqual(
            errors(
                """
                {"board": {"buttons": {"volume_up": {"chip": "gpiochip0", "line": 17}, "mute": {"chip": "gpiochip0", "line": 3}},
                           "leds": {"status": {"chip": "/dev/gpiochip0", "line": 17}, "buffer": {"line": 4, "bias": "pull_up"}},
                           "amp_power": {"chip": "gpiochip0", "line": 2000, "bias": "pull_down"}}}
                """),
            [
                "line 1, column 72: board.buttons.mute: unknown key",
                "line 2, column 31: board.leds.status: gpiochip0 line 17 is already board.buttons.volume_up: one line, one use",
                "line 2, column 81: board.leds.buffer: needs \"chip\" (e.g. \"gpiochip0\") and \"line\" (its offset on the chip)",
                "line 3, column 55: board.amp_power.line: expected a whole number from 0 to 1023, got 2000",
                "line 3, column 69: board.amp_power.bias: is for buttons (inputs); an output line has none",
            ])
    }

    /// A profile reserves its sound card's lines; a button or LED wired to one is named with
    /// what the line is for, however the chip is spelled.
    func testLinesTheSoundCardUsesAreRefusedForButtonsAndLEDs() throws {
        let reserved = #""reserved": {"chip": "gpiochip0", "lines": [18, 19, 20, 21], "for": "I2S (the DAC)"}"#
        XCTAssertEqual(try settings(#"{"board": {\#(reserved), "buttons": {"volume_up": {"chip": "gpiochip0", "line": 5}}}}"#).board.buttons.count, 1)
        XCTAssertEqual(
            errors(
                """
                {"board": {\(reserved),
                           "buttons": {"volume_up": {"chip": "/dev/gpiochip0", "line": 18}}, "leds": {"status": {"chip": "gpiochip1", "line": 19}}}}
                """),
            ["line 2, column 37: board.buttons.volume_up: gpiochip0 line 18 is already reserved for I2S (the DAC): one line, one use"])
        XCTAssertEqual(
            errors(#"{"board": {"reserved": {"chip": "gpiochip0", "lines": [18, -1, "x"]}, "leds": {"status": {"chip": "gpiochip0", "line": 18}}}}"#),
            [
                "line 1, column 60: board.reserved.lines[1]: expected a line offset from 0 to 1023, got -1",
                "line 1, column 64: board.reserved.lines[2]: expected a line offset from 0 to 1023, got \"x\"",
                "line 1, column 90: board.leds.status: gpiochip0 line 18 is already reserved for the sound card: one line, one use",
            ])
        XCTAssertEqual(
            errors(#"{"board": {"reserved": {"lines": [18]}}}"#),
            [#"line 1, column 24: board.reserved: needs "chip" and "lines" (the offsets the sound card uses)"#])
    }

    /// Every board profile (board/*.json) is a config msrecv takes: its buttons, LEDs and
    /// amplifier on lines of their own, none on the DAC's, and the DAC's I2S among those it
    /// reserves.
    func testEveryBoardProfileValidatesAndKeepsOffItsDACsPins() throws {
        let board = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("board")
        let profiles = try FileManager.default.contentsOfDirectory(atPath: board.path).filter { $0.hasSuffix(".json") }.sorted()
        XCTAssertEqual(profiles, ["hifiberry-dacplus.json", "iqaudio-dacplus.json", "pcm5102a.json"])
        for profile in profiles {
            let text = try String(contentsOf: board.appendingPathComponent(profile), encoding: .utf8)
            let s = try settings(text)
            let lines = [s.board.statusLED, s.board.bufferLED, s.board.amplifierPower].compactMap { $0 } + s.board.buttons.values
            XCTAssertEqual(lines.count, 6, profile)
            XCTAssertTrue(lines.allSatisfy { !(18...21).contains($0.offset) }, profile)
            XCTAssertTrue(
                FileManager.default.fileExists(atPath: board.appendingPathComponent(profile.replacingOccurrences(of: ".json", with: ".config.txt")).path))
            let onI2S = text.replacingOccurrences(of: #""line": 12"#, with: #""line": 19"#)
            XCTAssertEqual(errors(onI2S).count, 1, profile)
            XCTAssertTrue(errors(onI2S).first?.contains("board.leds.status: gpiochip0 line 19 is already reserved for the ") ?? false, profile)
        }
    }

    func testDiscoveryKeys() throws {
        let defaults = try settings("{}")
        XCTAssertTrue(defaults.sharing.advertise)
        XCTAssertTrue(defaults.receiving.autoDiscover)
        XCTAssertNil(defaults.receiving.host)
        // Beside a host, only when asked for (it then finds that host where it moved).
        XCTAssertFalse(try settings(#"{"receiving": {"host": "10.0.0.2:9000"}}"#).receiving.autoDiscover)
        XCTAssertTrue(try settings(#"{"receiving": {"host": "10.0.0.2:9000", "auto_discover": true}}"#).receiving.autoDiscover)
        let directory = NSTemporaryDirectory() + "config-avatar-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        XCTAssertTrue(FileManager.default.createFile(atPath: directory + "/a.png", contents: Data([0x89, 0x50, 0x4e, 0x47])))
        XCTAssertTrue(FileManager.default.createFile(atPath: directory + "/big.png", contents: Data(count: 10 * 1024 + 1)))
        let s = try settings(
            """
            {"sharing": {"user_name": "Ann", "avatar": "\(directory)/a.png", "advertise": false},
             "receiving": {"host_id": "0b3c", "host_name": "Lounge"}}
            """)
        XCTAssertEqual(s.sharing.userName, "Ann")
        XCTAssertEqual(s.sharing.avatarBase64, "iVBORw==")
        XCTAssertFalse(s.sharing.advertise)
        XCTAssertEqual(s.receiving.hostID, "0b3c")
        XCTAssertEqual(s.receiving.hostName, "Lounge")
        XCTAssertEqual(
            errors(
                """
                {"sharing": {"device_name": "\(String(repeating: "x", count: 64))", "avatar": "\(directory)/big.png"},
                 "receiving": {"avatar": 1, "auto_discover": false}}
                """),
            [
                "line 1, column 29: sharing.device_name: is 64 bytes; an mDNS service name holds at most 63",
                "line 1, column 107: sharing.avatar: \(directory)/big.png is larger than 10 KB; the advertisement carries it whole in one message",
                "line 2, column 16: receiving.avatar: unknown key",
                "line 2, column 46: receiving.host: required when receiving.auto_discover is false: set \"HOST:PORT\", or let the receiver find its "
                    + "host over mDNS",
            ])
    }

    func testSources() {
        XCTAssertEqual(SourceSpec.parse("tone:1000"), .tone(hz: 1000))
        XCTAssertEqual(SourceSpec.parse("stdin"), .stdin)
        XCTAssertEqual(SourceSpec.parse("alsa:hw:1,0"), .alsa(device: "hw:1,0"))
        XCTAssertNil(SourceSpec.parse("tone:loud"))
        XCTAssertNil(SourceSpec.parse("wav:"))
        XCTAssertNil(SourceSpec.parse("mp3:x"))
    }

    func testDurations() {
        XCTAssertEqual(parseDuration("2s"), 2_000_000)
        XCTAssertEqual(parseDuration("150ms"), 150_000)
        XCTAssertEqual(parseDuration("1.5s"), 1_500_000)
        XCTAssertEqual(parseDuration("2500us"), 2_500)
        XCTAssertEqual(parseDuration("10m"), 600_000_000)
        XCTAssertEqual(parseDuration("2h"), 7_200_000_000)
        XCTAssertEqual(formatDuration(600_000_000), "10m")
        XCTAssertEqual(formatDuration(7_200_000_000), "2h")
        XCTAssertEqual(formatDuration(90_000_000), "90s")
        for bad in ["fast", "2", "s", "-1s", ".5s", "2 s", "1e3ms", ""] { XCTAssertNil(parseDuration(bad), bad) }
    }

    func testBadDurationSaysKeyExpectedAndGot() {
        XCTAssertEqual(
            errors("{\"receiving\": {\"buffer_size\": \"fast\"}}"),
            ["line 1, column 31: receiving.buffer_size: expected a duration like \"2s\" or \"150ms\", got \"fast\""])
        XCTAssertEqual(
            errors("{\"receiving\": {\"buffer_size\": \"20s\"}}"),
            ["line 1, column 31: receiving.buffer_size: expected a duration from 10ms to 10s, got \"20s\""])
    }

    /// The buffer grows from `buffer_size` up to `max_buffer_size`: twice the floor when not
    /// said (10 s at most), never below the floor.
    func testTheBufferCeilingDefaultsToTwiceTheFloorAndIsNotBelowIt() throws {
        XCTAssertEqual(try settings("{\"receiving\": {\"buffer_size\": \"1s\"}}").receiving.bufferCeiling, 2_000_000)
        XCTAssertEqual(try settings("{\"receiving\": {\"buffer_size\": \"8s\"}}").receiving.bufferCeiling, 10_000_000)
        XCTAssertEqual(try settings("{\"receiving\": {\"buffer_size\": \"10s\"}}").receiving.bufferCeiling, 10_000_000)
        let wide = try settings("{\"receiving\": {\"buffer_size\": \"30ms\", \"max_buffer_size\": \"500ms\"}}").receiving
        XCTAssertEqual(wide.bufferCeiling, 500_000)
        XCTAssertEqual(
            try settings("{\"receiving\": {\"buffer_size\": \"1s\", \"max_buffer_size\": \"1s\"}}").receiving.bufferCeiling, 1_000_000,
            "equal to the floor: a fixed buffer")
        XCTAssertEqual(
            errors("{\"receiving\": {\"buffer_size\": \"1s\", \"max_buffer_size\": \"500ms\"}}"),
            ["line 1, column 56: receiving.max_buffer_size: 500ms is below buffer_size 1s: the buffer grows from buffer_size up to max_buffer_size"])
        XCTAssertEqual(
            errors("{\"receiving\": {\"max_buffer_size\": \"11s\"}}"),
            ["line 1, column 35: receiving.max_buffer_size: expected a duration from 10ms to 10s, got \"11s\""])
    }

    func testUnknownKeysGetADidYouMean() {
        XCTAssertEqual(
            errors("{\"receiving\": {\"bufer_size\": \"2s\"}}"),
            ["line 1, column 16: receiving.bufer_size: unknown key; did you mean \"buffer_size\"?"])
        XCTAssertEqual(
            errors("{\"sharing\": {\"audio_quality\": {\"bit-rate\": 1}}}"),
            ["line 1, column 32: sharing.audio_quality.bit-rate: unknown key; did you mean \"bitrate\"?"])
        XCTAssertEqual(errors("{\"recieving\": {}}"), ["line 1, column 2: recieving: unknown key; did you mean \"receiving\"?"])
        XCTAssertEqual(errors("{\"zzz\": 1}"), ["line 1, column 2: zzz: unknown key"])
    }

    func testEveryErrorIsReportedNotJustTheFirst() {
        let found = errors(
            """
            {
              "sharing": {"port": 0, "frame_ms": 15, "source": "mp3:x", "max_clients": "ten",
                          "audio_quality": {"codec": "aac", "sample_rate": 44100, "channels": 3, "bitrate": 1}},
              "receiving": {"host": "nohost", "enabled": "yes", "audio_formats": ["opus", "aac"], 
                            "audio_output": {"device_id": "", "volume": 2}}
            }
            """)
        XCTAssertEqual(
            found,
            [
                "line 2, column 23: sharing.port: expected a whole number from 1 to 65535, got 0",
                "line 2, column 38: sharing.frame_ms: expected an Opus frame size in milliseconds: 2.5, 5, 10, 20, 40 or 60, got 15",
                "line 2, column 52: sharing.source: expected \"tone\", \"tone:HZ\", \"wav:PATH\", \"stdin\" or \"alsa:DEVICE\", got \"mp3:x\"",
                "line 2, column 76: sharing.max_clients: expected a whole number from 1 to 64, got \"ten\"",
                "line 3, column 42: sharing.audio_quality.codec: expected \"opus\" or \"flac\" or \"pcm\", got \"aac\"",
                "line 3, column 64: sharing.audio_quality.sample_rate: expected an Opus sample rate (8000, 12000, 16000, 24000 or 48000), got 44100",
                "line 3, column 83: sharing.audio_quality.channels: expected a whole number from 1 to 2, got 3",
                "line 3, column 97: sharing.audio_quality.bitrate: expected a whole number from 6000 to 510000, got 1",
                "line 4, column 25: receiving.host: expected \"HOST:PORT\" (for example \"192.168.1.20:8080\"), got \"nohost\"",
                "line 4, column 46: receiving.enabled: expected true or false, got \"yes\"",
                "line 4, column 79: receiving.audio_formats[1]: expected one of \"opus\", \"flac\", \"pcm\", got \"aac\"",
                "line 5, column 47: receiving.audio_output.device_id: must not be empty",
                "line 5, column 61: receiving.audio_output.volume: expected a number from 0.0 to 1.0, got 2",
            ])
    }

    func testWrongTypesForSections() {
        XCTAssertEqual(errors("[]"), ["line 1, column 1: expected an object, got an array"])
        XCTAssertEqual(errors("{\"receiving\": 5}"), ["line 1, column 15: receiving: expected an object, got a number"])
        XCTAssertEqual(
            errors("{\"receiving\": {\"audio_output\": \"hw:0\"}}"),
            ["line 1, column 32: receiving.audio_output: expected an object, got a string"])
    }

    func testFramesMustHoldAWholeNumberOfSamples() {
        XCTAssertEqual(
            errors("{\"sharing\": {\"frame_ms\": 2.5, \"audio_quality\": {\"codec\": \"pcm\", \"sample_rate\": 44100}}}"),
            ["line 1, column 26: sharing.frame_ms: 2.5 ms at 44100 Hz is not a whole number of samples; choose a longer frame"])
        XCTAssertEqual(errors("{\"sharing\": {\"frame_ms\": 10, \"audio_quality\": {\"codec\": \"pcm\", \"sample_rate\": 44100}}}"), [])
    }

    /// An Opus host adapts each receiver's bitrate over a ladder of halves of its own; nothing
    /// else has a bitrate to adapt.
    func testAdaptiveBitrateIsOpusOnlyWithTiersHalvingToSixteenKilobitsAChannel() throws {
        let opus = try settings(#"{"sharing": {"audio_quality": {"adaptive_bitrate": true, "bitrate": 256000}}}"#).sharing
        XCTAssertTrue(opus.adaptiveBitrate)
        XCTAssertEqual(opus.opusTiers, [256_000, 128_000, 64_000, 32_000])
        XCTAssertEqual(try settings(#"{"sharing": {"audio_quality": {"bitrate": 48000, "channels": 1}}}"#).sharing.opusTiers, [48_000, 24_000])
        XCTAssertEqual(try settings(#"{"sharing": {"audio_quality": {"bitrate": 40000}}}"#).sharing.opusTiers, [40_000])
        XCTAssertTrue(try settings("{}").sharing.adaptiveBitrate, "what the seed's example sets")
        XCTAssertFalse(try settings(#"{"sharing": {"audio_quality": {"codec": "pcm"}}}"#).sharing.adaptiveBitrate, "PCM has no bitrate to adapt")
        XCTAssertEqual(
            errors(#"{"sharing": {"audio_quality": {"codec": "flac", "adaptive_bitrate": true}}}"#),
            ["line 1, column 69: sharing.audio_quality.adaptive_bitrate: only an Opus stream adapts its bitrate; audio_quality.codec is flac"])
    }

    /// A key this build cannot act on yet is refused with its key path and why, unless it asks
    /// for what the build does anyway (its default).
    func testKeysThisBuildCannotActOnAreRefusedNotIgnored() {
        XCTAssertEqual(
            errors("{\"receiving\": {\"audio_output\": {\"independent_volume\": true}, \"ui\": {\"show_buffer_health\": true}}}"),
            ["line 1, column 91: receiving.ui.show_buffer_health: not supported yet: a speaker has no display (its LEDs are wired in the board section)"])
        XCTAssertEqual(try settings(#"{"receiving": {"audio_output": {"independent_volume": true}}}"#).receiving.audioOutput.independentVolume, true)
        // Reporting the speaker's own volume changes to the host can be turned off.
        XCTAssertEqual(try settings("{\"receiving\": {\"audio_output\": {\"volume_sync\": false}}}").receiving.audioOutput.volumeSync, false)
        XCTAssertEqual(try settings("{}").receiving.audioOutput.volumeSync, true)
        XCTAssertEqual(errors("{\"sharing\": {\"password_required\": false, \"password\": \"\"}, \"receiving\": {\"ui\": {\"show_host_metadata\": true}}}"), [])
    }

    func testPasswordKeys() throws {
        XCTAssertEqual(try settings("{\"sharing\": {\"password_required\": true, \"password\": \"pw\"}}").sharing.password, .plaintext("pw"))
        let verifier =
            "spake2+p256:20000:" + String(repeating: "ab", count: 16) + ":" + String(repeating: "01", count: 32) + ":04" + String(repeating: "02", count: 64)
        XCTAssertEqual(
            try settings("{\"sharing\": {\"password\": \"pw\", \"password_verifier\": \"\(verifier)\"}}").sharing.password, .verifier(verifier),
            "the verifier wins over a plaintext password")
        XCTAssertNil(try settings("{\"sharing\": {\"password_required\": false, \"password\": \"\"}}").sharing.password)
        XCTAssertEqual(try settings("{\"receiving\": {\"password\": \"pw\"}}").receiving.password, "pw")
        let noPassword =
            "sharing.password_required: true, but there is no password and no allowed_clients: run `mshost passwd --config FILE` (it writes "
            + "sharing.password_verifier), set sharing.password, or list receivers in sharing.allowed_clients"
        XCTAssertEqual(errors("{\"sharing\": {\"password_required\": true}}"), ["line 1, column 35: " + noPassword])
        // An empty list admits no one by certificate: without a password the host would take anyone.
        XCTAssertEqual(errors("{\"sharing\": {\"password_required\": true, \"allowed_clients\": []}}"), ["line 1, column 35: " + noPassword])
        XCTAssertEqual(
            errors("{\"sharing\": {\"password_verifier\": \"hunter2\"}}"),
            ["line 1, column 35: sharing.password_verifier: expected what `mshost passwd` writes (\"spake2+p256:ITERATIONS:SALT:W0:L\"), got \"hunter2\""])
    }

    func testAllowedClientsAreFingerprintsWrittenAnyWay() throws {
        let plain = String(repeating: "AB", count: 32)
        let s = try settings("{\"sharing\": {\"allowed_clients\": [\"\(plain)\"], \"password_required\": true}}")
        XCTAssertEqual(s.sharing.allowedClients, [Array(repeating: "ab", count: 32).joined(separator: ":")])
        XCTAssertNil(s.sharing.password, "the list alone protects the host: no password needed")
        XCTAssertEqual(
            errors("{\"sharing\": {\"allowed_clients\": [\"\(plain)\", \"ab:cd\"]}}"),
            [
                "line 1, column 102: sharing.allowed_clients[1]: expected a receiver's certificate fingerprint, 64 hex digits (`msrecv "
                    + "--fingerprint` prints it), got \"ab:cd\""
            ])
        XCTAssertEqual(errors("{\"sharing\": {\"allowed_clients\": \"\(plain)\"}}").count, 1)
    }

    func testTheVerifierIsWrittenIntoTheConfigAndTheRestLeftAsItWas() throws {
        let text = "{\n  \"sharing\": {\n    \"device_name\": \"Küche\",\n    \"password\": \"secret\"\n  }\n}\n"
        let edited = try ConfigEditor.settingPasswordVerifier("spake2+p256:X", in: text)
        XCTAssertEqual(
            edited, "{\n  \"sharing\": {\n    \"password_verifier\": \"spake2+p256:X\",\n    \"device_name\": \"Küche\",\n    \"password\": \"\"\n  }\n}\n")
        XCTAssertEqual(
            try ConfigEditor.settingPasswordVerifier("v2", in: edited),
            "{\n  \"sharing\": {\n    \"password_verifier\": \"v2\",\n    \"device_name\": \"Küche\",\n    \"password\": \"\"\n  }\n}\n", "replaced in place")
        XCTAssertEqual(try ConfigEditor.settingPasswordVerifier("v", in: "{\"sharing\": {}}"), "{\"sharing\": {\n    \"password_verifier\": \"v\"\n}}")
        XCTAssertThrowsError(try ConfigEditor.settingPasswordVerifier("v", in: "{\"receiving\": {}}"))
    }

    func testInvalidJSONIsOneLineWithPosition() {
        XCTAssertEqual(
            errors("{\n  \"receiving\": {\"host\": \"a:1\",}\n}"),
            ["line 2, column 31: invalid JSON: unexpected character '}', expected a key in double quotes"])
    }

    func testMissingAndUnreadableFilesAreOneClearLine() throws {
        XCTAssertThrowsError(try ConfigLoader.load(path: "/nonexistent/moosync.json")) {
            XCTAssertEqual("\($0)", "/nonexistent/moosync.json: cannot read config file: No such file or directory")
        }
        XCTAssertThrowsError(try ConfigLoader.load(path: "/tmp")) { XCTAssertEqual("\($0)", "/tmp: cannot read config file: Is a directory") }
    }

    func testCommandLine() throws {
        let o = try DaemonCommandLine.parse(["--config", "/a.json", "--check"])
        XCTAssertEqual(o.configPath, "/a.json")
        XCTAssertTrue(o.checkOnly)
        XCTAssertEqual(try DaemonCommandLine.parse(["--config=/b.json"]).configPath, "/b.json")
        XCTAssertEqual(try DaemonCommandLine.parse([]).configPath, "/etc/moosync.json")
        XCTAssertThrowsError(try DaemonCommandLine.parse(["--frobnicate"])) { XCTAssertEqual("\($0)", "unknown option --frobnicate") }
        XCTAssertThrowsError(try DaemonCommandLine.parse(["--config"])) { XCTAssertEqual("\($0)", "--config needs a file path") }
    }
}
