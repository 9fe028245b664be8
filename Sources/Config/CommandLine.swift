import Core

/// The daemons' shared command line: `--config PATH`, `--check`, `--fingerprint`, `--version`, `--help`.
public struct DaemonCommandLine: Equatable, Sendable {
    public static let defaultConfigPath = "/etc/moosync.json"

    public var configPath = DaemonCommandLine.defaultConfigPath
    public var checkOnly = false
    /// Print this device's certificate fingerprint (made on first use) and exit.
    public var showFingerprint = false
    public var showVersion = false
    public var showHelp = false

    public init() {}

    /// Parses `arguments` (without the program name); an error line on bad usage.
    public static func parse(_ arguments: [String]) -> Result<DaemonCommandLine, UsageError> {
        var options = DaemonCommandLine()
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            switch arg {
            case "--config", "-c":
                guard i + 1 < arguments.count else { return .failure(UsageError(message: "\(arg) needs a file path")) }
                options.configPath = arguments[i + 1]
                i += 1
            case "--check": options.checkOnly = true
            case "--fingerprint": options.showFingerprint = true
            case "--version", "-V": options.showVersion = true
            case "--help", "-h": options.showHelp = true
            default:
                if arg.hasPrefix("--config=") {
                    options.configPath = String(arg.dropFirst("--config=".count))
                } else {
                    return .failure(UsageError(message: "unknown option \(arg)"))
                }
            }
            i += 1
        }
        return .success(options)
    }

    public static func usage(program: String, summary: String) -> String {
        """
        \(program) \(MoosyncVersion.current): \(summary)

        usage: \(program) [--config PATH] [--check | --fingerprint]\(program == "mshost" ? "\n       mshost passwd [--config PATH]   set the password receivers must prove (keeps only a verifier)" : "\n       msrecv discover [--config PATH] [--json] [--timeout 3s]   list the hosts on the network")
          --config PATH  the JSON config file (default \(defaultConfigPath))
          --check        validate the config file, print every error, exit 0 if it is valid
          --fingerprint  print this device's TLS certificate fingerprint (made in state_dir on
                         first use): what the other end pins
          --version      print the version and the libraries this build uses
          --help         this text
        """
    }
}

public struct UsageError: Error, Equatable, Sendable {
    public var message: String
}

/// What both daemons do before their own work: parse the command line, answer `--help` and
/// `--version`, and load the config file, exiting with a clear line (or one per config error)
/// when any of that fails. Exit codes: 0 after help/version, 1 for a bad config, 2 for bad usage.
public enum DaemonStartup {
    public enum Outcome {
        case run(DaemonCommandLine, Settings)
        case exit(Int32)
    }

    public static func prepare(program: String, summary: String, arguments: [String], log: Logger,
                               version: () -> String) -> Outcome {
        let options: DaemonCommandLine
        switch DaemonCommandLine.parse(arguments) {
        case .success(let o): options = o
        case .failure(let e):
            log.error("\(e.message) (see \(program) --help)")
            return .exit(2)
        }
        if options.showHelp {
            print(DaemonCommandLine.usage(program: program, summary: summary))
            return .exit(0)
        }
        if options.showVersion {
            print("\(program) \(MoosyncVersion.current) (protocol \(WireProtocol.version); \(version()))")
            return .exit(0)
        }
        switch ConfigLoader.load(path: options.configPath) {
        case .success(let settings): return .run(options, settings)
        case .failure(let errors):
            for line in errors.description.split(separator: "\n") { log.error(String(line)) }
            return .exit(1)
        }
    }
}
