import Core
import Foundation
import Platform
import ProtocolMessages
import Secure
import TestSupport
import Transport
import XCTest

/// A host played by a test, with the protocol's own message types: it accepts msrecv, answers
/// its HELLO with a WELCOME for 48 kHz stereo PCM in 20 ms packets, and then sends whatever the
/// test wants, true or hostile.
enum FakeHost {
    static let frameSamples = ScriptedHost.frameSamples
    static let packetDuration = ScriptedHost.packetDuration

    /// TLS as mshost speaks it, with the same identity as every host of the test run.
    nonisolated(unsafe) static let transport: TLSTransport = {
        let identity = try! TLSIdentity(directory: Configs.stateDirectory, name: "host", commonName: "test host")
        return TLSTransport(configuration: try! TLSConfiguration(role: .server, identity: identity))
    }()

    /// The receiver's connection, TLS handshake done, within `seconds`.
    static func accept(_ listener: borrowing TCPListener, within seconds: Double = 5) throws -> any ByteChannel {
        let deadline = Date().addingTimeInterval(seconds)
        var accepted: (any ByteChannel)?
        while Date() < deadline {
            if accepted == nil { accepted = transport.accept(from: listener) }
            if let channel = accepted {
                switch channel.handshake() {
                case .done: return channel
                case .wouldBlock: break
                case .failed(let e): throw ExpectationError("TLS with the receiver failed: \(e)")
                }
            }
            usleep(1_000)
        }
        throw ExpectationError("the receiver never connected within \(seconds) s")
    }

    /// Reads the receiver's HELLO and answers with a WELCOME whose stream starts at
    /// `streamStart` on the host's clock (`hostNow`), echoing the HELLO's t1.
    @discardableResult
    static func welcome(
        _ channel: any ByteChannel, _ reader: inout FrameReader, streamStart: Microseconds, frameSamples: Int = frameSamples,
        hostNow: () -> Microseconds = SystemClock().now
    ) throws -> Hello {
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            switch reader.next(from: channel) {
            case .header: reader.route(.scratch)
            case .frame(let h, let payload) where h.type == .hello:
                let hello = try Hello.decode(payload)
                let received = channel.lastArrival ?? hostNow()
                let welcome = ScriptedHost.welcome(for: hello, streamStart: streamStart, t2: received, t3: hostNow(), frameSamples: frameSamples)
                try writeAll(channel, welcome.frame).get()
                return hello
            case .frame: continue
            case .wouldBlock: usleep(1_000)
            case .closed, .failed: throw ExpectationError("the receiver closed the connection before its HELLO")
            }
        }
        throw ExpectationError("no HELLO from the receiver within 5 s")
    }

    /// The payload of the receiver's next frame of `type` (others are passed over), within 5 s;
    /// a test failure if it never comes.
    static func expect(_ type: FrameType, from channel: any ByteChannel, _ reader: inout FrameReader) throws -> [UInt8] {
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            switch reader.next(from: channel) {
            case .header: reader.route(.scratch)
            case .frame(let h, let payload) where h.type == type: return Array(payload)
            case .frame: continue
            case .wouldBlock: usleep(1_000)
            case .closed, .failed: throw ExpectationError("the receiver closed the connection before sending \(type)")
            }
        }
        throw ExpectationError("no \(type) from the receiver within 5 s")
    }

    /// An AUDIO frame of PCM; `click` puts a full-scale pulse on its first frame.
    static func audio(sequence: UInt64, timestamp: UInt64, click: Bool = false) -> [UInt8] {
        ScriptedHost.pcmAudio(sequence: sequence, timestamp: timestamp, click: click ? 20_000 : 0, frameSamples: frameSamples)
    }

    /// CPU seconds a process has used so far (user + system, from /proc).
    static func cpuSeconds(of pid: pid_t) throws -> Double {
        // utime and stime: fields 14 and 15 of stat(5).
        guard let fields = procStat("/proc/\(pid)/stat"), let user = Double(fields[14]), let system = Double(fields[15]) else {
            throw ExpectationError("cannot read the CPU time of pid \(pid) from /proc")
        }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

/// A `KEY: value kB` line of /proc/PID/status (VmRSS, VmHWM, VmLck…), KB; nil when it cannot be read.
func procStatus(_ pid: pid_t, _ key: String) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    let line = text.split(separator: "\n").first { $0.hasPrefix(key + ":") }
    return line.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") }
}

/// The fields of a /proc `stat` file, numbered as stat(5) numbers them (1 is the pid; the
/// command's name, which may hold spaces, is field 2), or nil when it cannot be read.
func procStat(_ path: String) -> [Substring]? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8), let close = text.lastIndex(of: ")") else { return nil }
    let rest = text[text.index(after: close)...].split(separator: " ")
    guard rest.count > 40 else { return nil }
    return ["", "", ""] + rest
}
