"""Command-line front end over :mod:`sipe_setup.core` (argparse; no logic of its own).

Start-up: only argparse and the command modules' parser definitions are imported to build
the parser, so ``sipe-setup --help`` and ``--version`` cost little more than the interpreter;
each handler imports the part of the core it needs when it runs
(``tests/unit/test_startup_imports.py`` keeps it so).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sipe_setup import __version__
from sipe_setup.cli_check import add_check_command
from sipe_setup.cli_common import (
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_USAGE,
    add_password_options,
    nameserver_arg,
    printable_output,
    read_password,
    seconds_arg,
    startup_done,
    take_password_from_environment,
)
from sipe_setup.cli_profiles import add_profile_commands
from sipe_setup.core.hardening import harden_process

if TYPE_CHECKING:
    from sipe_setup.core.account import AccountSettings
    from sipe_setup.core.advice import RenderedAdvice
    from sipe_setup.core.discovery import DiscoveryResult, QueryOutcome


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    parser = argparse.ArgumentParser(
        prog="sipe-setup",
        description="Set up and check a Lync / Skype for Business account for Pidgin + SIPE.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    entry = parser.add_mutually_exclusive_group()  # for pipx/pip installs (sipe_setup.desktop)
    entry.add_argument("--install-desktop-entry", dest="desktop_entry", action="store_const",
                       const="install", help="add sipe-setup-gui to your desktop's menu "
                       "(~/.local/share/applications, with its icon) and exit")
    entry.add_argument("--uninstall-desktop-entry", dest="desktop_entry", action="store_const",
                       const="uninstall", help="remove that menu entry and icon and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_discover_command(subparsers)
    add_check_command(subparsers)
    add_profile_commands(subparsers)
    from sipe_setup.cli_bitlbee import add_bitlbee_command  # light: handlers import the core
    from sipe_setup.cli_doctor import add_doctor_command

    add_doctor_command(subparsers)
    add_bitlbee_command(subparsers)
    return parser


def _on_a_desktop() -> bool:
    """True where a window can open: Windows, macOS, or an X11/Wayland session."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sipe-setup`` console script."""
    harden_process()  # first: no core dump may ever hold a password
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments and _on_a_desktop():
        from sipe_setup.gui.app import run_wizard  # Qt only when the wizard is wanted

        return run_wizard([])
    # A command line runs once and exits: no cyclic garbage collection while its modules load
    # (about 7 % of its start-up); a long-running command turns it on again once it has
    # imported what it needs (cli_common.startup_done).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _command(arguments)
    finally:
        if collecting:  # as it was (main may run inside a longer-lived process)
            gc.unfreeze()
            gc.enable()


def _command(arguments: list[str]) -> int:
    # Everything printed from here on may hold text from a server or a file: shown, never
    # obeyed by the terminal (DESIGN §6).
    with printable_output():
        parser = build_parser()
        args = parser.parse_args(arguments)
        take_password_from_environment(args)  # before anything can start a child process
        if getattr(args, "desktop_entry", None):
            if args.command is not None:
                parser.error("--install-desktop-entry/--uninstall-desktop-entry take no command")
            from sipe_setup.desktop import desktop_entry_command

            return desktop_entry_command(args.desktop_entry)
        if args.command is None:
            parser.print_help()
            return EXIT_OK
        handler = args.handler
        try:
            return int(handler(args))
        except KeyboardInterrupt:
            print("\nInterrupted.", file=sys.stderr)
            return 130


# --- discover -----------------------------------------------------------------------------------

DISCOVER_NONE_CODE = "SS-DISC-NONE"


def add_discover_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``sipe-setup discover USER …``."""
    cmd = subparsers.add_parser(
        "discover", help="find the server SIPE would use, showing every lookup",
        description="Find the servers SIPE would connect to for a sign-in address: Lync "
        "autodiscover, DNS SRV, A-record fallbacks and the bare domain, all looked up at "
        "once and listed in the order SIPE tries them.")
    cmd.add_argument("user", metavar="USER", help="sign-in address, like first.last@company.com")
    cmd.add_argument("--transport", default="auto", metavar="auto|tls|tcp",
                     help="connection type (default auto)")
    cmd.add_argument("--server", default="", metavar="HOST[:PORT]",
                     help="a manual server: SIPE then skips discovery")
    cmd.add_argument("--nameserver", action="append", type=nameserver_arg, default=[],
                     metavar="IP[:PORT]", help="DNS server to ask (repeatable); default: "
                     "the system's resolver configuration")
    cmd.add_argument("--timeout", type=seconds_arg, default=15.0, metavar="S",
                     help="give up on the whole discovery after S seconds (default 15)")
    cmd.add_argument("--login", default="", metavar="L",
                     help="Login for autodiscover's authenticated User link (DOMAIN\\\\user)")
    add_password_options(cmd.add_mutually_exclusive_group())
    cmd.add_argument("--user-agent", default="", metavar="UA",
                     help="User-Agent for autodiscover (default: SIPE's)")
    cmd.add_argument("--ca-file", default=None, metavar="PEM",
                     help="extra trusted CA certificates for autodiscover over HTTPS")
    cmd.add_argument("--json", action="store_true", help="print one JSON document")
    cmd.set_defaults(handler=run_discover)


def run_discover(args: argparse.Namespace) -> int:
    """Handler of ``discover``: exit 0 with a server, 1 without, 2 for bad input."""
    import asyncio
    import json

    from sipe_setup.core.account import AccountValidationError, parse_account
    from sipe_setup.core.discovery import (
        AutodiscoverSettings,
        DiscoveryOptions,
        ResolverSettings,
        discover,
    )
    from sipe_setup.core.textsafety import escape_json_output

    startup_done()
    try:
        account = parse_account(args.user, login=args.login, server=args.server,
                                transport=args.transport, user_agent=args.user_agent)
    except AccountValidationError as exc:
        for error in exc.errors:
            print(f"sipe-setup discover: {error.field.value}: {error.message}", file=sys.stderr)
        return EXIT_USAGE
    password = read_password(args)
    if isinstance(password, str):
        print(f"sipe-setup discover: password: {password}", file=sys.stderr)
        return EXIT_USAGE
    if args.ca_file and not os.path.isfile(args.ca_file):
        print(f"sipe-setup discover: --ca-file: {args.ca_file} is not a file", file=sys.stderr)
        return EXIT_USAGE
    options = DiscoveryOptions(
        resolver=ResolverSettings(nameservers=tuple(args.nameserver)),
        deadline=args.timeout,
        http=AutodiscoverSettings(user_agent=account.user_agent, ca_file=args.ca_file),
    )
    result = asyncio.run(discover(account, password=password, options=options))
    if args.json:
        print(escape_json_output(json.dumps(discover_document(account, result), indent=2,
                                            ensure_ascii=False)))
    else:
        print(render_discovery(account, result))
    return EXIT_OK if result.found else EXIT_PROBLEM


def discover_document(account: AccountSettings, result: DiscoveryResult) -> dict[str, object]:
    """The ``--json`` document of ``discover`` (schema: README, "JSON output (discover)")."""
    from sipe_setup.core.discovery import recommended_records

    document: dict[str, object] = {"schema_version": 1, "command": "discover",
                                   "signin": account.signin.address}
    document["verdict"] = "found" if result.found else "none"
    document["code"] = None if result.found else _failure(result).code
    document.update(result.to_json())
    document["advice"] = ([] if result.found else list(recommended_records(result.sip_domain)))
    return document


def _records_text(query_records: Sequence[str], detail: str, outcome: QueryOutcome) -> str:
    from sipe_setup.core.discovery import QueryOutcome

    if query_records:
        return ", ".join(query_records)
    return "" if outcome is QueryOutcome.ANSWER else detail


def _failure(result: DiscoveryResult) -> RenderedAdvice:
    """Why nothing was found, as ``check`` says it (DNS not answering ≠ nothing published)."""
    from sipe_setup.core.checkup.diagnose import discovery_failure_advice

    return discovery_failure_advice(result)


def render_discovery(account: AccountSettings, result: DiscoveryResult) -> str:
    """The human-readable table of ``discover``."""
    from sipe_setup.core.discovery import DiscoveryMode, recommended_records
    from sipe_setup.core.textsafety import printable

    lines = [f"Discovery for {account.signin.address} (SIP domain {result.sip_domain}, "
             f"connection type {account.transport.value})"]
    if result.mode is DiscoveryMode.MANUAL:
        lines.append("A server was given: SIPE skips discovery and connects to it directly.")
    if result.resolver:
        lines.append(f"DNS: {result.resolver}")
    elif result.nameservers:
        lines.append(f"DNS servers: {', '.join(result.nameservers)}")
    if result.queries:
        lines += ["", "DNS queries"]
        width = max(len(q.name) for q in result.queries)
        for q in result.queries:
            records = []
            random_pick = q.sipe_srv_random
            for target in q.srv_targets:
                if random_pick and target.sipe_chance > 0:
                    mark = f"  <- SIPE may use this one ({target.sipe_chance:.0%})"
                elif target.sipe_uses:
                    mark = "  <- SIPE uses this one"
                else:
                    mark = ""
                records.append(f"{target}{mark}")
            text = "; ".join(records) if records else _records_text(q.records, q.detail,
                                                                    q.outcome)
            lines.append(f"  {q.name:<{width}}  {q.record_type.value:<4}  "
                         f"{q.outcome.value:<10}  {q.elapsed_ms:6.0f} ms  {text}")
        if any(q.srv_targets for q in result.queries):
            lines.append("  (SRV records are listed in RFC 2782 order. SIPE uses one record per "
                         "name: the best priority; among equal priorities libpurple draws one "
                         "by weight, so the pick can change between sign-ins.)")
    if result.autodiscover:
        lines += ["", "Lync autodiscover (internal before external; https and http are "
                  "equivalent)"]
        for a in result.autodiscover:
            status = f"HTTP {a.status} " if a.status else ""
            lines.append(f"  {a.url}")
            lines.append(f"      {a.outcome.value}: {status}{a.detail}")
    lines += ["", "Servers, in the order SIPE tries them"]
    if not result.candidates:
        lines.append("  (none)")
    for index, c in enumerate(result.candidates, 1):
        where = ", ".join(c.addresses) if c.addresses else (
            "not resolved (given by hand)" if c.resolves else "does not resolve")
        lines.append(f"  {index}. {c.host}:{c.port} {c.transport.value.upper():<3}  "
                     f"from {c.source.value} {c.via}  -> {where}")
    lines.append("")
    if result.selected is not None:
        lines.append(f"SIPE would connect first to: {result.selected}")
    else:
        failure = _failure(result)
        lines.append(f"{failure.code}: {failure.title}.")
        if failure.code == DISCOVER_NONE_CODE:
            lines.append("Ask your IT department to publish the DNS records Lync clients use, "
                         "for example:")
            lines += [f"  {record}" for record in recommended_records(result.sip_domain)]
            lines.append("Or enter the server by hand (Server field / --server HOST[:PORT]).")
        else:
            lines += [failure.explanation, failure.fix]
    if result.warnings:
        lines += ["", "Warnings"]
        lines += [f"  [{w.code.value}] {w.message}" for w in result.warnings]
    selected_after = ("" if result.selected_after_ms is None or result.selected is None
                      else f"; server known after {result.selected_after_ms / 1000:.2f} s")
    lines += ["", f"Took {result.elapsed_ms / 1000:.2f} s{selected_after}."]
    # Each line on its own: a line break inside a server's text is shown, not obeyed.
    return "\n".join(printable(line) for line in lines)
