"""A trust question left unanswered does not outlive the check's deadline: the check ends with
its time-out code and the dialog goes away."""

from __future__ import annotations

import time
from pathlib import Path

from pytestqt.qtbot import QtBot

from sipe_setup.gui.state import CheckEnvironment
from sipe_setup.gui.trust_dialog import TrustDialog
from sipe_setup.gui.wizard import SetupWizard
from tests.conftest import require_tool
from tests.gui.helpers import fill_account, run_to_check
from tests.gui.loopback import LoopbackSite


def test_an_unanswered_trust_dialog_ends_with_the_deadline(qtbot: QtBot,
                                                           tmp_path: Path) -> None:
    binary = require_tool("dnsmasq")
    with LoopbackSite(tmp_path / "site", dnsmasq=binary, tls="self-signed") as site:
        environment = CheckEnvironment(nameservers=(site.nameserver,), deadline=3.0,
                                       connect_timeout=2.0, response_timeout=2.0,
                                       discovery_deadline=2.0)
        wizard = SetupWizard(environment, settings=None, show_start_page=False)
        qtbot.addWidget(wizard)
        wizard.show()
        qtbot.waitExposed(wizard)
        fill_account(qtbot, wizard)
        page = wizard.check_page
        with qtbot.waitSignal(page.trust_dialog_shown, timeout=20000) as shown:
            run_to_check(qtbot, wizard)
        dialog = shown.args[0]
        assert isinstance(dialog, TrustDialog) and dialog.isVisible()
        started = time.monotonic()
        with qtbot.waitSignal(page.check_finished, timeout=10000) as finished:
            pass  # nobody answers
        assert time.monotonic() - started < 4.0
        assert finished.args[0].code == "SS-TIMEOUT"
        qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=2000)
