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
switch DaemonCommandLine.parse(Array(CommandLine.arguments.dropFirst())) {
case .success(let o): options = o
case .failure(let e):
    log.error("\(e.message) (see \(program) --help)")
    exit(2)
}
if options.showHelp {
    print(DaemonCommandLine.usage(program: program, summary: "Moosync Audio Share receiver (speaker firmware)"))
    exit(0)
}
if options.showVersion {
    print("\(program) \(MoosyncVersion.current) (protocol \(WireProtocol.version); opus \(OpusLibrary.version), alsa-lib \(AlsaLibrary.version), mbedTLS \(TLSLibrary.version) TLS \(TLSLibrary.bestProtocol), libgpiod \(GPIOLibrary.version))")
    exit(0)
}

let settings: Settings
switch ConfigLoader.load(path: options.configPath) {
case .success(let s): settings = s
case .failure(let errors):
    for line in errors.description.split(separator: "\n") { log.error(String(line)) }
    exit(1)
}
let receiving = settings.receiving
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

let engine = ReceiverEngine(settings: receiving, log: log, signals: ShutdownSignals())
exit(engine.run())
