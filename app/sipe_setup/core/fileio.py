"""Writing our files (profiles, accounts.xml, prefs.xml) without ever leaving half of one.

Invariants:
- a reader sees either the old file or the new one, never a mix: the data goes to a temporary
  file in the same directory, is fsync'ed, then renamed over the target (``os.replace`` is
  atomic on POSIX and on Windows), and the directory is fsync'ed so the rename itself survives
  a crash;
- the temporary file is created with the final mode from the start (``0600`` by default), so a
  secret is never readable by others, not even for a moment;
- a read-merge-write runs under :func:`locked_folder` (one writer per folder, across threads
  and processes) and passes what it read as ``expect`` to :func:`write_atomic`, which re-reads
  the file just before the rename and refuses (:class:`FileChangedError`) when another program
  changed it meanwhile — a change is never silently lost;
- a backup is a copy taken *before* the write, named with a timestamp, with the same mode; only
  the newest :data:`KEEP_BACKUPS` of one file are kept (older ones *we* wrote are deleted);
- temporary files a killed writer left behind (``.<name>.<pid>.<random>.tmp``) are deleted by
  the next write of the same file once their writer is gone or they are older than
  :data:`STALE_TEMP_SECONDS`;
- an ``OSError`` leaving this module names the real file (never a temporary one) in plain
  words (:class:`FileWriteError`, still an ``OSError``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = [
    "KEEP_BACKUPS",
    "LOCK_FILE_NAME",
    "LOCK_TIMEOUT_SECONDS",
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "STALE_TEMP_SECONDS",
    "FileChangedError",
    "FileWriteError",
    "FolderBusy",
    "Snapshot",
    "backup_file",
    "backups_of",
    "describe_os_error",
    "ensure_private_dir",
    "locked_folder",
    "prune_backups",
    "read_snapshot",
    "remove_stale_temps",
    "write_atomic",
]

PRIVATE_FILE_MODE: Final = 0o600
PRIVATE_DIR_MODE: Final = 0o700

KEEP_BACKUPS: Final = 5
"""Backups kept per file. Enough to undo the last few exports of a session (the wizard may write
accounts.xml and prefs.xml several times while the user tries modes), few enough that the copies
of *other* accounts' saved passwords do not pile up (50 exports used to leave 50 copies)."""

STALE_TEMP_SECONDS: Final = 10 * 60
"""A temporary file older than this is a leftover even when its writer's pid is alive (pids are
reused); a real write takes milliseconds."""

LOCK_FILE_NAME: Final = ".sipe-setup.lock"
LOCK_TIMEOUT_SECONDS = 10.0
"""How long a writer waits for another one in the same folder (an export takes milliseconds)."""

_BACKUP_RE: Final = re.compile(r"\.(\d{8}-\d{6})(?:-(\d+))?\.bak")
# What follows ".<name>" in our temporary files: [.<stamp>[-N].bak].[<pid>.]<8 random>.tmp
_TEMP_TAIL_RE: Final = re.compile(
    r"(?:\.(\d{8}-\d{6})(?:-\d+)?\.bak)?\.(?:(\d+)\.)?[a-z0-9_]{8}\.tmp")


# --- plain-words errors --------------------------------------------------------------------------

_REASONS: Final = {
    errno.EACCES: "permission denied",
    errno.EPERM: "the operation is not permitted",
    errno.ENOSPC: "the disk is full",
    errno.EROFS: "the disk is mounted read-only",
    errno.ENOENT: "the folder does not exist",
    errno.ENOTDIR: "a file is in the way where a folder should be",
    errno.EISDIR: "it is a folder, not a file",
    errno.EEXIST: "a file of that name is in the way",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EIO: "the disk reported an input/output error",
    errno.ELOOP: "it is a loop of symbolic links",
    errno.EBUSY: "it is in use",
}
if hasattr(errno, "EDQUOT"):
    _REASONS[errno.EDQUOT] = "your disk quota is used up"


def describe_os_error(exc: OSError) -> str:
    """The reason of ``exc`` in plain words, without errno numbers or file names."""
    if exc.errno is not None and exc.errno in _REASONS:
        return _REASONS[exc.errno]
    text = (exc.strerror or str(exc) or type(exc).__name__).strip()
    return text[:1].lower() + text[1:]


class FileWriteError(OSError):
    """A file operation that failed, told in plain words naming the real file.

    Still an ``OSError`` (``errno`` kept) so existing handlers catch it; ``str()`` is the whole
    sentence, e.g. "Cannot write /home/a/.purple/accounts.xml: permission denied. Check that
    you can write in /home/a/.purple. accounts.xml was not changed."
    """

    def __init__(self, path: Path, cause: OSError | None, *, action: str = "write",
                 consequence: str = "", reason: str = "") -> None:
        reason = reason or (describe_os_error(cause) if cause is not None else "unknown error")
        super().__init__(cause.errno if cause is not None else None, reason, str(path))
        self.path = path
        hint = ""
        if cause is not None and cause.errno in (errno.EACCES, errno.EPERM):
            hint = f" Check that you own {path.parent} and can write in it."
        message = f"Cannot {action} {path}: {reason}.{hint}"
        self.message = message + (f" {consequence}" if consequence else "")

    def __str__(self) -> str:
        return self.message


class FileChangedError(FileWriteError):
    """The file changed between our read and our write: another program saved it meanwhile."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, None, reason="another program changed it while sipe-setup was "
                         "updating it", consequence=f"{path.name} was left as the other program "
                         "wrote it; try again.")


class FolderBusy(FileWriteError):
    """Another writer holds the folder's lock longer than we wait."""

    def __init__(self, directory: Path, what: str, waited: float) -> None:
        super().__init__(directory, None)
        self.errno = errno.EBUSY
        self.message = (f"Another {what} is writing to {directory} (waited {waited:g} s). "
                        "Try again when it has finished; nothing was changed.")


# --- folders -------------------------------------------------------------------------------------


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` (and parents) readable by the owner only when it is new.

    Raises:
        FileWriteError: it cannot be created (a file in the way, permissions…).
    """
    try:
        directory.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise FileWriteError(directory, exc, action="create the folder",
                             reason="a file of that name is in the way") from None
    except OSError as exc:
        raise FileWriteError(directory, exc, action="create the folder") from None


def _fsync_directory(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- the folder lock -----------------------------------------------------------------------------

_held: dict[str, tuple[int, int]] = {}  # lock file → (thread id, depth): re-entrant per thread
_held_guard = threading.Lock()


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover
        import msvcrt

        with contextlib.suppress(OSError):
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def locked_folder(directory: Path, *, what: str = "sipe-setup",
                  timeout: float | None = None) -> Iterator[None]:
    """Hold ``directory``'s writer lock (``.sipe-setup.lock`` in it; created, private).

    Exclusive across processes (``flock``) and threads (each holder opens its own descriptor);
    re-entrant within one thread. The lock file stays: deleting it would let two writers lock
    two different files.

    Raises:
        FolderBusy: another writer held it for ``timeout`` seconds (default
            :data:`LOCK_TIMEOUT_SECONDS`): "Another {what} is writing to …".
        FileWriteError: the folder or the lock file cannot be created.
    """
    ensure_private_dir(directory)
    lock_path = directory / LOCK_FILE_NAME
    key = os.path.realpath(lock_path)
    me = threading.get_ident()
    with _held_guard:
        owner = _held.get(key)
        if owner is not None and owner[0] == me:
            _held[key] = (me, owner[1] + 1)
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _held_guard:
                _, depth = _held[key]
                _held[key] = (me, depth - 1)
        return
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0),
                     PRIVATE_FILE_MODE)
    except OSError as exc:
        raise FileWriteError(lock_path, exc, action="create the lock file") from None
    wait = LOCK_TIMEOUT_SECONDS if timeout is None else timeout
    try:
        deadline = time.monotonic() + wait
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise FolderBusy(directory, what, wait)
            time.sleep(0.02)
        with _held_guard:
            _held[key] = (me, 1)
        try:
            yield
        finally:
            with _held_guard:
                del _held[key]
            _unlock(fd)
    finally:
        os.close(fd)


# --- reading what we will replace ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a file held when we read it: its bytes (None: there was no file) and their hash."""

    path: Path
    data: bytes | None

    @property
    def digest(self) -> str | None:
        return None if self.data is None else hashlib.sha256(self.data).hexdigest()


def read_snapshot(path: Path, *, limit: int) -> Snapshot:
    """Read up to ``limit + 1`` bytes of ``path`` (the caller refuses a longer file).

    Raises:
        OSError: the file exists but cannot be read (not wrapped: callers say what it is).
    """
    try:
        with path.open("rb") as handle:
            return Snapshot(path, handle.read(limit + 1))
    except FileNotFoundError:
        return Snapshot(path, None)


def _current_digest(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            digest = hashlib.sha256()
            for block in iter(lambda: handle.read(1 << 16), b""):
                digest.update(block)
            return digest.hexdigest()
    except FileNotFoundError:
        return None


# --- leftovers -----------------------------------------------------------------------------------


def _pid_gone(pid: int) -> bool:
    if os.name != "posix" or pid <= 0 or pid == os.getpid():
        return False  # Windows: os.kill(pid, 0) would terminate the process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # exists (EPERM: another user's)
    return False


def remove_stale_temps(path: Path, *, now: float | None = None) -> list[Path]:
    """Delete temporary copies of ``path`` (and of its backups) a killed writer left behind.

    Only our own names (``.<name>[.<stamp>.bak].[<pid>.]<8 random>.tmp``) are considered, and
    only when their writer is gone or they are older than :data:`STALE_TEMP_SECONDS`. Returns
    what was deleted; errors are ignored (a leftover is not worth failing a write for).
    """
    prefix = f".{path.name}"
    moment = time.time() if now is None else now
    removed: list[Path] = []
    try:
        names = os.listdir(path.parent)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(prefix):
            continue
        match = _TEMP_TAIL_RE.fullmatch(name, len(prefix))
        if match is None:
            continue
        candidate = path.parent / name
        try:
            info = candidate.lstat()
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode):
            continue
        pid = match.group(2)
        if not ((pid is not None and _pid_gone(int(pid)))
                or moment - info.st_mtime > STALE_TEMP_SECONDS):
            continue
        with contextlib.suppress(OSError):
            candidate.unlink()
            removed.append(candidate)
    return removed


# --- writing -------------------------------------------------------------------------------------


def write_atomic(path: Path, data: bytes, *, mode: int = PRIVATE_FILE_MODE,
                 expect: Snapshot | None = None) -> None:
    """Replace ``path`` with ``data`` atomically (temp file + fsync + rename + dir fsync).

    With ``expect`` (what the caller read, under :func:`locked_folder`), the file is re-read
    just before the rename; when it changed meanwhile nothing is replaced. Stale temporary
    copies of ``path`` are removed first (:func:`remove_stale_temps`).

    Raises:
        FileChangedError: the file is no longer what ``expect`` holds; ``path`` is untouched.
        FileWriteError: the directory is not writable, the disk is full...; ``path`` is then
            untouched and no temporary file is left.
    """
    directory = path.parent
    ensure_private_dir(directory)
    remove_stale_temps(path)
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp",
                                         dir=directory)
    except OSError as exc:
        raise FileWriteError(path, exc, consequence=f"{path.name} was not changed.") from None
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            if os.name == "posix":
                os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if expect is not None and _current_digest(path) != expect.digest:
            raise FileChangedError(path)
        os.replace(temp, path)
    except FileWriteError:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise FileWriteError(path, exc, consequence=f"{path.name} was not changed.") from None
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    with contextlib.suppress(OSError):
        _fsync_directory(directory)


# --- backups -------------------------------------------------------------------------------------


def _backup_key(path: Path, backup: Path) -> tuple[str, int] | None:
    if not backup.name.startswith(path.name):
        return None
    match = _BACKUP_RE.fullmatch(backup.name, len(path.name))
    if match is None:
        return None
    return match.group(1), int(match.group(2) or 1)


def backups_of(path: Path) -> list[Path]:
    """The backups of ``path`` we wrote (``<name>.<YYYYmmdd-HHMMSS>[-N].bak``), oldest first."""
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    found: list[tuple[tuple[str, int], Path]] = []
    for name in names:
        candidate = path.parent / name
        key = _backup_key(path, candidate)
        if key is not None and candidate.is_file() and not candidate.is_symlink():
            found.append((key, candidate))
    return [backup for _, backup in sorted(found)]


def prune_backups(path: Path, *, keep: int = KEEP_BACKUPS) -> list[Path]:
    """Delete all but the newest ``keep`` backups of ``path`` (only names we write)."""
    removed: list[Path] = []
    for old in backups_of(path)[:-keep] if keep > 0 else backups_of(path):
        with contextlib.suppress(OSError):
            old.unlink()
            removed.append(old)
    return removed


def backup_file(path: Path, *, now: dt.datetime | None = None, data: bytes | None = None,
                keep: int = KEEP_BACKUPS) -> Path | None:
    """Copy ``path`` to ``<name>.<YYYYmmdd-HHMMSS>.bak`` beside it; None when there is no file.

    The copy keeps the original's permission bits (an accounts.xml may hold a password), made
    private. When a backup with that name exists already (two writes in one second), a counter
    is added. ``data`` replaces the content (a copy with a removed password scrubbed out).
    Afterwards only the newest ``keep`` backups of ``path`` are kept.

    Raises:
        FileWriteError: the backup cannot be written (``path`` is untouched).
    """
    if not path.exists():
        return None
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.{stamp}.bak")
    counter = 1
    while target.exists():
        counter += 1
        target = path.with_name(f"{path.name}.{stamp}-{counter}.bak")
    consequence = f"{path.name} was not changed."
    try:
        original_mode = stat.S_IMODE(path.stat().st_mode)
        content = path.read_bytes() if data is None else data
    except OSError as exc:
        raise FileWriteError(path, exc, action="read", consequence=consequence) from None
    mode = original_mode & PRIVATE_FILE_MODE or PRIVATE_FILE_MODE
    try:
        write_atomic(target, content, mode=mode)
    except FileWriteError as exc:
        raise FileWriteError(target, exc, action="write the backup",
                             consequence=consequence) from None
    with contextlib.suppress(OSError):
        shutil.copystat(path, target)
        target.chmod(mode)
    prune_backups(path, keep=keep)
    return target
