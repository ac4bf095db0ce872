"""Atomic writes and backups."""

from __future__ import annotations

import datetime as dt
import errno
import os
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from sipe_setup.core.fileio import (
    KEEP_BACKUPS,
    LOCK_FILE_NAME,
    STALE_TEMP_SECONDS,
    FileChangedError,
    FileWriteError,
    FolderBusy,
    backup_file,
    backups_of,
    describe_os_error,
    locked_folder,
    read_snapshot,
    write_atomic,
)

ROOT = Path(__file__).resolve().parents[3]


def test_write_atomic_creates_private_file_and_dir(tmp_path: Path) -> None:
    target = tmp_path / "new" / "file.json"
    write_atomic(target, b"one")
    assert target.read_bytes() == b"one"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["file.json"]


def test_failed_rename_leaves_the_old_file_and_no_temp(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "accounts.xml"
    target.write_bytes(b"old")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk is full") as caught:
        write_atomic(target, b"new")
    # Plain words naming the real file: no "[Errno 28]", no temporary file name.
    assert str(caught.value) == f"Cannot write {target}: the disk is full. accounts.xml was " \
                                "not changed."
    assert caught.value.errno == 28
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["accounts.xml"]


def test_backup_keeps_content_and_private_mode(tmp_path: Path) -> None:
    target = tmp_path / "accounts.xml"
    assert backup_file(target) is None
    target.write_bytes(b"<account/>")
    target.chmod(0o644)
    moment = dt.datetime(2026, 11, 21, 9, 30, 5)
    first = backup_file(target, now=moment)
    second = backup_file(target, now=moment)
    assert first is not None and second is not None
    assert first.name == "accounts.xml.20261121-093005.bak"
    assert second.name == "accounts.xml.20261121-093005-2.bak"
    assert first.read_bytes() == b"<account/>"
    assert stat.S_IMODE(first.stat().st_mode) == 0o600


# --- plain words ---------------------------------------------------------------------------------


def test_no_errno_or_temp_name_reaches_the_user(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused temp file used to surface as "[Errno 13] Permission denied: '/…/.x.tmp'"."""
    target = tmp_path / "accounts.xml"

    def refused(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied", str(tmp_path / ".accounts.xml.ab.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    with pytest.raises(OSError) as caught:
        write_atomic(target, b"new")
    message = str(caught.value)
    assert message == (f"Cannot write {target}: permission denied. Check that you own "
                       f"{tmp_path} and can write in it. accounts.xml was not changed.")
    assert "Errno" not in message and ".tmp" not in message
    assert isinstance(caught.value, FileWriteError) and caught.value.errno == 13


def test_a_file_in_the_way_of_a_folder_is_said_plainly(tmp_path: Path) -> None:
    """mkdir's "[Errno 17] File exists" named the folder but not the problem."""
    (tmp_path / "purple").write_bytes(b"")
    with pytest.raises(OSError) as caught:
        write_atomic(tmp_path / "purple" / "accounts.xml", b"x")
    assert str(caught.value) == (f"Cannot create the folder {tmp_path / 'purple'}: a file of "
                                 "that name is in the way.")


def test_describe_os_error_without_a_known_errno() -> None:
    assert describe_os_error(OSError(errno.EXDEV, "Invalid cross-device link")) == \
        "invalid cross-device link"
    assert describe_os_error(OSError(errno.ENOSPC, "No space left on device")) == \
        "the disk is full"


# --- the folder lock and the re-check ------------------------------------------------------------


def test_lock_is_exclusive_across_threads_and_reentrant(tmp_path: Path) -> None:
    order: list[str] = []
    holding = threading.Event()

    def holder() -> None:
        # Re-entrant in one thread: the second acquisition does not wait for the first.
        with locked_folder(tmp_path, what="export"), locked_folder(tmp_path, what="export"):
            holding.set()
            time.sleep(0.3)
            order.append("first done")

    thread = threading.Thread(target=holder)
    thread.start()
    assert holding.wait(5)
    with locked_folder(tmp_path, what="export"):
        order.append("second in")
    thread.join()
    assert order == ["first done", "second in"]
    assert stat.S_IMODE((tmp_path / LOCK_FILE_NAME).stat().st_mode) == 0o600


_HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from sipe_setup.core.fileio import locked_folder
    with locked_folder(Path(sys.argv[1])):
        print("locked", flush=True)
        time.sleep(30)
""")


def test_lock_times_out_with_a_plain_message_across_processes(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "app")}
    child = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(tmp_path)], env=env,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "locked\n"
        started = time.monotonic()
        with pytest.raises(FolderBusy) as caught, locked_folder(tmp_path, what="export",
                                                                 timeout=0.3):
            pass
        assert 0.25 < time.monotonic() - started < 5
        assert str(caught.value) == (f"Another export is writing to {tmp_path} (waited 0.3 s). "
                                     "Try again when it has finished; nothing was changed.")
        assert isinstance(caught.value, OSError)
    finally:
        child.kill()
        child.wait(10)
        assert child.stdout is not None
        child.stdout.close()
    with locked_folder(tmp_path, timeout=5):  # the kernel released it with the process
        pass


def test_a_change_by_another_program_is_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "prefs.xml"
    target.write_bytes(b"as read")
    snapshot = read_snapshot(target, limit=1024)
    target.write_bytes(b"Pidgin saved this meanwhile")
    with pytest.raises(FileChangedError) as caught:
        write_atomic(target, b"ours", expect=snapshot)
    assert target.read_bytes() == b"Pidgin saved this meanwhile"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prefs.xml"]
    assert "another program changed it" in str(caught.value)
    write_atomic(target, b"ours", expect=read_snapshot(target, limit=1024))
    assert target.read_bytes() == b"ours"
    gone = read_snapshot(tmp_path / "new.xml", limit=1024)
    assert gone.data is None
    (tmp_path / "new.xml").write_bytes(b"created meanwhile")
    with pytest.raises(FileChangedError):
        write_atomic(tmp_path / "new.xml", b"ours", expect=gone)


# --- leftovers and pruning -----------------------------------------------------------------------


_KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from sipe_setup.core import fileio

    def killed(src, dst):
        os.kill(os.getpid(), signal.SIGKILL)

    os.replace = killed
    fileio.write_atomic(Path(sys.argv[1]), b"half done")
""")


def test_temp_files_of_a_killed_writer_are_removed_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "accounts.xml"
    target.write_bytes(b"old")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "app")}
    leftovers: list[Path] = []
    for _ in range(2):
        child = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(target)], env=env,
                               timeout=30, check=False)
        assert child.returncode == -signal.SIGKILL
        # Each killed write leaves its temp file, and removed the one the previous left.
        assert not any(p.exists() for p in leftovers)
        leftovers = sorted(tmp_path.glob(".accounts.xml.*.tmp"))
        assert len(leftovers) == 1, "the kill did not hit the window"
        assert target.read_bytes() == b"old"
    # Not ours: another program's temp file, and a name that only looks similar.
    others = [tmp_path / ".accounts.xml.swp", tmp_path / "notes.tmp",
              tmp_path / ".prefs.xml.1.abcdefgh.tmp"]
    for other in others:
        other.write_bytes(b"keep")
    # Ours, but its writer (this process) is alive and it is fresh: maybe being written.
    live = tmp_path / f".accounts.xml.{os.getpid()}.abcdefgh.tmp"
    live.write_bytes(b"in progress")
    # An old backup temp without a pid (older versions): stale by age.
    old_style = tmp_path / ".accounts.xml.20240101-000000.bak.zyxwvuts.tmp"
    old_style.write_bytes(b"x")
    aged = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(old_style, (aged, aged))

    write_atomic(target, b"new")

    assert target.read_bytes() == b"new"
    assert not any(p.exists() for p in leftovers) and not old_style.exists()
    assert all(p.exists() for p in others) and live.exists()


def _stamps(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".bak"))


def test_backups_are_pruned_to_the_newest_few(tmp_path: Path) -> None:
    target = tmp_path / "accounts.xml"
    target.write_bytes(b"v0")
    (tmp_path / "accounts.xml.mine.bak").write_bytes(b"the user's own copy")
    (tmp_path / "accounts.xml.bak").write_bytes(b"another tool's copy")
    start = dt.datetime(2026, 1, 1, 12, 0, 0)
    written = []
    for n in range(12):
        # Three writes share each second: names get counters -2, -3 (sorted as numbers).
        moment = start + dt.timedelta(seconds=n // 3)
        backup = backup_file(target, now=moment)
        assert backup is not None
        written.append(backup.name)
        target.write_bytes(f"v{n + 1}".encode())
    kept = backups_of(target)
    assert [p.name for p in kept] == written[-KEEP_BACKUPS:]
    assert kept[-1].read_bytes() == b"v11"
    assert (tmp_path / "accounts.xml.mine.bak").exists()
    assert (tmp_path / "accounts.xml.bak").exists()
    assert "accounts.xml.20260101-120003-3.bak" in written[-1]


def test_backup_with_scrubbed_data(tmp_path: Path) -> None:
    target = tmp_path / "accounts.xml"
    target.write_bytes(b"<password>secret</password>")
    backup = backup_file(target, data=b"<scrubbed/>")
    assert backup is not None and backup.read_bytes() == b"<scrubbed/>"
