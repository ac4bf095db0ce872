"""The wizard with TLS-DSK: the sign-in certificate step is shown live, request by request,
and Auto's verdict says what Pidgin will do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QTreeWidgetItem
from pytestqt.qtbot import QtBot

import sipe_setup.core.sipe_xml_probe as sipe_xml_probe
from sipe_setup.core.steps import CheckResult, Verdict
from sipe_setup.gui.state import CheckEnvironment
from sipe_setup.gui.wizard import PageId, SetupWizard
from tests.gui.helpers import FAST, click_next, fill_account
from tests.servers.registrar import RegistrarConfig, RegistrarThread
from tests.servers.webservices import WebServicesOptions, WebTicketFailure

USERS = [("EXAMPLE", "alice", "Passw0rd!")]


@pytest.fixture(autouse=True)
def sipe_reads_xml(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Pidgin on the test machine may lack working XML (Debian 12's libxml2): make the
    wizard's probe say it works, so these tests are about TLS-DSK itself."""
    status = sipe_xml_probe.SipeXmlStatus.OK
    monkeypatch.setattr(sipe_xml_probe, "probe_sipe_xml",
                        lambda library=None: sipe_xml_probe.SipeXmlProbe(status, "works"))


def _registrar(scenario: str, webservices: WebServicesOptions | None = None
               ) -> Iterator[RegistrarThread]:
    with RegistrarThread(RegistrarConfig(users=USERS, scenario=scenario,
                                         webservices=webservices)) as registrar:
        yield registrar


def _wizard(qtbot: QtBot, registrar: RegistrarThread, auth: str) -> SetupWizard:
    environment = CheckEnvironment(ca_file=str(registrar.webservices.ca_cert_path), **FAST)
    wizard = SetupWizard(environment, settings=None, show_start_page=False)
    qtbot.addWidget(wizard)
    wizard.show()
    qtbot.waitExposed(wizard)
    fill_account(qtbot, wizard)
    click_next(qtbot, wizard)
    assert wizard.currentId() == PageId.CONNECTION
    page = wizard.connection_page
    page.server_edit.clear()
    qtbot.keyClicks(page.server_edit, f"127.0.0.1:{registrar.port}")
    page.transport_combo.setCurrentIndex(page.transport_combo.findData("tcp"))
    page.auth_combo.setCurrentIndex(page.auth_combo.findData(auth))
    return wizard


def _run_check(qtbot: QtBot, wizard: SetupWizard) -> CheckResult:
    with qtbot.waitSignal(wizard.check_page.check_finished, timeout=30000) as finished:
        click_next(qtbot, wizard)
    result = finished.args[0]
    assert isinstance(result, CheckResult)
    return result


def _step(wizard: SetupWizard, title: str) -> QTreeWidgetItem:
    tree = wizard.check_page.steps_view
    for i in range(tree.topLevelItemCount()):
        item = tree.topLevelItem(i)
        if item is not None and item.text(0).startswith(title):
            return item
    raise AssertionError(f"no step {title!r}")


def test_tls_dsk_sign_in_shows_each_web_services_request(qtbot: QtBot) -> None:
    for registrar in _registrar("tls-dsk"):
        wizard = _wizard(qtbot, registrar, "tls-dsk")
        result = _run_check(qtbot, wizard)
        assert result.verdict is Verdict.SIGNED_IN, result.summary
        step = _step(wizard, "Get a sign-in certificate")
        lines = [step.child(i).text(0) for i in range(step.childCount())]
        assert sum(line.startswith(("GET https://", "POST https://")) for line in lines) == 4
        assert any("WinNegotiate" in line and "NTLM" in line for line in lines)


def test_auto_where_tls_dsk_fails_tells_what_pidgin_will_do(qtbot: QtBot) -> None:
    fault = WebServicesOptions(webticket_failure=WebTicketFailure.FAULT)
    for registrar in _registrar("tls-dsk+ntlm", fault):
        wizard = _wizard(qtbot, registrar, "auto")
        result = _run_check(qtbot, wizard)
        assert result.verdict is Verdict.SIGNED_IN, result.summary
        assert result.advice is not None and result.advice.code == "SS-DSK-AUTO"
        assert "Auto would fail" in result.summary
