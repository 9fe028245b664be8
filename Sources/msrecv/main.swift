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
