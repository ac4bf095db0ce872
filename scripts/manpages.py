"""``make manpages``: packaging/man/sipe-setup.1 and sipe-setup-gui.1 from the argparse parsers.

The options, commands and their help come from the programs themselves
(``sipe_setup.cli.build_parser`` and ``sipe_setup.gui.app.build_parser``), so the pages cannot
drift from ``--help``: ``tests/packaging/test_manpages.py`` regenerates them and fails when the
files differ. The prose around them (description, exit status, files, environment) is here.
The date is the newest release's in the AppStream metainfo, so the output is reproducible.

Usage: ``.venv/bin/python scripts/manpages.py [--check] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAN_DIR = ROOT / "packaging" / "man"


def escape(text: str) -> str:
    """Text for a roff line: backslashes, minus signs and leading control characters."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line.startswith((".", "'")) else line
                     for line in text.split("\n"))


def _prose(text: str) -> str:
    """A paragraph of running text: one line, words separated by single spaces."""
    return escape(" ".join(text.split()))


def _release_date() -> str:
    from sipe_setup.desktop import METAINFO_FILE, data_path

    metainfo = data_path(METAINFO_FILE)
    assert metainfo is not None, "sipe_setup is installed without its data files"
    found = re.search(r'<release [^>]*date="([0-9-]+)"', metainfo.read_text(encoding="utf-8"))
    return found.group(1) if found else "1970-01-01"


def _formatter(parser: argparse.ArgumentParser) -> argparse.HelpFormatter:
    return argparse.HelpFormatter(parser.prog, width=10_000, max_help_position=10_000)


def _usage(parser: argparse.ArgumentParser) -> str:
    text = " ".join(_formatter(parser)._format_usage(parser.usage, parser._actions,
                                                    parser._mutually_exclusive_groups,
                                                    "").split())
    return text.removeprefix("usage: ")


def synopsis(parser: argparse.ArgumentParser) -> list[str]:
    """A usage paragraph for fill mode: the program in bold, then its arguments, broken only
    between top-level words (never inside ``[…]``)."""
    rest = _usage(parser).removeprefix(parser.prog).strip()
    words: list[str] = []
    depth, word = 0, ""
    for char in rest:
        if char == " " and depth == 0:
            words.append(word)
            word = ""
            continue
        depth += {"[": 1, "{": 1, "(": 1, "]": -1, "}": -1, ")": -1}.get(char, 0)
        word += char
    words.append(word)
    arguments = " ".join(escape(w).replace(" ", "\\ ") for w in words if w)
    return [".PP", f"\\fB{escape(parser.prog)}\\fR {arguments}".rstrip()]


def _subcommands(parser: argparse.ArgumentParser
                 ) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each sub-command, aliases once, in order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    yield name, helps.get(name, ""), sub


def _invocation(formatter: argparse.HelpFormatter, action: argparse.Action) -> str:
    """``-o, --option ARG`` (the same on every Python version; 3.13 changed argparse's)."""
    if not action.option_strings:
        return formatter._format_args(action, action.dest)
    names = ", ".join(action.option_strings)
    if action.nargs == 0:
        return names
    metavar = formatter._get_default_metavar_for_optional(action)
    return f"{names} {formatter._format_args(action, metavar)}"


def _options(parser: argparse.ArgumentParser) -> list[str]:
    lines: list[str] = []
    formatter = _formatter(parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
            continue
        invocation = _invocation(formatter, action)
        help_text = formatter._expand_help(action) if action.help else ""
        help_text = help_text.replace(str(Path.home()), "~")  # defaults under $HOME
        lines += [".TP", f"\\fB{escape(invocation)}\\fR", _prose(help_text) or "\\&"]
    return lines


def _command_section(parser: argparse.ArgumentParser, title: str, level: str = ".SS") -> list[str]:
    lines = [f'{level} "{escape(title)}"']
    if parser.description:
        lines += [_prose(parser.description), ".PP"]
    lines += synopsis(parser)
    options = _options(parser)
    if options:
        lines += options
    for name, _help, sub in _subcommands(parser):
        lines += _command_section(sub, f"{title} {name}")
    return lines


def _header(name: str, version: str) -> list[str]:
    return [f'.\\" Generated by scripts/manpages.py from {name} --help; do not edit.',
            f'.TH {name.upper()} 1 "{_release_date()}" "sipe-setup {version}" "User Commands"',
            ".\\\" Left-aligned, no hyphenation: option names must not be split.", ".ad l", ".nh"]


CLI_DESCRIPTION = (
    """sipe-setup sets up a Microsoft Office Communications Server, Lync or Skype for Business
    account for Pidgin with the SIPE plugin, and finds out why it does not work when it does
    not. It finds the server the way SIPE does (Lync autodiscover, DNS SRV, A-record fallbacks),
    performs a real trial sign-in (TLS, SIP REGISTER, NTLM, Kerberos or TLS-DSK with message
    signatures) and says in plain words what is wrong, what to change, and a short code (such as
    SS-AUTH-401) for the IT department.""",
    """Without a command, on a desktop, it opens the wizard (see sipe-setup-gui(1)). Passwords
    are never taken from the command line: use --password-stdin, or --password-env VAR, which
    removes the variable from the environment before anything else runs.""",
)

GUI_DESCRIPTION = """\
sipe-setup-gui is the wizard of sipe-setup(1): Pidgin's Basic and Advanced SIPE fields with
help and inline validation, a live trial sign-in, the verdict with advice and a code for the
IT department, and at the end the profile saved (password in the system keyring) and the
account written into Pidgin's accounts.xml. Its first page offers a new setup, an existing
Pidgin SIPE account, a saved profile or a settings file from IT; any of the pre-fill options
skips that page. Options it does not know (such as -platform offscreen) are passed to Qt.
There is deliberately no password option.
"""

EXIT_STATUS = [
    ".TP", "\\fB0\\fR", "Success: a server was found, the sign-in worked, the command did what "
    "was asked.",
    ".TP", "\\fB1\\fR", "A problem the output explains (no server found, the sign-in failed, a "
    "file or the keyring could not be used).",
    ".TP", "\\fB2\\fR", "Bad input: the message names the field or option.",
    ".TP", "\\fB130\\fR", "Interrupted with Ctrl\\-C.",
]

FILES = [
    ".TP", "\\fI~/.config/sipe\\-setup/profiles/\\fR",
    "Saved profiles, one JSON file each, mode 0600 ($XDG_CONFIG_HOME is honoured). Passwords "
    "are kept in the system keyring, never in these files.",
    ".TP", "\\fI~/.purple/accounts.xml\\fR, \\fI~/.purple/prefs.xml\\fR",
    "Pidgin's accounts and preferences, read by import and merged by export; the previous "
    "version is kept as \\fIaccounts.xml.<timestamp>.bak\\fR (the newest five).",
    ".TP", "\\fI~/.local/share/applications/io.github.sipe_setup.SipeSetup.desktop\\fR",
    "The menu entry written by \\-\\-install\\-desktop\\-entry (for pip and pipx installs).",
]

ENVIRONMENT = [
    ".TP", "\\fBSIPE_SETUP_KEYRING_TIMEOUT\\fR",
    "Seconds to wait for the keyring before saying it is not answering (default 10).",
    ".TP", "\\fBXDG_CONFIG_HOME\\fR, \\fBXDG_DATA_HOME\\fR",
    "Where profiles and the user's menu entry go.",
    ".TP", "\\fBDISPLAY\\fR, \\fBWAYLAND_DISPLAY\\fR",
    "Without a command, sipe\\-setup opens the wizard when one of them is set.",
]


def cli_page() -> str:
    from sipe_setup import __version__
    from sipe_setup.cli import build_parser

    parser = build_parser()
    lines = _header("sipe-setup", __version__)
    lines += [".SH NAME", "sipe\\-setup \\- set up and check a Lync or Skype for Business "
              "account for Pidgin + SIPE"]
    lines += [".SH SYNOPSIS", *synopsis(parser)]
    for _name, _help, sub in _subcommands(parser):
        lines += synopsis(sub)
    lines += [".SH DESCRIPTION", _prose(CLI_DESCRIPTION[0])]
    for paragraph in CLI_DESCRIPTION[1:]:
        lines += [".PP", _prose(paragraph)]
    lines += [".SH OPTIONS", *_options(parser), ".SH COMMANDS"]
    for name, help_text, _sub in _subcommands(parser):
        lines += [".TP", f"\\fB{escape(name)}\\fR", _prose(help_text) or "\\&"]
    for name, _help, sub in _subcommands(parser):
        lines += _command_section(sub, f"sipe-setup {name}")
    lines += [".SH EXIT STATUS", *EXIT_STATUS, ".SH ENVIRONMENT", *ENVIRONMENT]
    lines += [".SH FILES", *FILES, ".SH SEE ALSO", "\\fBsipe\\-setup\\-gui\\fR(1), "
              "\\fBpidgin\\fR(1), \\fBfinch\\fR(1)"]
    return "\n".join(lines) + "\n"


def gui_page() -> str:
    from sipe_setup import __version__
    from sipe_setup.gui.app import build_parser

    parser = build_parser()
    lines = _header("sipe-setup-gui", __version__)
    lines += [".SH NAME", "sipe\\-setup\\-gui \\- the sipe\\-setup wizard for Lync and Skype for "
              "Business accounts in Pidgin"]
    lines += [".SH SYNOPSIS", *synopsis(parser)]
    lines += [".SH DESCRIPTION", _prose(GUI_DESCRIPTION)]
    lines += [".SH OPTIONS", *_options(parser)]
    lines += [".SH EXIT STATUS", ".TP", "\\fB0\\fR", "The window was closed.", ".TP",
              "\\fB2\\fR", "Bad options, or no desktop session to open a window in."]
    lines += [".SH FILES", *FILES[:6]]
    lines += [".SH SEE ALSO", "\\fBsipe\\-setup\\fR(1), \\fBpidgin\\fR(1)"]
    return "\n".join(lines) + "\n"


PAGES = {"sipe-setup.1": cli_page, "sipe-setup-gui.1": gui_page}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the man pages from the parsers.")
    parser.add_argument("--out", type=Path, default=MAN_DIR, help="folder (default packaging/man)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when a page is out of date")
    args = parser.parse_args(argv)
    stale = []
    for name, render in PAGES.items():
        path, text = args.out / name, render()
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        if args.check:
            stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"out of date: {', '.join(stale)} (run make manpages)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
