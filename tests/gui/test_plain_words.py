"""Plain words first: what the Result page shows of every advice, and what waits under Details.

Every catalog entry, rendered, goes through ``split_details``: the part shown first never
carries protocol lines, SIPE's inner workings or command-line options; nothing is lost (each
sentence is either shown or under Details); the report keeps the whole text.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from sipe_setup.core.advice import CATALOG, advice
from sipe_setup.core.report import Redaction, report_text
from sipe_setup.core.steps import CheckResult, Verdict
from sipe_setup.gui.plain_words import split_details
from sipe_setup.gui.widgets import unbreakable
from tests.gui.helpers import make_wizard

TECHNICAL = re.compile(r"CSeq|rspauth|\bREGISTER\b|(?i:wait[s]?(?: here)? forever)"
                       r"|(?<![\w-])--[a-z]")


def words(text: str) -> list[str]:
    return re.findall(r"[\w'’]+", text)


@pytest.mark.parametrize("advice_id", sorted(CATALOG))
def test_every_advice_reads_plainly_first(advice_id: str) -> None:
    entry = CATALOG[advice_id]
    rendered = advice(advice_id, **{name: "value" for name in entry.placeholders})
    for text in (rendered.explanation, rendered.fix):
        split = split_details(text)
        assert split.plain.strip(), text
        assert not TECHNICAL.search(split.plain), (advice_id, split.plain)
        assert sorted(words(split.plain) + words(split.details)) == sorted(words(text)), text


def test_the_examples_from_the_issue() -> None:
    silent = split_details("The connection was made but the server sent no SIP answer within "
                           "15 s. SIPE would wait here forever. The port may belong to something "
                           "that is not a SIP server.")
    assert silent.plain == ("The connection was made but the server sent no SIP answer within "
                            "15 s. The port may belong to something that is not a SIP server.")
    assert silent.details == "SIPE would wait here forever."
    ca = split_details("Ask IT for the company's CA certificate and install it (or pass "
                       "--ca-file), or compare the fingerprint.")
    assert ca.plain == ("Ask IT for the company's CA certificate and install it, or compare "
                        "the fingerprint.")
    assert ca.details == "or pass --ca-file"
    assert split_details("Plain only.") == ("Plain only.", "")


def test_the_result_page_moves_details_and_the_report_keeps_them(qtbot: QtBot) -> None:
    rendered = advice("no-response", host="sip.example.test", timeout=15)
    assert "forever" in rendered.explanation
    result = CheckResult(Verdict.FAILED, rendered.title, rendered, [], {})
    wizard = make_wizard(qtbot)
    page = wizard.result_page
    wizard.state.last_result = result
    page.initializePage()
    shown = unbreakable(page.explanation_label.text())
    assert "forever" not in shown and "no SIP answer" in shown
    assert page.details_button.isVisibleTo(page) and page.details_label.isHidden()
    page.details_button.setChecked(True)
    assert page.details_label.isVisibleTo(page)
    assert "forever" in unbreakable(page.details_label.text())
    assert "forever" in report_text(result, Redaction())


def test_counts_read_as_words() -> None:
    """The check's own step lines count in words (no "server(s)" for the page to fix up)."""
    from sipe_setup.core.checkup.steps import discover, validate

    for module in (discover, validate):
        source = Path(module.__file__ or "").read_text(encoding="utf-8")
        assert "(s)" not in source


def test_the_not_lync_advice_names_no_record_it_may_not_have_come_from() -> None:
    """The server may come from _sipinternaltls._tcp, an A record or the Server field: the
    advice does not claim _sip._tls / _sip._tcp; the discovery step says which it was."""
    rendered = advice("not-lync", host="pbx.example.test", answer="asks for Digest",
                      server_header="Asterisk PBX")
    assert "_sip._t" not in rendered.explanation
    assert "Find the server" in rendered.explanation and "pbx.example.test" in rendered.explanation
