"""HTTP exchanges of the TLS-DSK captures in ``tests/golden/captures/`` (``tlsdsk-*.wire.txt``).

Sections look like ``===== 18:26:40 HTTP IN =====`` (SIPE's request) and ``===== 18:26:40 HTTP OUT
/path =====`` (the test server's answer), CRLF throughout; a body is cut by its Content-Length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from tests.golden.capture import CAPTURES

_SECTION = re.compile(rb"^===== (?:\d\d:\d\d:\d\d )?([^\r\n]*?) =====\r\n", re.MULTILINE)


@dataclass(frozen=True)
class HttpMessage:
    """One HTTP request (from SIPE) or response (to SIPE)."""

    from_sipe: bool
    start_line: str
    headers: dict[str, str]
    body: bytes


def _message(from_sipe: bool, data: bytes) -> HttpMessage:
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    return HttpMessage(from_sipe, lines[0], headers, rest[:length])


@cache
def http_messages(name: str) -> tuple[HttpMessage, ...]:
    """Every HTTP message of ``captures/<name>`` in order."""
    raw = (CAPTURES / name).read_bytes()
    marks = list(_SECTION.finditer(raw))
    out = []
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(raw)
        kind = mark.group(1)
        if kind.startswith(b"HTTP "):
            out.append(_message(kind == b"HTTP IN", raw[mark.end():end]))
    return tuple(out)


def response_to(name: str, path_part: str, *, index: int = 0) -> bytes:
    """Body of the ``index``-th 200 response to a request whose start line has ``path_part``."""
    messages = http_messages(name)
    found = [messages[i + 1].body for i, m in enumerate(messages[:-1])
             if m.from_sipe and path_part in m.start_line
             and messages[i + 1].start_line.startswith("HTTP/1.1 200")]
    return found[index]


def requests_with(name: str, path_part: str) -> list[HttpMessage]:
    """SIPE's requests whose start line contains ``path_part`` (with a body when POST)."""
    return [m for m in http_messages(name) if m.from_sipe and path_part in m.start_line]
