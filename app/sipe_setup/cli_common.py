"""Argument parsing shared by the ``sipe-setup`` subcommands."""

from __future__ import annotations

import argparse
import os
import sys

from sipe_setup.core.account import Secret
from sipe_setup.core.discovery import Nameserver, parse_nameserver

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2


def nameserver_arg(text: str) -> Nameserver:
    """``--nameserver IP[:PORT]``."""
    try:
        return parse_nameserver(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def seconds_arg(text: str) -> float:
    """``--timeout S``: a number of seconds in (0, 600]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"“{text}” is not a number of seconds") from None
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError("the timeout must be between 0 and 600 seconds")
    return value


def add_password_options(group: argparse._MutuallyExclusiveGroup) -> None:
    """``--password-stdin`` / ``--password-env VAR``: never a password on argv."""
    group.add_argument("--password-stdin", action="store_true",
                       help="read the password from the first line of standard input")
    group.add_argument("--password-env", metavar="VAR",
                       help="read the password from environment variable VAR")


def read_password(args: argparse.Namespace) -> Secret | str | None:
    """The password from stdin or the environment, None when neither was asked for, or an
    error sentence."""
    if args.password_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        return Secret(line) if line else "no password on standard input"
    if args.password_env:
        value = os.environ.get(args.password_env)
        return Secret(value) if value else (f"the environment variable {args.password_env} "
                                            "is not set or empty")
    return None
