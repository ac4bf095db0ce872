"""SIP messages: parse and build, sans-I/O (bytes in, values out, bytes out).

What a SIPE-compatible client needs from RFC 3261 §7 and nothing more: start lines, headers
(case-insensitive names, compact forms, folding, repeated names kept in order), a body sized by
``Content-Length``, and the ``scheme name="value", name=token`` auth-parameter syntax of
``WWW-Authenticate`` / ``Authorization`` / ``Authentication-Info``.

Invariants:
- No I/O here. :class:`SipStreamParser` is fed bytes and returns complete messages.
- Every size a peer controls is bounded (:data:`MAX_HEADER_BYTES`, :data:`MAX_HEADERS`,
  :data:`MAX_LINE_BYTES`, :data:`MAX_BODY_BYTES`); the stream buffer never holds more than one
  header section plus one body.
- Anything a *peer* sent that we cannot accept raises :class:`SipProtocolError` — and nothing
  else: no ``IndexError``/``UnicodeDecodeError``/``ValueError`` leaks out of the parsers.
  A message *we* are about to send that is malformed raises :class:`SipUsageError`.
- Header order and value text are kept exactly; :meth:`SipMessage.to_bytes` writes CRLF line
  ends and the headers in the order given (SIPE appends ``Authorization`` after
  ``Content-Length``, so nothing is re-sorted or added behind the caller's back).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "COMPACT_HEADER_NAMES",
    "MAX_BODY_BYTES",
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "MAX_LINE_BYTES",
    "AuthParams",
    "SipError",
    "SipMessage",
    "SipProtocolError",
    "SipRequest",
    "SipResponse",
    "SipStreamParser",
    "SipUsageError",
    "canonical_header_key",
    "parse_auth_params",
    "parse_message",
    "quote",
]

MAX_HEADER_BYTES: Final = 64 * 1024
"""Largest header section (start line to blank line) accepted from a peer."""
MAX_HEADERS: Final = 256
"""Most header lines (after unfolding) accepted in one message."""
MAX_LINE_BYTES: Final = 32 * 1024
"""Longest single line; a Kerberos ``gssapi-data`` with a PAC stays well below this."""
MAX_BODY_BYTES: Final = 1024 * 1024
"""Largest ``Content-Length`` accepted from a peer."""

SIP_VERSION: Final = "SIP/2.0"

COMPACT_HEADER_NAMES: Final[dict[str, str]] = {
    "i": "call-id",
    "f": "from",
    "t": "to",
    "v": "via",
    "m": "contact",
    "l": "content-length",
    "k": "supported",
    "c": "content-type",
    "e": "content-encoding",
    "s": "subject",
    "o": "event",
    "u": "allow-events",
    "r": "refer-to",
    "b": "referred-by",
}
"""RFC 3261 / 3265 / 3515 compact header forms → full name (lower case)."""

_TOKEN_RE: Final = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_METHOD_RE: Final = re.compile(r"[A-Z][A-Za-z0-9\-.!%*_+`'~]*")


class SipError(Exception):
    """Base of the SIP codec's errors."""


class SipProtocolError(SipError):
    """The peer sent bytes that are not an acceptable SIP message (the peer's fault)."""


class SipUsageError(SipError, ValueError):
    """We tried to build or send something invalid (our fault, a bug in the caller)."""


def canonical_header_key(name: str) -> str:
    """The lookup key of a header name: lower case, compact forms expanded."""
    key = name.strip().lower()
    return COMPACT_HEADER_NAMES.get(key, key)


# --- messages -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SipMessage:
    """Fields shared by requests and responses.

    ``headers`` holds ``(name, value)`` pairs exactly as received or as they will be sent
    (name spelling kept; folded values unfolded to one line).
    """

    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """Value of the first header called ``name`` (any case, compact forms too), or None."""
        key = canonical_header_key(name)
        for hname, value in self.headers:
            if canonical_header_key(hname) == key:
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        """Values of every header called ``name``, in message order."""
        key = canonical_header_key(name)
        return [value for hname, value in self.headers if canonical_header_key(hname) == key]

    def has_header(self, name: str) -> bool:
        """True if at least one header called ``name`` is present."""
        return self.header(name) is not None

    @property
    def call_id(self) -> str | None:
        """The ``Call-ID`` value."""
        return self.header("Call-ID")

    @property
    def cseq(self) -> tuple[int, str] | None:
        """``CSeq`` as (number, method), or None if missing or malformed."""
        value = self.header("CSeq")
        if value is None:
            return None
        parts = value.split()
        if len(parts) != 2 or not parts[0].isdigit() or not parts[0].isascii():
            return None
        return int(parts[0]), parts[1]

    def start_line(self) -> str:
        """The request or status line (without CRLF)."""
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """The message on the wire: start line, headers in order, CRLF, body.

        Raises:
            SipUsageError: a header name/value holds a line break or is not a token, or a
                ``Content-Length`` header disagrees with the body.
        """
        lines = [self.start_line()]
        for name, value in self.headers:
            if not _TOKEN_RE.fullmatch(name):
                raise SipUsageError(f"header name {name!r} is not a SIP token")
            if "\r" in value or "\n" in value or "\0" in value:
                raise SipUsageError(f"header {name} holds a line break or NUL")
            lines.append(f"{name}: {value}")
        length = self.header("Content-Length")
        if length is not None and length.strip() != str(len(self.body)):
            raise SipUsageError(
                f"Content-Length: {length} but the body has {len(self.body)} bytes")
        if length is None and self.body:
            raise SipUsageError("a body needs a Content-Length header")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


@dataclass(frozen=True, slots=True)
class SipRequest(SipMessage):
    """A SIP request such as ``REGISTER sip:example.test SIP/2.0``."""

    method: str = "REGISTER"
    uri: str = ""

    def start_line(self) -> str:
        if not _METHOD_RE.fullmatch(self.method):
            raise SipUsageError(f"request method {self.method!r} is not a SIP token")
        if not self.uri or any(ch.isspace() for ch in self.uri):
            raise SipUsageError(f"request URI {self.uri!r} is empty or holds white space")
        return f"{self.method} {self.uri} {SIP_VERSION}"

    def with_header(self, name: str, value: str) -> SipRequest:
        """A copy with one more header appended at the end (SIPE adds Authorization last)."""
        return SipRequest(headers=(*self.headers, (name, value)), body=self.body,
                          method=self.method, uri=self.uri)


@dataclass(frozen=True, slots=True)
class SipResponse(SipMessage):
    """A SIP response such as ``SIP/2.0 401 Unauthorized``."""

    status: int = 200
    reason: str = "OK"

    def start_line(self) -> str:
        if not 100 <= self.status <= 699:
            raise SipUsageError(f"status code {self.status} is outside 100-699")
        if "\r" in self.reason or "\n" in self.reason:
            raise SipUsageError("reason phrase holds a line break")
        return f"{SIP_VERSION} {self.status} {self.reason}"

    def with_header(self, name: str, value: str) -> SipResponse:
        """A copy with one more header appended at the end."""
        return SipResponse(headers=(*self.headers, (name, value)), body=self.body,
                           status=self.status, reason=self.reason)


# --- parsing ------------------------------------------------------------------------------------


def _describe_garbage(data: bytes) -> str:
    """Why the first bytes of a stream are not SIP, in words that help diagnose a wrong port."""
    if data[:1] == b"\x16" and data[1:2] == b"\x03":
        return ("the peer sent a TLS handshake record: the port expects TLS, but the connection "
                "is plain TCP")
    if data[:1] == b"\x15" and data[1:2] == b"\x03":
        return "the peer sent a TLS alert: the port speaks TLS, not plain SIP"
    if data.startswith(b"HTTP/"):
        return ("the peer answered with HTTP, not SIP: this looks like a web server, not a "
                "SIP registrar")
    if data.startswith(b"SSH-"):
        return "the peer is an SSH server, not a SIP registrar"
    shown = data[:24]
    return f"the peer sent bytes that are not a SIP message (starting {shown!r})"


def _parse_start_line(line: str) -> tuple[str, str, int | None, str]:
    """Return (method, uri, status, reason); status is None for requests."""
    if line.startswith(SIP_VERSION + " "):
        rest = line[len(SIP_VERSION) + 1:]
        code, _, reason = rest.partition(" ")
        if len(code) != 3 or not code.isdigit() or not code.isascii():
            raise SipProtocolError(f"bad status line {line[:80]!r}: no 3-digit status code")
        status = int(code)
        if not 100 <= status <= 699:
            raise SipProtocolError(f"bad status line {line[:80]!r}: status out of range")
        return "", "", status, reason.strip()
    if line.startswith("HTTP/"):
        raise SipProtocolError(_describe_garbage(line.encode("utf-8", "replace")))
    parts = line.split(" ")
    if len(parts) != 3 or parts[2] != SIP_VERSION:
        raise SipProtocolError(f"not a SIP/2.0 request or status line: {line[:80]!r}")
    method, uri, _ = parts
    if not _METHOD_RE.fullmatch(method):
        raise SipProtocolError(f"bad request method {method[:40]!r}")
    if not uri or any(ch.isspace() for ch in uri):
        raise SipProtocolError("request line has an empty Request-URI or one with white space")
    return method, uri, None, ""


def _split_lines(section: bytes) -> list[str]:
    try:
        text = section.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipProtocolError(f"header section is not valid UTF-8 (byte {exc.start})") from None
    lines = text.split("\n")
    out = []
    for line in lines:
        if line.endswith("\r"):
            line = line[:-1]
        if len(line.encode("utf-8")) > MAX_LINE_BYTES:
            raise SipProtocolError(f"a header line is longer than {MAX_LINE_BYTES} bytes")
        if "\r" in line or "\0" in line:
            raise SipProtocolError("a header line holds a bare CR or a NUL byte")
        out.append(line)
    return out


def _parse_head(section: bytes) -> tuple[str, str, int | None, str, list[tuple[str, str]]]:
    """Parse a header section (without the terminating blank line)."""
    if len(section) > MAX_HEADER_BYTES:
        raise SipProtocolError(f"header section is larger than {MAX_HEADER_BYTES} bytes")
    lines = _split_lines(section)
    if not lines or not lines[0]:
        raise SipProtocolError("message has no start line")
    method, uri, status, reason = _parse_start_line(lines[0])
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            if not headers:
                raise SipProtocolError("continuation line before the first header")
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}".strip())
            continue
        name, sep, value = line.partition(":")
        name = name.rstrip(" \t")
        if not sep or not _TOKEN_RE.fullmatch(name):
            raise SipProtocolError(f"malformed header line {line[:80]!r}")
        headers.append((name, value.strip(" \t")))
        if len(headers) > MAX_HEADERS:
            raise SipProtocolError(f"more than {MAX_HEADERS} headers")
    return method, uri, status, reason, headers


def _content_length(headers: list[tuple[str, str]]) -> int:
    values = [v for n, v in headers if canonical_header_key(n) == "content-length"]
    if not values:
        return 0  # RFC 3261 §18.3 wants it on streams; a missing one means "no body" here
    if len({v.strip() for v in values}) != 1:
        raise SipProtocolError("conflicting Content-Length headers")
    text = values[0].strip()
    if not text.isdigit() or not text.isascii() or len(text) > 10:
        raise SipProtocolError(f"bad Content-Length {text[:20]!r}")
    length = int(text)
    if length > MAX_BODY_BYTES:
        raise SipProtocolError(f"Content-Length {length} exceeds the {MAX_BODY_BYTES}-byte limit")
    return length


def _build(method: str, uri: str, status: int | None, reason: str,
           headers: list[tuple[str, str]], body: bytes) -> SipMessage:
    if status is None:
        return SipRequest(headers=tuple(headers), body=body, method=method, uri=uri)
    return SipResponse(headers=tuple(headers), body=body, status=status, reason=reason)


def _find_head_end(data: bytes | bytearray, start: int = 0) -> tuple[int, int] | None:
    """(end of header section, start of body) or None; accepts CRLF and bare-LF line ends."""
    pos = start
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            return None
        nxt = nl + 1
        if data[nxt:nxt + 1] == b"\n":
            return nl, nxt + 1
        if data[nxt:nxt + 2] == b"\r\n":
            return nl, nxt + 2
        pos = nxt


def parse_message(data: bytes) -> SipMessage:
    """Parse exactly one complete SIP message (e.g. a datagram or a test fixture).

    Raises:
        SipProtocolError: not a SIP message, limits exceeded, or the body is shorter or longer
            than ``Content-Length`` says.
    """
    data = bytes(data)
    stripped = data.lstrip(b"\r\n")
    found = _find_head_end(stripped)
    if found is None:
        if len(stripped) > MAX_HEADER_BYTES:
            raise SipProtocolError(f"header section is larger than {MAX_HEADER_BYTES} bytes")
        _check_plausible_start(stripped)
        raise SipProtocolError("message ends before the blank line that closes the headers")
    head_end, body_start = found
    _check_plausible_start(stripped)
    method, uri, status, reason, headers = _parse_head(stripped[:head_end])
    length = _content_length(headers)
    body = stripped[body_start:]
    if len(body) != length:
        raise SipProtocolError(
            f"body has {len(body)} bytes but Content-Length says {length}")
    return _build(method, uri, status, reason, headers, body)


def _check_plausible_start(data: bytes | bytearray) -> None:
    """Reject streams whose first bytes cannot begin a SIP start line, as early as possible."""
    probe = bytes(data[:8])
    if not probe:
        return
    if probe.startswith(b"HTTP/") or probe[:1] in (b"\x16", b"\x15"):
        raise SipProtocolError(_describe_garbage(bytes(data[:64])))
    allowed = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.!%*_+`'~/ "
    if probe[:1] not in allowed[:52] or any(b not in allowed for b in probe[:5]):
        raise SipProtocolError(_describe_garbage(bytes(data[:64])))


# --- stream parser ------------------------------------------------------------------------------


@dataclass(slots=True)
class SipStreamParser:
    """Split a TCP/TLS byte stream into SIP messages.

    Feed whatever the socket returned; get back every message completed by it. CRLF keep-alives
    (``\\r\\n\\r\\n``, as SIPE and Lync send them) between messages are skipped and counted.

    After a :class:`SipProtocolError` the stream is unusable (framing is lost); further calls
    raise the same error again.
    """

    _buffer: bytearray = field(default_factory=bytearray)
    _pending_head: tuple[str, str, int | None, str, list[tuple[str, str]]] | None = None
    _pending_length: int = 0
    _scan_from: int = 0
    _failed: SipProtocolError | None = None
    keepalives: int = 0
    """How many keep-alive line breaks were skipped between messages."""

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet form a complete message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[SipMessage]:
        """Add bytes from the stream; return the messages they complete (maybe none).

        Raises:
            SipProtocolError: the stream holds something that is not SIP or breaks a limit.
        """
        if self._failed is not None:
            raise self._failed
        self._buffer += data
        try:
            return list(self._drain())
        except SipProtocolError as exc:
            self._failed = exc
            self._buffer.clear()
            raise

    def close(self) -> None:
        """The peer closed the stream; raise if it stopped in the middle of a message.

        Raises:
            SipProtocolError: a partial message was pending.
        """
        if self._failed is not None:
            raise self._failed
        if self._pending_head is not None or self._buffer.strip(b"\r\n"):
            raise SipProtocolError("connection closed in the middle of a SIP message")

    def _drain(self) -> Iterator[SipMessage]:
        while True:
            if self._pending_head is None:
                skipped = 0
                while skipped < len(self._buffer) and self._buffer[skipped] in (0x0D, 0x0A):
                    skipped += 1
                if skipped:
                    self.keepalives += self._buffer[:skipped].count(b"\n") // 2 or 1
                    del self._buffer[:skipped]
                    self._scan_from = 0
                if not self._buffer:
                    return
                _check_plausible_start(self._buffer)
                found = _find_head_end(self._buffer, max(0, self._scan_from - 3))
                if found is None:
                    if len(self._buffer) > MAX_HEADER_BYTES:
                        raise SipProtocolError(
                            f"header section is larger than {MAX_HEADER_BYTES} bytes")
                    last_nl = self._buffer.rfind(b"\n")
                    if len(self._buffer) - (last_nl + 1) > MAX_LINE_BYTES:
                        raise SipProtocolError(
                            f"a header line is longer than {MAX_LINE_BYTES} bytes")
                    self._scan_from = len(self._buffer)
                    return
                head_end, body_start = found
                head = _parse_head(bytes(self._buffer[:head_end]))
                self._pending_length = _content_length(head[4])
                self._pending_head = head
                del self._buffer[:body_start]
                self._scan_from = 0
            if len(self._buffer) < self._pending_length:
                return
            body = bytes(self._buffer[:self._pending_length])
            del self._buffer[:self._pending_length]
            method, uri, status, reason, headers = self._pending_head
            self._pending_head = None
            yield _build(method, uri, status, reason, headers, body)


# --- auth parameters ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthParams:
    """``scheme name="value", name=token, …`` as found in auth headers.

    ``params`` keeps the order and the names as written; :meth:`get` looks names up
    case-insensitively. Quoted values are unescaped (``\\"`` → ``"``).
    """

    scheme: str
    params: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str | None:
        """The first parameter called ``name`` (any case), or None."""
        key = name.lower()
        for pname, value in self.params:
            if pname.lower() == key:
                return value
        return None

    def names(self) -> list[str]:
        """Parameter names in order (lower case)."""
        return [p.lower() for p, _ in self.params]


def parse_auth_params(value: str) -> AuthParams:
    """Parse an auth header value: a scheme token, then comma-separated parameters.

    Accepts ``name="quoted \\" text"``, ``name=token`` (``version=4``), and white space around
    ``=`` and ``,``. Quoted values may contain commas.

    Raises:
        SipProtocolError: no scheme, an unterminated quoted string, or a parameter without
            ``=``.
    """
    text = value.strip()
    scheme_match = _TOKEN_RE.match(text)
    if scheme_match is None:
        raise SipProtocolError(f"auth header has no scheme: {value[:60]!r}")
    scheme = scheme_match.group(0)
    pos = scheme_match.end()
    if pos < len(text) and text[pos] not in " \t":
        raise SipProtocolError(f"auth header scheme is malformed: {value[:60]!r}")
    params: list[tuple[str, str]] = []
    n = len(text)
    while True:
        while pos < n and text[pos] in " \t,":
            pos += 1
        if pos >= n:
            break
        name_match = _TOKEN_RE.match(text, pos)
        if name_match is None:
            raise SipProtocolError(f"auth parameter name expected at {text[pos:pos + 20]!r}")
        name = name_match.group(0)
        pos = name_match.end()
        while pos < n and text[pos] in " \t":
            pos += 1
        if pos >= n or text[pos] != "=":
            raise SipProtocolError(f"auth parameter {name!r} has no '=value'")
        pos += 1
        while pos < n and text[pos] in " \t":
            pos += 1
        if pos < n and text[pos] == '"':
            pos += 1
            chars: list[str] = []
            while True:
                if pos >= n:
                    raise SipProtocolError(f"auth parameter {name!r}: unterminated quoted string")
                ch = text[pos]
                if ch == "\\" and pos + 1 < n:
                    chars.append(text[pos + 1])
                    pos += 2
                    continue
                if ch == '"':
                    pos += 1
                    break
                chars.append(ch)
                pos += 1
            params.append((name, "".join(chars)))
        else:
            end = pos
            while end < n and text[end] not in ", \t":
                end += 1
            params.append((name, text[pos:end]))
            pos = end
        while pos < n and text[pos] in " \t":
            pos += 1
        if pos < n and text[pos] != ",":
            raise SipProtocolError(f"auth parameter {name!r} is followed by junk "
                                   f"{text[pos:pos + 20]!r} instead of ','")
    return AuthParams(scheme=scheme, params=tuple(params))


def quote(value: str) -> str:
    """A quoted-string for an auth parameter (backslash-escapes ``"`` and ``\\``)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

