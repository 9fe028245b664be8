import Audio
import Config
import Core
import Host
import Platform
import ProtocolMessages
import Transport

#if canImport(Glibc)
import Glibc
#endif

/// `mshost clients|kick|volume|mute|events|now-playing`: asks a running host through its local control
/// socket (in the config's `sharing.state_dir`), prints the answer and exits: 0 done, 1 the host
/// refused or cannot be reached, 2 bad usage.
enum LocalCommands {
    /// The usage line of `command`, for an error.
    private static func usage(_ command: String) -> String { mshostCommands.usage(command) }

    static func run(_ command: String, _ arguments: [String], log: Logger) -> Int32 {
        var json = false
        var configPath = DaemonCommandLine.defaultConfigPath
        var stayAway: Microseconds?
        var playing = PacketMetadata()
        var operands: [String] = []
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            switch arg {
            case "--json" where command == "clients": json = true
            case "--config", "-c", "--for", "--song-id", "--position", "--volume":
                guard i + 1 < arguments.count else {
                    log.error("\(arg) needs a value\n\(usage(command))")
                    return 2
                }
                i += 1
                if ["--song-id", "--position", "--volume"].contains(arg) {
                    guard command == "now-playing" else {
                        log.error("\(arg) is for now-playing\n\(usage(command))")
                        return 2
                    }
                    if let problem = nowPlaying(arg, arguments[i], &playing) {
                        log.error(problem)
                        return 2
                    }
                } else if arg == "--for" {
                    guard command == "kick", let t = parseDuration(arguments[i]), t >= 1_000_000, t <= Microseconds(Bye.longestStayAway) * 1_000_000 else {
                        log.error("--for: expected how long the receiver stays away, such as 10m or 2h (1 s to a year; kick only), got \"\(arguments[i])\"")
                        return 2
                    }
                    stayAway = t
                } else {
                    configPath = arguments[i]
                }
            default:
                guard !arg.hasPrefix("-") || Int(arg) != nil else {
                    log.error("unknown option \(arg)\n\(usage(command))")
                    return 2
                }
                operands.append(arg)
            }
            i += 1
        }
        let request: LocalRequest
        do throws(UsageProblem) { request = try parse(command, operands, stayAway: stayAway, playing: playing) } catch {
            log.error("\(error)\n\(usage(command))")
            return 2
        }
        let stateDirectory: String
        do throws(ConfigErrors) { stateDirectory = try ConfigLoader.load(path: configPath).sharing.stateDirectory } catch {
            log.error("\(configPath):\n\(error)")
            return 1
        }
        let path = HostControl.socketPath(stateDirectory: stateDirectory)
        let host: LocalControlClient
        do { host = try LocalControlClient(path: path) } catch {
            log.error("\(error): is mshost running with \(configPath), and may this user use its socket (sharing.control_group)?")
            return 1
        }
        guard host.send(request.line) else {
            log.error("the host at \(path) hung up")
            return 1
        }
        while let line = host.nextLine(maxLength: LocalReply.maxLine) {
            let reply: LocalReply
            do throws(ProtocolError) { reply = try line.withBytes(LocalReply.decode) } catch {
                log.error("the host's answer is not readable: \(error)")
                return 1
            }
            switch reply {
            case .failed(let why):
                log.error(why)
                return 1
            case .clients(let list):
                output(json ? line : Array(table(list).utf8))
                return 0
            case .event:
                output(line)
            case .done:
                guard request == .events else { return 0 }
                log.info("following the host's events at \(path) (one JSON line each, until it stops or you interrupt)")
            case .status:
                log.error("the socket at \(path) answered like a receiver's")
                return 1
            }
        }
        if request == .events { return 0 }
        log.error("the host at \(path) hung up without an answer")
        return 1
    }

    /// What is wrong with a command's operands.
    private enum UsageProblem: Error, CustomStringConvertible {
        case nothingToSay(command: String, options: String)
        case notAReceiverID(command: String, got: String)
        case notALevel(got: String)
        case notOnOrOff(got: String)
        case wrongArgumentCount(command: String)

        var description: String {
            switch self {
            case .nothingToSay(let command, let options): "\(command): give at least one of \(options)"
            case .notAReceiverID(let command, let got): "\(command): expected a receiver's ID (mshost clients lists them), got \"\(got)\""
            case .notALevel(let got): "volume: expected a level from 0 to 100, got \"\(got)\""
            case .notOnOrOff(let got): "mute: expected on or off, got \"\(got)\""
            case .wrongArgumentCount(let command): "\(command): wrong number of arguments"
            }
        }
    }

    /// One of now-playing's options into `playing`; what is wrong with it, if anything.
    private static func nowPlaying(_ option: String, _ value: String, _ playing: inout PacketMetadata) -> String? {
        switch option {
        case "--song-id":
            guard !value.isEmpty, value.utf8.count <= PacketMetadata.maxSongID else {
                return "--song-id: expected the song's ID (1 to \(PacketMetadata.maxSongID) bytes)"
            }
            playing.songID = value
        case "--position":
            guard let seconds = Double(value), PacketMetadata.positions.contains(seconds) else {
                return "--position: expected seconds into the song, such as 83.5, got \"\(value)\""
            }
            playing.position = seconds
        default:
            guard let level = Int(value), VolumeScale.range.contains(level) else {
                return "--volume: expected the house volume from 0 to 100, got \"\(value)\""
            }
            playing.volume = Double(level) / Double(VolumeScale.range.upperBound)
        }
        return nil
    }

    private static func parse(_ command: String, _ operands: [String], stayAway: Microseconds?, playing: PacketMetadata) throws(UsageProblem) -> LocalRequest {
        func id(_ text: String) throws(UsageProblem) -> Int {
            guard let id = Int(text), id >= 1 else { throw .notAReceiverID(command: command, got: text) }
            return id
        }
        switch (command, operands.count) {
        case ("clients", 0): return .clients
        case ("events", 0): return .events
        case ("now-playing", 0):
            guard !playing.isEmpty else { throw .nothingToSay(command: command, options: "--song-id, --position, --volume") }
            return .nowPlaying(playing)
        case ("kick", 1):
            return .kick(id: try id(operands[0]), forSeconds: stayAway.map { Int($0 / 1_000_000) })
        case ("volume", 2):
            let id = try id(operands[0])
            guard let level = Int(operands[1]), VolumeScale.range.contains(level) else { throw .notALevel(got: operands[1]) }
            return .volume(id: id, level: level)
        case ("mute", 2):
            let id = try id(operands[0])
            guard ["on", "off"].contains(operands[1]) else { throw .notOnOrOff(got: operands[1]) }
            return .mute(id: id, on: operands[1] == "on")
        default:
            throw .wrongArgumentCount(command: command)
        }
    }

    /// The client list for a person: one row per receiver; "–" where it has not reported yet.
    static func table(_ list: [ClientSummary]) -> String {
        guard !list.isEmpty else { return "no receivers connected" }
        let header = ["ID", "NAME", "ADDRESS", "CODEC", "LATENCY", "ASKS", "BUFFER", "LOSS", "UNDERRUNS", "VOLUME", "RTT", "SYNC", "CONNECTED"]
        let rows = list.map { c -> [String] in
            let s = c.status
            let volume = s.map { $0.muted ? "muted" : String(Int(($0.volume * 100).rounded())) } ?? "–"
            return [
                String(c.id), printable(c.name), c.address, "\(c.codec) \(c.bitrate / 1000)k" + (c.streaming ? "" : " (joining)"),
                s.map { formatDuration($0.latency) } ?? "–", s.flatMap { $0.wantedBuffer > 0 ? formatDuration($0.wantedBuffer) : nil } ?? "–",
                s.map { "\(Int(($0.bufferHealth * 100).rounded())) %" } ?? "–",
                s.map { percent($0.packetLoss) } ?? "–", s.map { String($0.underruns) } ?? "–", volume,
                s.map { "\($0.roundTripMicroseconds) ± \($0.roundTripJitterMicroseconds) µs" } ?? "–",
                s.map { "±\($0.syncErrorMicroseconds) µs" } ?? "–", formatDuration(Microseconds(c.connectedSeconds) * 1_000_000),
            ]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        return ([header] + rows).map { row in
            row.indices.map { row[$0] + String(repeating: " ", count: widths[$0] - row[$0].count) }.joined(separator: "  ")
                .replacingTrailingSpaces()
        }.joined(separator: "\n")
    }

    private static func percent(_ fraction: Double) -> String {
        let tenths = Int((fraction * 1000).rounded())
        return "\(tenths / 10).\(tenths % 10) %"
    }

    /// One line on stdout at once: a follower's reader sees each event as it happens.
    private static func output(_ line: [UInt8]) { _ = (line + [UInt8(ascii: "\n")]).withUnsafeBytes { writeAll(1, $0) } }
}

extension String {
    fileprivate func replacingTrailingSpaces() -> String {
        var s = self
        while s.hasSuffix(" ") { s.removeLast() }
        return s
    }
}
