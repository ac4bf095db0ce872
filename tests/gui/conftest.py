"""GUI tests: offscreen Qt, settings in a temp dir, loopback servers."""

from __future__ import annotations

import os

# Before anything imports Qt: no display needed, and the same look everywhere.
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.pop("QT_SCALE_FACTOR", None)

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings


@pytest.fixture(autouse=True)
def settings_dir(tmp_path: Path) -> Iterator[Path]:
    """Every QSettings of the wizard goes to a fresh temp dir, never the user's config."""
    directory = tmp_path / "settings"
    directory.mkdir()
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(directory))
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(directory))
    yield directory


@pytest.fixture(autouse=True)
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Profiles (XDG config dir) and ~/.purple of a test live in its temp dir, never the user's."""
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    return home


# The offscreen platform cannot pass a window's size hints to a window manager (there is none)
# and says so on every layout change; that is a property of the test platform, not of the GUI.
_OFFSCREEN_NOISE = r"This plugin does not support propagateSizeHints\(\)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.qt_log_ignore(_OFFSCREEN_NOISE))
