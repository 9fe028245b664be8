import Core
import Foundation
import Secure
import TestSupport
import Transport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Where `swift build` put mshost, msrecv and audio-path-probe: beside this test bundle, unless
/// MOOSYNC_BIN_DIR says otherwise.
let binDirectory: String = {
    if let dir = ProcessInfo.processInfo.environment["MOOSYNC_BIN_DIR"] { return dir }
    return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
}()

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// A scratch directory with its own ALSA configuration, config files and recordings.
final class Scratch {
    let path: String
    private(set) var alsaPCMs: [String] = []
    /// Set for the daemons this scratch starts (the bus of a private avahi-daemon).
    var environmentOverrides: [String: String] = [:]

    init(_ name: String) throws {
        path = NSTemporaryDirectory() + "moosync-\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    /// A host state directory of its own (its socket is there), with the test run's host identity
    /// in it: receivers pin every host of the run by that one key.
    func hostStateDirectory() throws -> String {
        let directory = file("host-state")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: Configs.stateDirectory) where file.hasPrefix("host") {
            try FileManager.default.copyItem(atPath: Configs.stateDirectory + "/" + file, toPath: directory + "/" + file)
        }
        return directory
    }

    /// The RMS level in dBFS of what a card recorded in its last `seconds` (the WAV grows while it plays).
    func recentLevel(_ card: String, seconds: Double) -> Double {
        let recorded = samples(card + ".wav")
        let count = min(recorded.count - 22, Int(seconds * 48_000 * 2))
        guard count > 0 else { return -200 }
        let sum = recorded.suffix(count).reduce(0.0) { $0 + Double($1) * Double($1) }
        let rms = (sum / Double(count)).squareRoot()
        return rms > 0 ? 20 * log10(rms / 32768) : -200
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        try text.write(toFile: file(name), atomically: true, encoding: .utf8)
        return file(name)
    }

    func write(_ name: String, bytes: [UInt8]) throws -> String {
        FileManager.default.createFile(atPath: file(name), contents: Data(bytes))
        return file(name)
    }

    /// An ALSA PCM named `name` that records exactly what is written, unpaced, to
    /// `name.rec.wav`, in whatever sample format msrecv chose (it takes them all); `recorded`
    /// reads it.
    func recordingPCM(_ name: String) -> String {
        alsaPCMs.append("pcm.\(name) { type file slave.pcm \"null\" file \"\(file(name + ".rec.wav"))\" format \"wav\" }")
        return file(name + ".rec.wav")
    }

    /// What `recordingPCM(name)` was given, at 32-bit scale (a 16-bit sample s is s << 16), and
    /// the sample width in bytes. The data chunk runs to the end of the file: its length is
    /// written only when the device closes.
    func recordedWide(_ name: String) -> (samples: [Int32], width: Int) {
        guard let data = FileManager.default.contents(atPath: file(name + ".rec.wav")), data.count >= 12 else { return ([], 2) }
        return data.withUnsafeBytes { raw in
            func u16(_ at: Int) -> Int { Int(raw[at]) | Int(raw[at + 1]) << 8 }
            func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
            var at = 12
            var width = 2
            var bits = 16
            while at + 8 <= raw.count {
                let id = String(decoding: raw[at..<(at + 4)], as: UTF8.self)
                let size = u32(at + 4)
                if id == "fmt " {
                    width = u16(at + 8 + 12) / max(1, u16(at + 8 + 2))
                    bits = u16(at + 8 + 14)
                } else if id == "data" {
                    let start = at + 8
                    return (
                        (0..<((raw.count - start) / width)).map { i in
                            var v: UInt32 = 0
                            for b in 0..<width { v |= UInt32(raw[start + i * width + b]) << (8 * b) }
                            // The sample's `bits` (the low ones of its container) moved to the top of 32.
                            return Int32(bitPattern: v << UInt32(32 - bits))
                        }, width
                    )
                }
                at += 8 + size
            }
            return ([], width)
        }
    }

    /// `recordedWide`'s samples as S16, rounded to the nearest (exact for samples that were S16).
    func recorded(_ name: String) -> [Int16] { recordedWide(name).samples.map { Int16(clamping: (Int($0) + 0x8000) >> 16) } }

    /// A paced virtual sound card named `name` (Tests/Fixtures/vcard) recording what it played
    /// to `name.wav`, with its sidecar at `name.wav.json`.
    /// `state`: a file the test writes "gone" or "busy" into to unplug the card or have another
    /// process hold it (see pcm_vcard.c). `mixer`: the card has a hardware volume, the control
    /// device `name` with its "Digital" control (-103.5 to 0 dB), that scales what it plays.
    /// `rate`: the only rate the card takes (a DAC clocked for 48 kHz alone); `formats`: the
    /// sample formats it takes ("S16_LE S32_LE"; S16_LE alone if nil).
    func virtualCard(
        _ name: String, ppm: Double = 0, delayMicroseconds: Int = 0, burst: Int = 1, periodFrames: Int? = nil, bufferFrames: Int? = nil,
        state: String? = nil, mixer: Bool = false, rate: Int? = nil, formats: String? = nil, meter: Bool = false
    ) throws -> String {
        let plugin = try VirtualCard.plugin()
        if !alsaPCMs.contains(where: { $0.hasPrefix("pcm_type.vcard") }) {
            alsaPCMs.append("pcm_type.vcard { lib \"\(plugin)\" }")
        }
        let recording = file(name + ".wav")
        // Built from parts: Swift 6.0's type checker gives up on one long sum of optionals.
        let options: [String?] = [
            periodFrames.map { " period_frames \($0)" }, bufferFrames.map { " buffer_frames \($0)" },
            state.map { " state \"\($0)\"" }, mixer ? " mixer \"\(name)\"" : nil, rate.map { " rate \($0)" },
            formats.map { " formats \"\($0)\"" }, meter ? " meter \"\(file(name + ".meter"))\"" : nil,
        ]
        let sizes = options.compactMap { $0 }.joined()
        if mixer {
            if !alsaPCMs.contains(where: { $0.hasPrefix("ctl_type.vcard") }) { alsaPCMs.append("ctl_type.vcard { lib \"\(plugin)\" }") }
            alsaPCMs.append("ctl.\(name) { type vcard mixer \"\(name)\" }")
        }
        alsaPCMs.append("pcm.\(name) { type vcard ppm \(ppm) delay_us \(delayMicroseconds) burst \(burst)\(sizes) record \"\(recording)\" }")
        return recording
    }

    /// How often the card `name` (made with `meter`) has been opened, from its meter.
    func cardOpens(_ name: String) throws -> Int {
        let line = try String(contentsOfFile: file(name + ".meter"), encoding: .utf8)
        let totals = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
        return try XCTUnwrap(totals["opens"] as? Int, line)
    }

    /// The environment a daemon gets: alsa-lib reads the system config first, then ours.
    var environment: [String: String] {
        let conf = file("asound.conf")
        try? alsaPCMs.joined(separator: "\n").write(toFile: conf, atomically: true, encoding: .utf8)
        var env = ProcessInfo.processInfo.environment
        env["ALSA_CONFIG_PATH"] = "/usr/share/alsa/alsa.conf:" + conf
        env.merge(environmentOverrides) { $1 }
        return env
    }

    func samples(_ name: String) -> [Int16] {
        guard let data = FileManager.default.contents(atPath: file(name)) else { return [] }
        return data.withUnsafeBytes { raw in
            (0..<(raw.count / 2)).map { Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: Int16.self)) }
        }
    }

    func size(_ name: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: file(name)))?[.size] as? Int) ?? 0
    }
}

/// The virtual sound card plugin, compiled once per test run.
enum VirtualCard {
    private static let built: Result<String, Error> = Result {
        let output = NSTemporaryDirectory() + "moosync-vcard-\(getpid())/libasound_module_pcm_vcard.so"
        try FileManager.default.createDirectory(atPath: (output as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/cc")
        cc.arguments = ["-shared", "-fPIC", "-DPIC", "-O2", "-o", output, packageRoot + "/Tests/Fixtures/vcard/pcm_vcard.c", "-lasound", "-lm"]
        try cc.run()
        cc.waitUntilExit()
        guard cc.terminationStatus == 0 else { throw CocoaError(.executableLoad) }
        return output
    }

    static func plugin() throws -> String { try built.get() }

    /// What the card wrote beside its recording.
    static func sidecar(_ recording: String) throws -> [String: Double] {
        try sidecarJSON(recording).compactMapValues { ($0 as? NSNumber)?.doubleValue }
    }

    /// When the DAC ran dry at each of the card's first 32 underruns, CLOCK_MONOTONIC µs.
    static func underrunTimes(_ recording: String) throws -> [Microseconds] {
        (try sidecarJSON(recording)["underrun_times_ns"] as? [NSNumber] ?? []).map { $0.int64Value / 1000 }
    }

    private static func sidecarJSON(_ recording: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: recording + ".json"))
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }
}

/// A TCP port nothing listens on right now.
func freePort() -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return UInt16(bigEndian: addr.sin_port)
}

extension Process {
    /// Runs `command` so that it dies with the test run: a runner stopped mid-test, even by
    /// SIGKILL, leaves no daemon behind (once a debug mshost and two msrecv played on for 47
    /// minutes). The kernel signals it when the thread that started it ends; daemons are
    /// started from the test's own thread, which lasts as long as the run.
    func setCommand(dyingWithTheTests command: [String]) {
        executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        arguments = ["--pdeathsig", "KILL", "--"] + command
    }
}

/// One of our binaries running, its stderr captured to a file.
final class Daemon {
    let process = Process()
    let logPath: String
    let name: String

    /// `monotonicOffset`: run it in its own time namespace whose CLOCK_MONOTONIC is that many
    /// seconds ahead, as a second device's clock would be.
    convenience init(
        _ binary: String, config: String, scratch: Scratch, name: String? = nil, arguments: [String] = [], stdin: FileHandle? = nil,
        monotonicOffset: Int? = nil
    ) throws {
        try self.init(
            command: [binDirectory + "/" + binary, "--config", config] + arguments, scratch: scratch, name: name ?? binary,
            stdin: stdin, monotonicOffset: monotonicOffset)
    }

    /// Any program (a peer such as snapclient), by its full command line.
    init(command: [String], scratch: Scratch, name: String, stdin: FileHandle? = nil, monotonicOffset: Int? = nil) throws {
        self.name = name
        logPath = scratch.file("\(name).log")
        FileManager.default.createFile(atPath: logPath, contents: nil)
        if let offset = monotonicOffset {
            process.setCommand(dyingWithTheTests: ["/usr/bin/unshare", "--fork", "--kill-child=SIGKILL", "--time", "--monotonic", String(offset)] + command)
        } else {
            process.setCommand(dyingWithTheTests: command)
        }
        usesNamespace = monotonicOffset != nil
        process.environment = scratch.environment
        process.standardError = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = FileHandle(forWritingAtPath: logPath)
        if let stdin { process.standardInput = stdin }
        try process.run()
    }

    /// mshost playing a 440 Hz tone on `port`, its config `file` with `extra` keys added,
    /// listening (a test failure if it does not).
    static func toneHost(_ scratch: Scratch, port: UInt16, extra: String = "", file: String = "host.json", name: String = "mshost") throws -> Daemon {
        let host = try Daemon(
            "mshost", config: try scratch.write(file, Configs.host(port: port, source: "tone:440", extra: extra)), scratch: scratch, name: name)
        XCTAssertTrue(host.waitFor("listening on port"), host.log)
        return host
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func count(_ text: String) -> Int { log.components(separatedBy: text).count - 1 }

    /// Waits until the log contains `text` `times` times.
    @discardableResult
    func waitFor(_ text: String, times: Int = 1, timeout: TimeInterval = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if count(text) >= times { return true }
            if !process.isRunning { return count(text) >= times }
            usleep(20_000)
        }
        return false
    }

    private let usesNamespace: Bool

    /// The daemon's own pid: unshare's child when it runs in a namespace.
    var pid: pid_t {
        guard usesNamespace else { return process.processIdentifier }
        let path = "/proc/\(process.processIdentifier)/task/\(process.processIdentifier)/children"
        let children = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return pid_t(children.split(separator: " ").first ?? "") ?? process.processIdentifier
    }

    func signal(_ sig: Int32) { kill(pid, sig) }

    /// The exit status, or nil if it did not exit in time.
    func waitForExit(timeout: TimeInterval = 10) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        return process.isRunning ? nil : process.terminationStatus
    }
}

/// mshost streaming `hostConfig` to one msrecv (`receiverConfig`) for `seconds`, then both
/// stopped by SIGTERM; the receiver must exit 0. Their logs stay readable after.
func stream(for seconds: TimeInterval, host hostConfig: String, receiver receiverConfig: String, scratch: Scratch) throws -> (host: Daemon, receiver: Daemon) {
    let host = try Daemon("mshost", config: try scratch.write("host.json", hostConfig), scratch: scratch)
    XCTAssertTrue(host.waitFor("listening on port"), host.log)
    let receiver = try Daemon("msrecv", config: try scratch.write("recv.json", receiverConfig), scratch: scratch)
    XCTAssertTrue(receiver.waitFor("event=Connected"), receiver.log)
    Thread.sleep(forTimeInterval: seconds)
    receiver.signal(SIGTERM)
    XCTAssertEqual(receiver.waitForExit(), 0, receiver.log)
    host.signal(SIGTERM)
    _ = host.waitForExit()
    return (host, receiver)
}

/// What `binary --config config --fingerprint` prints: this device's certificate fingerprint.
func printedFingerprint(_ binary: String, config: String) throws -> String {
    let (status, printed) = try runToCompletion(binary, ["--config", config, "--fingerprint"])
    XCTAssertEqual(status, 0, printed)
    return printed.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Runs a binary to completion; (exit status, stdout + stderr).
/// Stops each daemon in turn as SIGTERM does on a speaker, and checks it exits cleanly.
func stopAll(_ daemons: [Daemon], file: StaticString = #filePath, line: UInt = #line) {
    for daemon in daemons {
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(), 0, daemon.log, file: file, line: line)
    }
}

func runToCompletion(_ binary: String, _ arguments: [String], environment: [String: String]? = nil, stdin: String? = nil) throws -> (Int32, String) {
    let process = Process()
    let pipe = Pipe()
    let input = Pipe()
    process.executableURL = URL(fileURLWithPath: binDirectory + "/" + binary)
    process.arguments = arguments
    if let environment { process.environment = environment }
    process.standardOutput = pipe
    process.standardError = pipe
    if stdin != nil { process.standardInput = input }
    try process.run()
    if let stdin {
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
    }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Deterministic test audio.
enum TestAudio {
    /// Stereo noise-like music: three partials plus a pseudo-random component, so every
    /// position in it is unique and alignment is unambiguous.
    /// Without `noise`, only the partials: what a perceptual codec keeps close to the waveform.
    static func music(seconds: Double, rate: Int = 48_000, channels: Int = 2, seed: UInt32 = 1, noise: Bool = true) -> [Int16] {
        var state = seed
        let frames = Int(seconds * Double(rate))
        var out = [Int16](repeating: 0, count: frames * channels)
        for f in 0..<frames {
            let t = Double(f) / Double(rate)
            let tonal = 5000 * sin(2 * .pi * 220 * t) + 3000 * sin(2 * .pi * 554 * t) + 2000 * sin(2 * .pi * 1320 * t)
            for c in 0..<channels {
                state = state &* 1_664_525 &+ 1_013_904_223
                let hiss = noise ? Double(Int32(bitPattern: state) >> 20) : 0
                out[f * channels + c] = Int16(tonal * (c == 0 ? 1 : 0.8) + hiss)
            }
        }
        return out
    }

    static func sine(hz: Double, seconds: Double, rate: Int, channels: Int) -> [Int16] {
        let frames = Int(seconds * Double(rate))
        var out = [Int16](repeating: 0, count: frames * channels)
        for f in 0..<frames {
            let v = Int16(8000 * sin(2 * .pi * hz * Double(f) / Double(rate)))
            for c in 0..<channels { out[f * channels + c] = v }
        }
        return out
    }

    /// Where `recording` starts inside `source`: an exact match of `probe` samples just after
    /// the start's fade-in, searched frame by frame.
    static func exactOffset(of recording: [Int16], in source: [Int16], channels: Int, probe: Int = 64) -> Int? {
        guard recording.count >= Fade.samples + probe else { return nil }
        let head = Array(recording[Fade.samples..<(Fade.samples + probe)])
        var k = Fade.samples
        while k + probe <= source.count {
            if Array(source[k..<(k + probe)]) == head { return k - Fade.samples }
            k += channels
        }
        return nil
    }

    static func snr(_ reference: ArraySlice<Int16>, _ test: ArraySlice<Int16>) -> Double {
        var signal = 0.0
        var noise = 0.0
        for (r, t) in zip(reference, test) {
            signal += Double(r) * Double(r)
            noise += (Double(r) - Double(t)) * (Double(r) - Double(t))
        }
        return 10 * log10(signal / max(noise, 1e-9))
    }
}

/// Host and receiver config files.
enum Configs {
    /// Every host of this test run (mshost and the test's own) is one identity, made here before
    /// any daemon starts: a receiver that pinned a host on one port may meet another on the same
    /// port later in the run. Each receiver device has a state directory of its own.
    static let stateDirectory: String = {
        let directory = NSTemporaryDirectory() + "moosync-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: directory + "/receivers", withIntermediateDirectories: true)
        _ = try? TLSIdentity(directory: directory, name: "host", commonName: "test host")
        return directory
    }()

    static func receiverStateDirectory(_ device: String) -> String { stateDirectory + "/receivers/" + device }

    /// TLS as msrecv speaks it, for a test playing a receiver (it trusts any host).
    nonisolated(unsafe) static let receiverTransport: TLSTransport = {
        let identity = try! TLSIdentity(directory: stateDirectory, name: "receiver", commonName: "test receiver")
        return TLSTransport(configuration: try! TLSConfiguration(role: .client, identity: identity))
    }()

    /// A connection to mshost on `port` as a receiver makes it, TLS handshake done.
    /// `source`: a loopback address of 127/8 to connect from (the host tells addresses apart).
    static func connect(port: UInt16, from source: String? = nil, timeout: TimeInterval = 5) throws -> any ByteChannel {
        let address = try SocketAddress.resolve(host: "127.0.0.1", port: port)[0]
        let channel =
            try source.map { try receiverTransport.secure(TCPChannel(adopting: try boundConnect(from: $0, to: port), peer: "127.0.0.1:\(port)")) }
            ?? (try receiverTransport.connect(to: address))
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            switch channel.handshake() {
            case .done: return channel
            case .wouldBlock: usleep(1_000)
            case .failed(let e): throw e
            }
        }
        throw ExpectationError("no TLS handshake with port \(port) within \(timeout) s")
    }

    /// A TCP connection to the host's `port` on 127.0.0.1 from the loopback address `source`.
    static func boundConnect(from source: String, to port: UInt16) throws -> CInt {
        let fd = socket(AF_INET, CInt(SOCK_STREAM.rawValue), 0)
        var local = sockaddr_in()
        var remote = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_addr.s_addr = inet_addr("127.0.0.1")
        remote.sin_port = port.bigEndian
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, connected == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw ExpectationError("cannot connect from \(source) to port \(port): \(why)")
        }
        return fd
    }

    /// Not advertised over mDNS unless `advertise` (then under `name`, with its identity and
    /// device_id in `stateDir`).
    static func host(
        port: UInt16, source: String, codec: String = "pcm", loop: Bool = false, maxClients: Int = 4,
        rate: Int = 48_000, frameMilliseconds: Int = 20, advertise: Bool = false, name: String = "test host",
        stateDir: String = stateDirectory, bitrate: Int = 128_000, adaptive: Bool = false, extra: String = ""
    ) -> String {
        """
        {"sharing": {"device_name": "\(name)", "port": \(port), "source": "\(source)", "loop": \(loop), "advertise": \(advertise),
                     "max_clients": \(maxClients), "frame_ms": \(frameMilliseconds), "state_dir": "\(stateDir)"\(extra),
                     "audio_quality": {"codec": "\(codec)", "bitrate": \(bitrate), "sample_rate": \(rate), "channels": 2, "adaptive_bitrate": \(adaptive)}}}
        """
    }

    /// `port` nil: no host named, found over mDNS.
    /// `output`: more `audio_output` keys; `board`: the `board` section's JSON, if any.
    static func receiver(
        port: UInt16?, device: String, buffer: String = "200ms", formats: String = "[\"opus\", \"pcm\"]", extra: String = "",
        output: String = "", board: String? = nil
    ) -> String {
        """
        {"receiving": {\(port.map { "\"host\": \"127.0.0.1:\($0)\"," } ?? "") "buffer_size": "\(buffer)", "client_name": "\(device)",
                       "state_dir": "\(receiverStateDirectory(device))"\(extra),
                       "audio_formats": \(formats), "audio_output": {"device_id": "\(device)"\(output)}}\(board.map { ", \"board\": \($0)" } ?? "")}
        """
    }
}

/// msrecv fades in over its first 5 ms (240 frames at 48 kHz, stereo) so that joining mid-song
/// does not click.
enum Fade {
    static let frames = 240
    static let samples = frames * 2

    /// Whether `recorded` starts as `source` ramped linearly up from silence (to the nearest
    /// sample value: the ramp is computed in float).
    static func isFadeIn(_ recorded: [Int16], of source: ArraySlice<Int16>) -> Bool {
        let base = source.startIndex
        for i in 0..<samples {
            let expected = Double(source[base + i]) * Double(i / 2) / Double(frames)
            if abs(Double(recorded[i]) - expected) > 0.5 + 1e-3 { return false }
        }
        return true
    }
}
