"""Lockout safety in the wizard: other Login forms are tried only when the user asks, and the
result page says what each try costs."""

from __future__ import annotations

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from sipe_setup.core.steps import CheckResult
from sipe_setup.gui.state import CheckEnvironment
from sipe_setup.gui.wizard import PageId, SetupWizard
from tests.gui.helpers import FAST, click_next, fill_account
from tests.servers.registrar import RegistrarConfig, RegistrarThread

USERS = [("EXAMPLE", "alice", "Passw0rd!")]


def _wizard(qtbot: QtBot, port: int) -> SetupWizard:
    wizard = SetupWizard(CheckEnvironment(**FAST), settings=None, show_start_page=False)
    qtbot.addWidget(wizard)
    wizard.show()
    qtbot.waitExposed(wizard)
    fill_account(qtbot, wizard, login="alice@example.test")
    click_next(qtbot, wizard)
    page = wizard.connection_page
    page.server_edit.clear()
    qtbot.keyClicks(page.server_edit, f"127.0.0.1:{port}")
    page.transport_combo.setCurrentIndex(page.transport_combo.findData("tcp"))
    return wizard


def test_other_login_forms_only_on_request(qtbot: QtBot) -> None:
    config = RegistrarConfig(users=USERS, scenario="wrong-login-form")
    with RegistrarThread(config) as registrar:
        wizard = _wizard(qtbot, registrar.port)
        with qtbot.waitSignal(wizard.check_page.check_finished, timeout=30000) as first:
            click_next(qtbot, wizard)
        result: CheckResult = first.args[0]
        assert result.code == "SS-AUTH-401", result.summary
        assert result.failed_attempts == 1
        registers_before = registrar.registrar.stats.registers
        click_next(qtbot, wizard)
        assert wizard.currentId() == PageId.RESULT
        button = wizard.result_page.login_forms_button
        assert button.isVisible()
        assert "failed sign-in" in wizard.result_page.login_forms_note.text()
        assert wizard.result_page.login_forms_note.isVisible()

        with qtbot.waitSignal(wizard.check_page.check_finished, timeout=30000) as second:
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        result = second.args[0]
        assert result.code == "SS-AUTH-LOGIN", result.summary
        assert result.advice is not None and "EXAMPLE\\alice" in result.advice.fix
        assert registrar.registrar.stats.registers > registers_before
        # The consent was for that one check: the next one is back to one failed sign-in.
        assert wizard.state.try_other_logins is False
