"""Argument parsing shared by the ``sipe-setup`` subcommands.

Only argparse (and the small text-safety module) at import time: ``sipe-setup --help`` builds
every command's parser from here, so what a command needs from the core is imported when the
command runs (or when its option is parsed).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, TextIO

from sipe_setup.core.textsafety import printable_lines

if TYPE_CHECKING:
    from sipe_setup.core.account import Secret
    from sipe_setup.core.discovery.dns import Nameserver

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2


def startup_done() -> None:
    """A command has imported what it needs: garbage collection on again (``main`` turns it
    off while modules load), with what was loaded so far left out of every collection."""
    import gc

    gc.freeze()
    gc.enable()


def nameserver_arg(text: str) -> Nameserver:
    """``--nameserver IP[:PORT]``."""
    from sipe_setup.core.discovery.dns import parse_nameserver

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


def take_password_from_environment(args: argparse.Namespace) -> None:
    """``--password-env VAR``: read VAR now and remove it from the environment.

    :func:`sipe_setup.cli.main` calls this right after parsing, before the command runs, so no
    child process (the keyring library probes with ``gcc``/``ld``) ever inherits the password.
    :func:`read_password` then returns what was read.
    """
    name = getattr(args, "password_env", None)
    if not name or hasattr(args, "password_from_env"):
        return
    from sipe_setup.core.account import Secret
    from sipe_setup.core.hardening import take_environment_variable

    value = take_environment_variable(name)
    args.password_from_env = Secret(value) if value else None


def read_password(args: argparse.Namespace) -> Secret | str | None:
    """The password from stdin or the environment, None when neither was asked for, or an
    error sentence."""
    from sipe_setup.core.account import Secret

    if args.password_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        return Secret(line) if line else "no password on standard input"
    if args.password_env:
        take_password_from_environment(args)
        value: Secret | None = args.password_from_env
        return value if value else (f"the environment variable {args.password_env} "
                                    "is not set or empty")
    return None


class PrintableStream:
    """A text stream that shows every control or reordering character as a visible escape
    (:func:`~sipe_setup.core.textsafety.printable`), keeping line breaks: whatever text from a
    server or a file reaches ``print``, the terminal only displays it, never obeys it."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(printable_lines(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> object:  # flush, isatty, encoding, fileno...
        return getattr(self.stream, name)


@contextlib.contextmanager
def printable_output() -> Iterator[None]:
    """Route ``sys.stdout`` and ``sys.stderr`` through :class:`PrintableStream` meanwhile."""
    saved = sys.stdout, sys.stderr
    sys.stdout = PrintableStream(saved[0])  # type: ignore[assignment]
    sys.stderr = PrintableStream(saved[1])  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
