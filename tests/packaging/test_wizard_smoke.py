"""The wizard starts offscreen, from the installed program and from its menu entry, with its
icon (``sipe-setup-gui`` as installed: the dev venv, a wheel, or the Debian package)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sipe_setup import APP_ID
from tests.packaging.support import INSTALLED, exec_arguments, program

SMOKE = Path(__file__).with_name("wizard_smoke.py")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_RUNTIME_DIR": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_SCALE_FACTOR"):
        env.pop(name, None)
    return env


def test_the_wizard_window_opens_with_its_icon(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(SMOKE)], capture_output=True, text=True,
                          env=_env(tmp_path), timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts["windows"] == ["SetupWizard"] and facts["title"]
    assert not facts["icon_null"] and facts["icon_renders"]
    assert facts["desktop_file_name"] == APP_ID
    if INSTALLED == "deb":  # the hicolor theme holds the packaged icon
        assert facts["icon_from_theme"], facts
    assert "Traceback" not in done.stderr, done.stderr


def _run_for_a_while(command: list[str], env: dict[str, str], seconds: float = 4.0) -> str:
    """Start ``command``; it must still be running after ``seconds`` (the window is up)."""
    process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    alive = process.poll() is None
    if alive:
        process.send_signal(signal.SIGTERM)
    try:
        _out, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        _out, err = process.communicate()
    assert alive, f"{command} exited with {process.returncode}: {err}"
    assert "Traceback" not in err, err
    return err


def test_the_installed_program_starts(tmp_path: Path) -> None:
    _run_for_a_while([program("sipe-setup-gui"), "--no-remember"], _env(tmp_path))


def test_the_menu_entry_starts_the_wizard(tmp_path: Path) -> None:
    """The ``Exec`` line of the installed menu entry (the Debian package's, or the one
    ``--install-desktop-entry`` writes for a wheel) starts the wizard."""
    env = _env(tmp_path)
    if INSTALLED == "deb":
        entry = Path("/usr/share/applications") / f"{APP_ID}.desktop"
    else:
        env["XDG_DATA_HOME"] = str(tmp_path / "data")
        subprocess.run([program("sipe-setup"), "--install-desktop-entry"], check=True,
                       env=env, capture_output=True, timeout=60)
        entry = tmp_path / "data" / "applications" / f"{APP_ID}.desktop"
    keys = dict(line.split("=", 1) for line in entry.read_text(encoding="utf-8").splitlines()
                if "=" in line and not line.startswith("#"))
    command = exec_arguments(keys["Exec"])
    assert not any(part.startswith("%") for part in command), command
    if INSTALLED == "deb":
        assert command == ["sipe-setup-gui"]
        assert Path(f"/usr/share/icons/hicolor/scalable/apps/{APP_ID}.svg").is_file()
        command[0] = "/usr/bin/sipe-setup-gui"  # what the menu finds on its PATH
    _run_for_a_while([*command, "--no-remember"], env)
