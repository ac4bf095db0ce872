"""Driving the wizard like a person: type, press Next, wait for signals."""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QWizard
from pytestqt.qtbot import QtBot

from sipe_setup.core.profiles import ProfileStore
from sipe_setup.core.secrets import PasswordVault
from sipe_setup.core.steps import CheckResult
from sipe_setup.gui.state import CheckEnvironment
from sipe_setup.gui.wizard import PageId, SetupWizard, default_settings
from tests.gui.loopback import LoopbackSite

FAST = {"deadline": 30.0, "connect_timeout": 3.0, "response_timeout": 3.0,
        "discovery_deadline": 5.0}


def make_wizard(qtbot: QtBot, site: LoopbackSite | None = None, *,
                remember: bool = True, start_page: bool = False,
                store: ProfileStore | None = None, vault: PasswordVault | None = None,
                purple_dir: Path | None = None) -> SetupWizard:
    """A shown wizard; without ``start_page`` it opens on the Account page."""
    environment = CheckEnvironment(
        nameservers=(site.nameserver,) if site else (),
        ca_file=site.ca_file if site else None, **FAST)
    wizard = SetupWizard(environment, settings=default_settings() if remember else None,
                         profile_store=store, vault=vault, purple_dir=purple_dir,
                         show_start_page=start_page)
    qtbot.addWidget(wizard)
    wizard.show()
    qtbot.waitExposed(wizard)
    return wizard


def click_next(qtbot: QtBot, wizard: SetupWizard) -> None:
    button = wizard.button(QWizard.WizardButton.NextButton)
    assert button.isEnabled(), f"Next is disabled on page {wizard.currentId()}"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def fill_account(qtbot: QtBot, wizard: SetupWizard, *, signin: str = "alice@example.test",
                 login: str = "EXAMPLE\\alice", password: str = "Passw0rd!") -> None:
    page = wizard.account_page
    page.signin_edit.clear()
    qtbot.keyClicks(page.signin_edit, signin)
    page.login_edit.clear()
    qtbot.keyClicks(page.login_edit, login)
    page.password_edit.clear()
    qtbot.keyClicks(page.password_edit, password)


def run_to_check(qtbot: QtBot, wizard: SetupWizard) -> None:
    """From the Account page (filled) through Connection into Check (the check starts)."""
    assert wizard.currentId() == PageId.ACCOUNT
    click_next(qtbot, wizard)
    assert wizard.currentId() == PageId.CONNECTION
    with qtbot.waitSignal(wizard.check_page.check_started, timeout=5000):
        click_next(qtbot, wizard)
    assert wizard.currentId() == PageId.CHECK


class Heartbeat(QObject):
    """A 10 ms timer on the GUI thread; records the longest gap between its ticks."""

    def __init__(self) -> None:
        super().__init__()
        self.worst = 0.0
        self.ticks = 0
        self._last = time.monotonic()
        self._timer = QTimer(self)
        self._timer.setInterval(10)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = time.monotonic()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = time.monotonic()
        self.worst = max(self.worst, now - self._last)
        self._last = now
        self.ticks += 1


def open_sockets() -> set[str]:
    """The sockets this process holds (``socket:[inode]`` from /proc/self/fd)."""
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


def open_fds() -> set[str]:
    out = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            out.add(f"{name}->{os.readlink(f'/proc/self/fd/{name}')}")
        except OSError:
            continue
    return out


def result_of(wizard: SetupWizard) -> CheckResult:
    result = wizard.state.last_result
    assert result is not None
    return result


__all__ = ["FAST", "Heartbeat", "Path", "click_next", "fill_account", "make_wizard",
           "open_fds", "open_sockets", "result_of", "run_to_check"]
