"""Nothing is clipped: every page, in the states a person meets, at the sizes people have.

The sizes: the window the wizard opens with on a 1366×768 laptop at 100 % and at 200 %, and a
640×480 window. 200 % is measured in device-independent pixels: ``QT_SCALE_FACTOR=2`` on a
1366×768 screen lays a window out exactly as 683×384 at 100 % (fonts, margins and icons all
double together), so the test resizes the wizard to what that screen leaves instead of
restarting Qt. (``make screenshots`` shoots the same pages under Xvfb at both real scales.)

A page fails when any label's text needs more room than it has (``heightForWidth`` against its
height for wrapping text, its size hint otherwise), a label or button lies outside its parent,
or a page would have to scroll sideways — see ``tests/gui/layout_check.py``. Long inputs are
part of it: a 120-character sign-in address, valid and not.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import keyring.backends.fail
import pytest
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QScrollArea, QWizard
from pytestqt.qtbot import QtBot

from sipe_setup.core.account import Field, Secret, parse_account
from sipe_setup.core.checkup import TrustKind, TrustQuestion
from sipe_setup.core.pidgin import PasswordMode, SipeAccountEntry, export_account
from sipe_setup.core.profile_actions import save_profile
from sipe_setup.core.profiles import Profile, ProfileStore
from sipe_setup.core.secrets import PasswordVault
from sipe_setup.core.steps import Verdict
from sipe_setup.core.transport import CertificateInfo
from sipe_setup.gui.app import app_icon
from sipe_setup.gui.pages.start import StartWay
from sipe_setup.gui.trust_dialog import TrustDialog
from sipe_setup.gui.wizard import PageId, SetupWizard
from tests.conftest import require_tool
from tests.gui.helpers import click_next, fill_account, make_wizard, run_to_check
from tests.gui.layout_check import clipped_widgets
from tests.gui.loopback import DEMO_LOGIN, DEMO_PASSWORD, DEMO_SIGNIN, LoopbackSite

#: A valid sign-in address of 120 characters, and an invalid one as long.
LONG_SIGNIN = ("firstname.middlename.lastname.with.a.rather.long.suffix.abcd"
               "@department.subdivision.regional-office.example-company.test")
LONG_INVALID = LONG_SIGNIN.replace("@", ".")
assert len(LONG_SIGNIN) == len(LONG_INVALID) == 120

#: (name, the screen's available room) — the wizard opens at size_for_room(room).
SCREENS = (("1366x768 at 100 %", QSize(1366, 768)), ("1366x768 at 200 %", QSize(683, 384)))
WINDOWS = (("640x480 window", QSize(640, 480)),)


@pytest.fixture(autouse=True)
def app_icon_in_the_header(qapp: QApplication) -> Iterator[None]:
    """The header shows the application icon, as in ``sipe-setup-gui``: it narrows the
    subtitles, which must still fit."""
    before = qapp.windowIcon()
    qapp.setWindowIcon(app_icon())
    yield
    qapp.setWindowIcon(before)


def sizes(wizard: SetupWizard) -> list[tuple[str, QSize]]:
    return [(name, wizard.size_for_room(room)) for name, room in SCREENS] + list(WINDOWS)


def settle(qtbot: QtBot) -> None:
    for _ in range(3):
        QApplication.processEvents()
        qtbot.wait(5)


def retype(qtbot: QtBot, edit: QLineEdit, text: str) -> None:
    """Replace a line edit's text as typing does (the page hears every edit)."""
    edit.selectAll()
    qtbot.keyClick(edit, Qt.Key.Key_Backspace)
    qtbot.keyClicks(edit, text)


def assert_fits(qtbot: QtBot, wizard: SetupWizard, where: str) -> None:
    """At every size: the wizard takes that size, and nothing on the current page is
    clipped. Leaves the wizard at the first (100 %) size."""
    failures: list[str] = []
    for name, size in sizes(wizard):
        wizard.resize(size)
        settle(qtbot)
        if wizard.size() != size:
            failures.append(f"{name}: the wizard cannot be {size.width()}×{size.height()} "
                            f"(minimum {wizard.minimumSize().width()}×"
                            f"{wizard.minimumSize().height()})")
        failures.extend(f"{name}: {problem}" for problem in clipped_widgets(wizard))
    wizard.resize(sizes(wizard)[0][1])
    settle(qtbot)
    assert not failures, f"{where}:\n  " + "\n  ".join(failures)


def test_the_wizard_opens_within_the_screen(qtbot: QtBot) -> None:
    wizard = make_wizard(qtbot)
    assert wizard.size_for_room(QSize(1366, 768)) == QSize(760, 600)
    small = wizard.size_for_room(QSize(683, 384))
    assert small.width() <= 683 - SetupWizard.FRAME_ROOM.width()
    assert small.height() <= 384 - SetupWizard.FRAME_ROOM.height()
    screen = wizard.screen().availableGeometry().size()
    assert wizard.sizeHint() == wizard.size_for_room(screen)


def test_start_account_and_connection_pages_fit(qtbot: QtBot, tmp_path: Path) -> None:
    purple = tmp_path / "purple"
    export_account(purple, SipeAccountEntry(signin=LONG_SIGNIN, login="COMPANY\\" + "x" * 60,
                                            transport="tcp", authentication="ntlm"),
                   password_mode=PasswordMode.CLEARTEXT, password=Secret("old"))
    store = ProfileStore(tmp_path / "profiles")
    account = parse_account(LONG_SIGNIN, login="COMPANY\\first.last")
    save_profile(store, PasswordVault(keyring.backends.fail.Keyring()),
                 Profile.from_account("a-rather-long-profile-name-for-work", account), None,
                 allow_without_password=True)
    settings = tmp_path / ("settings-from-it-" + "y" * 60 + ".json")
    settings.write_text(json.dumps({"format": "not a settings file"}), encoding="utf-8")

    wizard = make_wizard(qtbot, start_page=True, purple_dir=purple, store=store)
    page = wizard.start_page
    assert_fits(qtbot, wizard, "Start: new setup")
    page.choose(StartWay.PIDGIN)
    assert page.pidgin_list.count() == 1
    assert_fits(qtbot, wizard, "Start: a Pidgin account")
    page.set_purple_dir(tmp_path / ("no-such-folder-" + "z" * 80))
    assert page.pidgin_message.message()
    assert_fits(qtbot, wizard, "Start: a Pidgin folder without accounts")
    page.choose(StartWay.PROFILE)
    assert page.profile_list.count() == 1
    assert_fits(qtbot, wizard, "Start: a saved profile")
    page.choose(StartWay.SETTINGS)
    page.load_settings_file(settings)
    assert page.settings_message.message()
    assert_fits(qtbot, wizard, "Start: a settings file that cannot be used")

    page.choose(StartWay.NEW)
    click_next(qtbot, wizard)
    assert wizard.currentId() == PageId.ACCOUNT
    account_page = wizard.account_page
    wizard.set_banner("<b>Demo.</b> A test server for <tt>alice@example.test</tt> runs on this "
                      "computer. Its password is <tt>Passw0rd!</tt>: type it to see a "
                      "successful sign-in, then go back and change it to see how a failure "
                      "is explained.")
    assert_fits(qtbot, wizard, "Account: empty, with the demo banner")
    qtbot.keyClicks(account_page.signin_edit, LONG_INVALID)
    qtbot.keyClicks(account_page.login_edit, "COMPANY\\" + "l" * 100 + " x")
    qtbot.keyClicks(account_page.password_edit, "x")
    qtbot.keyClick(account_page.password_edit, Qt.Key.Key_Backspace)
    assert account_page.messages[next(iter(account_page.messages))].message()
    assert_fits(qtbot, wizard, "Account: 120 characters without an @, errors under each field")
    retype(qtbot, account_page.signin_edit, LONG_SIGNIN)
    retype(qtbot, account_page.login_edit, "")
    qtbot.keyClicks(account_page.password_edit, "pw")
    qtbot.mouseClick(account_page.sso_check, Qt.MouseButton.LeftButton)
    assert_fits(qtbot, wizard, "Account: a 120-character address, Single Sign-On")
    qtbot.mouseClick(account_page.sso_check, Qt.MouseButton.LeftButton)

    click_next(qtbot, wizard)
    connection = wizard.connection_page
    assert_fits(qtbot, wizard, "Connection: defaults")
    qtbot.keyClicks(connection.server_edit, "sip." + "s" * 100 + ".example.test:99999")
    connection.transport_combo.setCurrentIndex(connection.transport_combo.findData("tcp"))
    connection.user_agent_combo.setCurrentIndex(1)
    assert_fits(qtbot, wizard, "Connection: a long bad server, TCP warning, a User Agent")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackSite]:
    binary = require_tool("dnsmasq")
    with LoopbackSite(tmp_path_factory.mktemp("layout"), dnsmasq=binary, tls="ca") as running:
        yield running


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> PasswordVault:
    """No password store: the Save page shows its longest form (the choices to go on)."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    return PasswordVault(keyring.backends.fail.Keyring())


def test_check_result_and_save_pages_fit(qtbot: QtBot, site: LoopbackSite, tmp_path: Path,
                                         no_keyring: PasswordVault) -> None:
    wizard = make_wizard(qtbot, site, store=ProfileStore(tmp_path / "profiles"),
                         vault=no_keyring, purple_dir=tmp_path / "purple")
    fill_account(qtbot, wizard, signin=DEMO_SIGNIN, login=DEMO_LOGIN, password=DEMO_PASSWORD)
    with qtbot.waitSignal(wizard.check_page.check_finished, timeout=20000) as finished:
        run_to_check(qtbot, wizard)
    assert finished.args[0].verdict is Verdict.SIGNED_IN
    tree = wizard.check_page.steps_view
    lines = [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())]
    assert any("servers found" in line for line in lines), lines
    assert not any("(s)" in line for line in lines), lines
    assert_fits(qtbot, wizard, "Check: signed in")
    click_next(qtbot, wizard)
    assert_fits(qtbot, wizard, "Result: signed in")
    click_next(qtbot, wizard)
    save = wizard.save_page
    qtbot.waitUntil(lambda: not save.keyring_busy() and not save.readiness_box.busy(),
                    timeout=15000)
    assert_fits(qtbot, wizard, "Save: no keyring, before saving")
    save.without_password.setChecked(True)
    with qtbot.waitSignal(save.saved, timeout=15000):
        qtbot.mouseClick(save.save_button, Qt.MouseButton.LeftButton)
    assert_fits(qtbot, wizard, "Save: saved and exported")


def test_a_failure_fits_with_its_details_open(qtbot: QtBot, site: LoopbackSite) -> None:
    wizard = make_wizard(qtbot, site)
    fill_account(qtbot, wizard, signin=DEMO_SIGNIN, login=DEMO_LOGIN, password="Wrong-1")
    with qtbot.waitSignal(wizard.check_page.check_finished, timeout=20000):
        run_to_check(qtbot, wizard)
    assert_fits(qtbot, wizard, "Check: wrong password")
    click_next(qtbot, wizard)
    page = wizard.result_page
    assert page.login_forms_button.isVisible() and page.jump_button.isVisible()
    assert_fits(qtbot, wizard, "Result: wrong password")
    page.details_button.setChecked(True)
    page.details_label.setText("REGISTER CSeq 2 with NTLM Authorization " * 6)
    assert_fits(qtbot, wizard, "Result: wrong password, details open")


def test_a_jump_below_the_fold_scrolls_the_field_into_view(qtbot: QtBot) -> None:
    """At 200 % the Connection page does not fit: focus moved to its last field (an advice
    jump, or Alt+U) scrolls the page so that the field shows, and shows it as focused."""
    wizard = make_wizard(qtbot)
    fill_account(qtbot, wizard)
    click_next(qtbot, wizard)
    wizard.resize(wizard.size_for_room(QSize(683, 384)))
    settle(qtbot)
    area = wizard.connection_page.findChild(QScrollArea, "page-scroll")
    assert area is not None and area.verticalScrollBar().maximum() > 0  # it does scroll
    wizard.jump_to_field(Field.USER_AGENT)
    settle(qtbot)
    field = wizard.field_widget(Field.USER_AGENT)
    assert wizard.focusWidget() is field
    assert wizard.testAttribute(Qt.WidgetAttribute.WA_KeyboardFocusChange)  # drawn as focused
    viewport = area.viewport()
    top_left = field.mapTo(viewport, field.rect().topLeft())
    bottom = field.mapTo(viewport, field.rect().bottomLeft())
    assert top_left.y() >= 0 and bottom.y() <= viewport.height(), (top_left, bottom)
    assert wizard.button(QWizard.WizardButton.NextButton).isDefault()


def test_messages_that_appear_keep_the_page_unclipped(qtbot: QtBot) -> None:
    """At 200 %, with the window left as it is: messages appearing under the fields push the
    hints below them down (the page grows and scrolls), they never squeeze them."""
    wizard = make_wizard(qtbot)
    wizard.resize(wizard.size_for_room(QSize(683, 384)))
    settle(qtbot)
    page = wizard.account_page
    qtbot.keyClicks(page.signin_edit, "alice.example.test")
    qtbot.keyClicks(page.login_edit, "EXAMPLE\\al ice")
    qtbot.keyClicks(page.password_edit, "x")
    qtbot.keyClick(page.password_edit, Qt.Key.Key_Backspace)
    settle(qtbot)
    assert all(page.messages[f].message() for f in (Field.SIGNIN, Field.LOGIN, Field.PASSWORD))
    assert clipped_widgets(wizard) == []
    retype(qtbot, page.signin_edit, "alice@example.test")
    retype(qtbot, page.login_edit, "EXAMPLE\\alice")
    qtbot.keyClicks(page.password_edit, "pw")
    settle(qtbot)
    assert clipped_widgets(wizard) == []


def test_the_trust_dialog_fits_a_small_screen(qtbot: QtBot) -> None:
    now = dt.datetime.now(dt.UTC)
    cert = CertificateInfo(
        subject="CN=sip.example.test", issuer="CN=sip.example.test",
        dns_names=("sip.example.test", "lyncpool01." + "x" * 40 + ".example.test"),
        ip_addresses=(), not_before=now, not_after=now + dt.timedelta(days=7),
        sha256_fingerprint=":".join(["AB"] * 32), serial="1", self_signed=True, pem="",
        checked_host="sip.example.test", host_matches=True, chain_trusted=False)
    question = TrustQuestion(TrustKind.CERTIFICATE, "sip.example.test", 5061, "example.test",
                             "The certificate is self-signed.", cert)
    dialog = TrustDialog(question)
    qtbot.addWidget(dialog)
    dialog.show()
    for name, size in (("1366x768 at 200 %", QSize(683 - 16, 384 - 48)),
                       ("640x480", QSize(640, 480))):
        dialog.resize(size)
        settle(qtbot)
        assert dialog.size() == size, name
        assert clipped_widgets(dialog) == [], name
    assert dialog.sizeHint().width() <= dialog.screen().availableGeometry().width()
