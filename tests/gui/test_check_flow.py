"""The whole wizard against the real registrar and a real dnsmasq on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWizard
from pytestqt.qtbot import QtBot

from sipe_setup.core.account import Field
from sipe_setup.core.steps import StepId, Verdict
from sipe_setup.gui.trust_dialog import TrustDialog
from sipe_setup.gui.widgets import unbreakable
from sipe_setup.gui.wizard import PageId
from tests.conftest import require_tool
from tests.gui.helpers import (
    Heartbeat,
    click_next,
    fill_account,
    make_wizard,
    open_sockets,
    result_of,
    run_to_check,
)
from tests.gui.loopback import LoopbackSite

SENTINEL = "Sentinel-Pw-8472!"


def _site(tmp_path_factory: pytest.TempPathFactory, name: str, **kwargs: str
          ) -> Iterator[LoopbackSite]:
    binary = require_tool("dnsmasq")
    with LoopbackSite(tmp_path_factory.mktemp(name), dnsmasq=binary, **kwargs) as site:
        yield site


@pytest.fixture(scope="module")
def self_signed_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackSite]:
    yield from _site(tmp_path_factory, "self-signed", tls="self-signed")


@pytest.fixture(scope="module")
def ca_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackSite]:
    yield from _site(tmp_path_factory, "ca", tls="ca")


@pytest.fixture(scope="module")
def silent_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackSite]:
    yield from _site(tmp_path_factory, "silent", tls="none", scenario="silent")


def test_full_wizard_trust_prompt_then_signed_in(qtbot: QtBot,
                                                  self_signed_site: LoopbackSite) -> None:
    wizard = make_wizard(qtbot, self_signed_site)
    page = wizard.check_page
    fill_account(qtbot, wizard)
    heartbeat = Heartbeat()
    heartbeat.start()
    with qtbot.waitSignal(page.trust_dialog_shown, timeout=20000) as shown:
        run_to_check(qtbot, wizard)
    dialog = shown.args[0]
    assert isinstance(dialog, TrustDialog)
    assert dialog.isVisible()
    fingerprint = dialog.question.certificate.sha256_fingerprint  # type: ignore[union-attr]
    assert fingerprint in unbreakable(dialog.fingerprint_label.text())  # type: ignore[union-attr]
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()  # still running
    qtbot.wait(200)  # a person reads the dialog; the heartbeat must keep ticking meanwhile
    with qtbot.waitSignal(page.check_finished, timeout=20000) as finished:
        qtbot.mouseClick(dialog.accept_button, Qt.MouseButton.LeftButton)
    heartbeat.stop()
    result = finished.args[0]
    assert result.verdict is Verdict.SIGNED_IN, result.summary

    # The step list shows every step, with the DNS queries and the REGISTER round trips.
    tree = page.steps_view
    tops = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    titles = [t.text(0) for t in tops if t is not None]
    assert titles[0].startswith("Check the settings")
    assert any(t.startswith("Find the server for example.test") for t in titles)
    details = [t.child(j).text(0) for t in tops if t is not None for j in range(t.childCount())]
    assert any("_sipinternaltls._tcp.example.test SRV: answer" in d for d in details), details
    assert any(d.startswith("candidate 1: sip.example.test") for d in details)
    assert any(d.startswith("SHA-256: ") for d in details)
    assert any(d.startswith("→ REGISTER") for d in details)
    assert any("Server offers: NTLM" in d for d in details)
    assert len(titles) == len(result.steps)

    # The certificate the user accepted is remembered for the Save page.
    accepted = wizard.state.accepted_certificate
    assert accepted is not None and accepted.sha256 == fingerprint
    assert accepted.host == "sip.example.test"
    assert "BEGIN CERTIFICATE" in accepted.pem

    click_next(qtbot, wizard)
    assert wizard.currentId() == PageId.RESULT
    assert wizard.result_page.code_label.text() == "SS-OK"
    assert "Signed in as alice@example.test via sip.example.test" in \
        wizard.result_page.verdict_label.text()
    assert wizard.button(QWizard.WizardButton.FinishButton).isVisible()

    # The GUI thread was never blocked for long while the check ran.
    assert heartbeat.ticks > 10
    assert heartbeat.worst < 0.25, f"GUI thread blocked for {heartbeat.worst * 1000:.0f} ms"

    # Retry does not ask about the same certificate again.
    click_next_back = wizard.button(QWizard.WizardButton.BackButton)
    qtbot.mouseClick(click_next_back, Qt.MouseButton.LeftButton)
    assert wizard.currentId() == PageId.CHECK
    with qtbot.waitSignal(page.check_finished, timeout=20000) as again:
        qtbot.mouseClick(page.retry_button, Qt.MouseButton.LeftButton)
    assert again.args[0].verdict is Verdict.SIGNED_IN


def test_wrong_password_lands_on_advice_and_jumps_to_password(qtbot: QtBot,
                                                                ca_site: LoopbackSite) -> None:
    wizard = make_wizard(qtbot, ca_site)
    fill_account(qtbot, wizard, password=SENTINEL)
    with qtbot.waitSignal(wizard.check_page.check_finished, timeout=20000):
        run_to_check(qtbot, wizard)
    result = result_of(wizard)
    assert result.code == "SS-AUTH-401", result.summary
    assert "failed (SS-AUTH-401)" in wizard.check_page.status_label.text()
    click_next(qtbot, wizard)
    page = wizard.result_page
    assert page.code_label.text() == "SS-AUTH-401"
    assert result.advice is not None
    assert page.verdict_label.text() == result.summary == result.advice.title
    assert page.explanation_label.text() == result.advice.explanation
    assert page.fix_label.text() == result.advice.fix
    assert page.jump_button.isVisible()
    assert "password" in page.jump_button.text()

    qtbot.mouseClick(page.jump_button, Qt.MouseButton.LeftButton)
    assert wizard.currentId() == PageId.ACCOUNT
    assert wizard.focusWidget() is wizard.account_page.password_edit

    # Correct the password and go again: signed in.
    wizard.account_page.password_edit.clear()
    qtbot.keyClicks(wizard.account_page.password_edit, "Passw0rd!")
    with qtbot.waitSignal(wizard.check_page.check_finished, timeout=20000) as finished:
        run_to_check(qtbot, wizard)
    assert finished.args[0].verdict is Verdict.SIGNED_IN
    assert wizard.state.accepted_certificate is None  # the CA-signed certificate needed no OK


def test_report_copy_and_save_never_contain_the_password(qtbot: QtBot, ca_site: LoopbackSite,
                                                         tmp_path: Path) -> None:
    wizard = make_wizard(qtbot, ca_site)
    fill_account(qtbot, wizard, password=SENTINEL)
    with qtbot.waitSignal(wizard.check_page.check_finished, timeout=20000):
        run_to_check(qtbot, wizard)
    click_next(qtbot, wizard)
    page = wizard.result_page
    qtbot.mouseClick(page.copy_button, Qt.MouseButton.LeftButton)
    copied = QApplication.clipboard().text()
    assert copied.startswith("Code: SS-AUTH-401")
    assert "alice" in copied and SENTINEL not in copied
    for suffix in (".txt", ".html", ".json"):
        path = tmp_path / f"report{suffix}"
        page.save_report(path)
        text = path.read_text(encoding="utf-8")
        assert "SS-AUTH-401" in text and SENTINEL not in text
    # Redacting user names and hosts on request.
    page.hide_users.setChecked(True)
    page.hide_hosts.setChecked(True)
    qtbot.mouseClick(page.copy_button, Qt.MouseButton.LeftButton)
    redacted = QApplication.clipboard().text()
    assert "alice" not in redacted and "example.test" not in redacted
    assert "127.0.0.1" not in redacted and SENTINEL not in redacted


def test_cancel_mid_check_leaves_no_thread_or_socket(qtbot: QtBot,
                                                      silent_site: LoopbackSite) -> None:
    wizard = make_wizard(qtbot, silent_site)
    fill_account(qtbot, wizard)
    page = wizard.check_page
    threads_before = {t.ident for t in threading.enumerate()}
    sockets_before = open_sockets()

    register_started = []

    def on_event(event: object) -> None:
        if getattr(event, "step", None) is StepId.REGISTER:
            register_started.append(event)

    run_to_check(qtbot, wizard)
    worker = page.worker
    assert worker is not None
    worker.step_event.connect(on_event)
    qtbot.waitUntil(lambda: bool(register_started), timeout=15000)
    assert worker.isRunning()
    assert open_sockets() - sockets_before, "the check should hold a connection now"
    with qtbot.waitSignal(page.check_finished, timeout=5000) as finished:
        qtbot.mouseClick(page.cancel_button, Qt.MouseButton.LeftButton)
    assert finished.args[0].verdict is Verdict.CANCELLED
    assert worker.isFinished()
    assert page.worker is None
    assert {t.ident for t in threading.enumerate()} <= threads_before
    assert open_sockets() <= sockets_before
    assert page.retry_button.isEnabled() and not page.cancel_button.isEnabled()
    assert "stopped" in page.status_label.text()
    # The verdict page says so too.
    click_next(qtbot, wizard)
    assert wizard.result_page.code_label.text() == "SS-CANCELLED"


def test_closing_the_wizard_during_a_check_ends_the_thread(qtbot: QtBot,
                                                           silent_site: LoopbackSite) -> None:
    wizard = make_wizard(qtbot, silent_site)
    fill_account(qtbot, wizard)
    sockets_before = open_sockets()
    run_to_check(qtbot, wizard)
    worker = wizard.check_page.worker
    assert worker is not None
    qtbot.waitUntil(lambda: bool(open_sockets() - sockets_before), timeout=15000)
    wizard.reject()  # the wizard's own Cancel button
    assert worker.isFinished()
    assert open_sockets() <= sockets_before


def test_going_back_stops_the_check(qtbot: QtBot, silent_site: LoopbackSite) -> None:
    wizard = make_wizard(qtbot, silent_site)
    fill_account(qtbot, wizard)
    run_to_check(qtbot, wizard)
    worker = wizard.check_page.worker
    assert worker is not None
    qtbot.mouseClick(wizard.button(QWizard.WizardButton.BackButton), Qt.MouseButton.LeftButton)
    assert wizard.currentId() == PageId.CONNECTION
    assert worker.isFinished() and wizard.check_page.worker is None


def test_field_advice_maps_to_the_connection_page(qtbot: QtBot, silent_site: LoopbackSite
                                                  ) -> None:
    wizard = make_wizard(qtbot, silent_site)
    for fld in (Field.SERVER, Field.USER_AGENT, Field.AUTH, Field.TRANSPORT):
        wizard.setStartId(PageId.ACCOUNT)
        wizard.restart()
        wizard.jump_to_field(fld)
        assert wizard.currentId() == PageId.CONNECTION
        assert wizard.focusWidget() is wizard.field_widget(fld)
