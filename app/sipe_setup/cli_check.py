"""``sipe-setup check``: the trial sign-in from the command line (same engine as the wizard).

Only argparse at import time: the handler imports the check engine when it runs. The text
report's first line — the phone code — is printed the moment the verdict is known; the rest
(with the sign-out step) follows when the check has ended.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sipe_setup.cli_common import (
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_USAGE,
    add_password_options,
    nameserver_arg,
    read_password,
    seconds_arg,
    startup_done,
)
from sipe_setup.cli_profiles import add_save_options

if TYPE_CHECKING:
    from sipe_setup.core.account import Secret
    from sipe_setup.core.checkup import TrustQuestion
    from sipe_setup.core.steps import CheckResult, StepEvent

_MARK = {"pass": "[ OK ]", "warn": "[WARN]", "fail": "[FAIL]", "skip": "[SKIP]"}


def _fingerprint(text: str) -> str:
    from sipe_setup.core.transport import normalize_sha256_fingerprint

    fingerprint = normalize_sha256_fingerprint(text)
    if fingerprint is None:
        raise argparse.ArgumentTypeError("a SHA-256 fingerprint has 64 hex digits "
                                         "(colons allowed)")
    return fingerprint


def add_check_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``sipe-setup check USER …``."""
    cmd = subparsers.add_parser(
        "check", allow_abbrev=False,
        help="discover the server and really sign in, then explain the result",
        description="Find the server as SIPE does, sign in for real (TLS, SIP REGISTER, NTLM "
        "or Kerberos with message signatures), sign out again, and say what is wrong if it "
        "fails. Exit status: 0 signed in, 1 a problem the report explains, 2 bad input. The "
        "password is never accepted on the command line.")
    cmd.add_argument("user", metavar="USER", help="sign-in address, like first.last@company.com")
    cmd.add_argument("--login", default=None, metavar="L",
                     help="Windows login: DOMAIN\\\\user or user@company.com (default: USER)")
    pw = cmd.add_mutually_exclusive_group()
    add_password_options(pw)
    pw.add_argument("--sso", action="store_true",
                    help="Single Sign-On: use the Kerberos ticket from kinit, no password")
    cmd.add_argument("--server", default=None, metavar="HOST[:PORT]",
                     help="the server; empty = automatic discovery")
    cmd.add_argument("--transport", default=None, choices=["auto", "tls", "tcp"])
    cmd.add_argument("--auth", default=None, choices=["auto", "ntlm", "kerberos", "tls-dsk"])
    cmd.add_argument("--user-agent", default=None, metavar="UA",
                     help="User-Agent to send (default: SIPE's own)")
    cmd.add_argument("--nameserver", action="append", type=nameserver_arg, default=[],
                     metavar="IP[:PORT]", help="DNS server to ask (repeatable)")
    cmd.add_argument("--ca-file", metavar="PEM", help="extra trusted CA certificates")
    cmd.add_argument("--trust-fingerprint", action="append", type=_fingerprint, default=[],
                     metavar="SHA256", help="accept this server certificate (repeatable)")
    cmd.add_argument("--accept-outside-domain", action="store_true",
                     help="allow sending credentials to a discovered server outside the SIP "
                          "domain")
    cmd.add_argument("--try-login-variants", action="store_true",
                     help="after a wrong-password answer, try up to two other forms of the "
                          "Login; each try counts as a failed sign-in on the server")
    cmd.add_argument("--no-login-variants", action="store_true",
                     help=argparse.SUPPRESS)  # the default now; kept so old scripts still run
    cmd.add_argument("--timeout", type=seconds_arg, default=90.0, metavar="S",
                     help="give up on the whole check after S seconds (default 90)")
    cmd.add_argument("--redact-user", action="store_true", help="hide user names in the report")
    cmd.add_argument("--redact-hosts", action="store_true",
                     help="hide server names and addresses in the report")
    cmd.add_argument("--json", action="store_true", help="print one JSON document")
    cmd.add_argument("--prefill", type=Path, metavar="FILE",
                     help="a settings file from your IT department (server, connection type, "
                          "scheme, User Agent, Login pattern); options given here win")
    add_save_options(cmd)
    cmd.set_defaults(handler=run_check_command)


def _password(args: argparse.Namespace) -> Secret | str | None:
    """The password, None for SSO, or an error sentence."""
    import getpass

    from sipe_setup.core.account import Secret

    if args.sso:
        return None
    given = read_password(args)
    if given is not None:
        return given
    if sys.stdin.isatty():
        try:
            return Secret(getpass.getpass("Password: "))
        except EOFError:
            return "no password given"
    return "give the password with --password-stdin or --password-env VAR (never on argv)"


def _with_prefill(args: argparse.Namespace) -> frozenset[str] | str:
    """Fill unset options from ``--prefill FILE``; the file's trusted fingerprints, or an
    error sentence."""
    values: dict[str, str | bool] = {}
    trusted: frozenset[str] = frozenset()
    if args.prefill is not None:
        from sipe_setup.core.sharefile import SharedSettingsError, load_shared_settings
        from sipe_setup.core.textsafety import printable

        try:
            shared = load_shared_settings(args.prefill)
        except SharedSettingsError as exc:
            return str(exc)
        values = shared.prefill(args.user)
        trusted = shared.trusted_fingerprints
        if shared.note or shared.organization:
            print(printable(f"Settings from {shared.organization or args.prefill}"
                            + (f": {shared.note}" if shared.note else "")), file=sys.stderr)
    defaults = {"login": "", "server": "", "transport": "auto", "auth": "auto",
                "user_agent": ""}
    for key, default in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, values.get(key, default))
    return trusted


async def ask_yes_no(prompt: str) -> bool:
    """Ask on the terminal without blocking the event loop, so the check's deadline and
    Ctrl-C still apply; end of input (Ctrl-D) and anything but yes mean no."""
    import asyncio

    loop = asyncio.get_running_loop()
    line: asyncio.Future[str] = loop.create_future()
    fd = sys.stdin.fileno()

    def readable() -> None:
        if not line.done():
            line.set_result(sys.stdin.readline())  # a tty is readable once a line (or EOF) is

    sys.stderr.write(prompt)
    sys.stderr.flush()
    loop.add_reader(fd, readable)
    try:
        answer = await line
    finally:
        loop.remove_reader(fd)
    if not answer.endswith("\n"):
        sys.stderr.write("\n")  # Ctrl-D: keep the report on its own line
    return answer.strip().lower() in ("y", "yes")


def run_check_command(args: argparse.Namespace) -> int:
    """Handler of ``check``."""
    import asyncio

    from sipe_setup.cli_profiles import save_checked_profile
    from sipe_setup.core.account import AccountValidationError, parse_account
    from sipe_setup.core.checkup import CheckOptions, TrustKind, run_check
    from sipe_setup.core.discovery import (
        AutodiscoverSettings,
        DiscoveryOptions,
        ResolverSettings,
    )
    from sipe_setup.core.textsafety import printable

    startup_done()
    prefilled = _with_prefill(args)
    if isinstance(prefilled, str):
        print(f"sipe-setup check: --prefill: {prefilled}", file=sys.stderr)
        return EXIT_USAGE
    try:
        account = parse_account(args.user, login=args.login, server=args.server,
                                transport=args.transport, auth=args.auth, sso=args.sso,
                                user_agent=args.user_agent)
    except AccountValidationError as exc:
        for error in exc.errors:
            print(f"sipe-setup check: {error.field.value}: {error.message}", file=sys.stderr)
        return EXIT_USAGE
    if args.ca_file and not os.path.isfile(args.ca_file):
        print(f"sipe-setup check: --ca-file: {args.ca_file} is not a file", file=sys.stderr)
        return EXIT_USAGE
    password = _password(args)
    if isinstance(password, str):
        print(f"sipe-setup check: password: {password}", file=sys.stderr)
        return EXIT_USAGE
    options = CheckOptions(
        discovery=DiscoveryOptions(
            resolver=ResolverSettings(nameservers=tuple(args.nameserver)),
            deadline=min(15.0, args.timeout),
            http=AutodiscoverSettings(user_agent=account.user_agent, ca_file=args.ca_file)),
        ca_file=args.ca_file,
        trusted_fingerprints=frozenset(args.trust_fingerprint) | prefilled,
        deadline=args.timeout,
        try_other_logins=args.try_login_variants and not args.no_login_variants,
    )
    interactive = sys.stdin.isatty() and not args.json and not args.password_stdin
    live = sys.stderr.isatty() and not args.json

    def on_event(event: StepEvent) -> None:
        if live and event.kind == "finished":
            print(f"{_MARK.get(event.status.value, '[    ]')} {printable(event.title)}: "
                  f"{printable(event.line)}",
                  file=sys.stderr, flush=True)

    async def ask_trust(question: TrustQuestion) -> bool:
        if question.kind is TrustKind.OUTSIDE_DOMAIN and args.accept_outside_domain:
            return True
        if not interactive:
            return False
        text = printable(question.message)
        if question.certificate is not None:
            text += f"\n  SHA-256: {question.certificate.sha256_fingerprint}"
        return await ask_yes_no(f"{text}\nAccept? [y/N] ")

    shown: list[str] = []  # the report's first line, printed at the verdict

    def on_verdict(early: CheckResult) -> None:
        if not args.json:
            shown.append(f"Code: {early.code}")
            print(shown[0], flush=True)

    result = asyncio.run(run_check(account, password, options, on_event=on_event,
                                   ask_trust=ask_trust, on_verdict=on_verdict))
    from sipe_setup.core.report import Redaction, report_json, report_text

    redaction = Redaction.for_check(account, result, password, users=args.redact_user,
                                    hosts=args.redact_hosts)
    if args.json:
        print(report_json(result, redaction))
    else:
        text = report_text(result, redaction)
        first, _, rest = text.partition("\n")
        print(rest if shown and first == shown[0] else text, end="")
    if args.save:
        return save_checked_profile(args, account, password, result)
    return EXIT_OK if result.ok else EXIT_PROBLEM
