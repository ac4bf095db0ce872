"""Starting Pidgin once the account is in it (the Save page's *Launch Pidgin* button).

The command: ``$SIPE_SETUP_PIDGIN_COMMAND`` when set — a command line, ``{purple_dir}`` standing
for Pidgin's settings folder (``make demo`` uses it to start a Pidgin or finch inside its
sandbox) —, else ``pidgin`` when it is installed (with ``-c FOLDER`` unless the folder is the
usual ``~/.purple``). Without either there is no button: finch needs a terminal, which a
window cannot give it.

Pidgin starts detached: it outlives the wizard, and the wizard never waits for it.
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

from PySide6.QtCore import QProcess

from sipe_setup.core.pidgin import default_purple_dir

__all__ = ["ENV_COMMAND", "pidgin_command", "start_pidgin"]

ENV_COMMAND = "SIPE_SETUP_PIDGIN_COMMAND"


def _same(a: Path, b: Path) -> bool:
    try:
        return a.expanduser().resolve() == b.expanduser().resolve()
    except OSError:
        return a == b


def pidgin_command(purple_dir: Path) -> list[str] | None:
    """The program and arguments that start Pidgin on ``purple_dir`` (None: no way here)."""
    configured = os.environ.get(ENV_COMMAND, "").strip()
    if configured:
        try:
            words = shlex.split(configured)
        except ValueError:
            return None
        return [word.replace("{purple_dir}", str(purple_dir)) for word in words] or None
    pidgin = shutil.which("pidgin")
    if pidgin is None or not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return None
    if _same(purple_dir, default_purple_dir()):
        return [pidgin]
    return [pidgin, "-c", str(purple_dir)]


def start_pidgin(purple_dir: Path) -> bool:
    """Start Pidgin detached; False when there is no command or it could not be started."""
    command = pidgin_command(purple_dir)
    if command is None:
        return False
    started, _pid = QProcess.startDetached(command[0], command[1:])
    return bool(started)
