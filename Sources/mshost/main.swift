import Codec
import Config
import Core
import Host
import SampleRateConversion
import Secure
import Transport

#if canImport(Glibc)
import Glibc
#endif

let program = "mshost"
let log = Logger(program: program)

let options: DaemonCommandLine
let settings: Settings
switch DaemonStartup.prepare(program: program, summary: "Moosync Audio Share host",
                             arguments: Array(CommandLine.arguments.dropFirst()), log: log, version: {
    "opus \(OpusLibrary.version), libsamplerate \(SampleRateConverter.libraryVersion), mbedTLS \(TLSLibrary.version) TLS \(TLSLibrary.bestProtocol)"
}) {
case .exit(let code): exit(code)
case .run(let o, let s):
    options = o
    settings = s
}
let sharing = settings.sharing
/// The host's key and certificate, made in `sharing.state_dir` on first use.
func hostIdentity() -> TLSIdentity {
    do {
        return try TLSIdentity(directory: sharing.stateDirectory, name: "host", commonName: sharing.deviceName)
    } catch {
        log.error("sharing.state_dir: \(error)")
        exit(1)
    }
}
if options.showFingerprint {
    print(hostIdentity().fingerprint)
    exit(0)
}
if options.checkOnly {
    if let error = checkSource(sharing) {
        log.error("\(options.configPath): \(error)")
        exit(1)
    }
    print("\(options.configPath): OK (host: \(sharing.source), \(sharing.codec.name) \(sharing.sampleRate) Hz, port \(sharing.port))")
    exit(0)
}
if !sharing.enabled {
    log.info("sharing.enabled is false in \(options.configPath): nothing to do")
    exit(0)
}

let transport: any ChannelTransport
switch sharing.encryption {
case .tls:
    let identity = hostIdentity()
    do {
        transport = TLSTransport(configuration: try TLSConfiguration(role: .server, identity: identity)) { channel in
            log.info("TLS: \(channel.negotiated ?? "?") with \(channel.peerDescription)")
            return nil
        }
    } catch {
        log.error("TLS: \(error)")
        exit(1)
    }
    log.info("TLS \(TLSLibrary.bestProtocol == "1.3" ? "1.2 and 1.3" : "1.2"); this host's certificate fingerprint \(identity.fingerprint)")
case .none:
    log.warning("sharing.encryption is \"none\": audio and control cross the network in plaintext and any receiver can connect. For tests only")
    transport = TCPTransport()
}
let engine = HostEngine(settings: sharing, log: log, signals: ShutdownSignals(), transport: transport)
exit(engine.run())
