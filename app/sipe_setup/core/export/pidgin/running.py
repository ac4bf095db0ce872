"""Pidgin and Finch processes using a settings folder (they rewrite accounts.xml on quitting)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from sipe_setup.core.export.pidgin.model import PidginRunning, RunningClient

__all__ = ["ensure_not_running", "find_running_clients"]

_CLIENT_PROGRAMS: Final = ("pidgin", "finch")
_PROC: Final = Path("/proc")
_PROC_READ_LIMIT: Final = 256 * 1024


def _read_proc_file(path: Path) -> bytes | None:
    try:
        with path.open("rb") as handle:
            return handle.read(_PROC_READ_LIMIT)
    except OSError:
        return None


def _config_option(args: list[str]) -> str | None:
    """The ``-c DIR`` / ``--config[=]DIR`` of a pidgin/finch command line (getopt rules)."""
    result: str | None = None
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            break
        if arg.startswith("--"):
            option, has_value, value = arg[2:].partition("=")
            # getopt_long accepts any unambiguous prefix; "c" only starts "config".
            if option and "config".startswith(option):
                if has_value:
                    result = value
                elif index < len(args):
                    result = args[index]
                    index += 1
            elif option in ("session", "display") and not has_value:
                index += 1  # options with a required argument
            continue
        if arg.startswith("-") and len(arg) > 1:
            letters = arg[1:]
            for position, letter in enumerate(letters):
                rest = letters[position + 1 :]
                if letter == "c":
                    if rest:
                        result = rest
                    elif index < len(args):
                        result = args[index]
                        index += 1
                    break
                if letter == "s":  # --session takes an argument
                    if not rest:
                        index += 1
                    break
                if letter == "l":  # --login[=NAMES]: optional argument, attached only
                    break
    return result


def _process_home(pid_dir: Path) -> Path:
    environ = _read_proc_file(pid_dir / "environ")
    for entry in (environ or b"").split(b"\0"):
        if entry.startswith(b"HOME="):
            return Path(os.fsdecode(entry[5:]))
    return Path.home()


def _client_config_dir(pid_dir: Path, args: list[str]) -> Path:
    config = _config_option(args)
    if config is None:
        return _process_home(pid_dir) / ".purple"
    path = Path(os.path.expanduser(config))
    if not path.is_absolute():
        with contextlib.suppress(OSError):
            path = Path(os.readlink(pid_dir / "cwd")) / path
    return path


def _scan_clients(proc: Path) -> Iterator[tuple[RunningClient, Path]]:
    uid = os.getuid()
    own = os.getpid()
    try:
        entries = list(proc.iterdir())
    except OSError:
        return
    for pid_dir in entries:
        if not pid_dir.name.isdigit() or int(pid_dir.name) == own:
            continue
        try:
            if pid_dir.stat().st_uid != uid:
                continue
        except OSError:
            continue
        raw = _read_proc_file(pid_dir / "cmdline")
        if not raw:
            continue
        argv = [os.fsdecode(part) for part in raw.rstrip(b"\0").split(b"\0")]
        comm = os.fsdecode((_read_proc_file(pid_dir / "comm") or b"").strip())
        program = os.path.basename(argv[0])
        if program not in _CLIENT_PROGRAMS:
            # A script run through its interpreter: argv[0] is the interpreter, comm the script.
            if comm not in _CLIENT_PROGRAMS:
                continue
            program = comm
        yield RunningClient(pid=int(pid_dir.name), program=program), _client_config_dir(
            pid_dir, argv[1:]
        )


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):
        return os.path.abspath(a) == os.path.abspath(b)


def find_running_clients(purple_dir: Path) -> list[RunningClient]:
    """Pidgin/Finch processes of the current user that use ``purple_dir``.

    Linux only (reads ``/proc``): a process's folder is its ``-c``/``--config`` option, else
    ``$HOME/.purple`` from its environment (ours when unreadable). Elsewhere this returns []:
    callers must still ask the user to quit Pidgin first.
    """
    if not sys.platform.startswith("linux") or not _PROC.is_dir():
        return []
    return sorted(
        (client for client, folder in _scan_clients(_PROC) if _same_dir(folder, purple_dir)),
        key=lambda client: client.pid,
    )


def ensure_not_running(purple_dir: Path) -> None:
    """Raise :class:`PidginRunning` when Pidgin or Finch uses ``purple_dir``."""
    clients = find_running_clients(purple_dir)
    if clients:
        raise PidginRunning(clients)
