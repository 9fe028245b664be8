import Config
import Core
import Platform
import ProtocolMessages
import Secure
import Transport

@testable import Host

// libFuzzer target: one receiver's connection on the host (`ClientConnection`), with the
// receiver played from the fuzz input: HELLO, the password proof (CHALLENGE, AUTH) against a
// fixed verifier, CONTROL and CHAT against the permissions, TIME_REQ, STATUS, BYE, and whatever
// else the bytes say, on a clock stepped 10 ms per turn with the deadlines checked. The first
// byte picks the admission (password, certificate allowlist, whether the receiver presents the
// listed certificate, whether it was sent away) and permissions, the second how the bytes are
// cut up; the proof budget is shared across inputs, as the host's is across connections.
// Built by scripts/fuzz.sh.
#if canImport(Glibc)
import Glibc
#endif

let log = Logger(program: "fuzz", descriptor: open("/dev/null", O_WRONLY))
/// Made once: PBKDF2 and a point multiplication per input would be most of the run.
let verifier = try! PasswordVerifier(password: "fuzz", iterations: 1_000)
let listed = Fingerprint(bytes: [UInt8](repeating: 7, count: 32))!
let welcome = Welcome(
    sessionID: "fuzz", hostID: "fuzz", hostName: "fuzz",
    stream: StreamDescription(codec: .pcm, sampleRate: 48_000, channels: 2, frameSamples: 960, codecDelay: 0, bitrate: 1_536_000),
    streamStart: 0, nextSequence: 0, permissions: GrantedPermissions(queueControl: false, playbackControl: false, chat: true),
    t1: 0, t2: 0, t3: 0)
let audio = FrameWriter.frame(.audio, payload: [UInt8](repeating: 0, count: AudioPacketHeader.size + 64))
let proofs = ProofBudget()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHost(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let mode = input[0]
    var permissions = Permissions()
    permissions.allowChat = mode & 1 != 0
    permissions.allowPlaybackControl = mode & 2 != 0
    permissions.allowQueueControl = mode & 4 != 0
    let admission = Admission(password: mode & 8 != 0 ? verifier : nil, allowedClients: mode & 16 != 0 ? [listed] : [])
    let channel = FuzzChannel(bytes: UnsafeRawBufferPointer(rebasing: input[2...]), chunk: Int(input[1]) + 1)
    if mode & 32 != 0 { channel.peerCertificateFingerprint = listed.bytes }
    let client = ClientConnection(id: 1, channel: channel, now: 0, log: log, admission: admission, permissions: permissions, proofs: proofs)
    var now: Microseconds = 0
    for turn in 0..<512 where client.state != .closed {
        client.ready([.read, .write], now: now) { hello, received in
            if mode & 64 != 0 { return .sentAway(message: "sent away") }
            return hello.clientID.isEmpty ? .reject(.invalidPacket("no id"), message: "") : .welcome(welcome, codec: .pcm, backlog: [audio])
        }
        if let fd = client.proofDescriptor {
            // The host's half of a proof is worked out on a thread of its own: waited for, as
            // the engine's reactor would.
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&ready, 1, 1_000)
            client.proofReady(now: now)
        }
        if client.isStreaming && turn % 3 == 0 { audio.withUnsafeBytes { client.sendAudio($0, now: now) } }
        now += 10_000
        client.deadlinePassed(now: now)
        if channel.exhausted && !client.hasPendingOutput { break }
    }
    return 0
}
