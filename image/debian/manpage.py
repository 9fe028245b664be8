#!/usr/bin/env python3
"""A daemon's manual page, made from its own --help and each COMMAND --help, so the page and the
program cannot disagree:  manpage.py BINARY "one-line summary" VERSION > NAME.1
MANPAGE_RUN: a command BINARY runs under (another architecture's: "qemu-aarch64-static -L ROOT")."""
import os
import re
import subprocess
import sys

binary, summary, version = sys.argv[1:4]
name = binary.rsplit("/", 1)[-1]


def helptext(*args):
    run = os.environ.get("MANPAGE_RUN", "").split()
    return subprocess.run([*run, binary, *args, "--help"], check=True, capture_output=True, text=True).stdout.splitlines()


def roff(text):
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text.startswith((".", "'")) else text


def option_block(lines):
    """'  --opt ARG  what it does' lines as tagged paragraphs; any other line as text."""
    out = []
    for line in lines:
        match = re.match(r"^\s{2}(\S+(?: [A-Z0-9|.\-]+)?)\s{2,}(.*)$", line)
        if match:
            out += [".TP", f"\\fB{roff(match.group(1))}\\fR", roff(match.group(2))]
        elif line.strip():
            out += [".PP", roff(line.strip())]
    return out


main = helptext()
usage = next(i for i, line in enumerate(main) if line.startswith("usage:"))
commands_at = next((i for i, line in enumerate(main) if line.startswith("commands")), len(main))
options = main[usage + 1:commands_at]
commands = [line.strip().split()[1] for line in main[commands_at + 1:] if line.startswith(f"  {name} ")]

page = [
    f'.TH {name.upper()} 1 "" "Moosync Audio Share {version}" "User Commands"',
    ".SH NAME",
    f"{name} \\- {roff(summary)}",
    ".SH SYNOPSIS",
    roff(main[usage].removeprefix("usage: ")),
]
for command in commands:
    page += [".br", roff(helptext(command)[0].removeprefix("usage: "))]
page += [".SH DESCRIPTION", roff(options[0].strip()), ".SH OPTIONS", *option_block(options[1:])]
if commands:
    page.append(".SH COMMANDS")
    for command in commands:
        text = helptext(command)
        page += [".SS " + roff(text[0].removeprefix("usage: ")), roff(text[1].strip()), *option_block(text[2:])]
page += [
    ".SH FILES",
    ".TP", "\\fI/etc/moosync.json\\fR",
    "the configuration: every key, its default and meaning in /usr/share/doc/moosync\\-audio\\-share/SCHEMA.md",
    ".TP", "\\fI/var/lib/moosync\\fR",
    "state_dir: keys, certificates, pinned hosts (known_hosts), the device id and the local control sockets",
    ".SH SEE ALSO",
    "\\fBmsrecv\\fR(1), \\fBmshost\\fR(1), \\fBsystemctl\\fR(1), \\fBjournalctl\\fR(1)",
]
print("\n".join(page))
