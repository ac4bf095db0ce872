"""Nothing in ``core`` may assume Linux: it imports without Linux-only modules, and the parts
that differ per system (Pidgin's folder, running-Pidgin detection, the keyring plugin, process
hardening) take the Windows / macOS / Flatpak branch when told they run there.

These run on Linux with the platform faked; README "Windows and macOS" says what has not been
tried on the real systems."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sipe_setup.core import hardening
from sipe_setup.core.export.pidgin import paths as pidgin_paths
from sipe_setup.core.export.pidgin import running
from sipe_setup.core.pidgin import PasswordMode, SipeAccountEntry, export_account

LINUX_ONLY = ("fcntl", "resource", "termios", "pwd", "grp", "secretstorage", "jeepney")


def test_every_core_module_imports_without_linux_only_modules() -> None:
    """As on Windows: fcntl, resource, termios, pwd, grp, secretstorage and jeepney are
    missing; every module of sipe_setup.core must still import (they may only be imported
    where they are used, behind a platform check)."""
    program = f"""
import importlib, importlib.abc, pkgutil, sys
BLOCKED = {LINUX_ONLY!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} does not exist on this system")
        return None
sys.meta_path.insert(0, Block())
for name in BLOCKED:
    sys.modules.pop(name, None)
import sipe_setup.core
failed = []
for info in pkgutil.walk_packages(sipe_setup.core.__path__, "sipe_setup.core."):
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        failed.append(f"{{info.name}}: {{exc!r}}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_pidgin_folder_on_windows_and_macos(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.setattr(pidgin_paths.sys, "platform", "win32")
    monkeypatch.delenv("PURPLEHOME", raising=False)
    monkeypatch.setenv("APPDATA", str(tmp_path / "Roaming"))
    assert pidgin_paths.default_purple_dir() == tmp_path / "Roaming" / ".purple"
    monkeypatch.setenv("PURPLEHOME", str(tmp_path / "portable"))
    assert pidgin_paths.default_purple_dir() == tmp_path / "portable" / ".purple"
    monkeypatch.setattr(pidgin_paths.sys, "platform", "darwin")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert pidgin_paths.default_purple_dir() == tmp_path / "home" / ".purple"


def _fake_list(monkeypatch: pytest.MonkeyPatch, output: str | None,
               seen: list[list[str]]) -> None:
    def fake(command: list[str]) -> str | None:
        seen.append(command)
        return output

    monkeypatch.setattr(running, "_list_programs", fake)


def test_running_pidgin_on_windows_from_tasklist(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    monkeypatch.setattr(running, "_platform", lambda: "win32")
    monkeypatch.setenv("USERNAME", "alice")
    monkeypatch.setenv("USERDOMAIN", "CONTOSO")
    seen: list[list[str]] = []
    _fake_list(monkeypatch, '"explorer.exe","4200","Console","1","90,000 K"\r\n'
                            '"Pidgin.exe","5120","Console","1","52,000 K"\r\n'
                            '"pidgin-helper.exe","77","Console","1","1 K"\r\n', seen)
    clients = running.find_running_clients(tmp_path / ".purple")
    assert [(c.pid, c.program) for c in clients] == [(5120, "pidgin")]
    assert seen[0][:4] == ["tasklist", "/FO", "CSV", "/NH"]
    assert seen[0][-1] == "USERNAME eq CONTOSO\\alice"
    _fake_list(monkeypatch, None, seen)  # tasklist failed: nothing known, nothing invented
    assert running.find_running_clients(tmp_path / ".purple") == []


def test_running_pidgin_on_macos_from_ps(monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    monkeypatch.setattr(running, "_platform", lambda: "darwin")
    seen: list[list[str]] = []
    _fake_list(monkeypatch, "  101 /sbin/launchd\n  2345 /opt/homebrew/bin/pidgin\n"
                            "  2346 /Applications/My Tools/finch\n  77 -zsh\n", seen)
    clients = running.find_running_clients(tmp_path / ".purple")
    assert [(c.pid, c.program) for c in clients] == [(2345, "pidgin"), (2346, "finch")]
    assert seen[0][0] == "ps"


def test_flatpak_cannot_see_pidgin_and_the_export_says_so(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    info = tmp_path / ".flatpak-info"
    info.write_text("[Application]\nname=io.github.sipe_setup.SipeSetup\n", encoding="utf-8")
    monkeypatch.setattr(running, "_FLATPAK_INFO", info)
    assert "Flatpak" in running.running_detection()
    purple = tmp_path / ".purple"
    assert running.find_running_clients(purple) == []
    entry = SipeAccountEntry(signin="alice@example.test", login="EXAMPLE\\alice", server="",
                             transport="auto", authentication="ntlm", sso=False, useragent="")
    result = export_account(purple, entry, password_mode=PasswordMode.NONE)
    assert any("cannot tell whether Pidgin is running" in note and "Flatpak" in note
               for note in result.notes), result.notes


def test_running_detection_here_and_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    assert running.running_detection() == ""  # Linux with /proc: it can tell
    monkeypatch.setattr(running, "_platform", lambda: "win32")
    monkeypatch.setattr(running.shutil, "which", lambda name: None)
    assert running.running_detection() == "the tasklist program is missing"


def test_hardening_keeps_quiet_where_there_is_no_prctl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardening.sys, "platform", "darwin")
    assert hardening._libc() is None
    problems = hardening.harden_process()  # RLIMIT_CORE still works here; never raises
    assert not any("PR_SET_DUMPABLE" in p for p in problems)
