"""printable(): control and reordering characters visible, every other character kept."""

from __future__ import annotations

import json

import pytest

from sipe_setup.core.textsafety import (
    escape_json_output,
    is_printable,
    printable,
    printable_lines,
)


@pytest.mark.parametrize(("raw", "shown"), [
    ("\x1b[2J", "\\x1b[2J"),                       # clear screen
    ("\x1b]52;c;Zm9v\x07", "\\x1b]52;c;Zm9v\\x07"),  # OSC 52 clipboard write
    ("ok\rCode: SS-OK", "ok\\rCode: SS-OK"),         # CR rewriting the line
    ("a\nb\tc\0", "a\\nb\\tc\\x00"),
    ("\x7f", "\\u007f"),                             # DEL
    ("\u009b31m", "\\u009b31m"),                     # C1 CSI
    ("\u0085", "\\u0085"),                           # C1 NEL
    ("\u202egnp.exe", "\\u202egnp.exe"),             # right-to-left override
    ("\u2066x\u2069", "\\u2066x\\u2069"),            # isolates
    ("\u200e\u200f\u061c", "\\u200e\\u200f\\u061c"),  # bidi marks
    ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),      # line / paragraph separators
    ("\udcff", "\\udcff"),                           # a lone surrogate cannot be printed at all
])
def test_controls_become_visible_escapes(raw: str, shown: str) -> None:
    assert printable(raw) == shown
    assert not is_printable(raw)


@pytest.mark.parametrize("text", [
    "", "plain ASCII, with spaces", "Jürgen Ærøskøbing", "日本語のサーバー", "עברית", "العربية",
    "emoji 👍🏽 and ZWJ 👩‍💻", "<b>markup is not a control</b> & stays", "\u00a0nbsp",
])
def test_normal_unicode_is_kept(text: str) -> None:
    assert printable(text) == text
    assert is_printable(text)


def test_printable_lines_keeps_our_line_breaks() -> None:
    assert printable_lines("one\x1b\ntwo\r\n") == "one\\x1b\ntwo\\r\n"


def test_json_output_stays_the_same_value_and_valid_after_printable() -> None:
    value = {"reason": "\x1b[2J\u009b\u202e\u2028\x7f\udcff é", "n": 1}
    document = escape_json_output(json.dumps(value, indent=2, ensure_ascii=False))
    assert json.loads(document) == value
    assert printable_lines(document) == document  # nothing left for the terminal guard
    assert "é" in document
