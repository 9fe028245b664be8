import Config

/// mshost's commands: what dispatches them and what `--help` says. The commands after `passwd`
/// ask the running host through its local control socket (sharing.state_dir).
let mshostCommands = CommandTable(
    program: "mshost", summary: "Moosync Audio Share host",
    commands: [
        .init(
            "", "[--config PATH] [--check | --fingerprint]", "stream the configured source to the receivers that connect, until SIGTERM",
            options: [
                CommandTable.configOption,
                ("--check", "validate the config file, print every error, exit 0 if it is valid"),
                ("--fingerprint", "print this host's TLS certificate fingerprint (made in state_dir on first use): what receivers pin"),
                ("--version", "print the version and the libraries this build uses"),
                ("--help", "this text"),
            ]),
        .init(
            "passwd", "passwd [--config PATH]",
            "set the password receivers must prove: asked twice on a terminal (else the first line of stdin); only its verifier is written, into the config",
            options: [
                CommandTable.configOption
            ], run: { PasswordCommand.run($0, log: $1) }),
        .init(
            "clients", "clients [--json] [--config PATH]", "the receivers connected, each with its live status",
            options: [
                ("--json", "one JSON object instead of a table"),
                CommandTable.configOption,
            ], run: { LocalCommands.run("clients", $0, log: $1) }),
        .init(
            "kick", "kick ID [--for DURATION] [--config PATH]", "send a receiver away (it does not come back until the host restarts)",
            options: [
                ("ID", "the receiver's ID, as `mshost clients` lists it"),
                ("--for DURATION", "it may come back after this long, such as 10m or 2h (1 s to a year)"),
                CommandTable.configOption,
            ], run: { LocalCommands.run("kick", $0, log: $1) }),
        .init(
            "volume", "volume ID 0-100 [--config PATH]", "set a receiver's volume",
            options: [
                ("ID", "the receiver's ID, as `mshost clients` lists it"),
                ("0-100", "the volume"),
                CommandTable.configOption,
            ], run: { LocalCommands.run("volume", $0, log: $1) }),
        .init(
            "mute", "mute ID on|off [--config PATH]", "mute a receiver, or unmute it",
            options: [
                ("ID", "the receiver's ID, as `mshost clients` lists it"),
                ("on|off", "muted, or not"),
                CommandTable.configOption,
            ], run: { LocalCommands.run("mute", $0, log: $1) }),
        .init(
            "events", "events [--config PATH]", "follow the host's events (receivers joining, leaving, quality changes), one JSON line each, until interrupted",
            options: [
                CommandTable.configOption
            ], run: { LocalCommands.run("events", $0, log: $1) }),
        .init(
            "now-playing", "now-playing [--song-id ID] [--position SECONDS] [--volume 0-100] [--config PATH]", "tell the receivers what is playing",
            options: [
                ("--song-id ID", "the song's ID"),
                ("--position SECONDS", "how far into the song, such as 83.5"),
                ("--volume 0-100", "the house volume"),
                CommandTable.configOption,
            ], run: { LocalCommands.run("now-playing", $0, log: $1) }),
    ])
