"""The wizard shows the verdict when the signed 200 OK is verified, before the sign-out ends
(real registrar and dnsmasq on loopback); and it starts with only its first page built."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from sipe_setup.core.steps import CheckResult, StepId, Verdict
from sipe_setup.gui.wizard import PageId, SetupWizard
from tests.conftest import require_tool
from tests.gui.helpers import fill_account, make_wizard, run_to_check
from tests.gui.loopback import LoopbackSite


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackSite]:
    binary = require_tool("dnsmasq")
    with LoopbackSite(tmp_path_factory.mktemp("verdict"), dnsmasq=binary, tls="ca") as site:
        yield site


def test_the_verdict_is_shown_before_the_check_ends(qtbot: QtBot, site: LoopbackSite) -> None:
    wizard = make_wizard(qtbot, site)
    page = wizard.check_page
    fill_account(qtbot, wizard)
    order: list[tuple[str, CheckResult]] = []
    status_at_verdict: list[str] = []

    def on_started() -> None:
        worker = page.worker
        assert worker is not None

        def on_verdict(result: CheckResult) -> None:
            order.append(("verdict", result))
            qtbot.wait(0)  # the page's own slot (queued, connected first) runs before this
            status_at_verdict.append(page.status_label.text())

        worker.verdict.connect(on_verdict)
        worker.check_done.connect(lambda result: order.append(("done", result)))

    page.check_started.connect(on_started)
    with qtbot.waitSignal(page.check_finished, timeout=20000) as finished:
        run_to_check(qtbot, wizard)
    result = finished.args[0]
    assert result.verdict is Verdict.SIGNED_IN, result.summary
    assert [kind for kind, _ in order] == ["verdict", "done"]
    early = order[0][1]
    assert early.code == result.code == "SS-OK"
    assert StepId.DEREGISTER not in {s.step for s in early.steps}
    assert StepId.DEREGISTER in {s.step for s in result.steps}
    assert status_at_verdict and status_at_verdict[0].startswith("Signed in")


def test_only_the_first_page_is_built_before_it_is_shown(qtbot: QtBot) -> None:
    wizard = SetupWizard(show_start_page=True)
    qtbot.addWidget(wizard)
    assert wizard._built.keys() == {PageId.START}
    wizard.build_pages()
    assert wizard._built.keys() == set(PageId)
    assert wizard.page(PageId.CHECK) is wizard.check_page
