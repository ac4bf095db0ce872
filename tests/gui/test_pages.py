"""The form pages without a server: validation as you type, SSO, remembered inputs, prefill."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit, QWidget, QWizard
from pytestqt.qtbot import QtBot

from sipe_setup.core.account import Field
from sipe_setup.gui.app import build_parser
from sipe_setup.gui.app import make_wizard as make_wizard_from_args
from sipe_setup.gui.widgets import MessageKind
from sipe_setup.gui.wizard import PageId, SetupWizard
from tests.gui.helpers import click_next, fill_account, make_wizard


def next_enabled(wizard: SetupWizard) -> bool:
    return wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def test_bad_signin_shows_the_message_next_to_the_field_and_disables_next(qtbot: QtBot) -> None:
    wizard = make_wizard(qtbot)
    page = wizard.account_page
    message = page.messages[Field.SIGNIN]
    assert message.isHidden()  # an empty form is not red
    assert not next_enabled(wizard)
    qtbot.keyClicks(page.signin_edit, "alice")
    assert message.isVisible() and message.kind is MessageKind.ERROR
    assert "needs an @ and a domain" in message.message()
    assert page.signin_edit.accessibleDescription() == message.message()
    # The message sits right under the field, in the same form row.
    assert message.parentWidget() is page.signin_edit.parentWidget()
    qtbot.keyClicks(page.password_edit, "secret")
    assert not next_enabled(wizard)
    qtbot.keyClicks(page.signin_edit, "@example.test")
    assert message.isHidden()
    assert next_enabled(wizard)


def test_login_and_password_rules(qtbot: QtBot) -> None:
    wizard = make_wizard(qtbot)
    page = wizard.account_page
    qtbot.keyClicks(page.signin_edit, "alice@example.test")
    qtbot.keyClicks(page.login_edit, "EXAMPLE\\al ice")
    assert "contains a space" in page.messages[Field.LOGIN].message()
    page.login_edit.clear()
    qtbot.keyClicks(page.login_edit, "EXAMPLE\\alice")
    assert page.messages[Field.LOGIN].isHidden()
    assert not next_enabled(wizard)  # no password yet
    qtbot.keyClicks(page.password_edit, "x")
    qtbot.keyClick(page.password_edit, Qt.Key.Key_Backspace)
    assert "Enter your password" in page.messages[Field.PASSWORD].message()
    qtbot.keyClicks(page.password_edit, "pw")
    assert next_enabled(wizard)


def test_password_is_masked_with_a_show_toggle(qtbot: QtBot) -> None:
    wizard = make_wizard(qtbot)
    page = wizard.account_page
    assert page.password_edit.echoMode() is QLineEdit.EchoMode.Password
    qtbot.mouseClick(page.show_password, Qt.MouseButton.LeftButton)
    assert page.password_edit.echoMode() is QLineEdit.EchoMode.Normal
    qtbot.mouseClick(page.show_password, Qt.MouseButton.LeftButton)
    assert page.password_edit.echoMode() is QLineEdit.EchoMode.Password


def test_sso_disables_login_and_password_and_says_what_it_uses(qtbot: QtBot) -> None:
    wizard = make_wizard(qtbot)
    page = wizard.account_page
    qtbot.keyClicks(page.signin_edit, "alice@example.test")
    assert not next_enabled(wizard)
    qtbot.mouseClick(page.sso_check, Qt.MouseButton.LeftButton)
    assert page.sso_check.isChecked()
    assert not page.login_edit.isEnabled() and not page.password_edit.isEnabled()
    assert "kinit" in page.sso_hint.text() and "Windows logon" in page.sso_hint.text()
    assert next_enabled(wizard)  # no password needed
    qtbot.mouseClick(page.sso_check, Qt.MouseButton.LeftButton)
    assert page.login_edit.isEnabled() and page.password_edit.isEnabled()
    assert not next_enabled(wizard)


def test_connection_page_validation_and_tcp_warning(qtbot: QtBot) -> None:
    wizard = make_wizard(qtbot)
    fill_account(qtbot, wizard)
    click_next(qtbot, wizard)
    page = wizard.connection_page
    assert wizard.currentId() == PageId.CONNECTION
    assert next_enabled(wizard)  # everything automatic is valid
    qtbot.keyClicks(page.server_edit, "sip.example.test:99999")
    assert "out of range" in page.messages[Field.SERVER].message()
    assert not next_enabled(wizard)
    page.server_edit.clear()
    qtbot.keyClicks(page.server_edit, "sip.example.test:443")
    assert page.messages[Field.SERVER].isHidden() and next_enabled(wizard)
    page.transport_combo.setCurrentIndex(page.transport_combo.findData("tcp"))
    warning = page.messages[Field.TRANSPORT]
    assert warning.kind is MessageKind.WARNING and "unencrypted" in warning.message()
    assert next_enabled(wizard)  # a warning does not block
    page.user_agent_combo.setCurrentIndex(1)
    assert wizard.state.values["user_agent"].startswith("UCCAPI/16.0")  # type: ignore[union-attr]
    assert page.user_agent_combo.count() == 5


def test_every_field_has_help_a_buddy_and_an_accessible_name(qtbot: QtBot) -> None:
    wizard = make_wizard(qtbot)
    for fld in Field:
        widget = wizard.field_widget(fld)
        assert widget.accessibleName(), fld
        assert len(widget.toolTip()) > 60, fld
        assert widget.whatsThis() == widget.toolTip()
    buddies = {label.buddy() for page in (wizard.account_page, wizard.connection_page)
               for label in page.findChildren(QLabel) if label.buddy() is not None}
    for fld in Field:
        if fld is not Field.SSO:  # a check box is its own label
            assert wizard.field_widget(fld) in buddies, fld
    for page in (wizard.account_page, wizard.connection_page):
        for widget in page.findChildren(QWidget):
            if widget.focusPolicy() != Qt.FocusPolicy.NoFocus and widget.isVisibleTo(page) \
                    and not isinstance(widget, QLabel) and widget.objectName() not in (
                        "", "qt_spinbox_lineedit") and widget.parent() is not None:
                assert widget.accessibleName(), widget.objectName()


def test_keyboard_only_mnemonic_reaches_the_field(qtbot: QtBot) -> None:
    wizard = make_wizard(qtbot)
    wizard.activateWindow()
    qtbot.waitUntil(wizard.isActiveWindow)
    qtbot.keyClick(wizard, Qt.Key.Key_P, Qt.KeyboardModifier.AltModifier)
    assert wizard.focusWidget() is wizard.account_page.password_edit


def test_remembered_inputs_are_restored_but_not_the_password(qtbot: QtBot,
                                                            settings_dir: Path) -> None:
    first = make_wizard(qtbot)
    fill_account(qtbot, first, password="Never-Stored-77")
    first.prefill({"server": "sip.example.test:443", "transport": "tls",
                   "user_agent": "UCCAPI/15.0.4481.1000 OC/15.0.4481.1000 (Microsoft Lync)"})
    first.remember_inputs()  # what starting a check does
    stored = "".join(p.read_text() for p in settings_dir.rglob("*") if p.is_file())
    assert "alice@example.test" in stored and "Never-Stored-77" not in stored
    second = make_wizard(qtbot)
    assert second.account_page.signin_edit.text() == "alice@example.test"
    assert second.account_page.login_edit.text() == "EXAMPLE\\alice"
    assert second.account_page.password_edit.text() == ""
    assert second.connection_page.server_edit.text() == "sip.example.test:443"
    assert second.connection_page.transport_combo.currentData() == "tls"
    assert second.connection_page.user_agent_combo.currentText().startswith("UCCAPI/15")
    assert not second.state.password


def test_settings_go_to_the_test_directory(settings_dir: Path) -> None:
    from sipe_setup.gui.wizard import default_settings

    assert Path(default_settings().fileName()).is_relative_to(settings_dir)


def test_prefill_fills_fields_and_refuses_unknown_keys(qtbot: QtBot) -> None:
    wizard = make_wizard(qtbot, remember=False)
    wizard.prefill({"signin": "bob@example.test", "login": "EXAMPLE\\bob", "sso": True,
                    "auth": "krb5"})
    assert wizard.account_page.signin_edit.text() == "bob@example.test"
    assert wizard.account_page.sso_check.isChecked()
    assert wizard.connection_page.auth_combo.currentData() == "kerberos"
    with pytest.raises(KeyError):
        wizard.prefill({"password": "x"})


def test_command_line_prefill_banner_and_title(qtbot: QtBot, tmp_path: Path) -> None:
    prefill = tmp_path / "prefill.json"
    prefill.write_text(json.dumps({"signin": "alice@example.test", "login": "EXAMPLE\\alice"}))
    args = build_parser().parse_args([
        "--prefill-json", str(prefill), "--server", "127.0.0.1:5061", "--nameserver",
        "127.0.0.1:5353", "--banner", "Demo: password Passw0rd!", "--title-note", "demo"])
    wizard = make_wizard_from_args(args, settings_enabled=False)
    qtbot.addWidget(wizard)
    assert wizard.account_page.login_edit.text() == "EXAMPLE\\alice"
    assert wizard.connection_page.server_edit.text() == "127.0.0.1:5061"
    assert wizard.state.environment.nameservers[0].port == 5353
    assert wizard.windowTitle().endswith("— demo")
    assert "Passw0rd!" in wizard.account_page.banner.text()
    assert not wizard.account_page.banner.isHidden()
    # Qt's own options pass through; a password cannot be pre-filled.
    known, rest = build_parser().parse_known_args(["-platform", "offscreen", "--signin", "a@b.c"])
    assert rest == ["-platform", "offscreen"] and known.signin == "a@b.c"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--prefill-json", '{"password": "x"}'])


def test_without_a_screen_the_wizard_says_so_instead_of_aborting() -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run([sys.executable, "-c", "from sipe_setup.gui.app import main; main()"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2
    assert "no desktop session" in done.stderr and "sipe-setup check" in done.stderr
