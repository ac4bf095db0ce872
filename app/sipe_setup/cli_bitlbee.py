"""``sipe-setup export-bitlbee PROFILE``: the BitlBee commands for a saved profile
(:mod:`sipe_setup.core.export.bitlbee`).

The commands go to standard output, one per line, ready to type or paste; what to know about
them goes to standard error. Only argparse at import time (the handler imports the core).
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["add_bitlbee_command", "run_export_bitlbee"]


def add_bitlbee_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``export-bitlbee PROFILE [--with-password | --password-stdin | --password-env VAR]``."""
    from sipe_setup.cli_common import add_password_options

    cmd = subparsers.add_parser(
        "export-bitlbee", allow_abbrev=False,
        help="print the BitlBee commands that add a saved profile's SIPE account",
        description="Prints the commands to type in BitlBee's &bitlbee channel (bitlbee-"
        "libpurple with pidgin-sipe): account add, then every SIPE setting with account ... "
        "set, quoted the way BitlBee reads them (a DOMAIN\\user Login keeps its backslash). "
        "The password is entered with your IRC client's /OPER, unless you ask for it inline.")
    cmd.add_argument("profile", metavar="PROFILE")
    passwords = cmd.add_mutually_exclusive_group()
    passwords.add_argument("--with-password", action="store_true",
                           help="put the profile's saved password (from the keyring) into "
                                "the account add line; the output then holds it")
    add_password_options(passwords)
    cmd.add_argument("--json", action="store_true", help="print one JSON document")
    cmd.set_defaults(handler=run_export_bitlbee)


def _error(message: str) -> None:
    print(f"sipe-setup export-bitlbee: {message}", file=sys.stderr)


def run_export_bitlbee(args: argparse.Namespace) -> int:
    """Handler: 0 with the commands printed, 1 when the profile or password is unusable,
    2 for bad input."""
    from sipe_setup.cli_common import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, read_password
    from sipe_setup.core.account import AccountValidationError, Secret
    from sipe_setup.core.export.bitlbee import bitlbee_setup_for_profile
    from sipe_setup.core.profiles import ProfileError, ProfileStore
    from sipe_setup.core.textsafety import escape_json_output

    try:
        profile = ProfileStore().load(args.profile)
    except ProfileError as exc:
        _error(str(exc))
        return EXIT_PROBLEM
    given = read_password(args)
    if isinstance(given, str):
        _error(f"password: {given}")
        return EXIT_USAGE
    password: Secret | None = given
    if args.with_password and not profile.sso:
        from sipe_setup.core.secrets import KeyringUnavailable, PasswordVault

        try:
            password = PasswordVault().load(profile.id)
        except KeyringUnavailable as exc:
            _error(f"--with-password: {exc}")
            return EXIT_PROBLEM
        if password is None:
            _error("--with-password: the profile has no saved password; give it with "
                   "--password-stdin or --password-env VAR, or leave it out (/OPER)")
            return EXIT_PROBLEM
    try:
        setup = bitlbee_setup_for_profile(profile, password=password)
    except (AccountValidationError, ValueError) as exc:
        _error(str(exc))
        return EXIT_PROBLEM
    if args.json:
        print(escape_json_output(json.dumps(setup.to_json(), indent=2, ensure_ascii=False)))
        return EXIT_OK
    for note in setup.notes:
        print(f"# {note}", file=sys.stderr)
    sys.stderr.flush()
    print(setup.text())
    return EXIT_OK
