import Audio
import Board
import Codec
import Config
import Core
import Receiver
import Secure
import Transport

#if canImport(Glibc)
import Glibc
#endif

let program = "msrecv"
let log = Logger(program: program)

let options: DaemonCommandLine
let settings: Settings
switch DaemonStartup.prepare(program: program, summary: "Moosync Audio Share receiver (speaker firmware)",
                             arguments: Array(CommandLine.arguments.dropFirst()), log: log, version: {
    "opus \(OpusLibrary.version), alsa-lib \(AlsaLibrary.version), mbedTLS \(TLSLibrary.version) TLS \(TLSLibrary.bestProtocol), libgpiod \(GPIOLibrary.version)"
}) {
case .exit(let code): exit(code)
case .run(let o, let s):
    options = o
    settings = s
}
let receiving = settings.receiving
/// This speaker's key and certificate, made in `receiving.state_dir` on first use.
func receiverIdentity() -> TLSIdentity {
    do {
        return try TLSIdentity(directory: receiving.stateDirectory, name: "receiver", commonName: receiving.clientName)
    } catch {
        log.error("receiving.state_dir: \(error)")
        exit(1)
    }
}
if options.showFingerprint {
    print(receiverIdentity().fingerprint)
    exit(0)
}
if receiving.host == nil {
    log.error("\(options.configPath): receiving.host: required: this build has no mDNS discovery yet, so set \"HOST:PORT\"")
    exit(1)
}
if options.checkOnly {
    print("\(options.configPath): OK (receiver: host \(receiving.host!), output \"\(receiving.audioOutput.deviceID)\", buffer \(formatDuration(receiving.bufferSize)))")
    exit(0)
}
if !receiving.enabled {
    log.info("receiving.enabled is false in \(options.configPath): nothing to do")
    exit(0)
}

let transport: any ChannelTransport
switch receiving.encryption {
case .tls:
    let host = receiving.host!
    let pins = HostPins(directory: receiving.stateDirectory, configured: receiving.hostFingerprint.flatMap { Fingerprint(hex: $0) })
    do {
        transport = TLSTransport(configuration: try TLSConfiguration(role: .client, identity: receiverIdentity())) { channel in
            switch pins.check(host: host, presented: channel.peerFingerprint) {
            case .known: break
            case .pinned: log.info("TLS: pinned host \(host)'s certificate \(channel.peerFingerprint!) on first use (\(pins.file))")
            case .refused(let why): return ChannelError(why)
            }
            log.info("TLS: \(channel.negotiated ?? "?") with \(host)")
            return nil
        }
    } catch {
        log.error("TLS: \(error)")
        exit(1)
    }
case .none:
    log.warning("receiving.encryption is \"none\": audio and control cross the network in plaintext and the host is not authenticated. For tests only")
    transport = TCPTransport()
}
let engine = ReceiverEngine(settings: receiving, log: log, signals: ShutdownSignals(), transport: transport)
exit(engine.run())
