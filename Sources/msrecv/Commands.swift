import Config

/// msrecv's commands: what dispatches them and what `--help` says.
let msrecvCommands = CommandTable(
    program: "msrecv", summary: "Moosync Audio Share receiver (speaker firmware)",
    commands: [
        .init(
            "", "[--config PATH] [--check | --fingerprint]",
            "play the host receiving.host names, or the one found over mDNS, on the configured card until SIGTERM",
            options: [
                CommandTable.configOption,
                ("--check", "validate the config file, print every error, exit 0 if it is valid"),
                ("--fingerprint", "print this speaker's TLS certificate fingerprint (made in state_dir on first use): what a host pins"),
                ("--version", "print the version and the libraries this build uses"),
                ("--help", "this text"),
            ]),
        .init(
            "status", "status [--json] [--config PATH]", "what the running receiver is doing: its host, stream, buffer, clock and volume",
            options: [
                ("--json", "one JSON object instead of lines"),
                CommandTable.configOption,
            ], run: { StatusCommand.run($0, log: $1) }),
        .init(
            "discover", "discover [--config PATH] [--json] [--timeout DURATION]", "list the Moosync hosts on the network (over mDNS)",
            options: [
                ("--timeout DURATION", "how long to look (default 3s, at most 10m)"),
                ("--json", "a JSON array of the hosts and their advertisements"),
                ("--config PATH", "mark the host this config's receiving.host_id / host_name picks"),
            ], run: { DiscoverCommand.run($0, log: $1) }),
    ])
