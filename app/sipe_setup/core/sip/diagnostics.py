"""What a Lync / OCS / Skype for Business server says about a refusal: ``ms-diagnostics``,
``ms-diagnostics-public`` and ``Warning`` headers, parsed by the SIP grammar. Sans-I/O.

Grammar (RFC 3261 §25.1, §20.43; [MS-OCER] §2.2.1; [MS-SIPREGE] §3.4.2.5)::

    ms-diagnostics = entry *(COMMA entry)
    entry          = 1*DIGIT ["." 1*DIGIT] *(SEMI generic-param)
    generic-param  = token [EQUAL (token / host / quoted-string)]
    Warning        = warning-value *(COMMA warning-value)
    warning-value  = warn-code SP warn-agent SP warn-text     (warn-code: 3 digits)

``SEMI``, ``EQUAL`` and ``COMMA`` allow white space on both sides; a quoted string may hold
``\\"`` and ``\\\\`` escapes and commas. Real servers stray from it — a trailing ``;``, two
spaces after the colon, an unquoted Warning text (the [MS-SIPREGE] §3.4.2.5.5 example is
``Warning: 313 lcs.microsoft.com http://fabrikam.com``) — so the parsers are lenient.

Invariants:
- Nothing here raises on peer input: an entry that cannot be read is skipped, never guessed.
- Values are unescaped and otherwise kept verbatim (they are shown to the user as the server's
  own words).
- Entries keep header order; several header lines and comma-separated entries are flattened.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Final

from sipe_setup.core.sip.message import SipMessage

__all__ = [
    "DIAGNOSTIC_HEADERS",
    "LCS_AGENT",
    "DiagnosticEntry",
    "ServerWords",
    "WarningEntry",
    "diagnostics_of",
    "parse_ms_diagnostics",
    "parse_warning",
    "primary_diagnostic",
    "server_words",
    "warnings_of",
]

DIAGNOSTIC_HEADERS: Final = ("ms-diagnostics", "ms-diagnostics-public")
"""The two headers, in the order they are read (the public one survives an Edge server)."""
LCS_AGENT: Final = "lcs.microsoft.com"
"""The warn-agent of Microsoft's servers ([MS-SIPREGE] §3.4.2.5)."""

_WS = " \t"
_TOKEN: Final = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_CODE: Final = re.compile(r"(\d{1,9})(?:\.(\d{1,9}))?")
_WARN_START: Final = re.compile(r"(\d{3})[ \t]+([^ \t,\"]+)[ \t]*")
_NEXT_WARNING: Final = re.compile(r"[ \t]*,[ \t]*\d{3}[ \t]")
_MAX_VALUE: Final = 8192  # longer header values are cut: they are only shown, never trusted


@dataclass(frozen=True, slots=True)
class DiagnosticEntry:
    """One ``ms-diagnostics(-public)`` entry.

    Attributes:
        code: the ErrorId ([MS-OCER] §2.2.1).
        sub_code: the ``.<Sub Error Code>``, if any.
        params: the parameters in order, names as written, quoted values unescaped; a
            parameter without ``=value`` has the value ``""``.
        header: ``ms-diagnostics`` or ``ms-diagnostics-public``.
    """

    code: int
    sub_code: int | None = None
    params: tuple[tuple[str, str], ...] = ()
    header: str = "ms-diagnostics"

    def param(self, name: str) -> str | None:
        """The first parameter called ``name`` (any case), or None."""
        key = name.lower()
        return next((value for pname, value in self.params if pname.lower() == key), None)

    @property
    def reason(self) -> str:
        """The ``reason`` text as the server wrote it (``""`` without one)."""
        return self.param("reason") or ""

    @property
    def source(self) -> str:
        """The server that produced it (``source`` parameter), or ``""``."""
        return self.param("source") or ""

    @property
    def public(self) -> bool:
        return self.header.lower() == "ms-diagnostics-public"


@dataclass(frozen=True, slots=True)
class WarningEntry:
    """One ``Warning`` value (RFC 3261 §20.43)."""

    code: int
    agent: str
    text: str

    @property
    def from_lcs(self) -> bool:
        """Sent by a Microsoft server (agent ``lcs.microsoft.com``)."""
        return self.agent.lower() == LCS_AGENT


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _quoted(text: str, pos: int) -> tuple[str, int] | None:
    """Read a quoted string starting at ``text[pos] == '"'``; None if it is not terminated."""
    chars: list[str] = []
    pos += 1
    while pos < len(text):
        ch = text[pos]
        if ch == "\\" and pos + 1 < len(text):
            chars.append(text[pos + 1])
            pos += 2
            continue
        if ch == '"':
            return "".join(chars), pos + 1
        chars.append(ch)
        pos += 1
    return None


def _skip_entry(text: str, pos: int) -> int:
    """Position after the next comma outside a quoted string (or the end)."""
    while pos < len(text):
        ch = text[pos]
        if ch == '"':
            quoted = _quoted(text, pos)
            if quoted is None:
                return len(text)
            pos = quoted[1]
            continue
        if ch == ",":
            return pos + 1
        pos += 1
    return len(text)


def _read_entry(text: str, pos: int, header: str) -> tuple[DiagnosticEntry | None, int]:
    """One entry from ``pos``; returns (entry or None when unreadable, position after it)."""
    match = _CODE.match(text, pos)
    if match is None:
        return None, _skip_entry(text, pos)
    code = int(match.group(1))
    sub = int(match.group(2)) if match.group(2) else None
    pos = match.end()
    params: list[tuple[str, str]] = []
    while True:
        pos = _skip_ws(text, pos)
        if pos >= len(text):
            break
        if text[pos] == ",":
            pos += 1
            break
        if text[pos] != ";":
            return None, _skip_entry(text, pos)  # junk after the code: not an entry we trust
        pos = _skip_ws(text, pos + 1)
        if pos >= len(text) or text[pos] in ",;":
            continue  # an empty parameter (a trailing or doubled ';'), as real servers send
        name = _TOKEN.match(text, pos)
        if name is None:
            return None, _skip_entry(text, pos)
        pos = _skip_ws(text, name.end())
        value = ""
        if pos < len(text) and text[pos] == "=":
            pos = _skip_ws(text, pos + 1)
            if pos < len(text) and text[pos] == '"':
                quoted = _quoted(text, pos)
                if quoted is None:
                    return None, len(text)
                value, pos = quoted
            else:
                end = pos
                while end < len(text) and text[end] not in _WS + ";,":
                    end += 1
                value, pos = text[pos:end], end
        params.append((name.group(0), value))
    return DiagnosticEntry(code, sub, tuple(params), header), pos


def _next_entry(text: str, pos: int) -> int:
    """Where the next comma-separated entry starts (past white space and empty entries)."""
    pos = _skip_ws(text, pos)
    while pos < len(text) and text[pos] == ",":
        pos = _skip_ws(text, pos + 1)
    return pos


def parse_ms_diagnostics(value: str, header: str = "ms-diagnostics") -> list[DiagnosticEntry]:
    """Every readable entry of one ``ms-diagnostics`` (or ``-public``) header value.

    >>> [e.code for e in parse_ms_diagnostics('4003 ; reason = "a, b" , 1008;reason=x')]
    [4003, 1008]
    """
    text = value[:_MAX_VALUE]
    out: list[DiagnosticEntry] = []
    pos = 0
    while True:
        pos = _next_entry(text, pos)
        if pos >= len(text):
            return out
        entry, pos = _read_entry(text, pos, header)
        if entry is not None:
            out.append(entry)


def parse_warning(value: str) -> list[WarningEntry]:
    """Every readable value of one ``Warning`` header.

    A text that is not quoted (seen in [MS-SIPREGE]'s own example) runs to the next
    ``, <3 digits> `` or the end.

    >>> parse_warning('310 lcs.microsoft.com "You are currently not using the recommended '
    ...               'version of the client"')[0].code
    310
    """
    text = value[:_MAX_VALUE]
    out: list[WarningEntry] = []
    pos = 0
    while True:
        pos = _next_entry(text, pos)
        if pos >= len(text):
            return out
        match = _WARN_START.match(text, pos)
        if match is None:
            pos = _skip_entry(text, pos)
            continue
        code, agent = int(match.group(1)), match.group(2)
        pos = match.end()
        if pos < len(text) and text[pos] == '"':
            quoted = _quoted(text, pos)
            if quoted is None:
                out.append(WarningEntry(code, agent, text[pos + 1:].strip()))
                return out
            warn_text, pos = quoted
            pos = _skip_entry(text, pos)
        else:
            following = _NEXT_WARNING.search(text, pos)
            end = following.start() if following else len(text)
            warn_text, pos = text[pos:end].strip(), end
        out.append(WarningEntry(code, agent, warn_text))


def diagnostics_of(message: SipMessage) -> list[DiagnosticEntry]:
    """All ``ms-diagnostics`` and ``ms-diagnostics-public`` entries, in header order."""
    out: list[DiagnosticEntry] = []
    for name, value in message.headers:
        lowered = name.strip().lower()
        if lowered in DIAGNOSTIC_HEADERS:
            out += parse_ms_diagnostics(value, lowered)
    return out


def warnings_of(message: SipMessage) -> list[WarningEntry]:
    """All ``Warning`` values, in header order."""
    out: list[WarningEntry] = []
    for value in message.header_values("Warning"):
        out += parse_warning(value)
    return out


def primary_diagnostic(entries: Iterable[DiagnosticEntry],
                       known: Collection[int] = ()) -> DiagnosticEntry | None:
    """The entry to explain: the first with a code in ``known``, else the first with a
    reason, else the first; None without entries."""
    listed = list(entries)
    return (next((e for e in listed if e.code in known), None)
            or next((e for e in listed if e.reason), None)
            or (listed[0] if listed else None))


@dataclass(frozen=True, slots=True)
class ServerWords:
    """What the server said about a refusal, as the diagnosis needs it.

    Attributes:
        diagnostic: the chosen ``ms-diagnostics(-public)`` entry (see
            :func:`primary_diagnostic`), or None.
        warnings: every ``Warning`` value.
        diagnostics: every diagnostics entry.
    """

    diagnostic: DiagnosticEntry | None
    warnings: tuple[WarningEntry, ...] = ()
    diagnostics: tuple[DiagnosticEntry, ...] = ()

    @property
    def code(self) -> int | None:
        return self.diagnostic.code if self.diagnostic is not None else None

    @property
    def reason(self) -> str:
        """The server's own words, verbatim: the chosen diagnostic's reason, else the first
        Warning text, else ``""``."""
        if self.diagnostic is not None and self.diagnostic.reason:
            return self.diagnostic.reason
        return next((w.text for w in self.warnings if w.text), "")

    def lcs_warning(self, codes: Collection[int]) -> WarningEntry | None:
        """The first ``lcs.microsoft.com`` Warning whose code is in ``codes``."""
        return next((w for w in self.warnings if w.from_lcs and w.code in codes), None)

    def codes_in(self, low: int, high: int) -> DiagnosticEntry | None:
        """The first diagnostics entry with ``low <= code <= high``."""
        return next((d for d in self.diagnostics if low <= d.code <= high), None)


def server_words(message: SipMessage, known: Collection[int] = ()) -> ServerWords:
    """Everything the server said in ``message``, with the entry to explain picked."""
    entries = diagnostics_of(message)
    return ServerWords(primary_diagnostic(entries, known), tuple(warnings_of(message)),
                       tuple(entries))
