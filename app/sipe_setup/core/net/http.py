"""One bounded HTTP/1.1 client for Lync autodiscover and the Lync web services.

Sans-I/O parsing is h11's; this module owns the sockets, the limits, certificate trust and HTTP
authentication, the way SIPE's ``sipe-http-request.c`` does them (reference ``tls-dsk.md`` §1.3,
§4.4). Its parts live beside it: :mod:`.url` (URL parsing), :mod:`.headers`, :mod:`.errors` (the
:class:`HttpError` family), :mod:`.http_auth` (credentials, scheme choice, first tokens) and
:mod:`.connection` (one h11 connection and the bounds of its answers). Every public name of
those modules is re-exported here.

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
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from sipe_setup.core.transport import CertificateInfo, CertificateRejected, describe_certificate

from .connection import READ_CHUNK, Answer, Connection, close_writer
from .errors import (
    HttpConnectError,
    HttpDnsError,
    HttpError,
    HttpErrorKind,
    HttpProtocolError,
    HttpTimeout,
    HttpTlsError,
    HttpTooLarge,
    HttpUrlError,
)
from .headers import HttpHeaders
from .http_auth import (
    AuthAttempt,
    HttpAuthOutcome,
    HttpCredentials,
    b64_token,
    challenge_token,
    offered_schemes,
    start_auth,
)
from .url import ParsedUrl, parse_url

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

_MAX_ADDRESSES: Final = 4


# --- results --------------------------------------------------------------------------------------


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

    def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    address: str, certificate: CertificateInfo | None, user_accepted: bool,
                    url: str) -> Connection:
        return Connection(reader, writer, address, certificate, user_accepted, url,
                          max_header_bytes=self.limits.max_header_bytes,
                          max_headers=self.limits.max_headers)

    async def _connect(self, parsed: ParsedUrl, url: str,
                       addresses: tuple[str, ...]) -> Connection:
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
                limit=READ_CHUNK)
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

    async def _connect_one(self, parsed: ParsedUrl, url: str, address: str) -> Connection:
        if not parsed.https:
            reader, writer = await self._open(parsed, url, address, None)
            return self._connection(reader, writer, address, None, False, url)
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
            await close_writer(writer)
            raise HttpTlsError(f"{parsed.host}:{parsed.port} sent no certificate", url=url,
                               address=address)
        certificate = describe_certificate(der, parsed.host, chain_trusted=chain_trusted,
                                           trust_problem=problem)
        user_accepted = False
        if not certificate.acceptable:
            if certificate.sha256_fingerprint.upper() not in self._trusted:
                await close_writer(writer)
                raise CertificateRejected(certificate)
            user_accepted = True
        return self._connection(reader, writer, address, certificate, user_accepted, url)

    async def _request(self, method: str, url: str, parsed: ParsedUrl,
                       extra: Sequence[tuple[str, str]], body: bytes | None,
                       credentials: HttpCredentials | None, user_agent: str, max_body: int,
                       host_header_port: bool, started: float) -> HttpResponse:
        addresses = await self._addresses(parsed, url)
        connection = await self._connect(parsed, url, addresses)
        sent = 0

        async def send(authorization: str | None, *, same_connection: bool = False) -> Answer:
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

        def result(answer: Answer, auth: HttpAuthOutcome, scheme: str = "",
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
            attempt = await start_auth(offered_schemes(answer.headers), credentials, parsed.host)
            if isinstance(attempt, tuple):
                return result(answer, attempt[0], detail=attempt[1])
            return await self._handshake(attempt, answer, send, result)
        finally:
            await connection.close()

    async def _handshake(self, attempt: AuthAttempt, answer: Answer,
                         send: Callable[..., Awaitable[Answer]],
                         result: Callable[..., HttpResponse]) -> HttpResponse:
        scheme, legs = attempt.scheme, 0
        while attempt.token is not None and legs < self.limits.max_auth_legs:
            authorization = f"{scheme} {b64_token(attempt.token)}"
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
            challenge = challenge_token(answer.headers, scheme)
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

