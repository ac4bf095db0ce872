"""The Save page's "Pidgin on this computer" box and its BitlBee commands dialog."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from sipe_setup.core.account import Secret, parse_account
from sipe_setup.core.pidgin import PasswordMode
from sipe_setup.core.profiles import Profile, ProfileStore
from sipe_setup.core.readiness import (
    Finding,
    OsRelease,
    PidginNeeds,
    PidginReadiness,
    Status,
)
from sipe_setup.core.secrets import PasswordVault
from sipe_setup.core.sipe_xml_probe import probe_sipe_xml
from sipe_setup.gui.bitlbee_dialog import BitlbeeDialog
from sipe_setup.gui.readiness_box import ReadinessBox
from tests.conftest import require_tool
from tests.gui.helpers import make_wizard
from tests.gui.loopback import DEMO_LOGIN, DEMO_SIGNIN, LoopbackSite
from tests.gui.test_save_and_start import no_keyring, press_save, to_save_page  # noqa: F401
from tests.servers.finch import require_finch


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackSite]:
    binary = require_tool("dnsmasq")
    with LoopbackSite(tmp_path_factory.mktemp("ready"), dnsmasq=binary, tls="ca") as running:
        yield running


def _readiness(*findings: Finding) -> PidginReadiness:
    return PidginReadiness(tuple(findings), OsRelease(), None, None)


def test_box_lists_problems_fail_first_with_advice(qtbot: QtBot) -> None:
    box = ReadinessBox()
    qtbot.addWidget(box)
    box.show_readiness(_readiness(
        Finding("pidgin", "Pidgin", Status.PASS, "found"),
        Finding("keyring-plugin", "Keyring plugin", Status.WARN, "missing", "install it"),
        Finding("sipe-xml", "XML in SIPE", Status.FAIL, "broken <b>", "update libxml2")))
    assert [m.objectName() for m in box.messages] == ["readiness-sipe-xml",
                                                      "readiness-keyring-plugin"]
    assert box.messages[0].message() == "XML in SIPE: broken <b>"  # plain text, not markup
    assert "update libxml2" in box.messages[0].toolTip()
    box.show_readiness(_readiness(Finding("pidgin", "Pidgin", Status.PASS, "found")))
    assert box.messages == [] and "nothing here stops it" in box.status.text()


def test_box_looks_at_this_computer_in_the_background(qtbot: QtBot, tmp_path: Path) -> None:
    require_finch()
    box = ReadinessBox()
    qtbot.addWidget(box)
    with qtbot.waitSignal(box.checked, timeout=15000) as looked:
        box.refresh(PidginNeeds(tls_dsk=True), tmp_path)
        assert "Looking at Pidgin" in box.status.text()
    readiness = looked.args[0]
    assert isinstance(readiness, PidginReadiness)
    assert readiness.sipe is not None  # pidgin-sipe is installed here
    names = [m.objectName() for m in box.messages]
    if probe_sipe_xml().broken:
        assert names[0] == "readiness-sipe-xml"
        assert "Pidgin will fail TLS-DSK here" in box.messages[0].message()


def test_bitlbee_dialog_copies_the_commands(qtbot: QtBot) -> None:
    account = parse_account("alice@example.test", login="EXAMPLE\\alice", auth="ntlm",
                            server="sip.example.test:5061", transport="tls")
    dialog = BitlbeeDialog(Profile.from_account("Work", account), Secret("pw with space"))
    qtbot.addWidget(dialog)
    text = dialog.commands.toPlainText()
    assert text.splitlines()[0] == "account add sipe alice@example.test,EXAMPLE\\\\alice"
    assert "/OPER alice@example.test" in text and "pw with space" not in text
    dialog.copy()
    assert QGuiApplication.clipboard().text() == text
    assert not dialog.include_password.isHidden()
    dialog.include_password.setChecked(True)
    assert dialog.commands.toPlainText().splitlines()[0].endswith("pw\\ with\\ space")
    assert "/OPER" not in dialog.commands.toPlainText()


def test_save_page_shows_readiness_bitlbee_and_the_export_verdict(
        qtbot: QtBot, site: LoopbackSite, tmp_path: Path,
        no_keyring: PasswordVault) -> None:  # noqa: F811
    require_finch()
    purple = tmp_path / "purple"
    purple.mkdir()
    # The vault explicitly: keyring's process-wide choice may have been made earlier.
    wizard = make_wizard(qtbot, site, store=ProfileStore(tmp_path / "profiles"),
                         vault=no_keyring, purple_dir=purple)
    to_save_page(qtbot, wizard)
    page = wizard.save_page
    qtbot.waitUntil(lambda: page.readiness_box.readiness is not None, timeout=15000)
    assert page.readiness_box.isVisible()
    page.bitlbee_button.click()
    dialog = page.bitlbee_button.dialog
    assert dialog is not None and dialog.isVisible()
    login = DEMO_LOGIN.replace("\\", "\\\\")
    assert dialog.commands.toPlainText().startswith(f"account add sipe {DEMO_SIGNIN},{login}")
    dialog.close()
    page.set_password_mode(PasswordMode.NONE)
    page.without_password.setChecked(True)  # no keyring here: save without the password
    outcome = press_save(qtbot, wizard)
    assert outcome.exported, outcome.error
    if probe_sipe_xml().broken:  # this machine: Pidgin's SIPE cannot read XML
        shown = page.outcome_view.toPlainText()
        assert "Signed in — but" in shown and "Pidgin on this computer" in shown
