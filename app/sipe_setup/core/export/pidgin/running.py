"""Pidgin and Finch processes using a settings folder (they rewrite accounts.xml on quitting).

Linux reads ``/proc``: a process's folder is known (its ``-c`` option or ``$HOME/.purple``).
Elsewhere the folder is not known, so any Pidgin/Finch of this user counts as using it:
macOS and the BSDs ask ``ps``, Windows asks ``tasklist`` (neither tested on those systems).
Inside a Flatpak sandbox the host's processes are invisible. :func:`running_detection`
says when this system cannot tell, so that the caller can ask the user to quit Pidgin.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from sipe_setup.core.export.pidgin.model import PidginRunning, RunningClient

__all__ = ["ensure_not_running", "find_running_clients", "running_detection"]

_CLIENT_PROGRAMS: Final = ("pidgin", "finch")
_PROC: Final = Path("/proc")
_PROC_READ_LIMIT: Final = 256 * 1024
_FLATPAK_INFO: Final = Path("/.flatpak-info")
_LIST_TIMEOUT: Final = 5.0  # seconds for ps / tasklist


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


def _list_programs(command: list[str]) -> str | None:
    """The output of ``ps``/``tasklist`` (None when it cannot be run or fails)."""
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=_LIST_TIMEOUT, check=False,
                              creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.decode(errors="replace") if done.returncode == 0 else None


def _ps_clients() -> list[RunningClient]:
    """macOS and the BSDs: this user's pidgin/finch processes, from ``ps``."""
    output = _list_programs(["ps", "-x", "-U", str(os.getuid()), "-o", "pid=", "-o", "comm="])
    clients = []
    for line in (output or "").splitlines():
        pid, _, command = line.strip().partition(" ")
        program = os.path.basename(command.strip())
        if pid.isdigit() and program in _CLIENT_PROGRAMS and int(pid) != os.getpid():
            clients.append(RunningClient(pid=int(pid), program=program))
    return clients


def _windows_clients() -> list[RunningClient]:
    """Windows: this user's pidgin.exe/finch.exe, from ``tasklist``."""
    command = ["tasklist", "/FO", "CSV", "/NH"]
    user, domain = os.environ.get("USERNAME", ""), os.environ.get("USERDOMAIN", "")
    if user:
        command += ["/FI", f"USERNAME eq {domain}\\{user}" if domain else f"USERNAME eq {user}"]
    clients = []
    for row in csv.reader((_list_programs(command) or "").splitlines()):
        if len(row) < 2 or not row[1].strip().isdigit():
            continue
        program = row[0].strip().lower().removesuffix(".exe")
        if program in _CLIENT_PROGRAMS:
            clients.append(RunningClient(pid=int(row[1].strip()), program=program))
    return clients


def _platform() -> str:
    """``sys.platform``, read at call time (mypy would otherwise prune other systems' code)."""
    return sys.platform


def running_detection() -> str:
    """"" when sipe-setup can see a running Pidgin/Finch here; otherwise why it cannot."""
    if _FLATPAK_INFO.is_file():
        return "sipe-setup runs in a Flatpak sandbox, which hides the other programs"
    if _platform().startswith("linux"):
        return "" if _PROC.is_dir() else "/proc is not mounted"
    tool = "tasklist" if _platform() == "win32" else "ps"
    return "" if shutil.which(tool) else f"the {tool} program is missing"


def find_running_clients(purple_dir: Path) -> list[RunningClient]:
    """Pidgin/Finch processes of the current user that use ``purple_dir``.

    On Linux (``/proc``) a process's folder is its ``-c``/``--config`` option, else
    ``$HOME/.purple`` from its environment (ours when unreadable). On macOS/BSD (``ps``) and
    Windows (``tasklist``) the folder cannot be seen: every Pidgin/Finch of this user counts.
    Returns [] when the system does not tell (:func:`running_detection` says why): callers
    must then ask the user to quit Pidgin first.
    """
    system = _platform()
    if system == "win32":
        return _windows_clients()
    if not system.startswith("linux"):
        return _ps_clients()
    if _FLATPAK_INFO.is_file() or not _PROC.is_dir():
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
