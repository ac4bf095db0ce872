"""Text from a server is shown as plain text, control characters visible: a ``<b>`` in a
reason phrase shows literally, an ESC never reaches a widget raw."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTreeWidgetItem, QWidget
from pytestqt.qtbot import QtBot

from sipe_setup.core.account import Secret, parse_account
from sipe_setup.core.checkup import CheckOptions, TrustKind, TrustQuestion, run_check
from sipe_setup.core.steps import CheckResult, StepEvent
from sipe_setup.core.transport import CertificateInfo
from sipe_setup.gui.trust_dialog import TrustDialog
from sipe_setup.gui.widgets import FieldMessage, MessageKind, unbreakable
from tests.gui.helpers import make_wizard
from tests.servers.registrar import HOSTILE_TEXT, Registrar, RegistrarConfig

RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                         "\u202a-\u202e\u2066-\u2069]")


def _hostile_check() -> tuple[CheckResult, list[StepEvent]]:
    events: list[StepEvent] = []

    async def go() -> CheckResult:
        registrar = Registrar(RegistrarConfig(users=[("EXAMPLE", "alice", "pw")],
                                              scenario="hostile-text"))
        port = await registrar.start()
        try:
            account = parse_account("alice@example.test", login="EXAMPLE\\alice",
                                    server=f"127.0.0.1:{port}", transport="tcp")
            return await run_check(account, Secret("pw"), CheckOptions(
                response_timeout=3.0, connect_timeout=2.0, deadline=20.0),
                on_event=events.append)
        finally:
            await registrar.stop()

    return asyncio.run(go()), events


def _labels_with_text(widget: QWidget) -> list[QLabel]:
    return [label for label in widget.findChildren(QLabel) if label.text()]


def _tree_items(item: QTreeWidgetItem) -> list[QTreeWidgetItem]:
    found = [item]
    for index in range(item.childCount()):
        child = item.child(index)
        if child is not None:
            found += _tree_items(child)
    return found


def test_result_page_shows_the_server_reason_as_plain_text(qtbot: QtBot) -> None:
    result, _ = _hostile_check()
    wizard = make_wizard(qtbot)
    page = wizard.result_page
    wizard.state.last_result = result
    page.initializePage()
    for label in (page.verdict_label, page.code_label, page.explanation_label, page.fix_label,
                  page.copied_label):
        assert label.textFormat() is Qt.TextFormat.PlainText, label.objectName()
    explanation = unbreakable(page.explanation_label.text())  # without the wrap points
    assert "<b>bold</b>" in explanation  # literally: the markup is not interpreted
    assert "\\x1b]52;c;" in explanation and not RAW_CONTROL.search(explanation)
    server_labels = [label for label in _labels_with_text(page) if "bold" in label.text()]
    assert server_labels
    assert all(label.textFormat() is Qt.TextFormat.PlainText for label in server_labels)
    assert all(not RAW_CONTROL.search(label.text()) for label in _labels_with_text(page))


def test_check_page_tree_shows_server_lines_inert(qtbot: QtBot) -> None:
    _, events = _hostile_check()
    wizard = make_wizard(qtbot)
    page = wizard.check_page
    assert page.status_label.textFormat() is Qt.TextFormat.PlainText
    for event in events:
        page._on_event(event)
    items = [found for index in range(page.steps_view.topLevelItemCount())
             for found in _tree_items(page.steps_view.topLevelItem(index))]
    texts = [item.text(0) for item in items]
    assert any("<b>bold</b>" in text and "\\x1b[2J" in text for text in texts)
    assert all(not RAW_CONTROL.search(text) for text in texts)
    # Tooltips guess rich text like QLabel: they carry the text escaped.
    tips = [item.toolTip(0) for item in items if "bold" in item.text(0)]
    assert tips and all("&lt;b&gt;bold&lt;/b&gt;" in tip and "<b>bold" not in tip
                        for tip in tips)


def _certificate(subject: str) -> CertificateInfo:
    now = dt.datetime.now(dt.UTC)
    return CertificateInfo(
        subject=subject, issuer=subject, dns_names=("evil<i>.example.test",), ip_addresses=(),
        not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=1),
        sha256_fingerprint=":".join(["AB"] * 32), serial="1", self_signed=True, pem="",
        checked_host="sip.example.test", host_matches=False, chain_trusted=False)


def test_trust_dialog_labels_are_plain_text(qtbot: QtBot) -> None:
    for kind in TrustKind:
        question = TrustQuestion(kind, "sip<b>.evil</b>\x1b]0;t\x07", 5061, "example.test",
                                 HOSTILE_TEXT, _certificate(f"CN={HOSTILE_TEXT}"))
        dialog = TrustDialog(question)
        qtbot.addWidget(dialog)
        labels = _labels_with_text(dialog)
        assert labels
        for label in labels:
            assert label.textFormat() is Qt.TextFormat.PlainText, label.text()
            assert not RAW_CONTROL.search(label.text()), label.text()
        assert "sip<b>.evil</b>\\x1b]0;t\\x07" in dialog.heading_label.text()
        assert "<b>bold</b>" in dialog.message_label.text()


def test_field_messages_are_plain_text(qtbot: QtBot) -> None:
    message = FieldMessage()
    qtbot.addWidget(message)
    message.show_message(MessageKind.ERROR, "file says <b>x</b>\x1b[2J")
    assert message.text.textFormat() is Qt.TextFormat.PlainText
    assert message.message() == "file says <b>x</b>\\x1b[2J"
