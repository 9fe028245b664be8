import Core
import Platform
import ProtocolMessages

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
    public static func parse(_ arguments: [String]) throws(UsageError) -> DaemonCommandLine {
        var options = DaemonCommandLine()
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            switch arg {
            case "--config", "-c":
                guard i + 1 < arguments.count else { throw .needsFilePath(option: arg) }
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
                    throw .unknownOption(arg)
                }
            }
            i += 1
        }
        return options
    }
}

/// One binary's commands: the daemon itself and each subcommand, with its synopsis, what it
/// does, its options, and what runs it. Dispatch and help come from this one list, so `--help`
/// names every command and `PROGRAM COMMAND --help` is each one's complete page.
public struct CommandTable: Sendable {
    public struct Command: Sendable {
        /// Empty for the daemon itself.
        public let name: String
        /// What follows the program's name in a usage line.
        public let synopsis: String
        public let summary: String
        /// Each option (or operand) and what it means.
        public let options: [(flag: String, meaning: String)]
        /// The subcommand's own parser and work: its arguments after its name; the exit code.
        public let run: (@Sendable ([String], Logger) -> Int32)?

        public init(
            _ name: String, _ synopsis: String, _ summary: String, options: [(flag: String, meaning: String)],
            run: (@Sendable ([String], Logger) -> Int32)? = nil
        ) {
            (self.name, self.synopsis, self.summary, self.options, self.run) = (name, synopsis, summary, options, run)
        }
    }

    public let program: String
    public let summary: String
    public let commands: [Command]

    public init(program: String, summary: String, commands: [Command]) {
        (self.program, self.summary, self.commands) = (program, summary, commands)
    }

    /// The option every command takes.
    public static let configOption = (flag: "--config PATH", meaning: "the JSON config file (default \(DaemonCommandLine.defaultConfigPath))")

    public func command(_ name: String) -> Command? { commands.first { $0.name == name && !name.isEmpty } }

    /// `usage: PROGRAM SYNOPSIS`, for an error line.
    public func usage(_ name: String) -> String {
        guard let command = commands.first(where: { $0.name == name }) else { return "see \(program) --help" }
        return "usage: \(program) \(command.synopsis)"
    }

    /// The whole page: the daemon's usage and options, then every subcommand.
    public var help: String {
        var text = "\(program) \(MoosyncVersion.current): \(summary)\n"
        for command in commands where command.name.isEmpty { text += "\n" + page(command) }
        text += "\ncommands (\(program) COMMAND --help for each one's options):\n"
        for command in commands where !command.name.isEmpty { text += "  \(program) \(command.synopsis)\n      \(command.summary)\n" }
        return text
    }

    /// One command's page: usage, what it does, each option.
    public func page(_ command: Command) -> String {
        var text = "usage: \(program) \(command.synopsis)\n  \(command.summary)\n"
        let width = command.options.map(\.flag.count).max() ?? 0
        for option in command.options { text += "  " + option.flag.padding(to: width) + "  " + option.meaning + "\n" }
        return text
    }

    /// Runs `arguments` (without the program's name) if they name a subcommand: its page for
    /// `--help` or `-h`, else its work; the exit code. Nil: they are the daemon's.
    public func runSubcommand(_ arguments: [String], log: Logger) -> Int32? {
        guard let name = arguments.first, let command = command(name), let run = command.run else { return nil }
        let rest = Array(arguments.dropFirst())
        if rest.contains("--help") || rest.contains("-h") {
            print(page(command), terminator: "")
            return 0
        }
        return run(rest, log)
    }
}

extension String {
    fileprivate func padding(to width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}

/// A daemon's command line that does not parse.
public enum UsageError: Error, Equatable, Sendable, CustomStringConvertible {
    case needsFilePath(option: String)
    case unknownOption(String)

    public var description: String {
        switch self {
        case .needsFilePath(let option): "\(option) needs a file path"
        case .unknownOption(let option): "unknown option \(option)"
        }
    }
}

/// What both daemons do before their own work: parse the command line, answer `--help` and
/// `--version`, and load the config file, exiting with a clear line (or one per config error)
/// when any of that fails. Exit codes: 0 after help/version, 1 for a bad config, 2 for bad usage.
public enum DaemonStartup {
    public enum Outcome {
        case run(DaemonCommandLine, Settings)
        case exit(Int32)
    }

    public static func prepare(_ commands: CommandTable, arguments: [String], log: Logger, version: () -> String) -> Outcome {
        let program = commands.program
        let options: DaemonCommandLine
        do throws(UsageError) { options = try DaemonCommandLine.parse(arguments) } catch {
            log.error("\(error) (see \(program) --help)")
            return .exit(2)
        }
        if options.showHelp {
            print(commands.help, terminator: "")
            return .exit(0)
        }
        if options.showVersion {
            print("\(program) \(MoosyncVersion.current) (protocol \(WireProtocol.version); \(version()))")
            return .exit(0)
        }
        do throws(ConfigErrors) {
            return .run(options, try ConfigLoader.load(path: options.configPath))
        } catch {
            for line in error.description.split(separator: "\n") { log.error(String(line)) }
            return .exit(1)
        }
    }
}
