"""The wizard by keyboard alone: Enter goes forward (never Back), one meaning per Alt+letter on
each page, help on F1 instead of "?" tab stops, and a visible focus after every jump.

The happy path is counted in input events: a key press is one; typing one field's text is one.
From the Start page to a saved profile exported to Pidgin it takes 12 (Enter; address, Tab,
Login, Tab, password; Enter ×5; Enter on Finish). Before this, the same path needed 13 to reach
the Save page (the "?" buttons were tab stops), and there Enter did not save but went back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import keyring.backends.SecretService
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QPushButton, QWidget, QWizard
from pytestqt.qtbot import QtBot

from sipe_setup.core.account import Field
from sipe_setup.core.advice import SUGGESTED_USER_AGENTS, advice
from sipe_setup.core.pidgin import read_sipe_accounts
from sipe_setup.core.profiles import ProfileStore
from sipe_setup.core.secrets import PasswordVault
from sipe_setup.core.steps import Verdict
from sipe_setup.gui import wizard as wizard_module
from sipe_setup.gui.app import app_icon
from sipe_setup.gui.widgets import HelpButton, help_text_for
from sipe_setup.gui.wizard import PageId, SetupWizard
from tests.conftest import require_tool
from tests.gui.helpers import fill_account, make_wizard, run_to_check
from tests.gui.loopback import DEMO_LOGIN, DEMO_PASSWORD, DEMO_SIGNIN, LoopbackSite
from tests.gui.mnemonics import clashes, mnemonics_of_page
from tests.servers.secret_service import GnomeKeyringService


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackSite]:
    binary = require_tool("dnsmasq")
    with LoopbackSite(tmp_path_factory.mktemp("keys"), dnsmasq=binary, tls="ca") as running:
        yield running


class Keyboard:
    """Key presses and typing into whatever has the focus, counted."""

    def __init__(self, qtbot: QtBot, wizard: SetupWizard) -> None:
        self.qtbot = qtbot
        self.wizard = wizard
        self.events = 0

    def focus(self) -> QWidget:
        widget = QApplication.focusWidget()
        assert widget is not None and widget.window() is self.wizard, widget
        return widget

    def press(self, key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier
              ) -> None:
        self.qtbot.keyClick(self.focus(), key, modifier)
        self.events += 1

    def type(self, text: str) -> None:
        self.qtbot.keyClicks(self.focus(), text)
        self.events += 1


def no_page_button_takes_enter(wizard: SetupWizard) -> None:
    forward = wizard.forward_button()
    assert forward is not None
    buttons = [b for b in wizard.findChildren(QPushButton) if b.window() is wizard]
    assert [b for b in buttons if b.isDefault()] == [forward]
    assert not [b.text() for b in buttons if b.autoDefault()]


def enter_on_back_goes_forward_or_nowhere(qtbot: QtBot, wizard: SetupWizard) -> None:
    """Focus on < Back, press Enter: the wizard never goes back a page."""
    back = wizard.button(QWizard.WizardButton.BackButton)
    page = wizard.currentId()
    if back.isHidden() or not back.isEnabled():
        return
    forward = wizard.forward_button()
    back.setFocus()
    qtbot.keyClick(back, Qt.Key.Key_Return)
    assert wizard.currentId() >= page, f"Enter on < Back left page {page}"
    if wizard.currentId() != page and forward is not None:
        assert forward.text()  # it went forward: undo, so the caller stays where it was
        wizard.back()


def test_happy_path_by_keyboard_alone(qtbot: QtBot, site: LoopbackSite, tmp_path: Path,
                                      secret_service: GnomeKeyringService) -> None:
    purple = tmp_path / "purple"
    wizard = make_wizard(qtbot, site, start_page=True, remember=False,
                         store=ProfileStore(tmp_path / "profiles"),
                         vault=PasswordVault(keyring.backends.SecretService.Keyring()),
                         purple_dir=purple)
    wizard.activateWindow()
    keys = Keyboard(qtbot, wizard)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None)
    keys.press(Qt.Key.Key_Return)  # New setup
    assert wizard.currentId() == PageId.ACCOUNT
    assert keys.focus() is wizard.account_page.signin_edit
    keys.type(DEMO_SIGNIN)
    keys.press(Qt.Key.Key_Tab)
    assert keys.focus() is wizard.account_page.login_edit  # no "?" in between
    keys.type(DEMO_LOGIN)
    keys.press(Qt.Key.Key_Tab)
    assert keys.focus() is wizard.account_page.password_edit
    keys.type(DEMO_PASSWORD)
    keys.press(Qt.Key.Key_Return)
    assert wizard.currentId() == PageId.CONNECTION
    with qtbot.waitSignal(wizard.check_page.check_finished, timeout=20000) as finished:
        keys.press(Qt.Key.Key_Return)  # Test sign-in
    assert finished.args[0].verdict is Verdict.SIGNED_IN
    keys.press(Qt.Key.Key_Return)
    assert wizard.currentId() == PageId.RESULT
    keys.press(Qt.Key.Key_Return)  # Save profile >
    assert wizard.currentId() == PageId.SAVE
    save = wizard.save_page
    qtbot.waitUntil(lambda: save.save_button.isEnabled(), timeout=15000)
    assert wizard.forward_button() is save.save_button
    with qtbot.waitSignal(save.saved, timeout=15000) as saved:
        keys.press(Qt.Key.Key_Return)  # Save
    assert saved.args[0].exported and not saved.args[0].error, saved.args[0]
    finish = wizard.button(QWizard.WizardButton.FinishButton)
    assert wizard.forward_button() is finish and wizard.focusWidget() is finish
    with qtbot.waitSignal(wizard.finished, timeout=5000) as closed:
        keys.press(Qt.Key.Key_Return)  # Finish
    assert closed.args[0] == QWizard.DialogCode.Accepted.value
    assert keys.events == 12
    assert [a.entry.signin for a in read_sipe_accounts(purple)] == [DEMO_SIGNIN]


def test_enter_never_goes_back_and_the_default_is_the_way_forward(
        qtbot: QtBot, site: LoopbackSite, tmp_path: Path,
        secret_service: GnomeKeyringService) -> None:
    wizard = make_wizard(qtbot, site, start_page=True, remember=False,
                         store=ProfileStore(tmp_path / "profiles"),
                         vault=PasswordVault(keyring.backends.SecretService.Keyring()),
                         purple_dir=tmp_path / "purple")
    next_button = wizard.button(QWizard.WizardButton.NextButton)
    no_page_button_takes_enter(wizard)
    assert wizard.forward_button() is next_button
    wizard.next()
    fill_account(qtbot, wizard, signin=DEMO_SIGNIN, login=DEMO_LOGIN, password=DEMO_PASSWORD)
    no_page_button_takes_enter(wizard)
    enter_on_back_goes_forward_or_nowhere(qtbot, wizard)
    assert wizard.currentId() == PageId.ACCOUNT
    wizard.next()
    assert wizard.forward_button() is next_button  # "Test sign-in >"
    enter_on_back_goes_forward_or_nowhere(qtbot, wizard)
    with qtbot.waitSignal(wizard.check_page.check_finished, timeout=20000):
        if wizard.currentId() == PageId.CONNECTION:
            wizard.next()
    no_page_button_takes_enter(wizard)
    wizard.next()
    assert wizard.currentId() == PageId.RESULT
    no_page_button_takes_enter(wizard)
    assert wizard.forward_button() is next_button  # "Save profile >", not Finish
    wizard.next()
    save = wizard.save_page
    qtbot.waitUntil(lambda: save.save_button.isEnabled(), timeout=15000)
    no_page_button_takes_enter(wizard)
    assert wizard.forward_button() is save.save_button
    back = wizard.button(QWizard.WizardButton.BackButton)
    back.setFocus()
    with qtbot.waitSignal(save.saved, timeout=15000):  # Enter on < Back: Save, not back
        qtbot.keyClick(back, Qt.Key.Key_Return)
    assert wizard.currentId() == PageId.SAVE
    no_page_button_takes_enter(wizard)
    finish = wizard.button(QWizard.WizardButton.FinishButton)
    assert wizard.forward_button() is finish
    # After Save, Enter — even on < Back — finishes; it never goes one page back per press.
    back.setFocus()
    with qtbot.waitSignal(wizard.finished, timeout=5000) as closed:
        qtbot.keyClick(back, Qt.Key.Key_Return)
    assert closed.args[0] == QWizard.DialogCode.Accepted.value
    assert wizard.currentId() == PageId.SAVE


def test_a_success_note_does_not_take_enter_and_a_failure_offers_its_fix(
        qtbot: QtBot, site: LoopbackSite) -> None:
    wizard = make_wizard(qtbot, site)
    fill_account(qtbot, wizard, signin=DEMO_SIGNIN, login=DEMO_LOGIN, password=DEMO_PASSWORD)
    with qtbot.waitSignal(wizard.check_page.check_finished, timeout=20000):
        run_to_check(qtbot, wizard)
    result = wizard.state.last_result
    assert result is not None and result.ok
    note = advice("client-version-advised", filter_said="Warning 313", server_reason="old",
                  user_agent="Pidgin", suggested=SUGGESTED_USER_AGENTS[0])
    wizard.state.last_result = dataclasses.replace(result, advice=note)
    wizard.next()
    page = wizard.result_page
    assert page.jump_button.isVisible()  # "Change the User Agent": a choice, not the way on
    page.jump_button.setFocus()
    qtbot.keyClick(page.jump_button, Qt.Key.Key_Return)
    assert wizard.currentId() == PageId.SAVE

    wizard = make_wizard(qtbot, site)
    fill_account(qtbot, wizard, signin=DEMO_SIGNIN, login=DEMO_LOGIN, password="Wrong-1")
    with qtbot.waitSignal(wizard.check_page.check_finished, timeout=20000):
        run_to_check(qtbot, wizard)
    wizard.next()
    page = wizard.result_page
    assert wizard.forward_button() is page.jump_button
    assert wizard.focusWidget() is page.jump_button
    qtbot.keyClick(page.jump_button, Qt.Key.Key_Return)
    password = wizard.account_page.password_edit
    assert wizard.currentId() == PageId.ACCOUNT and wizard.focusWidget() is password
    assert wizard.testAttribute(Qt.WidgetAttribute.WA_KeyboardFocusChange)


def page_clashes(wizard: SetupWizard) -> dict[str, list[str]]:
    page = wizard.currentPage()
    assert page is not None
    return clashes(mnemonics_of_page(wizard, page))


def test_every_alt_letter_means_one_thing_per_page(qtbot: QtBot, site: LoopbackSite,
                                                  tmp_path: Path) -> None:
    seen: dict[str, dict[str, list[str]]] = {}
    wizard = make_wizard(qtbot, site, start_page=True, store=ProfileStore(tmp_path / "p"),
                         purple_dir=tmp_path / "purple")
    seen["start"] = page_clashes(wizard)
    wizard.next()
    fill_account(qtbot, wizard, signin=DEMO_SIGNIN, login=DEMO_LOGIN, password=DEMO_PASSWORD)
    seen["account"] = page_clashes(wizard)
    wizard.account_page.show_password.setChecked(True)  # "Hide" instead of "Show"
    seen["account, password shown"] = page_clashes(wizard)
    wizard.next()
    seen["connection"] = page_clashes(wizard)
    with qtbot.waitSignal(wizard.check_page.check_finished, timeout=20000):
        wizard.next()
    seen["check"] = page_clashes(wizard)
    wizard.next()
    seen["result: signed in"] = page_clashes(wizard)
    wizard.next()
    seen["save"] = page_clashes(wizard)
    wizard.back()
    wizard.back()
    wizard.back()
    wizard.back()
    fill_account(qtbot, wizard, signin=DEMO_SIGNIN, login=DEMO_LOGIN, password="Wrong-1")
    wizard.next()
    with qtbot.waitSignal(wizard.check_page.check_finished, timeout=20000):
        wizard.next()
    wizard.next()
    assert wizard.state.last_result is not None
    assert wizard.state.last_result.verdict is Verdict.FAILED
    seen["result: failed"] = page_clashes(wizard)
    assert not any(seen.values()), {where: found for where, found in seen.items() if found}


def test_help_is_on_f1_and_the_question_marks_are_not_tab_stops(
        qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    wizard = make_wizard(qtbot, start_page=True)
    wizard.build_pages()
    helps = wizard.findChildren(HelpButton)
    assert len(helps) > 10
    assert all(button.focusPolicy() == Qt.FocusPolicy.NoFocus for button in helps)
    wizard.next()
    wizard.activateWindow()
    page = wizard.account_page
    page.signin_edit.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is page.signin_edit)
    reached = []
    for _ in range(12):
        qtbot.keyClick(QApplication.focusWidget() or wizard, Qt.Key.Key_Tab)
        reached.append(QApplication.focusWidget())
    assert not [w for w in reached if isinstance(w, HelpButton)]
    # F1 shows the focused field's help (its What's This, the "?" text) next to it. The
    # popup itself grabs the keyboard, which the offscreen test platform cannot: record it.
    shown: list[QWidget | None] = []
    monkeypatch.setattr(wizard_module, "show_help_for", shown.append)
    page.login_edit.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is page.login_edit)
    qtbot.keyClick(page.login_edit, Qt.Key.Key_F1)
    qtbot.keyClick(page.login_edit, Qt.Key.Key_F1, Qt.KeyboardModifier.ShiftModifier)
    assert shown == [page.login_edit, page.login_edit]
    found = help_text_for(page.login_edit)
    assert found is not None and found[1] == page.login_edit.toolTip()
    assert "DOMAIN" in found[1]


def test_jump_to_a_field_on_an_earlier_page_shows_the_focus(qtbot: QtBot) -> None:
    wizard = make_wizard(qtbot)
    fill_account(qtbot, wizard)
    wizard.next()
    wizard.jump_to_field(Field.LOGIN)
    assert wizard.currentId() == PageId.ACCOUNT
    assert wizard.focusWidget() is wizard.account_page.login_edit
    assert wizard.testAttribute(Qt.WidgetAttribute.WA_KeyboardFocusChange)


def badge_color(wizard: SetupWizard, page_id: PageId) -> QColor:
    """The colour of the header icon's badge (left of its centre, off the cross and check)."""
    page = wizard.page(page_id)
    pixmap = page.pixmap(QWizard.WizardPixmap.LogoPixmap)
    image = pixmap.toImage()
    scale = image.width() / 128
    return image.pixelColor(int((98 - 14) * scale), int(96 * scale))


def test_the_header_icon_follows_the_verdict(qtbot: QtBot, qapp: QApplication,
                                             site: LoopbackSite) -> None:
    before = qapp.windowIcon()
    qapp.setWindowIcon(app_icon())
    try:
        wizard = make_wizard(qtbot, site)
        fill_account(qtbot, wizard, signin=DEMO_SIGNIN, login=DEMO_LOGIN, password="Wrong-1")
        with qtbot.waitSignal(wizard.check_page.check_finished, timeout=20000):
            run_to_check(qtbot, wizard)
        wizard.next()
        for page_id in (PageId.CHECK, PageId.RESULT):
            color = badge_color(wizard, page_id)
            assert color.red() > 150 and color.green() < 100, (page_id, color.name())
        wizard.jump_to_field(Field.PASSWORD)
        fill_account(qtbot, wizard, signin=DEMO_SIGNIN, login=DEMO_LOGIN,
                     password=DEMO_PASSWORD)
        with qtbot.waitSignal(wizard.check_page.check_finished, timeout=20000):
            run_to_check(qtbot, wizard)
        wizard.next()
        color = badge_color(wizard, PageId.RESULT)
        assert color.green() > color.red(), color.name()  # the icon's own green check
    finally:
        qapp.setWindowIcon(before)
