"""One bounded HTTP/1.1 client for Lync autodiscover and the Lync web services.

Sans-I/O parsing is h11's; this module owns the sockets, the limits, certificate trust and HTTP
authentication, the way SIPE's ``sipe-http-request.c`` does them (reference ``tls-dsk.md`` §1.3,
§4.4).

Invariants:
- One deadline per :meth:`BoundedHttpClient.request`: name resolution, connect, TLS, every
  authentication leg and every byte of every answer. A server that dribbles bytes cannot
  stretch it.
- Everything a server can grow is bounded: the header block (bytes and count), the body, the
  informational (1xx) answers, the authentication legs. Nothing is followed: a 3xx is returned
  as it is.
- Host names go through the caller's resolver; the socket connects to the address, while
  ``Host``, SNI and the certificate check use the name.
- A certificate that is not acceptable (chain, name, dates) raises
  :class:`~sipe_setup.core.transport.CertificateRejected` before a single request byte is sent,
  unless the user accepted exactly that certificate (its SHA-256 fingerprint).
- Credentials are never sent over plain ``http://``: a 401 there comes back as it is.
- Basic is used only when a server offers nothing else (as SIPE), and only over verified TLS
  (CA-trusted or user-accepted certificate): the password then reaches the server it is
  meant for, exactly as NTLM's proof would. Over ``http://`` it is never sent.
- The password and tokens never appear in a repr, an exception or an outcome line.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import enum
import ipaddress
import socket
import ssl
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import h11

from sipe_setup.core.account import (
    AccountSettings,
    AuthScheme,
    KerberosPrincipal,
    NtlmIdentity,
    Secret,
)
from sipe_setup.core.transport import CertificateInfo, CertificateRejected, describe_certificate

__all__ = [
    "BoundedHttpClient",
    "HostResolver",
    "HttpAuthOutcome",
    "HttpConnectError",
    "HttpCredentials",
    "HttpDnsError",
    "HttpError",
    "HttpErrorKind",
    "HttpExchange",
    "HttpHeaders",
    "HttpLimits",
    "HttpProtocolError",
    "HttpResponse",
    "HttpTimeout",
    "HttpTlsError",
    "HttpTooLarge",
    "HttpUrlError",
    "ParsedUrl",
    "parse_url",
]

HostResolver = Callable[[str], Awaitable[tuple[str, ...]]]
"""Returns the addresses of a host name (the discovery resolver); () when it does not resolve."""

_READ_CHUNK: Final = 65536
_MAX_INFORMATIONAL: Final = 8
_MAX_ADDRESSES: Final = 4
_CLOSE_WAIT: Final = 1.0


# --- results and errors ---------------------------------------------------------------------------


class HttpHeaders:
    """Response headers in the order received; lookups ignore case. Immutable."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: tuple[tuple[str, str], ...] = tuple(items)

    def get(self, name: str, default: str = "") -> str:
        """The first value of ``name``, or ``default``."""
        wanted = name.lower()
        return next((v for n, v in self._items if n.lower() == wanted), default)

    def get_list(self, name: str) -> list[str]:
        """Every value of ``name``, in order (``WWW-Authenticate`` comes several times)."""
        wanted = name.lower()
        return [v for n, v in self._items if n.lower() == wanted]

    def items(self) -> tuple[tuple[str, str], ...]:
        return self._items

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(n.lower() == name.lower() for n, _ in self._items)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"HttpHeaders({list(self._items)!r})"


class HttpAuthOutcome(enum.StrEnum):
    """What HTTP authentication did for one request."""

    NOT_NEEDED = "not-needed"  # no 401
    NO_CREDENTIALS = "no-credentials"  # 401, but the caller gave none (or no password for it)
    PLAIN_HTTP = "plain-http"  # 401 over http://: credentials are never sent there
    NO_SCHEME = "no-scheme"  # 401 offering nothing we do (Negotiate/NTLM/Basic)
    ACCEPTED = "accepted"  # credentials sent, the answer is not a 401
    REJECTED = "rejected"  # 401 after the last leg: wrong password or unknown user
    FAILED = "failed"  # the handshake broke (bad or missing token, closed connection)


class HttpErrorKind(enum.StrEnum):
    """Stable short words for what went wrong (reports and the advice catalog key on them)."""

    URL = "url"
    DNS = "dns"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    TLS = "tls"
    TOO_LARGE = "too-large"
    PROTOCOL = "protocol"


class HttpError(Exception):
    """An HTTP request ended without a usable answer; ``str()`` is a plain sentence."""

    kind: HttpErrorKind = HttpErrorKind.PROTOCOL

    def __init__(self, message: str, *, url: str = "", address: str = "") -> None:
        super().__init__(message)
        self.url = url
        self.address = address
        self.elapsed = 0.0


class HttpUrlError(HttpError):
    """The URL cannot be requested (not http/https, no host, bad port, control characters)."""

    kind = HttpErrorKind.URL


class HttpDnsError(HttpError):
    """The host name does not resolve."""

    kind = HttpErrorKind.DNS


class HttpConnectError(HttpError):
    """TCP connect failed; ``kind`` is REFUSED or UNREACHABLE."""

    def __init__(self, message: str, *, kind: HttpErrorKind, url: str = "",
                 address: str = "") -> None:
        super().__init__(message, url=url, address=address)
        self.kind = kind


class HttpTimeout(HttpError):
    """The whole request did not finish within its deadline."""

    kind = HttpErrorKind.TIMEOUT


class HttpTlsError(HttpError):
    """The TLS handshake failed for a reason other than the certificate, or the trusted
    certificates could not be loaded (``ca_file_problem``: our side, not the server's)."""

    kind = HttpErrorKind.TLS

    def __init__(self, message: str, *, url: str = "", address: str = "",
                 ca_file_problem: bool = False) -> None:
        super().__init__(message, url=url, address=address)
        self.ca_file_problem = ca_file_problem


class HttpProtocolError(HttpError):
    """The server's answer is not valid HTTP/1.1, or it closed the connection mid-answer."""

    kind = HttpErrorKind.PROTOCOL


class HttpTooLarge(HttpError):
    """The header block or the body is over its bound.

    ``status`` and ``headers`` are set when the head arrived before the body overflowed
    (``status`` is 0 when the header block itself was too large).
    """

    kind = HttpErrorKind.TOO_LARGE

    def __init__(self, message: str, *, url: str = "", address: str = "", status: int = 0,
                 headers: HttpHeaders | None = None) -> None:
        super().__init__(message, url=url, address=address)
        self.status = status
        self.headers = headers or HttpHeaders()


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """The final answer to one request (after any authentication legs).

    Attributes:
        url: the URL as the caller gave it.
        address: the IP address connected to.
        elapsed: seconds for the whole request, all legs included.
        requests_sent: HTTP requests written on the wire (authentication legs included).
        certificate: the server certificate (https only).
        certificate_user_accepted: the certificate is not CA-trusted and was used only
            because the user accepted its fingerprint.
        auth: what HTTP authentication did; ``auth_scheme`` the scheme name sent
            (``Negotiate``, ``NTLM``, ``Basic``); ``auth_detail`` a plain sentence.
    """

    method: str
    url: str
    status: int
    reason: str
    headers: HttpHeaders
    body: bytes
    elapsed: float
    address: str
    requests_sent: int
    certificate: CertificateInfo | None = None
    certificate_user_accepted: bool = False
    auth: HttpAuthOutcome = HttpAuthOutcome.NOT_NEEDED
    auth_scheme: str = ""
    auth_detail: str = ""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type")

    @property
    def diagnostics(self) -> str:
        """The ``X-Ms-diagnostics`` header (Lync's own reason for a failure), or ""."""
        return self.headers.get("x-ms-diagnostics")

    @property
    def authenticated(self) -> bool:
        """An ``Authorization`` header was sent (whatever the server then said)."""
        return bool(self.auth_scheme)


@dataclass(frozen=True, slots=True)
class HttpExchange:
    """One HTTP request as the user sees it live (a line of a step): what, where, how it went.

    Attributes:
        status: the final HTTP status, or 0 when there was no answer (``error`` says why).
        requests_sent: HTTP requests on the wire for it (authentication legs included).
        outcome: one line in plain words, e.g. "200 OK, signed in with NTLM as EXAMPLE\\alice".
    """

    method: str
    url: str
    status: int
    elapsed: float
    outcome: str
    error: str = ""
    requests_sent: int = 0
    diagnostics: str = ""

    def to_json(self) -> dict[str, object]:
        return {"method": self.method, "url": self.url, "status": self.status,
                "elapsed_ms": round(self.elapsed * 1000, 1), "outcome": self.outcome,
                "error": self.error, "requests_sent": self.requests_sent,
                "diagnostics": self.diagnostics}


# --- credentials ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpCredentials:
    """What HTTP authentication may use (the repr never shows the password).

    Attributes:
        ntlm: user and domain for NTLM and Basic (SIPE's ``authuser``: the Login, else the
            sign-in address).
        password: the account password; None with single sign-on.
        kerberos: the client principal for Kerberos (Negotiate); None = no Kerberos.
        sso: use the credential cache (``kinit``) for Kerberos instead of the password.
        ntlm_only: the account is set to NTLM, so Negotiate is never used (as SIPE).
    """

    ntlm: NtlmIdentity | None = None
    password: Secret | None = None
    kerberos: KerberosPrincipal | None = None
    sso: bool = False
    ntlm_only: bool = False

    @classmethod
    def for_account(cls, account: AccountSettings, password: Secret | None) -> HttpCredentials:
        """The credentials SIPE's HTTP requests use for ``account``."""
        return cls(ntlm=account.login.ntlm, password=None if account.sso else password,
                   kerberos=account.login.kerberos, sso=account.sso,
                   ntlm_only=account.auth is AuthScheme.NTLM)

    @property
    def ntlm_username(self) -> str:
        """``DOMAIN\\user`` (or ``user`` / ``user@domain``) as NTLM and Basic send it."""
        if self.ntlm is None:
            return ""
        if self.ntlm.domain:
            return f"{self.ntlm.domain}\\{self.ntlm.user}"
        return self.ntlm.user


# --- URLs -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedUrl:
    """An http(s) URL split the way a request needs it."""

    scheme: str
    host: str  # lower case, no trailing dot, no brackets around IPv6
    port: int
    target: str  # path + query, percent-encoded where needed
    explicit_port: bool
    is_ip: bool

    @property
    def https(self) -> bool:
        return self.scheme == "https"

    @property
    def host_for_header(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def origin(self) -> str:
        return f"{self.scheme}://{self.host_for_header}:{self.port}"


_TARGET_SAFE: Final = "!$&'()*+,/:;=?@[]~%-._"


def parse_url(url: str, *, https_port: int = 443, http_port: int = 80) -> ParsedUrl:
    """Split ``url``; ports missing from it default to ``https_port`` / ``http_port``.

    Raises:
        HttpUrlError: not http/https, no host, a bad port, or control characters/spaces.
    """
    text = url.strip()
    if not text or len(text) > 8192 or any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        raise HttpUrlError("the URL is empty, too long, or contains spaces or control "
                           "characters", url=url[:200])
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise HttpUrlError(f"the URL is not usable ({exc})", url=url[:200]) from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".").lower()
    if scheme not in ("http", "https") or not host:
        raise HttpUrlError("the URL is not an http:// or https:// URL with a host",
                           url=url[:200])
    if port == 0:
        raise HttpUrlError("the URL names port 0", url=url[:200])
    try:
        ipaddress.ip_address(host)
        is_ip = True
    except ValueError:
        is_ip = False
        if any(not (c.isalnum() or c in "-._") for c in host):
            raise HttpUrlError(f"“{host[:100]}” is not a host name", url=url[:200]) from None
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    target = urllib.parse.quote(target, safe=_TARGET_SAFE)
    default = https_port if scheme == "https" else http_port
    return ParsedUrl(scheme=scheme, host=host, port=port or default, target=target,
                     explicit_port=port is not None, is_ip=is_ip)


# --- limits ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Bounds of one request.

    Attributes:
        timeout: seconds for the whole request (resolve, connect, TLS, all legs, all bytes).
        max_body: bytes accepted per response body.
        max_header_bytes: bytes of one response header block.
        max_headers: header lines per response.
        max_auth_legs: requests carrying an ``Authorization`` header (NTLM needs 2).
    """

    timeout: float = 10.0
    max_body: int = 1024 * 1024
    max_header_bytes: int = 16 * 1024
    max_headers: int = 100
    max_auth_legs: int = 3


# --- one connection -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Answer:
    status: int
    reason: str
    headers: HttpHeaders
    body: bytes


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    address: str
    certificate: CertificateInfo | None
    user_accepted: bool
    limits: HttpLimits
    url: str
    h11: h11.Connection = field(init=False)

    def __post_init__(self) -> None:
        self.h11 = h11.Connection(h11.CLIENT,
                                  max_incomplete_event_size=self.limits.max_header_bytes)

    @property
    def reusable(self) -> bool:
        return self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE

    def _error(self, cls: type[HttpError], message: str) -> HttpError:
        return cls(message, url=self.url, address=self.address)

    async def exchange(self, method: str, target: str, headers: list[tuple[str, str]],
                       body: bytes | None, max_body: int) -> _Answer:
        if self.h11.our_state is h11.DONE:
            self.h11.start_next_cycle()
        try:
            data = self.h11.send(h11.Request(method=method, target=target, headers=headers))
            if body:
                data = (data or b"") + (self.h11.send(h11.Data(data=body)) or b"")
            data = (data or b"") + (self.h11.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError as exc:
            raise self._error(HttpProtocolError,
                              f"the request could not be written ({exc})") from None
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            raise self._error(HttpProtocolError,
                              f"the server closed the connection while the request was "
                              f"sent ({exc.strerror or type(exc).__name__})") from None
        return await self._read_answer(max_body)

    async def _next_event(self) -> Any:
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                if exc.error_status_hint == 431:
                    raise HttpTooLarge(f"the server's header block is larger than "
                                       f"{self.limits.max_header_bytes} bytes", url=self.url,
                                       address=self.address) from None
                if "peer closed connection" in str(exc):
                    raise self._error(HttpProtocolError, "the server closed the connection in "
                                      "the middle of the answer") from None
                raise self._error(HttpProtocolError,
                                  f"the answer is not valid HTTP/1.1 ({exc})") from None
            if event is not h11.NEED_DATA:
                return event
            try:
                chunk = await self.reader.read(_READ_CHUNK)
            except (ConnectionError, OSError, ssl.SSLError) as exc:
                raise self._error(HttpProtocolError, f"the connection broke while reading the "
                                  f"answer ({type(exc).__name__})") from None
            self.h11.receive_data(chunk)

    async def _read_answer(self, max_body: int) -> _Answer:
        informational = 0
        while True:
            event = await self._next_event()
            if isinstance(event, h11.InformationalResponse):
                informational += 1
                if informational > _MAX_INFORMATIONAL:
                    raise self._error(HttpProtocolError,
                                      "the server sent too many 1xx answers")
                continue
            if isinstance(event, h11.Response):
                break
            if isinstance(event, h11.ConnectionClosed):
                raise self._error(HttpProtocolError,
                                  "the server closed the connection without answering")
            raise self._error(HttpProtocolError,
                              f"unexpected HTTP event {type(event).__name__}")
        raw = event.headers.raw_items()
        # h11 bounds a header block that arrives in pieces; one that arrives in one read is
        # measured here.
        if sum(len(n) + len(v) + 4 for n, v in raw) > self.limits.max_header_bytes:
            raise HttpTooLarge(f"the server's header block is larger than "
                               f"{self.limits.max_header_bytes} bytes", url=self.url,
                               address=self.address)
        if len(raw) > self.limits.max_headers:
            raise self._error(HttpProtocolError, f"the answer has {len(raw)} header lines (at "
                              f"most {self.limits.max_headers} are accepted)")
        headers = HttpHeaders((bytes(n).decode("latin-1"), bytes(v).decode("latin-1"))
                              for n, v in raw)
        status = int(event.status_code)
        reason = bytes(event.reason).decode("latin-1", "replace")[:200]
        chunks: list[bytes] = []
        size = 0
        while True:
            part = await self._next_event()
            if isinstance(part, h11.Data):
                size += len(part.data)
                if size > max_body:
                    raise HttpTooLarge(f"the answer's body is larger than {max_body} bytes",
                                       url=self.url, address=self.address, status=status,
                                       headers=headers)
                chunks.append(bytes(part.data))
            elif isinstance(part, h11.EndOfMessage):
                break
            else:
                raise self._error(HttpProtocolError, "the server closed the connection in "
                                  "the middle of the answer")
        return _Answer(status, reason, headers, b"".join(chunks))

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), _CLOSE_WAIT)


# --- HTTP authentication --------------------------------------------------------------------------


def _offered(headers: HttpHeaders) -> dict[str, str | None]:
    """``{scheme lower: token or None}`` from the WWW-Authenticate headers (first of each)."""
    offered: dict[str, str | None] = {}
    for value in headers.get_list("www-authenticate")[:16]:
        parts = value.strip().split(None, 1)
        if not parts:
            continue
        scheme = parts[0].lower().rstrip(",")
        token = parts[1].strip() if len(parts) == 2 else ""
        offered.setdefault(scheme, token or None)
    return offered


def _challenge(headers: HttpHeaders, scheme: str) -> bytes | None:
    token = _offered(headers).get(scheme.lower())
    if not token:
        return None
    try:
        return base64.b64decode(token, validate=True)
    except ValueError:
        return None


def _b64(token: bytes) -> str:
    return base64.b64encode(token).decode("ascii")


class _AuthAttempt:
    """The state of one authentication handshake (a mechanism and its scheme name)."""

    def __init__(self, scheme: str, mechanism: str, identity: str, context: Any,
                 first_token: bytes, note: str = "") -> None:
        self.scheme = scheme  # the name in the Authorization header
        self.mechanism = mechanism  # "Kerberos", "NTLM", "Basic"
        self.identity = identity
        self.context = context
        self.token: bytes | None = first_token
        self.note = note

    @property
    def complete(self) -> bool:
        if self.context is None:
            return True
        return bool(self.context.complete)

    def describe(self) -> str:
        text = f"{self.mechanism} as {self.identity}" if self.identity else self.mechanism
        return f"{text} ({self.note})" if self.note else text


def _kerberos_error(exc: Exception, password: Secret | None) -> str:
    from sipe_setup.core.auth.kerberos import _describe_gss_error

    return _describe_gss_error(exc, password.reveal() if password else None)


def _kerberos_token(credentials: HttpCredentials, host: str) -> tuple[Any, bytes]:
    """Runs in a worker thread: asking the KDC is blocking I/O."""
    import spnego

    username = None if credentials.sso or credentials.kerberos is None else str(
        credentials.kerberos)
    password = (None if credentials.sso or credentials.password is None
                else credentials.password.reveal())
    # No mutual authentication: the context completes with the AP-REQ, so a 401 to it is a
    # plain rejection (SIPE does not verify an AP-REP on HTTP either).
    context = spnego.client(username, password, hostname=host, service="HTTP",
                            protocol="kerberos", context_req=spnego.ContextReq.integrity)
    token = context.step()
    if not token:
        raise ValueError("the Kerberos mechanism produced no token")
    return context, bytes(token)


def _ntlm_start(credentials: HttpCredentials, host: str) -> tuple[Any, bytes]:
    import spnego

    assert credentials.password is not None
    context = spnego.client(credentials.ntlm_username, credentials.password.reveal(),
                            hostname=host, service="HTTP", protocol="ntlm")
    token = context.step()
    if not token:
        raise ValueError("the NTLM mechanism produced no NEGOTIATE message")
    return context, bytes(token)


_NotStarted = tuple[HttpAuthOutcome, str]


async def _start_auth(offered: dict[str, str | None], credentials: HttpCredentials,
                      host: str) -> _AuthAttempt | _NotStarted:
    """Pick the scheme as SIPE does and produce the first token, or say why not."""
    from sipe_setup.core.auth.kerberos import kerberos_available

    note = ""
    if "negotiate" in offered and not credentials.ntlm_only:
        # SIPE's Negotiate: Kerberos first; if no ticket can be had, raw NTLM under "NTLM".
        wants_kerberos = credentials.sso or (credentials.kerberos is not None
                                             and bool(credentials.password))
        if wants_kerberos and kerberos_available():
            try:
                context, token = await asyncio.to_thread(_kerberos_token, credentials, host)
            except Exception as exc:  # GSSAPI raises many types; all mean "no ticket"
                note = f"Kerberos not possible: {_kerberos_error(exc, credentials.password)}"
            else:
                who = ("the ticket in the credential cache" if credentials.sso
                       else str(credentials.kerberos))
                return _AuthAttempt("Negotiate", "Kerberos", who, context, token)
        elif wants_kerberos:
            note = "Kerberos not possible: the Python Kerberos modules are not installed"
        use_ntlm = True
    else:
        use_ntlm = "ntlm" in offered
    if use_ntlm:
        if credentials.ntlm is None or not credentials.password:
            return (HttpAuthOutcome.NO_CREDENTIALS,
                    "NTLM needs the password, and none was given" + (f" ({note})" if note else ""))
        try:
            context, token = _ntlm_start(credentials, host)
        except Exception as exc:  # spnego texts hold no secret, but keep it short anyway
            return HttpAuthOutcome.FAILED, f"NTLM could not start ({type(exc).__name__})"
        return _AuthAttempt("NTLM", "NTLM", credentials.ntlm_username, context, token, note)
    if "basic" in offered:
        if credentials.ntlm is None or not credentials.password:
            return HttpAuthOutcome.NO_CREDENTIALS, "Basic needs the password, and none was given"
        raw = f"{credentials.ntlm_username}:{credentials.password.reveal()}".encode()
        return _AuthAttempt("Basic", "Basic", credentials.ntlm_username, None, raw)
    schemes = ", ".join(sorted(offered)) or "none"
    return (HttpAuthOutcome.NO_SCHEME,
            f"the server offers no scheme SIPE can use (offered: {schemes})")


class _ConnectionLost(Exception):
    """Internal: the server closed the connection in the middle of an auth handshake."""


# --- the client -----------------------------------------------------------------------------------


class BoundedHttpClient:
    """HTTP/1.1 requests under one policy (see the module invariants). Safe to share between
    concurrent tasks of one event loop: every request has its own connection.

    Args:
        user_agent: default ``User-Agent`` (SIPE sends its SIP User-Agent).
        resolve: the caller's resolver (the discovery resolver); None = the system resolver.
        ca_file: a PEM file of extra trusted CAs, on top of the system store.
        trusted_fingerprints: SHA-256 fingerprints (``AB:CD:…``) the user accepted.
        limits: see :class:`HttpLimits`.
        https_port / http_port: the ports of URLs that name none (tests override them).
    """

    def __init__(self, *, user_agent: str, resolve: HostResolver | None = None,
                 ca_file: str | None = None, trusted_fingerprints: Iterable[str] = (),
                 limits: HttpLimits | None = None, https_port: int = 443,
                 http_port: int = 80) -> None:
        self.user_agent = user_agent
        self.limits = limits or HttpLimits()
        self.https_port = https_port
        self.http_port = http_port
        self._resolve = resolve
        self._ca_file = ca_file
        self._trusted: set[str] = {f.upper() for f in trusted_fingerprints}
        self._verifying: asyncio.Future[ssl.SSLContext] | None = None
        self._verifying_ready: ssl.SSLContext | None = None

    # -- trust --

    def trust_fingerprint(self, sha256: str) -> None:
        """Accept the certificate with this SHA-256 fingerprint from now on (user decision)."""
        self._trusted.add(sha256.upper())

    @property
    def trusted_fingerprints(self) -> frozenset[str]:
        return frozenset(self._trusted)

    def _make_verifying_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        # The name is checked by us against the URL's host (libpurple does the same), so that
        # a chain problem and a name problem are reported separately.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_REQUIRED
        if self._ca_file:
            context.load_verify_locations(cafile=self._ca_file)
        return context

    async def _verifying_context(self) -> ssl.SSLContext:
        # Loading the system CA store takes ~15 ms: once per client, in a worker thread, shared
        # by the requests that need it meanwhile (and usable from another event loop later).
        if self._verifying_ready is not None:
            return self._verifying_ready
        loop = asyncio.get_running_loop()
        if self._verifying is None or self._verifying.get_loop() is not loop:
            self._verifying = asyncio.ensure_future(
                asyncio.to_thread(self._make_verifying_context))
        self._verifying_ready = await asyncio.shield(self._verifying)
        return self._verifying_ready

    # -- requests --

    async def request(self, method: str, url: str, *,
                      headers: Sequence[tuple[str, str]] = (), body: bytes | None = None,
                      credentials: HttpCredentials | None = None,
                      user_agent: str | None = None, timeout: float | None = None,
                      max_body: int | None = None,
                      host_header_port: bool = True) -> HttpResponse:
        """Send one request (plus the authentication legs a 401 calls for) and read the answer.

        Args:
            headers: sent after ``Host``, ``User-Agent`` and ``Authorization``, in this order;
                a ``Content-Type`` among them goes last, after ``Content-Length`` (SIPE's
                order).
            body: the request body; it is sent again on every authentication leg.
            credentials: for a 401; None = never authenticate.
            host_header_port: False sends ``Host`` without the port, as SIPE's web-service
                requests do; True adds it when it is not the scheme's standard port.

        Raises:
            CertificateRejected: the certificate is not acceptable and not user-accepted.
            HttpError: a subclass per cause (see :class:`HttpErrorKind`).
            asyncio.CancelledError: the caller cancelled.
        """
        started = time.monotonic()
        limit = self.limits.timeout if timeout is None else timeout
        parsed = parse_url(url, https_port=self.https_port, http_port=self.http_port)
        try:
            async with asyncio.timeout(limit):
                return await self._request(method.upper(), url, parsed, headers, body,
                                           credentials, user_agent or self.user_agent,
                                           self.limits.max_body if max_body is None
                                           else max_body, host_header_port, started)
        except TimeoutError:
            error: HttpError = HttpTimeout(f"no complete answer from {parsed.host} within "
                                           f"{limit:g} s", url=url)
            error.elapsed = time.monotonic() - started
            raise error from None
        except HttpError as exc:
            exc.url = exc.url or url
            exc.elapsed = time.monotonic() - started
            raise

    def _request_headers(self, parsed: ParsedUrl, user_agent: str,
                         extra: Sequence[tuple[str, str]], body: bytes | None,
                         authorization: str | None,
                         host_header_port: bool) -> list[tuple[str, str]]:
        standard = 443 if parsed.https else 80
        host = parsed.host_for_header
        if host_header_port and parsed.port != standard:
            host = f"{host}:{parsed.port}"
        out = [("Host", host), ("User-Agent", user_agent)]
        if authorization is not None:
            out.append(("Authorization", authorization))
        content_type = [(n, v) for n, v in extra if n.lower() == "content-type"]
        out += [(n, v) for n, v in extra if n.lower() not in ("content-type", "content-length",
                                                              "host", "user-agent",
                                                              "authorization")]
        if body is not None:
            out.append(("Content-Length", str(len(body))))
        out += content_type[:1]
        return out

    async def _addresses(self, parsed: ParsedUrl, url: str) -> tuple[str, ...]:
        if parsed.is_ip:
            return (parsed.host,)
        if self._resolve is not None:
            addresses = await self._resolve(parsed.host)
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    parsed.host, parsed.port, type=socket.SOCK_STREAM)
            except socket.gaierror:
                infos = []
            addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise HttpDnsError(f"{parsed.host} does not resolve", url=url)
        return addresses

    async def _connect(self, parsed: ParsedUrl, url: str,
                       addresses: tuple[str, ...]) -> _Connection:
        last: HttpError | None = None
        for address in addresses[:_MAX_ADDRESSES]:
            try:
                return await self._connect_one(parsed, url, address)
            except HttpConnectError as exc:
                last = exc
        assert last is not None
        raise last

    async def _open(self, parsed: ParsedUrl, url: str, address: str,
                    context: ssl.SSLContext | None
                    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await asyncio.open_connection(
                address, parsed.port, ssl=context,
                server_hostname=(parsed.host if context is not None else None),
                limit=_READ_CHUNK)
        except ssl.SSLCertVerificationError:
            raise
        except ssl.SSLError as exc:
            raise HttpTlsError(f"the TLS handshake with {parsed.host}:{parsed.port} failed "
                               f"({exc.reason or exc})", url=url, address=address) from None
        except ConnectionRefusedError:
            raise HttpConnectError(f"{parsed.host}:{parsed.port} ({address}) refused the "
                                   "connection", kind=HttpErrorKind.REFUSED, url=url,
                                   address=address) from None
        except OSError as exc:
            raise HttpConnectError(f"{parsed.host}:{parsed.port} ({address}) could not be "
                                   f"reached ({exc.strerror or type(exc).__name__})",
                                   kind=HttpErrorKind.UNREACHABLE, url=url,
                                   address=address) from None

    async def _connect_one(self, parsed: ParsedUrl, url: str, address: str) -> _Connection:
        if not parsed.https:
            reader, writer = await self._open(parsed, url, address, None)
            return _Connection(reader, writer, address, None, False, self.limits, url)
        try:
            verifying = await self._verifying_context()
        except (OSError, ssl.SSLError) as exc:
            raise HttpTlsError(f"the CA file could not be loaded ({exc})", url=url,
                               ca_file_problem=True) from None
        try:
            reader, writer = await self._open(parsed, url, address, verifying)
            chain_trusted, problem = True, ""
        except ssl.SSLCertVerificationError as exc:
            chain_trusted, problem = False, str(exc.verify_message or exc.reason or exc)
            # Again without verification, only to show the certificate (and to go on if the
            # user accepted exactly this one). Nothing is sent before the decision below.
            unverified = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            unverified.check_hostname = False
            unverified.verify_mode = ssl.CERT_NONE
            reader, writer = await self._open(parsed, url, address, unverified)
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            await _close(writer)
            raise HttpTlsError(f"{parsed.host}:{parsed.port} sent no certificate", url=url,
                               address=address)
        certificate = describe_certificate(der, parsed.host, chain_trusted=chain_trusted,
                                           trust_problem=problem)
        user_accepted = False
        if not certificate.acceptable:
            if certificate.sha256_fingerprint.upper() not in self._trusted:
                await _close(writer)
                raise CertificateRejected(certificate)
            user_accepted = True
        return _Connection(reader, writer, address, certificate, user_accepted, self.limits,
                           url)

    async def _request(self, method: str, url: str, parsed: ParsedUrl,
                       extra: Sequence[tuple[str, str]], body: bytes | None,
                       credentials: HttpCredentials | None, user_agent: str, max_body: int,
                       host_header_port: bool, started: float) -> HttpResponse:
        addresses = await self._addresses(parsed, url)
        connection = await self._connect(parsed, url, addresses)
        sent = 0

        async def send(authorization: str | None, *, same_connection: bool = False) -> _Answer:
            nonlocal connection, sent
            if sent and not connection.reusable:
                if same_connection:
                    raise _ConnectionLost
                await connection.close()
                connection = await self._connect_one(parsed, url, connection.address)
            headers = self._request_headers(parsed, user_agent, extra, body, authorization,
                                            host_header_port)
            sent += 1
            return await connection.exchange(method, parsed.target, headers, body, max_body)

        def result(answer: _Answer, auth: HttpAuthOutcome, scheme: str = "",
                   detail: str = "") -> HttpResponse:
            return HttpResponse(method=method, url=url, status=answer.status,
                                reason=answer.reason, headers=answer.headers, body=answer.body,
                                elapsed=time.monotonic() - started, address=connection.address,
                                requests_sent=sent, certificate=connection.certificate,
                                certificate_user_accepted=connection.user_accepted,
                                auth=auth, auth_scheme=scheme, auth_detail=detail)

        try:
            answer = await send(None)
            if answer.status != 401:
                return result(answer, HttpAuthOutcome.NOT_NEEDED)
            if credentials is None:
                return result(answer, HttpAuthOutcome.NO_CREDENTIALS,
                              detail="authentication needed; no credentials given")
            if not parsed.https:
                return result(answer, HttpAuthOutcome.PLAIN_HTTP,
                              detail="authentication needed; credentials are never sent over "
                              "unencrypted http://")
            attempt = await _start_auth(_offered(answer.headers), credentials, parsed.host)
            if isinstance(attempt, tuple):
                return result(answer, attempt[0], detail=attempt[1])
            return await self._handshake(attempt, answer, send, result)
        finally:
            await connection.close()

    async def _handshake(self, attempt: _AuthAttempt, answer: _Answer,
                         send: Callable[..., Awaitable[_Answer]],
                         result: Callable[..., HttpResponse]) -> HttpResponse:
        scheme, legs = attempt.scheme, 0
        while attempt.token is not None and legs < self.limits.max_auth_legs:
            authorization = f"{scheme} {_b64(attempt.token)}"
            attempt.token = None
            try:
                # The first leg may use a new connection; the later ones must not: NTLM and
                # Negotiate authenticate the connection (SIPE keeps it alive).
                answer = await send(authorization, same_connection=legs > 0)
            except _ConnectionLost:
                return result(answer, HttpAuthOutcome.FAILED, scheme,
                              f"{attempt.describe()}: the server closed the connection in the "
                              "middle of the handshake (HTTP NTLM/Negotiate needs one kept-alive "
                              "connection)")
            legs += 1
            if answer.status != 401:
                return result(answer, HttpAuthOutcome.ACCEPTED, scheme,
                              f"signed in with {attempt.describe()}")
            if attempt.complete:
                return result(answer, HttpAuthOutcome.REJECTED, scheme,
                              f"{attempt.describe()} was rejected (HTTP 401)")
            challenge = _challenge(answer.headers, scheme)
            if challenge is None:
                # SIPE: "authentication failed, throwing away context".
                return result(answer, HttpAuthOutcome.FAILED, scheme,
                              f"{attempt.describe()}: the server answered 401 without "
                              "continuing the handshake")
            try:
                attempt.token = bytes(attempt.context.step(challenge) or b"") or None
            except Exception as exc:  # a malformed CHALLENGE; spnego texts hold no secret
                return result(answer, HttpAuthOutcome.FAILED, scheme,
                              f"{attempt.describe()}: the server's challenge was not usable "
                              f"({type(exc).__name__})")
        return result(answer, HttpAuthOutcome.FAILED, scheme,
                      f"{attempt.describe()}: the handshake did not finish within "
                      f"{self.limits.max_auth_legs} requests")


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), _CLOSE_WAIT)
