"""Lync autodiscover the way SIPE does it (reference §1.2), with untrusted input bounded.

Two halves:
- :func:`parse_autodiscover_document` — sans-I/O: bytes in, :class:`AutodiscoverDocument` out.
  The XML comes from the network, so it is parsed with defusedxml (no DTD, no entities) and
  only after the body was bounded in size.
- :class:`AutodiscoverClient` — walks one chain (start URL → Redirect/User links → User
  document) with httpx: no redirect following (SIPE never follows 3xx), a bounded number of
  hops with loop detection, one size-bounded body per hop, a timeout per request. Host names
  are resolved by the caller's resolver (the discovery resolver, not the system one); the
  request goes to that IP with ``Host`` and TLS SNI/verification set to the name.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import platform
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Final
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeElementTree
import httpx
import spnego
import spnego.exceptions
from defusedxml import DefusedXmlException

from sipe_setup.core.account import NtlmIdentity, Secret

from .model import AutodiscoverAttempt, AutodiscoverOutcome, AutodiscoverServer
from .plan import AUTODISCOVER_ACCEPT, is_inside_domain

__all__ = [
    "AutodiscoverClient",
    "AutodiscoverCredentials",
    "AutodiscoverDocument",
    "AutodiscoverParseError",
    "AutodiscoverSettings",
    "default_user_agent",
    "parse_autodiscover_document",
]

_CONTENT_TYPE_PREFIX: Final = "application/vnd.microsoft.rtc.autodiscover+xml"
_MAX_SERVERS: Final = 16
_MAX_AUTH_ROUNDS: Final = 3


def default_user_agent() -> str:
    """SIPE's built-in User-Agent form (reference §3.2), e.g. ``Purple/2.14.12 Sipe/1.25.0
    (linux-x86_64)``."""
    system = platform.system().lower() or "unknown"
    machine = platform.machine().lower() or "unknown"
    return f"Purple/2.14.12 Sipe/1.25.0 ({system}-{machine})"


# --- the document (sans-I/O) --------------------------------------------------------------------


class AutodiscoverParseError(ValueError):
    """The body is not an autodiscover document we can use (the peer's fault)."""


@dataclass(frozen=True, slots=True)
class AutodiscoverDocument:
    """What SIPE takes from one autodiscover document, in SIPE's order of precedence.

    Attributes:
        link_kind: ``"Redirect"`` or ``"User"`` when the document sends us on (Root/Link
            first, then User/Link Redirect); empty when it does not.
        link_href: the URL of that link.
        servers: internal then external SIP servers (after the ``AccessLocation`` filter),
            only when there is no link to follow.
        has_user: the document has a ``User`` element.
        access_location: the root ``AccessLocation`` attribute ("" when absent).
    """

    link_kind: str = ""
    link_href: str = ""
    servers: tuple[AutodiscoverServer, ...] = ()
    has_user: bool = False
    access_location: str = ""


def _local(tag: object) -> str:
    text = tag if isinstance(tag, str) else ""
    return text.rsplit("}", 1)[-1]


def _children(element: Element, name: str) -> list[Element]:
    return [child for child in element if _local(child.tag).lower() == name.lower()]


def _link(parent: Element | None, tokens: tuple[str, ...]) -> tuple[str, str] | None:
    if parent is None:
        return None
    for link in _children(parent, "Link"):
        token = (link.get("token") or "").strip()
        href = (link.get("href") or "").strip()
        for wanted in tokens:
            if token.lower() == wanted.lower() and href:
                return wanted, href
    return None


def parse_autodiscover_document(body: bytes) -> AutodiscoverDocument:
    """Parse an ``AutodiscoverResponse`` as SIPE's ``sipe_lync_autodiscover_parse`` does.

    Raises:
        AutodiscoverParseError: malformed XML, a DTD or entity (billion laughs & co.), or a
            root element that is not ``AutodiscoverResponse``.
    """
    try:
        root = SafeElementTree.fromstring(body, forbid_dtd=True, forbid_entities=True,
                                          forbid_external=True)
    except DefusedXmlException as exc:
        raise AutodiscoverParseError(f"the document uses a forbidden XML feature "
                                     f"({type(exc).__name__}); refused") from None
    except (ParseError, ValueError, UnicodeError) as exc:
        raise AutodiscoverParseError(f"the body is not well-formed XML ({exc})") from None
    if _local(root.tag) != "AutodiscoverResponse":
        raise AutodiscoverParseError(f"the root element is <{_local(root.tag)}>, not "
                                     "<AutodiscoverResponse>")
    access_location = (root.get("AccessLocation") or "").strip()
    root_el = next(iter(_children(root, "Root")), None)
    user_el = next(iter(_children(root, "User")), None)

    link = _link(root_el, ("Redirect", "User"))
    if link is None:
        user_redirect = _link(user_el, ("Redirect",))
        link = user_redirect
    if link is not None:
        return AutodiscoverDocument(link_kind=link[0], link_href=link[1],
                                    has_user=user_el is not None,
                                    access_location=access_location)
    if user_el is None:
        return AutodiscoverDocument(access_location=access_location)

    servers: list[AutodiscoverServer] = []
    for element_name, internal in (("SipClientInternalAccess", True),
                                   ("SipClientExternalAccess", False)):
        if access_location.lower() == "internal" and not internal:
            continue
        if access_location.lower() == "external" and internal:
            continue
        for element in _children(user_el, element_name):
            fqdn = (element.get("fqdn") or "").strip().rstrip(".").lower()
            port_text = (element.get("port") or "").strip()
            # SIPE requires both attributes and a non-zero port.
            if not fqdn or not port_text.isdigit() or not 0 < int(port_text) < 65536:
                continue
            if len(fqdn) > 253 or any(ch.isspace() or ch in "/:@" for ch in fqdn):
                continue
            servers.append(AutodiscoverServer(fqdn=fqdn, port=int(port_text),
                                              internal=internal))
    return AutodiscoverDocument(servers=tuple(servers[:_MAX_SERVERS]), has_user=True,
                                access_location=access_location)


# --- the HTTP side ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AutodiscoverSettings:
    """Knobs of the autodiscover HTTP client.

    Attributes:
        user_agent: sent as ``User-Agent`` (SIPE sends the same one as in SIP).
        https_port / http_port: ports used when a URL names none (tests override them).
        ca_file: a PEM file of extra trusted CAs, added to the system trust store.
        request_timeout: seconds for one HTTP request (connect, TLS, headers, body).
        max_body: bytes accepted per response body; more is refused (``too-large``).
        max_hops: documents followed per chain (Redirect/User links).
        credentials_outside_domain: allow HTTP NTLM/Negotiate to hosts outside the SIP
            domain (off: the safety rule "no credentials outside the SIP domain").
    """

    user_agent: str = ""
    https_port: int = 443
    http_port: int = 80
    ca_file: str | None = None
    request_timeout: float = 5.0
    max_body: int = 256 * 1024
    max_hops: int = 8
    credentials_outside_domain: bool = False


@dataclass(frozen=True, slots=True)
class AutodiscoverCredentials:
    """The account's Login as NTLM user/domain plus the password (never printed)."""

    identity: NtlmIdentity
    password: Secret

    @property
    def username(self) -> str:
        if self.identity.domain:
            return f"{self.identity.domain}\\{self.identity.user}"
        return self.identity.user


HostResolver = Callable[[str], Awaitable[tuple[str, ...]]]
AttemptSink = Callable[[AutodiscoverAttempt], None]


class _ChainStop(Exception):
    """Internal: the current hop ended; carries the attempt to record."""

    def __init__(self, attempt: AutodiscoverAttempt) -> None:
        super().__init__(attempt.outcome.value)
        self.attempt = attempt


@dataclass(slots=True)
class _Response:
    status: int
    content_type: str
    headers: httpx.Headers
    body: bytes
    too_large: bool


def _offered_scheme(headers: httpx.Headers) -> str | None:
    offered = {value.split(None, 1)[0].lower()
               for value in headers.get_list("www-authenticate") if value.strip()}
    if "ntlm" in offered:
        return "NTLM"
    if "negotiate" in offered:
        return "Negotiate"
    return None


def _challenge_token(headers: httpx.Headers, scheme: str) -> bytes | None:
    for value in headers.get_list("www-authenticate"):
        parts = value.strip().split(None, 1)
        if len(parts) == 2 and parts[0].lower() == scheme.lower():
            try:
                return base64.b64decode(parts[1].strip(), validate=True)
            except ValueError:
                return None
    return None


class AutodiscoverClient:
    """Runs autodiscover chains for one account. One instance per discovery run.

    Args:
        sip_domain: the account's SIP domain (for the credential safety rule).
        settings: see :class:`AutodiscoverSettings`.
        resolve: returns the addresses of a host name through the discovery resolver.
        credentials: for a 401 with NTLM/Negotiate; None = never authenticate.
    """

    def __init__(self, sip_domain: str, settings: AutodiscoverSettings, resolve: HostResolver,
                 credentials: AutodiscoverCredentials | None = None) -> None:
        self._domain = sip_domain
        self._settings = settings
        self._resolve = resolve
        self._credentials = credentials
        self._ssl: asyncio.Future[ssl.SSLContext] | None = None
        self._user_agent = settings.user_agent or default_user_agent()

    def _make_ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self._settings.ca_file:
            context.load_verify_locations(cafile=self._settings.ca_file)
        return context

    async def _ssl_context(self) -> ssl.SSLContext:
        # Loading the system CA store takes ~15 ms: do it only when a request is due, once,
        # and in a worker thread so DNS answers keep flowing meanwhile.
        if self._ssl is None:
            self._ssl = asyncio.ensure_future(asyncio.to_thread(self._make_ssl_context))
        return await asyncio.shield(self._ssl)

    async def run_chain(self, start_url: str, sink: AttemptSink) -> tuple[AutodiscoverServer, ...]:
        """Follow one chain from ``start_url``; every hop is passed to ``sink``.

        Returns the SIP servers of the User document reached, or () if none.
        Never raises, except :class:`asyncio.CancelledError`.
        """
        url = start_url
        visited: set[str] = set()
        for _ in range(self._settings.max_hops):
            key = url.lower()
            if key in visited:
                sink(AutodiscoverAttempt(url=url, chain=start_url,
                                         outcome=AutodiscoverOutcome.REDIRECT_LOOP,
                                         detail="this URL was already fetched in this chain; "
                                         "the server's links form a loop"))
                return ()
            visited.add(key)
            started = time.monotonic()
            try:
                attempt = await self._fetch(url, start_url)
            except _ChainStop as stop:
                attempt = stop.attempt
            except asyncio.CancelledError:
                sink(_with_elapsed(AutodiscoverAttempt(
                    url=url, chain=start_url, outcome=AutodiscoverOutcome.NOT_WAITED,
                    detail="abandoned before it finished"), started))
                raise
            except Exception as exc:  # any bug-like surprise from the peer's data: report it
                attempt = AutodiscoverAttempt(url=url, chain=start_url,
                                              outcome=AutodiscoverOutcome.BAD_DOCUMENT,
                                              detail=f"unexpected {type(exc).__name__}: {exc}")
            attempt = _with_elapsed(attempt, started)
            sink(attempt)
            if attempt.outcome in (AutodiscoverOutcome.REDIRECT, AutodiscoverOutcome.USER_LINK):
                url = attempt.next_url
                continue
            return attempt.servers
        sink(AutodiscoverAttempt(url=url, chain=start_url,
                                 outcome=AutodiscoverOutcome.TOO_MANY_REDIRECTS,
                                 detail=f"gave up after {self._settings.max_hops} documents"))
        return ()

    async def _fetch(self, url: str, chain: str) -> AutodiscoverAttempt:
        def stop(outcome: AutodiscoverOutcome, detail: str, **kw: object) -> _ChainStop:
            return _ChainStop(AutodiscoverAttempt(url=url, chain=chain, outcome=outcome,
                                                  detail=detail, **kw))  # type: ignore[arg-type]

        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise stop(AutodiscoverOutcome.BAD_DOCUMENT, f"not a usable URL ({exc})") from None
        scheme = parsed.scheme.lower()
        host = (parsed.host or "").lower().rstrip(".")
        if scheme not in ("http", "https") or not host:
            raise stop(AutodiscoverOutcome.BAD_DOCUMENT,
                       "the link is not an http:// or https:// URL with a host")
        default_port = self._settings.https_port if scheme == "https" else self._settings.http_port
        port = parsed.port or default_port

        try:
            addresses: tuple[str, ...] = (str(ipaddress.ip_address(host)),)
        except ValueError:
            addresses = await self._resolve(host)
        if not addresses:
            raise stop(AutodiscoverOutcome.NOT_RESOLVED, f"{host} does not resolve")
        address = addresses[0]
        ip_for_url = f"[{address}]" if ":" in address else address
        target = parsed.raw_path.decode("ascii", "replace") or "/"
        request_url = f"{scheme}://{ip_for_url}:{port}{target}"
        standard_port = 443 if scheme == "https" else 80
        headers = {
            "Host": host if port == standard_port else f"{host}:{port}",
            "User-Agent": self._user_agent,
            "Accept": AUTODISCOVER_ACCEPT,
        }
        extensions = {"sni_hostname": host} if scheme == "https" else {}
        timeout = httpx.Timeout(self._settings.request_timeout)
        # One client (= one connection) per URL: HTTP NTLM authenticates the connection,
        # and a pooled connection must never be reused for another SNI name.
        try:
            ssl_context = await self._ssl_context()
        except (OSError, ssl.SSLError) as exc:
            raise stop(AutodiscoverOutcome.TLS_FAILED,
                       f"the CA file could not be loaded ({exc})") from None
        async with httpx.AsyncClient(verify=ssl_context, timeout=timeout, follow_redirects=False,
                                     trust_env=False,
                                     limits=httpx.Limits(max_connections=1)) as client:

            async def get(extra: dict[str, str] | None = None) -> _Response:
                return await self._get(client, request_url, {**headers, **(extra or {})},
                                       extensions, url, chain, address)

            response = await get()
            authenticated = False
            if response.status == 401:
                response, authenticated = await self._authenticate(response, get, host, url,
                                                                    chain, address)
        return self._judge(response, url, chain, address, authenticated)

    async def _get(self, client: httpx.AsyncClient, request_url: str, headers: dict[str, str],
                   extensions: dict[str, str], url: str, chain: str,
                   address: str) -> _Response:
        def stop(outcome: AutodiscoverOutcome, detail: str) -> _ChainStop:
            return _ChainStop(AutodiscoverAttempt(url=url, chain=chain, outcome=outcome,
                                                  address=address, detail=detail))

        limit = self._settings.max_body
        try:
            async with client.stream("GET", request_url, headers=headers,
                                     extensions=extensions) as response:
                chunks: list[bytes] = []
                size = 0
                too_large = False
                async for chunk in response.aiter_raw():
                    size += len(chunk)
                    if size > limit:
                        too_large = True
                        break
                    chunks.append(chunk)
                return _Response(status=response.status_code,
                                 content_type=response.headers.get("content-type", ""),
                                 headers=response.headers, body=b"".join(chunks),
                                 too_large=too_large)
        except httpx.TimeoutException:
            raise stop(AutodiscoverOutcome.TIMEOUT,
                       f"no complete answer within {self._settings.request_timeout:g} s") from None
        except httpx.HTTPError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY" in str(exc):
                reason = getattr(cause, "verify_message", "") or str(exc)
                raise stop(AutodiscoverOutcome.TLS_FAILED,
                           f"the server's certificate was not accepted ({reason})") from None
            if isinstance(exc, httpx.ConnectError):
                raise stop(AutodiscoverOutcome.CONNECT_FAILED,
                           f"could not connect to {address} ({exc or type(exc).__name__})"
                           ) from None
            raise stop(AutodiscoverOutcome.CONNECT_FAILED,
                       f"the HTTP exchange failed ({type(exc).__name__}: {exc})") from None

    async def _authenticate(
        self, first: _Response, get: Callable[[dict[str, str] | None], Awaitable[_Response]],
        host: str, url: str, chain: str, address: str,
    ) -> tuple[_Response, bool]:
        """Retry a 401 with HTTP NTLM/Negotiate on the same connection, if allowed."""
        scheme = _offered_scheme(first.headers)
        if scheme is None or self._credentials is None or not self._credentials.password:
            return first, False
        if not (self._settings.credentials_outside_domain
                or is_inside_domain(host, self._domain)):
            return first, False
        credentials = self._credentials
        try:
            context = spnego.client(credentials.username, credentials.password.reveal(),
                                    hostname=host, service="HTTP",
                                    protocol="ntlm" if scheme == "NTLM" else "negotiate")
            token = context.step()
        except spnego.exceptions.SpnegoError as exc:
            raise _ChainStop(AutodiscoverAttempt(
                url=url, chain=chain, outcome=AutodiscoverOutcome.AUTH_FAILED,
                address=address, status=401,
                detail=f"could not start HTTP {scheme} ({type(exc).__name__})")) from None
        response = first
        for _ in range(_MAX_AUTH_ROUNDS):
            if token is None:
                break
            response = await get({"Authorization": f"{scheme} "
                                  f"{base64.b64encode(token).decode('ascii')}"})
            if response.status != 401 or context.complete:
                break
            challenge = _challenge_token(response.headers, scheme)
            if challenge is None:
                break
            try:
                token = context.step(challenge)
            except spnego.exceptions.SpnegoError as exc:
                raise _ChainStop(AutodiscoverAttempt(
                    url=url, chain=chain, outcome=AutodiscoverOutcome.AUTH_FAILED,
                    address=address, status=401, authenticated=True,
                    detail=f"the server's {scheme} challenge was not usable "
                    f"({type(exc).__name__})")) from None
        return response, True

    def _judge(self, response: _Response, url: str, chain: str, address: str,
               authenticated: bool) -> AutodiscoverAttempt:
        def attempt(outcome: AutodiscoverOutcome, detail: str, **kw: object) -> AutodiscoverAttempt:
            return AutodiscoverAttempt(url=url, chain=chain, outcome=outcome, address=address,
                                       status=response.status,
                                       content_type=response.content_type[:200],
                                       authenticated=authenticated, detail=detail,
                                       **kw)  # type: ignore[arg-type]

        status = response.status
        if status == 401:
            web_ticket = response.headers.get("x-ms-webticketurl", "")
            if web_ticket:
                return attempt(AutodiscoverOutcome.NEEDS_WEB_TICKET,
                               "the server wants a web ticket (X-MS-WebTicketURL "
                               f"{web_ticket[:200]}); needs web ticket (not supported yet; "
                               "comes with TLS-DSK)")
            offered = ", ".join(v.split(None, 1)[0] for v in
                                response.headers.get_list("www-authenticate") if v.strip())
            if authenticated:
                detail = "the server rejected the account's credentials (HTTP 401)"
            elif self._credentials is None or not self._credentials.password:
                detail = (f"authentication needed ({offered or 'no scheme offered'}); "
                          "no password given")
            else:
                detail = (f"authentication needed ({offered or 'no scheme offered'}); not "
                          "attempted (no NTLM/Negotiate offered, or host outside the SIP domain)")
            return attempt(AutodiscoverOutcome.AUTH_FAILED, detail)
        if status != 200:
            detail = f"HTTP {status}"
            location = response.headers.get("location", "")
            if 300 <= status < 400:
                detail += (f" to {location[:200] or '(no Location)'}; not followed "
                           "(SIPE never follows HTTP redirects for autodiscover)")
            return attempt(AutodiscoverOutcome.HTTP_STATUS, detail)
        if not response.content_type.strip().lower().startswith(_CONTENT_TYPE_PREFIX):
            return attempt(AutodiscoverOutcome.WRONG_CONTENT_TYPE,
                           f"Content-Type “{response.content_type[:100]}” is not "
                           f"{_CONTENT_TYPE_PREFIX}; skipped as SIPE does")
        if response.too_large:
            return attempt(AutodiscoverOutcome.TOO_LARGE,
                           f"the body is larger than {self._settings.max_body} bytes; refused")
        try:
            document = parse_autodiscover_document(response.body)
        except AutodiscoverParseError as exc:
            return attempt(AutodiscoverOutcome.BAD_DOCUMENT, str(exc))
        if document.link_kind:
            is_user_link = document.link_kind == "User"
            outcome = (AutodiscoverOutcome.USER_LINK if is_user_link
                       else AutodiscoverOutcome.REDIRECT)
            return attempt(outcome, f"{document.link_kind} link → {document.link_href[:300]}",
                           next_url=document.link_href[:2000])
        if document.servers:
            listed = ", ".join(f"{s.fqdn}:{s.port} ({'internal' if s.internal else 'external'})"
                               for s in document.servers)
            return attempt(AutodiscoverOutcome.SERVERS, f"SIP servers: {listed}",
                           servers=document.servers)
        what = ("a User document without SipClientInternalAccess/SipClientExternalAccess"
                if document.has_user else "no Redirect or User link and no User element")
        return attempt(AutodiscoverOutcome.BAD_DOCUMENT, f"nothing usable: {what}")


def _with_elapsed(attempt: AutodiscoverAttempt, started: float) -> AutodiscoverAttempt:
    return replace(attempt, elapsed_ms=(time.monotonic() - started) * 1000)
