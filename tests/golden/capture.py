"""Load the real pidgin-sipe captures kept in ``tests/golden/captures/``.

A capture is a sequence of ``===== HH:MM:SS KIND =====`` sections. RECV sections hold what SIPE
sent to the registrar, SEND what the registrar answered, byte for byte (CRLF kept); the
capture tool put one extra ``\\n`` after each section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sipe_setup.core.sip.message import SipMessage, SipRequest, SipResponse, parse_message

CAPTURES = Path(__file__).resolve().parent / "captures"
_MARKER = re.compile(rb"^===== (\d\d:\d\d:\d\d) ([A-Z][A-Z-]*) =====\n", re.MULTILINE)


@dataclass(frozen=True)
class CaptureSection:
    """One section of a capture."""

    time: str
    kind: str
    data: bytes


def load_sections(name: str) -> list[CaptureSection]:
    """All sections of ``captures/<name>``."""
    raw = (CAPTURES / name).read_bytes()
    matches = list(_MARKER.finditer(raw))
    sections = []
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(raw)
        body = raw[m.end():end]
        if body.endswith(b"\n"):
            body = body[:-1]
        sections.append(CaptureSection(m.group(1).decode(), m.group(2).decode(), body))
    return sections


def raw_messages(name: str) -> list[tuple[str, bytes]]:
    """``(direction, bytes)`` for every SIP message; direction ``"client"`` or ``"server"``."""
    return [("client" if s.kind == "RECV" else "server", s.data)
            for s in load_sections(name) if s.kind in ("RECV", "SEND")]


def messages(name: str) -> list[tuple[str, SipMessage]]:
    """Parsed messages in capture order."""
    return [(who, parse_message(data)) for who, data in raw_messages(name)]


def requests(name: str) -> list[SipRequest]:
    """The client's requests, in order."""
    return [m for _, m in messages(name) if isinstance(m, SipRequest)]


def responses(name: str) -> list[SipResponse]:
    """The server's responses, in order."""
    return [m for _, m in messages(name) if isinstance(m, SipResponse)]
