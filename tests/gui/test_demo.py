"""``make demo`` is a sandbox: its own home, XDG folders, keyring and ``.purple``; its *Launch
Pidgin* starts a Pidgin (here finch) that really signs in to the demo server; ``--help`` lists
the scenarios."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import keyring.backends.SecretService
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from sipe_setup.core.pidgin import PasswordMode, read_sipe_accounts
from sipe_setup.core.profiles import ProfileStore
from sipe_setup.core.secrets import PasswordVault
from sipe_setup.core.steps import Verdict
from sipe_setup.gui.pidgin_launch import ENV_COMMAND, pidgin_command
from sipe_setup.gui.wizard import PageId
from tests.conftest import require_tool
from tests.gui.helpers import click_next, fill_account, make_wizard, run_to_check
from tests.gui.loopback import DEMO_LOGIN, DEMO_PASSWORD, DEMO_SIGNIN, LoopbackSite
from tests.servers.finch import require_finch
from tests.servers.secret_service import GnomeKeyringService

ROOT = Path(__file__).resolve().parents[2]
DEMO_SCRIPT = ROOT / "scripts" / "demo.py"


def demo_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sipe_setup_demo", DEMO_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_help_lists_the_scenarios() -> None:
    done = subprocess.run([sys.executable, str(DEMO_SCRIPT), "--help"], capture_output=True,
                          text=True, timeout=60, check=True, cwd=ROOT)
    assert "scenarios (--scenario NAME)" in done.stdout
    for name in ("success", "wrong-login-form", "silent", "voip-405", "tls-dsk"):
        assert f"  {name} " in done.stdout, name
    assert "  redirect " not in done.stdout  # needs a second server the demo does not start
    assert "sandbox" in done.stdout


def test_sandbox_env_keeps_the_real_home_and_keyring_out(tmp_path: Path) -> None:
    demo = demo_module()
    real = {"HOME": "/home/someone", "XDG_CONFIG_HOME": "/home/someone/.config",
            "XDG_DATA_HOME": "/home/someone/.local/share", "XDG_RUNTIME_DIR": "/run/user/1000",
            "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus",
            "GNOME_KEYRING_CONTROL": "/run/user/1000/keyring", "WAYLAND_DISPLAY": "wayland-0",
            "DISPLAY": ":0", "PATH": "/usr/bin", "LANG": "de_DE.UTF-8"}
    env = demo.sandbox_env(real, tmp_path, "unix:path=/tmp/private-bus")
    for name in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        assert Path(env[name]).is_relative_to(tmp_path), name
        assert Path(env[name]).is_dir()
    assert env["DBUS_SESSION_BUS_ADDRESS"] == "unix:path=/tmp/private-bus"
    assert env["PYTHON_KEYRING_BACKEND"] == "keyring.backends.SecretService.Keyring"
    assert "GNOME_KEYRING_CONTROL" not in env
    assert env["WAYLAND_DISPLAY"] == "/run/user/1000/wayland-0"  # the display stays reachable
    assert env["DISPLAY"] == ":0" and env["LANG"] == "de_DE.UTF-8" and env["PATH"] == "/usr/bin"
    no_keyring = demo.sandbox_env(real, tmp_path / "bare", None)
    assert no_keyring["PYTHON_KEYRING_BACKEND"] == "keyring.backends.fail.Keyring"
    assert "/run/user/1000/bus" not in no_keyring["DBUS_SESSION_BUS_ADDRESS"]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[LoopbackSite]:
    binary = require_tool("dnsmasq")
    with LoopbackSite(tmp_path / "site", dnsmasq=binary, tls="ca") as running:
        yield running


def test_the_demo_stays_in_its_sandbox_and_launch_pidgin_signs_in(
        qtbot: QtBot, site: LoopbackSite, tmp_path: Path, private_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    require_finch(keyring_plugin=True)
    require_tool("gnome-keyring-daemon")
    demo = demo_module()
    before = sorted(str(p.relative_to(private_home)) for p in private_home.rglob("*"))
    with GnomeKeyringService.start() as service:
        sandbox = tmp_path / "sandbox"
        env = demo.sandbox_env(dict(os.environ), sandbox, service.bus_address)
        for name in set(os.environ) - set(env):
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        info = sandbox / "demo.json"
        info.write_text(json.dumps({"port": site.port, "cert": site.cert_file}))
        recorded = tmp_path / "launched.txt"
        monkeypatch.setenv(ENV_COMMAND, f"{sys.executable} -c \"import sys; "
                           f"open({str(recorded)!r}, 'w').write(sys.argv[1])\" {{purple_dir}}")

        # The wizard as the demo runs it: profiles, .purple and keyring from the environment.
        wizard = make_wizard(qtbot, site, remember=False,
                             vault=PasswordVault(keyring.backends.SecretService.Keyring()))
        fill_account(qtbot, wizard, signin=DEMO_SIGNIN, login=DEMO_LOGIN, password=DEMO_PASSWORD)
        with qtbot.waitSignal(wizard.check_page.check_finished, timeout=20000) as finished:
            run_to_check(qtbot, wizard)
        assert finished.args[0].verdict is Verdict.SIGNED_IN
        click_next(qtbot, wizard)
        click_next(qtbot, wizard)
        assert wizard.currentId() == PageId.SAVE
        save = wizard.save_page
        qtbot.waitUntil(lambda: save.save_button.isEnabled(), timeout=15000)
        purple = sandbox / "home" / ".purple"
        assert save.purple_dir() == purple
        assert save.password_mode() is PasswordMode.KEYRING
        with qtbot.waitSignal(save.saved, timeout=15000) as saved:
            qtbot.mouseClick(save.save_button, Qt.MouseButton.LeftButton)
        assert saved.args[0].exported, saved.args[0]
        assert save.launch_button.isVisible()
        assert pidgin_command(purple) is not None
        qtbot.mouseClick(save.launch_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: recorded.exists() and recorded.read_text() == str(purple),
                        timeout=10000)
        assert ProfileStore().list()  # saved, in the sandbox's config folder
        assert service.items({"protocol": "prpl-sipe"})  # Pidgin's password: private keyring

        # What the demo's Launch Pidgin does: pin the demo server, start finch — it signs in.
        assert demo.start_pidgin(info, purple, background=True) == 0
        account = read_sipe_accounts(purple)[0].entry
        assert account.server == f"127.0.0.1:{site.port}"
        assert (purple / "certificates" / "x509" / "tls_peers" / "127.0.0.1").is_file()

    after = sorted(str(p.relative_to(private_home)) for p in private_home.rglob("*"))
    assert after == before  # nothing in the (test's) real home: no .purple, no profile
