"""Writing our files (profiles, accounts.xml, prefs.xml) without ever leaving half of one.

Invariants:
- a reader sees either the old file or the new one, never a mix: the data goes to a temporary
  file in the same directory, is fsync'ed, then renamed over the target (``os.replace`` is
  atomic on POSIX and on Windows), and the directory is fsync'ed so the rename itself survives
  a crash;
- the temporary file is created with the final mode from the start (``0600`` by default), so a
  secret is never readable by others, not even for a moment;
- a backup is a copy taken *before* the write, named with a timestamp, with the same mode.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import stat
import tempfile
from pathlib import Path

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` (and parents) readable by the owner only when it is new."""
    directory.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)


def _fsync_directory(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, mode: int = PRIVATE_FILE_MODE) -> None:
    """Replace ``path`` with ``data`` atomically (temp file + fsync + rename + dir fsync).

    Raises:
        OSError: the directory is not writable, the disk is full...; ``path`` is then untouched.
    """
    directory = path.parent
    ensure_private_dir(directory)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            if os.name == "posix":
                os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_directory(directory)


def backup_file(path: Path, *, now: dt.datetime | None = None) -> Path | None:
    """Copy ``path`` to ``<name>.<YYYYmmdd-HHMMSS>.bak`` beside it; None when there is no file.

    The copy keeps the original's permission bits (an accounts.xml may hold a password). When
    a backup with that name exists already (two writes in one second), a counter is added.
    """
    if not path.exists():
        return None
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.{stamp}.bak")
    counter = 1
    while target.exists():
        counter += 1
        target = path.with_name(f"{path.name}.{stamp}-{counter}.bak")
    original_mode = stat.S_IMODE(path.stat().st_mode)
    write_atomic(target, path.read_bytes(), mode=original_mode & PRIVATE_FILE_MODE or
                 PRIVATE_FILE_MODE)
    shutil.copystat(path, target)
    target.chmod(original_mode & PRIVATE_FILE_MODE or PRIVATE_FILE_MODE)
    return target
