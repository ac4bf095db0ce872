"""Atomic writes and backups."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest

from sipe_setup.core.fileio import backup_file, write_atomic


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
    with pytest.raises(OSError, match="No space"):
        write_atomic(target, b"new")
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
