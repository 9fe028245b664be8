import Config
import Core
import Platform
import ProtocolMessages
import Receiver
import Transport

#if canImport(Glibc)
import Glibc
#endif

/// `msrecv status [--json] [--config F]`: asks the running receiver (its local control socket in
/// `receiving.state_dir`) what it is doing, and prints it: 0 answered, 1 not reachable, 2 bad usage.
enum StatusCommand {
    static var usage: String { msrecvCommands.usage("status") }

    static func run(_ arguments: [String], log: Logger) -> Int32 {
        var json = false
        var configPath = DaemonCommandLine.defaultConfigPath
        var i = 0
        while i < arguments.count {
            switch arguments[i] {
            case "--json": json = true
            case "--config", "-c":
                guard i + 1 < arguments.count else {
                    log.error("\(arguments[i]) needs a value (\(usage))")
                    return 2
                }
                i += 1
                configPath = arguments[i]
            default:
                log.error("unknown option \(arguments[i]) (\(usage))")
                return 2
            }
            i += 1
        }
        let stateDirectory: String
        do throws(ConfigErrors) { stateDirectory = try ConfigLoader.load(path: configPath).receiving.stateDirectory } catch {
            log.error("\(configPath):\n\(error)")
            return 1
        }
        let path = ReceiverControl.socketPath(stateDirectory: stateDirectory)
        let receiver: LocalControlClient
        do { receiver = try LocalControlClient(path: path) } catch {
            log.error("\(error): is msrecv running with \(configPath), as this user?")
            return 1
        }
        guard receiver.send(LocalRequest.status.line), let line = receiver.nextLine(maxLength: LocalReply.maxLine) else {
            log.error("the receiver at \(path) hung up without an answer")
            return 1
        }
        let reply: LocalReply
        do throws(ProtocolError) { reply = try line.withBytes(LocalReply.decode) } catch {
            log.error("the receiver's answer is not readable: \(error)")
            return 1
        }
        switch reply {
        case .status(let report):
            print(json ? String(decoding: line, as: UTF8.self) : describe(report))
            return 0
        case .failed(let why):
            log.error(why)
            return 1
        default:
            log.error("the socket at \(path) did not answer like a receiver")
            return 1
        }
    }

    static func describe(_ report: ReceiverReport) -> String {
        var r = report
        r.host = printable(r.host)
        var lines: [String]
        switch r.state {
        case .searching: lines = ["searching for a host over mDNS"]
        case .connecting: lines = ["connecting to \(r.host)"]
        case .waiting: lines = [r.host.isEmpty ? "waiting to connect" : "waiting to connect to \(r.host) again"]
        case .sentAway: lines = ["sent away by the host's user (\(r.host)): not connecting to it for now"]
        case .playing: lines = ["playing \(r.host): \(r.codec) \(r.sampleRate) Hz"]
        }
        if let song = r.nowPlaying, song.songID != nil || song.position != nil {
            let position = song.position.map { Int($0) }.map { "\($0 / 60):" + ($0 % 60 < 10 ? "0" : "") + "\($0 % 60)" }
            lines.append("now playing " + [song.songID.map { "\"\(printable($0))\"" }, position.map { "at \($0)" }].compactMap { $0 }.joined(separator: " "))
        }
        lines.append("volume " + (r.muted ? "muted (\(r.volume) when unmuted)" : String(r.volume)))
        if let s = r.playing {
            let health = Int((s.bufferHealth * 100).rounded())
            let loss = Int((s.packetLoss * 1000).rounded())
            lines.append(
                "buffer \(formatDuration(s.latency)), \(health) % full; loss \(loss / 10).\(loss % 10) %; underruns \(s.underruns), overruns \(s.overruns)")
            lines.append("round trip to the host \(s.roundTripMicroseconds) ± \(s.roundTripJitterMicroseconds) µs")
            lines.append(
                "sync error ±\(s.syncErrorMicroseconds) µs, playing \(s.playoutErrorMicroseconds) µs off schedule, "
                    + "card correction \(ppm(s.correctionPPM)) ppm")
        }
        return lines.joined(separator: "\n")
    }

    private static func ppm(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return (tenths < 0 ? "−" : "+") + "\(abs(tenths) / 10).\(abs(tenths) % 10)"
    }
}
