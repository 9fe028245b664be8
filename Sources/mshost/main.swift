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

let engine = HostEngine(settings: sharing, log: log, signals: ShutdownSignals())
exit(engine.run())
