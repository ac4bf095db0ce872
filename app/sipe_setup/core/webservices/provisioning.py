"""The TLS-DSK sign-in certificate, fetched the way SIPE 1.25.0 does it (tls-dsk.md §1.3-1.4).

Four HTTP requests over :class:`~sipe_setup.core.net.http.BoundedHttpClient`, each reported
live through ``on_request`` (the "Get a sign-in certificate" step shows them):

1. ``GET <sts-uri>/mex`` → web ticket URL, auth URI, whether the ticket must be signed.
2. ``GET <web ticket URL>/mex`` → the WinNegotiate port.
3. ``POST`` the RST to WinNegotiate with HTTP Negotiate/NTLM on one kept-alive connection →
   the web ticket.
4. ``POST`` GetAndPublishCert (the CSR of a fresh RSA-2048 key, no HTTP auth; the ticket rides
   in ``wsse:Security``) to the auth URI → the certificate.

:func:`obtain_web_ticket` (steps 2-3) is shared with Lync autodiscover's User link (§5.1).

Invariants:
- Credentials (the password in step 3, the ticket in step 4) never go to a host outside the
  SIP domain — or to an IP address — without ``trust.approve_host`` saying yes; asked once per
  host per run.
- A web-services certificate that is not acceptable is used only after
  ``trust.approve_certificate`` said yes; it is then returned so the export can hand it to
  Pidgin (``tls_peers``).
- Every failure is one :class:`ProvisioningError` with a :class:`ProvisioningFailure`, plain
  words, and the sentence Pidgin would show (``sipe_message``).
- The private key, the password, the ticket and the entropies are never in a repr, an
  exception, an event or an outcome line.
"""

from __future__ import annotations

import asyncio
import enum
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Protocol

from cryptography.hazmat.primitives.asymmetric import rsa

from sipe_setup.core.discovery.plan import is_inside_domain
from sipe_setup.core.net.errors import HttpError, HttpErrorKind, HttpUrlError
from sipe_setup.core.net.http import BoundedHttpClient, HttpExchange, HttpResponse
from sipe_setup.core.net.http_auth import HttpAuthOutcome, HttpCredentials
from sipe_setup.core.net.url import ParsedUrl, parse_url
from sipe_setup.core.transport import CertificateInfo, CertificateRejected

from .certprov import (
    GET_AND_PUBLISH_CERT_SOAP_ACTION,
    build_csr,
    build_get_and_publish_cert,
    certificate_validity,
    new_client_key,
    new_request_id,
    parse_get_and_publish_cert_response,
)
from .errors import WebServiceFormatError
from .mex import mex_url, parse_certprov_mex, parse_webticket_mex
from .soap import parse_soap_fault, soap_fault_text
from .webticket import (
    RST_SOAP_ACTION,
    WebTicket,
    build_rst,
    parse_rstr,
    timestamp_is_canonical,
    wsse_security,
)

__all__ = [
    "AcceptedHostCertificate",
    "ExchangeSink",
    "ProvisionedCertificate",
    "ProvisioningError",
    "ProvisioningFailure",
    "WebServicesTrust",
    "obtain_web_ticket",
    "provision_certificate",
]

_ENTROPY_BYTES: Final = 32  # SIPE's client entropy (sipe-webticket.c)
_TEXT_XML: Final = ("Content-Type", "text/xml")


class ProvisioningFailure(enum.StrEnum):
    """Why no sign-in certificate could be had (stable words for reports and advice)."""

    URL_INVALID = "url-invalid"  # the sts-uri (or a URL from a mex) cannot be requested
    CERTIFICATE_REFUSED = "certificate-refused"  # the user declined a web-services certificate
    HOST_REFUSED = "host-refused"  # credentials to a host outside the SIP domain: not approved
    UNREACHABLE = "unreachable"  # DNS, connect, TLS handshake or the deadline
    PROTOCOL = "protocol"  # the answer was not valid HTTP, or over its size bound
    MEX_FAILED = "mex-failed"  # a metadata (mex) request answered with an error status
    MEX_INVALID = "mex-invalid"  # a mex document SIPE cannot use
    WEBTICKET_UNSUPPORTED = "webticket-unsupported"  # only WsFedBearer (Office 365 / ADFS)
    WEBTICKET_AUTH_FAILED = "webticket-auth-failed"  # HTTP auth could not be done at all
    WEBTICKET_REJECTED = "webticket-rejected"  # 401 after authenticating: wrong password
    WEBTICKET_FAULT = "webticket-fault"  # a SOAP fault instead of a ticket
    WEBTICKET_FAILED = "webticket-failed"  # another error status, without a fault
    WEBTICKET_INVALID = "webticket-invalid"  # 200 without Lifetime/Assertion/BinarySecret
    CERTPROV_FAILED = "certprov-failed"  # GetAndPublishCert not 200, or a fault
    CERTIFICATE_INVALID = "certificate-invalid"  # no certificate, or not one SIPE can use
    CERTIFICATE_SHORT_LIVED = "certificate-short-lived"  # < 1 h: SIPE re-provisions forever


class _Stage(enum.Enum):
    WEB_TICKET = "web ticket"  # steps 1-3: SIPE says "Web ticket request to <sts-uri> failed"
    CERTIFICATE = "certificate"  # step 4: "Certificate request to <auth URI> failed"
    AUTODISCOVER = "autodiscover"  # SIPE shows nothing and tries the next method


class ProvisioningError(Exception):
    """The certificate (or a web ticket) could not be had; ``str()`` is ``detail``.

    Attributes:
        failure: the cause, see :class:`ProvisioningFailure`.
        detail: plain words: which request, what was wrong.
        url: the request that failed ("" when none was made).
        http_status: its HTTP status, 0 when there was no answer.
        server_text: what the server said: ``X-Ms-diagnostics`` or a SOAP fault text.
        sipe_message: the error text Pidgin + SIPE 1.25.0 show for the same situation, "" when
            SIPE would show none (it would go ahead, or loop forever).
        certificate: the certificate the user declined (CERTIFICATE_REFUSED).
    """

    def __init__(self, failure: ProvisioningFailure, detail: str, *, url: str = "",
                 http_status: int = 0, server_text: str = "", sipe_message: str = "",
                 certificate: CertificateInfo | None = None) -> None:
        super().__init__(detail)
        self.failure = failure
        self.detail = detail
        self.url = url
        self.http_status = http_status
        self.server_text = server_text
        self.sipe_message = sipe_message
        self.certificate = certificate


class WebServicesTrust(Protocol):
    """The user's answers to the two trust questions (the GUI asks, the CLI uses flags)."""

    async def approve_certificate(self, host: str, port: int,
                                  certificate: CertificateInfo) -> bool:
        """May this certificate, which this computer does not trust, be used for host:port?"""
        ...

    async def approve_host(self, host: str, port: int, sip_domain: str) -> bool:
        """May credentials go to host:port, which is not inside ``sip_domain``?"""
        ...


ExchangeSink = Callable[[HttpExchange], None]


@dataclass(frozen=True, slots=True)
class AcceptedHostCertificate:
    """A web-services certificate used only because the user accepted it (as
    ``steps.AcceptedCertificate``: Pidgin needs it in ``tls_peers/<host>``)."""

    host: str
    sha256: str
    pem: str


@dataclass(frozen=True, slots=True)
class ProvisionedCertificate:
    """The sign-in certificate and how it was obtained.

    Attributes:
        certificate_der: the certificate exactly as SIPE would put it in its TLS Certificate.
        private_key: the RSA-2048 key of the CSR (never shown by repr).
        not_after: end of validity (UTC); ``seconds_left`` from the time of the check.
        http_request_count: HTTP requests on the wire, authentication legs included
            (SIPE needs 6 with NTLM: 2 mex, 3 RST legs, 1 GetAndPublishCert).
        hosts: the web-services hosts contacted, in order.
        accepted_certificates: certificates used only because the user accepted them.
        timestamp_canonical: SIPE's raw Timestamp equals its exc-c14n form (else a WCF server
            rejects SIPE's signature; matters only when ``signing_required``).
        signing_required: the certificate provisioning policy asks for a signed ticket.
        webticket_url / auth_uri: from the certificate provisioning mex.
        exchanges: every HTTP request as reported to ``on_request``.
    """

    certificate_der: bytes = field(repr=False)
    private_key: rsa.RSAPrivateKey = field(repr=False)
    not_after: datetime
    seconds_left: int
    http_request_count: int
    hosts: tuple[str, ...]
    accepted_certificates: tuple[AcceptedHostCertificate, ...]
    timestamp_canonical: bool
    signing_required: bool
    webticket_url: str
    auth_uri: str
    exchanges: tuple[HttpExchange, ...] = field(default=(), repr=False)


# --- one run's HTTP bookkeeping -----------------------------------------------------------------


def _outcome_line(response: HttpResponse) -> str:
    status = f"{response.status} {response.reason}".strip()
    parts = [status]
    if response.auth_detail and response.auth is not HttpAuthOutcome.NOT_NEEDED:
        parts.append(response.auth_detail)
    if response.certificate_user_accepted:
        parts.append("certificate accepted by you")
    if response.diagnostics:
        parts.append(f"server says: {response.diagnostics[:200]}")
    if response.requests_sent > 1:
        parts.append(f"{response.requests_sent} requests")
    return "; ".join(parts)


class _Run:
    """The HTTP side of one provisioning (or autodiscover web ticket) run."""

    def __init__(self, client: BoundedHttpClient, trust: WebServicesTrust, sip_domain: str,
                 user_agent: str, on_request: ExchangeSink | None,
                 messages: dict[_Stage, str]) -> None:
        self.client = client
        self.trust = trust
        self.sip_domain = sip_domain
        self.user_agent = user_agent
        self.on_request = on_request
        self.messages = messages
        self.exchanges: list[HttpExchange] = []
        self.request_count = 0
        self.hosts: dict[str, None] = {}
        self.accepted: dict[str, AcceptedHostCertificate] = {}
        self._approved_hosts: set[str] = set()

    def error(self, failure: ProvisioningFailure, detail: str, stage: _Stage, *,
              url: str = "", http_status: int = 0, server_text: str = "",
              certificate: CertificateInfo | None = None, sipe_suffix: str = "",
              sipe_fails_too: bool = True) -> ProvisioningError:
        message = self.messages.get(stage, "") if sipe_fails_too else ""
        return ProvisioningError(failure, detail, url=url, http_status=http_status,
                                 server_text=server_text,
                                 sipe_message=message + sipe_suffix if message else "",
                                 certificate=certificate)

    def _emit(self, exchange: HttpExchange) -> None:
        self.exchanges.append(exchange)
        if self.on_request is not None:
            self.on_request(exchange)

    async def _approve_host(self, parsed: ParsedUrl, url: str, stage: _Stage,
                            what: str) -> None:
        host = parsed.host
        if host in self._approved_hosts:
            return
        if not parsed.is_ip and is_inside_domain(host, self.sip_domain):
            self._approved_hosts.add(host)
            return
        if not await self.trust.approve_host(host, parsed.port, self.sip_domain):
            where = (f"an IP address, not a name inside {self.sip_domain}" if parsed.is_ip
                     else f"outside the SIP domain {self.sip_domain}")
            raise self.error(ProvisioningFailure.HOST_REFUSED,
                             f"{what} would go to {host}, which is {where}; not allowed",
                             stage, url=url, sipe_fails_too=False)  # SIPE just sends it
        self._approved_hosts.add(host)

    async def request(self, method: str, url: str, stage: _Stage, what: str, *,
                      body: bytes | None = None, headers: tuple[tuple[str, str], ...] = (),
                      credentials: HttpCredentials | None = None,
                      sends_credentials: str = "") -> HttpResponse:
        """One request with the trust questions; every outcome is reported to ``on_request``.

        Args:
            what: the request in words ("the web ticket request").
            sends_credentials: what secret the request carries ("the password", "the web
                ticket"); "" = nothing, no host approval needed.
        """
        try:
            parsed = parse_url(url, https_port=self.client.https_port,
                               http_port=self.client.http_port)
        except HttpUrlError as exc:
            raise self.error(ProvisioningFailure.URL_INVALID,
                             f"{what}: {url[:200]} cannot be requested ({exc})", stage,
                             url=url) from None
        if sends_credentials:
            await self._approve_host(parsed, url, stage, sends_credentials.capitalize())
        self.hosts.setdefault(parsed.host, None)
        asked = False
        while True:
            try:
                response = await self.client.request(method, url, headers=headers, body=body,
                                                     credentials=credentials,
                                                     user_agent=self.user_agent,
                                                     host_header_port=False)
            except CertificateRejected as exc:
                info = exc.certificate
                problems = " ".join(info.problems()) or "not acceptable"
                if not asked and await self.trust.approve_certificate(parsed.host, parsed.port,
                                                                      info):
                    asked = True
                    self.client.trust_fingerprint(info.sha256_fingerprint)
                    self._emit(HttpExchange(method, url, 0, 0.0,
                                            f"certificate of {parsed.host} accepted by you "
                                            f"({info.sha256_fingerprint}); trying again",
                                            error=problems))
                    continue
                self._emit(HttpExchange(method, url, 0, 0.0, "certificate not accepted",
                                        error=problems))
                raise self.error(ProvisioningFailure.CERTIFICATE_REFUSED,
                                 f"{what}: the certificate of {parsed.host} is not trusted "
                                 f"({problems}) and was not accepted", stage, url=url,
                                 certificate=info) from None
            except HttpError as exc:
                self._emit(HttpExchange(method, url, 0, exc.elapsed, f"failed: {exc}",
                                        error=str(exc)))
                failure = (ProvisioningFailure.PROTOCOL
                           if exc.kind in (HttpErrorKind.PROTOCOL, HttpErrorKind.TOO_LARGE)
                           else ProvisioningFailure.URL_INVALID if exc.kind is HttpErrorKind.URL
                           else ProvisioningFailure.UNREACHABLE)
                raise self.error(failure, f"{what} to {parsed.host} failed: {exc}", stage,
                                 url=url) from None
            break
        self.request_count += response.requests_sent
        certificate = response.certificate
        if response.certificate_user_accepted and certificate is not None:
            self.accepted.setdefault(parsed.host, AcceptedHostCertificate(
                parsed.host, certificate.sha256_fingerprint, certificate.pem))
        self._emit(HttpExchange(method, url, response.status, response.elapsed,
                                _outcome_line(response), requests_sent=response.requests_sent,
                                diagnostics=response.diagnostics[:500]))
        return response


# --- the web ticket (steps 2-3) -----------------------------------------------------------------


async def _web_ticket(run: _Run, stage: _Stage, *, webticket_url: str, applies_to: str,
                      signin: str, instance_uuid: str, credentials: HttpCredentials,
                      client_entropy: bytes) -> WebTicket:
    F = ProvisioningFailure
    url = mex_url(webticket_url)
    response = await run.request("GET", url, stage, "The web ticket service metadata request")
    if response.status != 200:
        raise run.error(F.MEX_FAILED, f"The web ticket service metadata ({url[:200]}) "
                        f"answered HTTP {response.status}", stage, url=url,
                        http_status=response.status, server_text=response.diagnostics)
    try:
        metadata = parse_webticket_mex(response.body)
    except WebServiceFormatError as exc:
        raise run.error(F.MEX_INVALID, f"Unusable web ticket service metadata: {exc}", stage,
                        url=url, http_status=200) from None
    if not metadata.win_negotiate_url:
        raise run.error(F.WEBTICKET_UNSUPPORTED,
                        "The web ticket service offers only WsFedBearer (Office 365 / ADFS "
                        "federation), which sipe-setup does not do; SIPE would try ADFS",
                        stage, url=url, http_status=200)
    ticket_url = metadata.win_negotiate_url
    rst = build_rst(applies_to=applies_to, signin=signin, instance_uuid=instance_uuid,
                    client_entropy=client_entropy)
    response = await run.request(
        "POST", ticket_url, stage, "The web ticket request", body=rst,
        headers=(("SOAPAction", f'"{RST_SOAP_ACTION}"'), _TEXT_XML), credentials=credentials,
        sends_credentials="the password")
    status = response.status
    if status == 401:
        if response.auth is HttpAuthOutcome.REJECTED:
            raise run.error(F.WEBTICKET_REJECTED,
                            "The web ticket service did not accept the credentials: "
                            f"{response.auth_detail}; wrong password, or the Login is not "
                            "this user", stage, url=ticket_url,
                            http_status=401, server_text=response.diagnostics)
        raise run.error(F.WEBTICKET_AUTH_FAILED,
                        "The web ticket service wants HTTP authentication, which could not be "
                        f"done: {response.auth_detail or 'no details'}", stage, url=ticket_url,
                        http_status=401, server_text=response.diagnostics)
    fault = parse_soap_fault(response.body) if response.body else None
    fault_text = (fault.sipe_text or fault.fault_string or "") if fault else ""
    if status != 200:
        failure = F.WEBTICKET_FAULT if fault_text else F.WEBTICKET_FAILED
        said = f": {fault_text}" if fault_text else ""
        raise run.error(failure, f"The web ticket service answered HTTP {status}{said}", stage,
                        url=ticket_url, http_status=status,
                        server_text=fault_text or response.diagnostics)
    try:
        ticket = parse_rstr(response.body)
    except WebServiceFormatError as exc:
        if fault is not None:
            # SIPE quotes internalerror/text as a second line, only for a fault with HTTP 200.
            suffix = f"\n({fault.sipe_text})" if fault.sipe_text else ""
            raise run.error(F.WEBTICKET_FAULT, f"The web ticket service sent a SOAP fault "
                            f"instead of a ticket: {fault_text or 'no text'}", stage,
                            url=ticket_url, http_status=200, server_text=fault_text,
                            sipe_suffix=suffix) from None
        raise run.error(F.WEBTICKET_INVALID, f"Unusable web ticket: {exc}", stage,
                        url=ticket_url, http_status=200) from None
    return ticket


async def obtain_web_ticket(*, client: BoundedHttpClient, webticket_url: str, applies_to: str,
                            signin: str, instance_uuid: str, credentials: HttpCredentials,
                            user_agent: str, trust: WebServicesTrust,
                            on_request: ExchangeSink | None = None,
                            client_entropy: bytes | None = None,
                            ) -> tuple[WebTicket, bytes, tuple[HttpExchange, ...]]:
    """Steps 2-3 alone, for autodiscover's User link (§5.1): ``GET <webticket_url>/mex``, then
    the RST (AppliesTo = ``applies_to``) with HTTP authentication.

    Returns:
        the ticket, the client entropy sent, and the HTTP exchanges.

    Raises:
        ProvisioningError: with an empty ``sipe_message`` (SIPE silently tries the next
            autodiscover method).
    """
    signin = signin.removeprefix("sip:")
    entropy = client_entropy or secrets.token_bytes(_ENTROPY_BYTES)
    run = _Run(client, trust, signin.rpartition("@")[2], user_agent, on_request, {})
    ticket = await _web_ticket(run, _Stage.AUTODISCOVER, webticket_url=webticket_url,
                               applies_to=applies_to, signin=signin,
                               instance_uuid=instance_uuid, credentials=credentials,
                               client_entropy=entropy)
    return ticket, entropy, tuple(run.exchanges)


# --- the whole flow -------------------------------------------------------------------------------


async def provision_certificate(*, sts_uri: str, signin: str, credentials: HttpCredentials,
                                user_agent: str, instance_uuid: str,
                                client: BoundedHttpClient, trust: WebServicesTrust,
                                on_request: ExchangeSink | None = None,
                                now: Callable[[], datetime] | None = None,
                                ) -> ProvisionedCertificate:
    """Get a TLS-DSK sign-in certificate from the ``sts-uri`` of a REGISTER 401.

    Args:
        sts_uri: the ``sts-uri`` parameter of the ``TLS-DSK`` challenge.
        signin: the sign-in address (``alice@example.test``; a ``sip:`` prefix is dropped).
        credentials: for the web ticket's HTTP authentication.
        user_agent: SIPE's SIP User-Agent, sent on every request.
        instance_uuid: the ``+sip.instance`` UUID (RST ``Context``, ``DeviceId``).
        client: the shared HTTP client (its trusted fingerprints grow with user decisions).
        trust: asked before an untrusted certificate is used and before credentials go
            outside the SIP domain.
        on_request: called with every HTTP request as it ends.
        now: the clock for the validity check (tests).

    Raises:
        ProvisioningError: see :class:`ProvisioningFailure`.
        asyncio.CancelledError: the caller cancelled.
    """
    F = ProvisioningFailure
    signin = signin.removeprefix("sip:")
    sip_domain = signin.rpartition("@")[2]
    ticket_message = f"Web ticket request to {sts_uri} failed"
    run = _Run(client, trust, sip_domain, user_agent, on_request,
               {_Stage.WEB_TICKET: ticket_message})
    stage = _Stage.WEB_TICKET
    try:
        parse_url(sts_uri)
    except HttpUrlError as exc:
        raise ProvisioningError(F.URL_INVALID, f"The sts-uri {sts_uri[:200]!r} cannot be "
                                f"requested ({exc})", url=sts_uri,
                                sipe_message=f"Can't request certificate from {sts_uri}"
                                ) from None

    # 1. The certificate provisioning service's metadata.
    url = mex_url(sts_uri)
    response = await run.request("GET", url, stage,
                                 "The certificate provisioning metadata request")
    if response.status != 200:
        raise run.error(F.MEX_FAILED, f"The certificate provisioning metadata ({url[:200]}) "
                        f"answered HTTP {response.status}", stage, url=url,
                        http_status=response.status, server_text=response.diagnostics)
    try:
        metadata = parse_certprov_mex(response.body)
    except WebServiceFormatError as exc:
        raise run.error(F.MEX_INVALID, f"Unusable certificate provisioning metadata: {exc}",
                        stage, url=url, http_status=200) from None

    # 2-3. The web ticket, AppliesTo the auth URI.
    entropy = secrets.token_bytes(_ENTROPY_BYTES)
    ticket = await _web_ticket(run, stage, webticket_url=metadata.webticket_url,
                               applies_to=metadata.auth_uri, signin=signin,
                               instance_uuid=instance_uuid, credentials=credentials,
                               client_entropy=entropy)
    try:
        wsse = wsse_security(ticket, entropy, signed=metadata.signing_required)
    except WebServiceFormatError as exc:
        raise run.error(F.WEBTICKET_INVALID, f"Unusable web ticket: {exc}", stage,
                        url=metadata.webticket_url, http_status=200) from None
    canonical = timestamp_is_canonical(ticket)

    # 4. GetAndPublishCert with a fresh key's CSR.
    stage = _Stage.CERTIFICATE
    auth_uri = metadata.auth_uri
    run.messages[stage] = f"Certificate request to {auth_uri} failed"
    key = await asyncio.to_thread(new_client_key)  # RSA-2048: ~0.1 s, keep the loop free
    body = build_get_and_publish_cert(auth_uri=auth_uri, wsse=wsse, signin=signin,
                                      instance_uuid=instance_uuid, csr=build_csr(key, signin),
                                      request_id=new_request_id())
    response = await run.request(
        "POST", auth_uri, stage, "The certificate request", body=body,
        headers=(("SOAPAction", f'"{GET_AND_PUBLISH_CERT_SOAP_ACTION}"'), _TEXT_XML),
        sends_credentials="the web ticket")
    if response.status != 200:
        fault_text = soap_fault_text(response.body) if response.body else None
        said = f": {fault_text}" if fault_text else ""
        raise run.error(F.CERTPROV_FAILED, f"The certificate provisioning service answered "
                        f"HTTP {response.status}{said}", stage, url=auth_uri,
                        http_status=response.status,
                        server_text=fault_text or response.diagnostics)
    try:
        der = parse_get_and_publish_cert_response(response.body)
    except WebServiceFormatError as exc:
        fault_text = soap_fault_text(response.body)
        if fault_text:
            raise run.error(F.CERTPROV_FAILED, f"The certificate provisioning service sent a "
                            f"SOAP fault: {fault_text}", stage, url=auth_uri, http_status=200,
                            server_text=fault_text) from None
        raise run.error(F.CERTIFICATE_INVALID, f"No usable certificate: {exc}", stage,
                        url=auth_uri, http_status=200) from None
    checked_at = now() if now is not None else datetime.now(UTC)
    try:
        validity = certificate_validity(der, checked_at, client_key=key)
    except WebServiceFormatError as exc:
        raise run.error(F.CERTIFICATE_INVALID, f"No usable certificate: {exc}", stage,
                        url=auth_uri, http_status=200) from None
    if validity.public_key_matches is False:
        raise run.error(F.CERTIFICATE_INVALID, "The certificate returned is not for the key "
                        "in the request; SIPE's TLS-DSK handshake would fail with it", stage,
                        url=auth_uri, http_status=200)
    if validity.sipe_loops:  # SIPE shows nothing: it provisions again, forever
        raise run.error(F.CERTIFICATE_SHORT_LIVED,
                        f"The certificate is valid until {validity.not_after:%Y-%m-%d %H:%M} "
                        "UTC, less than one hour from now: Pidgin would request a new one on "
                        "every sign-in attempt, in an endless loop, and never sign in", stage,
                        url=auth_uri, http_status=200, sipe_fails_too=False)
    return ProvisionedCertificate(
        certificate_der=der, private_key=key, not_after=validity.not_after,
        seconds_left=validity.seconds_left, http_request_count=run.request_count,
        hosts=tuple(run.hosts), accepted_certificates=tuple(run.accepted.values()),
        timestamp_canonical=canonical, signing_required=metadata.signing_required,
        webticket_url=metadata.webticket_url, auth_uri=auth_uri,
        exchanges=tuple(run.exchanges))
