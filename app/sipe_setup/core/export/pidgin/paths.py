"""Where Pidgin keeps things: its settings folder, its files, the keyring plugin."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Final

__all__ = ["KEYRING_PLUGIN_FILE", "accounts_path", "default_purple_dir", "keyring_plugin_path",
           "prefs_path"]

KEYRING_PLUGIN_FILE: Final = "gnome-keyring.so"


def default_purple_dir() -> Path:
    """libpurple's settings folder: ``~/.purple``; on Windows ``%APPDATA%\\.purple``.

    On Windows libpurple honours ``PURPLEHOME`` first (``wpurple_home_dir``), so do we.
    """
    if sys.platform == "win32":
        base = os.environ.get("PURPLEHOME") or os.environ.get("APPDATA")
        if base:
            return Path(base) / ".purple"
    return Path.home() / ".purple"


def keyring_plugin_path() -> Path | None:
    """The installed pidgin-gnome-keyring plugin, or None."""
    candidates = [Path("/usr/lib/purple-2") / KEYRING_PLUGIN_FILE]
    candidates += sorted(Path("/usr/lib").glob(f"*/purple-2/{KEYRING_PLUGIN_FILE}"))
    candidates += [
        Path("/usr/local/lib/purple-2") / KEYRING_PLUGIN_FILE,
        default_purple_dir() / "plugins" / KEYRING_PLUGIN_FILE,
    ]
    return next((path for path in candidates if path.is_file()), None)



def accounts_path(purple_dir: Path) -> Path:
    return purple_dir / "accounts.xml"


def prefs_path(purple_dir: Path) -> Path:
    return purple_dir / "prefs.xml"
