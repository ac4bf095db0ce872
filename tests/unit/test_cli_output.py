"""The CLI shows text from servers and files; the terminal never obeys it."""

from __future__ import annotations

import io
import json
import re
import sys

import pytest

from sipe_setup.cli import discover_document, render_discovery
from sipe_setup.cli_common import PrintableStream, printable_output
from sipe_setup.core.account import Transport, parse_account
from sipe_setup.core.discovery import (
    AutodiscoverAttempt,
    AutodiscoverOutcome,
    DiscoveryMode,
    DiscoveryResult,
)
from sipe_setup.core.textsafety import escape_json_output

RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                         "\u202a-\u202e\u2066-\u2069]")
EVIL = "line\nCode: SS-OK\r\x1b]52;c;cm0gLXJmIH4K\x07\u009b2J\u202e"


def _result() -> DiscoveryResult:
    attempt = AutodiscoverAttempt(url="https://lyncdiscover.example.test/?x=\x1b[2J",
                                  chain="https://lyncdiscover.example.test/",
                                  outcome=AutodiscoverOutcome.BAD_DOCUMENT, status=200,
                                  detail=EVIL)
    return DiscoveryResult(sip_domain="example.test", transport=Transport.AUTO,
                           mode=DiscoveryMode.AUTOMATIC, autodiscover=(attempt,))


def test_discover_table_shows_autodiscover_text_inert() -> None:
    text = render_discovery(parse_account("alice@example.test"), _result())
    assert not RAW_CONTROL.search(text.replace("\n", " "))
    assert "line\\nCode: SS-OK\\r\\x1b]52;c;" in text  # one line, visibly escaped
    assert not any(line.startswith("Code:") for line in text.splitlines())


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_discover_json_keeps_the_data_and_is_safe_to_print() -> None:
    document = discover_document(parse_account("alice@example.test"), _result())
    printed = escape_json_output(json.dumps(document, indent=2, ensure_ascii=False))
    assert not RAW_CONTROL.search(printed.replace("\n", " "))
    assert EVIL in _strings(json.loads(printed))  # the same data, exactly


def test_printable_stream_shows_controls_and_keeps_line_breaks() -> None:
    target = io.StringIO()
    stream = PrintableStream(target)  # type: ignore[arg-type]
    print("a\x1b[2J", "b\u202e", sep="\t", file=stream)  # type: ignore[arg-type]
    stream.writelines(["c\x07\n"])
    assert target.getvalue() == "a\\x1b[2J\\tb\\u202e\nc\\x07\n"
    assert stream.isatty() is False  # everything else goes to the real stream


def test_printable_output_wraps_and_restores(capsys: pytest.CaptureFixture[str]) -> None:
    before = sys.stdout, sys.stderr
    with printable_output():
        print("\x1b]0;title\x07")
        print("\x9b", file=sys.stderr)
    assert (sys.stdout, sys.stderr) == before
    out, err = capsys.readouterr()
    assert out == "\\x1b]0;title\\x07\n" and err == "\\u009b\n"
