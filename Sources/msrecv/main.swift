import Audio
import Board
import Codec
import Config
import Core
import Platform
import Receiver
import Secure
import Transport

#if canImport(Glibc)
import Glibc
#endif

// Loading mapped whole 64 KB windows of code around everything the dynamic linker and the
// runtime's set-up touched; from here on code is mapped 16 KB at a time, as it runs.
releaseCodePages()
let program = "msrecv"
let log = Logger(program: program)

if let code = msrecvCommands.runSubcommand(Array(CommandLine.arguments.dropFirst()), log: log) { exit(code) }

let options: DaemonCommandLine
let settings: Settings
switch DaemonStartup.prepare(
    msrecvCommands, arguments: Array(CommandLine.arguments.dropFirst()), log: log,
    version: {
        "opus \(OpusLibrary.version), alsa-lib \(AlsaLibrary.version), mbedTLS \(TLSLibrary.version) TLS \(TLSLibrary.bestProtocol), libgpiod "
            + "\(GPIOLibrary.version)"
    })
{
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
if options.checkOnly {
    let host =
        receiving.host.map { "host \($0)" } ?? "host found over mDNS"
        + (receiving.hostID.map { " by device_id \($0)" } ?? receiving.hostName.map { " by name \"\($0)\"" } ?? "")
    print("\(options.configPath): OK (receiver: \(host), output \"\(receiving.audioOutput.deviceID)\", buffer \(formatDuration(receiving.bufferSize)))")
    exit(0)
}
if !receiving.enabled {
    log.info("receiving.enabled is false in \(options.configPath): nothing to do")
    exit(0)
}
if receiving.password != nil, let mode = readableByOthers(options.configPath) {
    log.warning(
        "\(options.configPath) holds receiving.password and any user of this machine can read it (mode \(String(mode, radix: 8))): chmod o-r "
            + "\(options.configPath)"
    )
}

let transport: (HostTarget) -> any ChannelTransport
let trust = HostTrust(settings: receiving)
switch receiving.encryption {
case .tls:
    do {
        transport = trust.transport(try TLSConfiguration(role: .client, identity: receiverIdentity()), log: log)
    } catch {
        log.error("TLS: \(error)")
        exit(1)
    }
case .none:
    log.warning("receiving.encryption is \"none\": audio and control cross the network in plaintext and the host is not authenticated. For tests only")
    transport = { _ in TCPTransport() }
}
// A line that cannot be had is logged and left out: the speaker plays without it.
let board = BoardController.open(settings.board, log: log)
let engine = ReceiverEngine(
    settings: receiving, log: log, signals: ShutdownSignals(), output: AlsaOutput(settings: receiving.audioOutput), transport: transport, board: board,
    trust: receiving.encryption == .tls ? trust : nil, notifier: ServiceNotifier.fromEnvironment())
exit(engine.run())
