import Codec
import Config
import Core
import Host
import Platform
import ProtocolMessages
import SampleRateConversion
import Secure
import Transport

#if canImport(Glibc)
import Glibc
#endif

let program = "mshost"
// The events it logs also go to `mshost events` followers on the local control socket.
let log = Logger(program: program, feed: EventFeed())

if let code = mshostCommands.runSubcommand(Array(CommandLine.arguments.dropFirst()), log: log) { exit(code) }

let options: DaemonCommandLine
let settings: Settings
switch DaemonStartup.prepare(
    mshostCommands, arguments: Array(CommandLine.arguments.dropFirst()), log: log,
    version: {
        "opus \(OpusLibrary.version), libsamplerate \(SampleRateConverter.libraryVersion), mbedTLS \(TLSLibrary.version) TLS \(TLSLibrary.bestProtocol)"
    })
{
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
    do throws(AdmissionError) {
        try Admission.check(sharing)
    } catch {
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
var fingerprint = ""
switch sharing.encryption {
case .tls:
    let identity = hostIdentity()
    fingerprint = identity.fingerprint.description
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
if sharing.password != nil, let mode = readableByOthers(options.configPath) {
    log.warning(
        "\(options.configPath) holds the password (or its verifier) and any user of this machine can read it (mode \(String(mode, radix: 8))): chmod "
            + "o-r \(options.configPath)"
    )
}
if case .plaintext? = sharing.password {
    log.warning(
        "sharing.password is in plaintext in \(options.configPath): run `mshost passwd --config \(options.configPath)`, which keeps only a verifier "
            + "the password cannot be read back from"
    )
}
let admission: Admission
do throws(AdmissionError) {
    admission = try Admission(sharing: sharing)
} catch {
    log.error(error.description)
    exit(1)
}
if admission.password != nil && sharing.encryption == .none {
    log.warning("a password over \"encryption\": \"none\" is not bound to a TLS session: a relay could pass a receiver's proof on")
}
if !admission.allowedClients.isEmpty && sharing.encryption == .none {
    log.warning("sharing.allowed_clients admits by TLS certificate, and \"encryption\": \"none\" has none: only a password admits")
}
let deviceID: String
do throws(Errno) { deviceID = try persistentUUID(directory: sharing.stateDirectory, file: "device_id") } catch {
    log.error("sharing.state_dir: cannot keep this host's device_id in \(sharing.stateDirectory): \(error)")
    exit(1)
}
let listener: TCPListener
do {
    listener = try TCPListener(port: sharing.port)
} catch {
    log.error("\(error) (sharing.port)")
    exit(1)
}
let engine = HostEngine(
    settings: sharing, log: log, signals: ShutdownSignals(), listener: listener, transport: transport, admission: admission,
    advertisement: ServiceAdvertisement(settings: sharing, deviceID: deviceID, fingerprint: fingerprint, admission: admission),
    notifier: ServiceNotifier.fromEnvironment())
exit(engine.run())
