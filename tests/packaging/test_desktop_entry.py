"""``sipe-setup --install-desktop-entry`` / ``--uninstall-desktop-entry`` (pipx installs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sipe_setup import APP_ID
from sipe_setup import desktop as desktop_module
from sipe_setup.desktop import (
    ENTRY_MARKER,
    DesktopEntryError,
    data_path,
    entry_paths,
    exec_quote,
    gui_executable,
    icon_path,
    install_desktop_entry,
    render_desktop_entry,
    uninstall_desktop_entry,
)
from tests.conftest import require_tool
from tests.packaging.support import exec_arguments, program


def _fake_gui(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    gui = folder / "sipe-setup-gui"
    gui.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    gui.chmod(0o755)
    return gui


def _keys(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def test_the_packaged_files_are_found_wherever_installed() -> None:
    icon = icon_path()
    assert icon is not None and icon.name == f"{APP_ID}.svg"
    assert data_path(f"{APP_ID}.desktop") is not None
    assert data_path("no-such-file") is None


def test_install_writes_entry_and_icon_and_is_idempotent(tmp_path: Path) -> None:
    home = tmp_path / "share"
    gui = _fake_gui(tmp_path / "bin")
    first = install_desktop_entry(home, gui)
    assert [c.action for c in first] == ["written", "written"]
    paths = entry_paths(home)
    assert paths.desktop_file == home / "applications" / f"{APP_ID}.desktop"
    assert paths.icon_file == home / "icons/hicolor/scalable/apps" / f"{APP_ID}.svg"
    keys = _keys(paths.desktop_file)
    assert keys["Exec"] == str(gui) and keys["TryExec"] == str(gui)
    assert keys["Icon"] == APP_ID
    assert paths.desktop_file.read_text(encoding="utf-8").startswith(ENTRY_MARKER + "\n")
    assert paths.icon_file.read_bytes() == icon_path().read_bytes()  # type: ignore[union-attr]
    stamp = paths.desktop_file.stat().st_mtime_ns
    again = install_desktop_entry(home, gui)
    assert [c.action for c in again] == ["unchanged", "unchanged"]
    assert paths.desktop_file.stat().st_mtime_ns == stamp
    moved = _fake_gui(tmp_path / "elsewhere")  # e.g. reinstalled into another venv
    assert [c.action for c in install_desktop_entry(home, moved)] == ["unchanged", "written"]
    assert _keys(paths.desktop_file)["Exec"] == str(moved)


def test_uninstall_removes_only_what_install_wrote(tmp_path: Path) -> None:
    home = tmp_path / "share"
    install_desktop_entry(home, _fake_gui(tmp_path / "bin"))
    assert [c.action for c in uninstall_desktop_entry(home)] == ["removed", "removed"]
    assert [c.action for c in uninstall_desktop_entry(home)] == ["absent", "absent"]
    paths = entry_paths(home)
    paths.desktop_file.parent.mkdir(parents=True, exist_ok=True)
    paths.desktop_file.write_text("[Desktop Entry]\nType=Application\nName=mine\nExec=mine\n",
                                  encoding="utf-8")
    assert [c.action for c in uninstall_desktop_entry(home)] == ["kept", "absent"]
    assert paths.desktop_file.exists()


def test_exec_quoting_follows_the_desktop_entry_spec() -> None:
    assert exec_quote("/usr/bin/sipe-setup-gui") == "/usr/bin/sipe-setup-gui"
    assert exec_quote("/home/a b/bin/gui") == '"/home/a b/bin/gui"'
    assert exec_quote('/x/$HOME"`\\') == '"/x/\\$HOME\\"\\`\\\\"'
    assert exec_quote("/x/100%") == "/x/100%%"
    rendered = render_desktop_entry("[Desktop Entry]\nExec=old\nTryExec=old\nName=x\n"
                                    "[Desktop Action new]\nExec=keep\n", Path("/a b/g"))
    assert rendered.splitlines() == [ENTRY_MARKER, "[Desktop Entry]", "TryExec=/a b/g",
                                     'Exec="/a b/g"', "Name=x", "[Desktop Action new]",
                                     "Exec=keep"]


def test_an_awkward_path_still_gives_a_valid_entry(tmp_path: Path) -> None:
    tool = require_tool("desktop-file-validate")
    gui = _fake_gui(tmp_path / "my $apps" / "bin (pipx)")
    install_desktop_entry(tmp_path / "share", gui)
    entry = entry_paths(tmp_path / "share").desktop_file
    result = subprocess.run([tool, str(entry)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout
    assert exec_arguments(_keys(entry)["Exec"]) == [str(gui)]


def test_gui_executable_is_the_one_next_to_sipe_setup(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    gui = _fake_gui(tmp_path / "pipx-bin")
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "pipx-bin" / "sipe-setup")])
    assert gui_executable() == gui


def test_no_menu_entries_on_windows_or_macos(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for platform in ("win32", "darwin"):
        monkeypatch.setattr(desktop_module.sys, "platform", platform)
        with pytest.raises(DesktopEntryError, match="Linux and BSD"):
            install_desktop_entry(tmp_path, _fake_gui(tmp_path / "bin"))
    assert not (tmp_path / "applications").exists()


def test_the_command_line_flags(tmp_path: Path) -> None:
    """The installed ``sipe-setup`` writes an entry that starts the installed wizard."""
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("DISPLAY", None)
    cli = program("sipe-setup")
    done = subprocess.run([cli, "--install-desktop-entry"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    entry = tmp_path / "data" / "applications" / f"{APP_ID}.desktop"
    exec_path = Path(_keys(entry)["Exec"].strip('"'))
    assert exec_path == Path(program("sipe-setup-gui")).absolute()
    assert "written" in done.stdout
    again = subprocess.run([cli, "--install-desktop-entry"], capture_output=True, text=True,
                           env=env, timeout=60)
    assert again.returncode == 0 and "already up to date" in again.stdout
    wrong = subprocess.run([cli, "--install-desktop-entry", "profiles", "list"],
                           capture_output=True, text=True, env=env, timeout=60)
    assert wrong.returncode == 2 and "take no command" in wrong.stderr
    gone = subprocess.run([cli, "--uninstall-desktop-entry"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert gone.returncode == 0 and not entry.exists()
