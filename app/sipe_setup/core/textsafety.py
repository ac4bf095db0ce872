"""Text from the network (or from a file someone sent) is data, never terminal commands.

A registrar's reason phrase, a ``Warning`` or ``Server`` header, an ``ms-diagnostics`` reason,
an autodiscover detail, a certificate subject: any of them may hold bytes a terminal obeys —
ESC sequences that clear the screen, set the window title or write the clipboard (OSC 52), a
CR or cursor movement that overwrites the ``Code:`` line — or Unicode that reorders what is
shown (bidi overrides) or starts a new line where none was sent (U+2028/U+2029).

:func:`printable` makes each of them visible as an escape (``\\x1b``, ``\\u009b``,
``\\u202e``) and leaves every other character — letters of every script, punctuation, emoji —
as it is. Every text the CLI prints and every text or HTML report goes through it; JSON goes
through :func:`escape_json_output`, which keeps the data exact (``\\uXXXX`` escapes are JSON).

Neutralised: C0 controls (U+0000–U+001F; plain space is kept), DEL, C1 controls
(U+0080–U+009F), the bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069)
and marks (U+200E, U+200F, U+061C), the line and paragraph separators (U+2028, U+2029), and
lone surrogates (which cannot even be encoded for a terminal).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["escape_json_output", "is_printable", "printable", "printable_lines"]

_UNSAFE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff]")
# json.dumps escapes C0 inside strings itself (and its indentation is C0 outside them); the
# rest it writes as they are.
_UNSAFE_IN_JSON: Final = re.compile(
    "[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

_SHORT: Final = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _visible(match: re.Match[str]) -> str:
    char = match.group(0)
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    # C0 as \x1b; the rest as \u009b, \u202e: inside a JSON string that is the same
    # character again (JSON has \u escapes, not \x ones), so printed JSON stays valid JSON.
    return f"\\x{code:02x}" if code < 0x20 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control or reordering character shown as an escape.

    One line in, one line out: a line break the peer sent becomes ``\\n``. Use
    :func:`printable_lines` for text whose line breaks are ours.
    """
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(_visible, text)


def printable_lines(text: str) -> str:
    """:func:`printable` for each line of ``text``, keeping its ``\\n`` line breaks."""
    return "\n".join(printable(line) for line in text.split("\n"))


def is_printable(text: str) -> bool:
    """True when :func:`printable` would leave ``text`` unchanged."""
    return _UNSAFE.search(text) is None


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group(0)):04x}"


def escape_json_output(document: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) with the characters
    :func:`printable` neutralises written as ``\\uXXXX`` escapes: the same JSON value, safe to
    print. Outside strings a JSON document holds none of them, so this never changes syntax.
    """
    if not _UNSAFE_IN_JSON.search(document):
        return document
    return _UNSAFE_IN_JSON.sub(_json_escape, document)
