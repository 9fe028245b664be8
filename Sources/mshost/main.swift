import Codec
import Config
import Core
import Host
import Resample
import Secure
import Transport

#if canImport(Glibc)
import Glibc
#endif

let program = "mshost"
let log = Logger(program: program)

let options: DaemonCommandLine
switch DaemonCommandLine.parse(Array(CommandLine.arguments.dropFirst())) {
case .success(let o): options = o
case .failure(let e):
    log.error("\(e.message) (see \(program) --help)")
    exit(2)
}
if options.showHelp {
    print(DaemonCommandLine.usage(program: program, summary: "Moosync Audio Share host"))
    exit(0)
}
if options.showVersion {
    print("\(program) \(MoosyncVersion.current) (protocol \(WireProtocol.version); opus \(OpusLibrary.version), libsamplerate \(SampleRateConverter.libraryVersion), mbedTLS \(TLSLibrary.version) TLS \(TLSLibrary.bestProtocol))")
    exit(0)
}

let settings: Settings
switch ConfigLoader.load(path: options.configPath) {
case .success(let s): settings = s
case .failure(let errors):
    for line in errors.description.split(separator: "\n") { log.error(String(line)) }
    exit(1)
}
let sharing = settings.sharing
if options.checkOnly {
    print("\(options.configPath): OK (host: \(sharing.source), \(sharing.codec.name) \(sharing.sampleRate) Hz, port \(sharing.port))")
    exit(0)
}
if !sharing.enabled {
    log.info("sharing.enabled is false in \(options.configPath): nothing to do")
    exit(0)
}

let engine = HostEngine(settings: sharing, log: log, signals: ShutdownSignals())
exit(engine.run())
