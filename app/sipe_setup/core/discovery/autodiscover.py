"""Lync autodiscover the way SIPE does it (reference §1.2), with untrusted input bounded.

Two halves:
- :func:`parse_autodiscover_document` — sans-I/O: bytes in, :class:`AutodiscoverDocument` out.
  The XML comes from the network, so it is parsed with defusedxml (no DTD, no entities) and
  only after the body was bounded in size.
- :class:`AutodiscoverClient` — walks one chain (start URL → Redirect/User links → User
  document) over the shared :class:`~sipe_setup.core.net.http.BoundedHttpClient`: no redirect
  following (SIPE never follows 3xx), a bounded number of hops with loop detection, one
  size-bounded body per hop, a deadline per request. Host names are resolved by the caller's
  resolver (the discovery resolver, not the system one); the request goes to that IP with
  ``Host`` and TLS SNI/verification set to the name.
- A User link answering 401 with ``X-MS-WebTicketURL`` (tls-dsk.md §5.1) is retried with a web
  ticket from that service (mex, then the RST with AppliesTo = the User URL, over HTTP
  NTLM/Negotiate), sent as ``X-MS-WebTicket: opaque=<base64 Assertion>``. Credentials go only
  to hosts inside the SIP domain (unless ``credentials_outside_domain``), and only over
  verified TLS; any failure ends the hop and discovery goes on, as SIPE does.
"""

from __future__ import annotations

import asyncio
import platform
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException

from sipe_setup.core.account import NtlmIdentity, Secret, network_host_to_ascii
from sipe_setup.core.net.errors import (
    HttpConnectError,
    HttpDnsError,
    HttpError,
    HttpTimeout,
    HttpTlsError,
    HttpTooLarge,
    HttpUrlError,
)
from sipe_setup.core.net.headers import HttpHeaders
from sipe_setup.core.net.http_auth import HttpAuthOutcome, HttpCredentials
from sipe_setup.core.net.url import ParsedUrl, parse_url
from sipe_setup.core.transport import CertificateInfo, CertificateRejected

from .model import AutodiscoverAttempt, AutodiscoverOutcome, AutodiscoverServer
from .plan import AUTODISCOVER_ACCEPT, is_inside_domain

if TYPE_CHECKING:  # the HTTP client (h11) loads when a request is made
    from sipe_setup.core.net.http import BoundedHttpClient, HttpResponse

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
        rejected_names: server names in the document that are no host name (empty or
            over-long labels, control bytes), as found (for the report; never connected to).
    """

    link_kind: str = ""
    link_href: str = ""
    servers: tuple[AutodiscoverServer, ...] = ()
    has_user: bool = False
    access_location: str = ""
    rejected_names: tuple[str, ...] = ()


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
    except (ParseError, ValueError, UnicodeError, LookupError) as exc:
        # LookupError: an XML declaration naming an encoding Python does not know.
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
    rejected: list[str] = []
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
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                continue
            if not fqdn:
                rejected.append("")
                continue
            host = network_host_to_ascii(fqdn) if len(fqdn) <= 253 else None
            if host is None or any(ch in "/:@" for ch in fqdn):
                rejected.append(fqdn[:80])
                continue
            servers.append(AutodiscoverServer(fqdn=host, port=int(port_text),
                                              internal=internal))
    return AutodiscoverDocument(servers=tuple(servers[:_MAX_SERVERS]), has_user=True,
                                access_location=access_location,
                                rejected_names=tuple(rejected[:_MAX_SERVERS]))


# --- the HTTP side ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AutodiscoverSettings:
    """Knobs of the autodiscover HTTP client.

    Attributes:
        user_agent: sent as ``User-Agent`` (SIPE sends the same one as in SIP).
        https_port / http_port: ports used when a URL names none (tests override them).
        ca_file: a PEM file of extra trusted CAs, added to the system trust store.
        request_timeout: seconds for one HTTP request (connect, TLS, headers, body, all
            authentication legs): a deadline, not a per-read timeout.
        max_body: bytes accepted per response body; more is refused (``too-large``).
        max_hops: documents followed per chain (Redirect/User links).
        credentials_outside_domain: allow HTTP NTLM/Negotiate (and a web ticket request) to
            hosts outside the SIP domain (off: the safety rule "no credentials outside the
            SIP domain").
        instance_uuid: the ``+sip.instance`` UUID for a web ticket request (RST ``Context``);
            "" = a random one per client.
    """

    user_agent: str = ""
    https_port: int = 443
    http_port: int = 80
    ca_file: str | None = None
    request_timeout: float = 5.0
    max_body: int = 256 * 1024
    max_hops: int = 8
    credentials_outside_domain: bool = False
    instance_uuid: str = ""


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

    def for_http(self) -> HttpCredentials:
        """HTTP NTLM (and, if nothing else is offered, Basic over TLS); no Kerberos here."""
        return HttpCredentials(ntlm=self.identity, password=self.password)


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
    headers: HttpHeaders
    body: bytes
    too_large: bool
    address: str = ""
    auth: HttpAuthOutcome = HttpAuthOutcome.NOT_NEEDED
    auth_detail: str = ""
    authenticated: bool = False

    @classmethod
    def of(cls, response: HttpResponse) -> _Response:
        return cls(status=response.status, content_type=response.content_type,
                   headers=response.headers, body=response.body, too_large=False,
                   address=response.address, auth=response.auth,
                   auth_detail=response.auth_detail, authenticated=response.authenticated)


class _NoQuestions:
    """Web-ticket trust for autodiscover, which asks nobody: an untrusted certificate is
    refused; a host outside the SIP domain only with ``credentials_outside_domain``."""

    def __init__(self, outside_domain_allowed: bool) -> None:
        self._outside = outside_domain_allowed

    async def approve_certificate(self, host: str, port: int,
                                  certificate: CertificateInfo) -> bool:
        return False

    async def approve_host(self, host: str, port: int, sip_domain: str) -> bool:
        return self._outside


def _signin_of(chain: str) -> str:
    """The sign-in address of a chain: its start URL's raw ``sipuri`` (SIPE's own name)."""
    query = urllib.parse.urlsplit(chain).query
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name == "sipuri":
            return value
    return ""


class AutodiscoverClient:
    """Runs autodiscover chains for one account. One instance per discovery run.

    Args:
        sip_domain: the account's SIP domain (for the credential safety rule).
        settings: see :class:`AutodiscoverSettings`.
        resolve: returns the addresses of a host name through the discovery resolver.
        credentials: for a 401 with NTLM/Negotiate, and for a web ticket; None = never
            authenticate.
    """

    def __init__(self, sip_domain: str, settings: AutodiscoverSettings, resolve: HostResolver,
                 credentials: AutodiscoverCredentials | None = None) -> None:
        self._domain = sip_domain
        self._settings = settings
        self._credentials = credentials
        self._user_agent = settings.user_agent or default_user_agent()
        self._instance_uuid = settings.instance_uuid or str(uuid.uuid4())
        self._resolve = resolve
        self._client: BoundedHttpClient | None = None

    @property
    def _http(self) -> BoundedHttpClient:
        """The HTTP client, made (and its module loaded) at the first request."""
        if self._client is None:
            from sipe_setup.core.net.http import BoundedHttpClient, HttpLimits

            settings = self._settings
            self._client = BoundedHttpClient(
                user_agent=self._user_agent, resolve=self._resolve, ca_file=settings.ca_file,
                limits=HttpLimits(timeout=settings.request_timeout, max_body=settings.max_body),
                https_port=settings.https_port, http_port=settings.http_port)
        return self._client

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

    def _may_send_credentials(self, host: str) -> bool:
        return self._settings.credentials_outside_domain or is_inside_domain(host, self._domain)

    async def _fetch(self, url: str, chain: str) -> AutodiscoverAttempt:
        try:
            parsed = parse_url(url, https_port=self._settings.https_port,
                               http_port=self._settings.http_port)
        except HttpUrlError as exc:
            detail = (str(exc) if "http:// or https://" in str(exc)
                      else f"not a usable URL ({exc})")
            raise _ChainStop(AutodiscoverAttempt(
                url=url, chain=chain, outcome=AutodiscoverOutcome.BAD_DOCUMENT,
                detail=detail.replace("the URL is not", "the link is not"))) from None
        allowed = (self._credentials is not None and bool(self._credentials.password)
                   and self._may_send_credentials(parsed.host))
        credentials = (self._credentials.for_http()
                       if allowed and self._credentials is not None else None)
        response = await self._get(url, chain, [("Accept", AUTODISCOVER_ACCEPT)], credentials)
        prefix = ""
        web_ticket_url = (response.headers.get("x-ms-webticketurl")
                          if response.status == 401 else "")
        if web_ticket_url:
            response, prefix = await self._with_web_ticket(url, chain, parsed,
                                                           web_ticket_url, response)
        return self._judge(response, url, chain, prefix)

    async def _get(self, url: str, chain: str, headers: list[tuple[str, str]],
                   credentials: HttpCredentials | None) -> _Response:
        def stop(outcome: AutodiscoverOutcome, detail: str, address: str = "") -> _ChainStop:
            return _ChainStop(AutodiscoverAttempt(url=url, chain=chain, outcome=outcome,
                                                  address=address, detail=detail))

        try:
            return _Response.of(await self._http.request("GET", url, headers=headers,
                                                         credentials=credentials))
        except CertificateRejected as exc:
            problems = " ".join(exc.certificate.problems()) or str(exc)
            raise stop(AutodiscoverOutcome.TLS_FAILED,
                       f"the server's certificate was not accepted ({problems})") from None
        except HttpTooLarge as exc:
            if not exc.status:
                raise stop(AutodiscoverOutcome.TOO_LARGE, f"{exc}; refused",
                           exc.address) from None
            return _Response(status=exc.status, content_type=exc.headers.get("content-type"),
                             headers=exc.headers, body=b"", too_large=True, address=exc.address)
        except HttpTimeout:
            raise stop(AutodiscoverOutcome.TIMEOUT,
                       f"no complete answer within {self._settings.request_timeout:g} s"
                       ) from None
        except HttpDnsError as exc:
            raise stop(AutodiscoverOutcome.NOT_RESOLVED, str(exc)) from None
        except HttpTlsError as exc:
            outcome = (AutodiscoverOutcome.TLS_FAILED if exc.ca_file_problem
                       else AutodiscoverOutcome.CONNECT_FAILED)
            raise stop(outcome, str(exc), exc.address) from None
        except HttpConnectError as exc:
            raise stop(AutodiscoverOutcome.CONNECT_FAILED,
                       f"could not connect to {exc.address} ({exc})", exc.address) from None
        except HttpError as exc:
            raise stop(AutodiscoverOutcome.CONNECT_FAILED,
                       f"the HTTP exchange failed ({exc})", exc.address) from None

    async def _with_web_ticket(self, url: str, chain: str, parsed: ParsedUrl,
                               web_ticket_url: str, first: _Response) -> tuple[_Response, str]:
        """The §5.1 retry: a web ticket for ``url``, then the same GET with it."""
        from sipe_setup.core.webservices.provisioning import ProvisioningError, obtain_web_ticket
        from sipe_setup.core.webservices.webticket import webticket_header_value

        shown = web_ticket_url[:200]

        def needs(detail: str) -> _ChainStop:
            return _ChainStop(AutodiscoverAttempt(
                url=url, chain=chain, outcome=AutodiscoverOutcome.NEEDS_WEB_TICKET,
                address=first.address, status=401, content_type=first.content_type[:200],
                authenticated=first.authenticated,
                detail=f"the server wants a web ticket from {shown}; {detail}"))

        if self._credentials is None or not self._credentials.password:
            raise needs("getting one needs the password, and none was given")
        if not parsed.https:
            raise needs("not attempted: the ticket is a credential and would travel "
                        "unencrypted over http://")
        if not self._may_send_credentials(parsed.host):
            raise needs(f"not attempted: {parsed.host} is outside the SIP domain "
                        f"{self._domain}, and the ticket is a credential")
        signin = _signin_of(chain)
        if not signin:
            raise needs("not attempted: the chain's URL names no sign-in address")
        try:
            ticket, _, _ = await obtain_web_ticket(
                client=self._http, webticket_url=web_ticket_url, applies_to=url,
                signin=signin, instance_uuid=self._instance_uuid,
                credentials=self._credentials.for_http(), user_agent=self._user_agent,
                trust=_NoQuestions(self._settings.credentials_outside_domain))
            header = webticket_header_value(ticket)
        except ProvisioningError as exc:
            raise needs(f"getting one failed: {exc.detail}") from None
        except ValueError as exc:  # WebServiceFormatError, or a value XML cannot carry
            raise needs(f"getting one failed: {exc}") from None
        response = await self._get(url, chain, [("Accept", AUTODISCOVER_ACCEPT),
                                                ("X-MS-WebTicket", header)], None)
        if response.status == 401:
            raise needs("a ticket was issued, but the server did not accept it (HTTP 401 again)")
        response.authenticated = True
        return response, f"with a web ticket from {shown}: "

    def _judge(self, response: _Response, url: str, chain: str,
               prefix: str = "") -> AutodiscoverAttempt:
        def attempt(outcome: AutodiscoverOutcome, detail: str, **kw: object) -> AutodiscoverAttempt:
            return AutodiscoverAttempt(url=url, chain=chain, outcome=outcome,
                                       address=response.address, status=response.status,
                                       content_type=response.content_type[:200],
                                       authenticated=response.authenticated,
                                       detail=prefix + detail,
                                       **kw)  # type: ignore[arg-type]

        status = response.status
        if status == 401:
            offered = ", ".join(v.split(None, 1)[0] for v in
                                response.headers.get_list("www-authenticate") if v.strip())
            if response.auth is HttpAuthOutcome.REJECTED:
                detail = "the server rejected the account's credentials (HTTP 401)"
            elif response.auth is HttpAuthOutcome.FAILED:
                detail = f"HTTP authentication failed: {response.auth_detail}"
            elif self._credentials is None or not self._credentials.password:
                detail = (f"authentication needed ({offered or 'no scheme offered'}); "
                          "no password given")
            elif response.auth is HttpAuthOutcome.PLAIN_HTTP:
                detail = (f"authentication needed ({offered or 'no scheme offered'}); not "
                          "attempted: credentials are never sent over unencrypted http://")
            else:
                detail = (f"authentication needed ({offered or 'no scheme offered'}); not "
                          "attempted (no NTLM/Negotiate offered, or host outside the SIP domain)")
            return attempt(AutodiscoverOutcome.AUTH_FAILED, detail)
        if status != 200:
            detail = f"HTTP {status}"
            location = response.headers.get("location")
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
        skipped = ("; skipped, not a valid host name: "
                   + ", ".join(repr(name) for name in document.rejected_names)
                   if document.rejected_names else "")
        if document.servers:
            listed = ", ".join(f"{s.fqdn}:{s.port} ({'internal' if s.internal else 'external'})"
                               for s in document.servers)
            return attempt(AutodiscoverOutcome.SERVERS, f"SIP servers: {listed}{skipped}",
                           servers=document.servers)
        what = ("a User document without SipClientInternalAccess/SipClientExternalAccess"
                if document.has_user else "no Redirect or User link and no User element")
        if document.rejected_names:
            what = "the SIP server names are not a valid host name: " + ", ".join(
                repr(name) for name in document.rejected_names)
        return attempt(AutodiscoverOutcome.BAD_DOCUMENT, f"nothing usable: {what}")


def _with_elapsed(attempt: AutodiscoverAttempt, started: float) -> AutodiscoverAttempt:
    return replace(attempt, elapsed_ms=(time.monotonic() - started) * 1000)
