"""What a person reads first, and what waits under *Details*.

The advice catalog (``core.advice``) writes for two readers at once: the person at the keyboard
and the IT department reading the report. Some of its sentences are for the second one only —
how Pidgin's SIPE would behave (“SIPE would wait here forever”), protocol words (``CSeq``,
``rspauth``, ``REGISTER``) and command-line options (“or pass --ca-file”). The wizard shows the
rest first and moves those under *Details*; the report keeps every word.

``tests/gui/test_plain_words.py`` runs every catalog entry through :func:`split_details`.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["PlainText", "split_details"]

#: A command-line hint in brackets: "(or pass --ca-file)", "(CLI: --accept-outside-domain)".
_CLI_HINT = re.compile(r"\s*\((?:[^()]*?\s)?--[a-z][a-z-]*[^()]*\)")
#: What marks a sentence as being for the report's reader.
_TECHNICAL = re.compile(
    r"(?i:would wait(?: here)? forever|waits? forever)|\bCSeq\b|\brspauth\b|\bREGISTER\b"
    r"|(?<![\w-])--[a-z][a-z-]+")
#: Where sentences end: . ! ? (and a closing quote or bracket), a space, then a capital.
_SENTENCE_END = re.compile(r"[.!?][”\"’)]?(\s+)(?=[A-Z“\"(])")


class PlainText(NamedTuple):
    """``plain``: for the page; ``details``: the sentences moved under Details ("" if none)."""

    plain: str
    details: str


def _sentences(text: str) -> list[str]:
    parts: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        parts.append(text[start:match.start(1)].strip())
        start = match.end()
    parts.append(text[start:].strip())
    return [part for part in parts if part]


def split_details(text: str) -> PlainText:
    """Split an advice text (or any message) into plain words and details, line by line."""
    plain_lines: list[str] = []
    details: list[str] = []
    for line in text.split("\n"):
        hints = [match.group(0).strip() for match in _CLI_HINT.finditer(line)]
        details.extend(hint.strip("()") for hint in hints)
        line = _CLI_HINT.sub("", line)
        kept: list[str] = []
        for sentence in _sentences(line):
            (details if _TECHNICAL.search(sentence) else kept).append(sentence)
        if kept or not line.strip():
            plain_lines.append(" ".join(kept))
    plain = "\n".join(plain_lines).strip()
    if not plain:  # everything was technical: better the whole text than nothing
        return PlainText(text, "")
    return PlainText(plain, "\n".join(details))
