"""Lync web services for TLS-DSK on loopback: mex, web ticket (WS-Trust over HTTP NTLM) and
certificate provisioning (GetAndPublishCert), over HTTPS with a test-CA certificate.

A TLS-DSK client gets its client certificate here before it can sign in (reference
``tls-dsk.md`` §1.3–1.4; documents shaped as in ``captures/tlsdsk-signin.wire.txt``)::

    GET  /CertProv/CertProvisioningService.svc/mex        policy → web ticket URL; port → auth URI
    GET  /WebTicket/WebTicketService.svc/mex              port WebTicketServiceWinNegotiate
    POST /WebTicket/WebTicketService.svc/WinNegotiate     RST (HTTP NTLM) → RSTR: SAML assertion,
                                                          server entropy, Lifetime
    POST /CertProv/CertProvisioningService.svc/WebTicket_Proof_SHA1
                                                          GetAndPublishCert (ticket in
                                                          wsse:Security) → X.509 DER

What it checks (§4.2): the NTLM login owns the claimed ``sip:`` URI (per :class:`Accounts`);
AppliesTo is our auth URI; the assertion is ours and unexpired; ``Reference URI="#timestamp"``;
DigestValue = SHA-1 of the exclusive-canonical Timestamp; SignatureValue = HMAC-SHA1 of the
exclusive-canonical SignedInfo under the PSHA1 key; KeyIdentifier = AssertionID; Entity = the
ticket's user; the CSR's signature (PKCS#10 version 0 as SIPE's NSS build sends it, and
leniently version 2, SHA-1, as its OpenSSL build does). It then issues ``CN=sip:<user>``
(clientAuth, 8 h) from the test CA and *publishes* it: :meth:`WebServicesServer.published`
is what the registrar's TLS-DSK acceptor compares the client's certificate with.

Exclusive canonicalization (xml-exc-c14n) comes from the stdlib's C14N 2.0 writer fed one
subtree plus the namespaces in scope: for these documents (no comments, no InclusiveNamespaces,
no inherited ``xml:`` attributes, no QName-valued content) both give the same bytes; the test
pins it with the digest and signature SIPE computed in the capture.

:class:`WebServicesOptions` holds the failure knobs. Run standalone::

    python -m tests.servers.webservices --user 'EXAMPLE\\alice:Passw0rd!'
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import enum
import hashlib
import hmac
import http.server
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs7

from sipe_setup.core.auth.ntlm import NtlmProtocolError
from tests.servers.ntlm_acceptor import Accounts, NtlmServerHandshake
from tests.servers.testca import TestCA, self_signed
from tests.servers.tls_dsk_acceptor import p_hash

__all__ = [
    "CERTPROV_PATH",
    "HttpExchange",
    "HttpsCertificate",
    "WebServicesOptions",
    "WebServicesServer",
    "WebServicesStats",
    "WebTicketFailure",
    "exclusive_c14n",
    "read_csr",
]

CERTPROV_PATH = "/CertProv/CertProvisioningService.svc"
WEBTICKET_PATH = "/WebTicket/WebTicketService.svc"
CERTPROV_PORT = "CertProvisioningServiceWebTicketProof_SHA1"
WINNEGOTIATE_PORT = "WebTicketServiceWinNegotiate"

NS_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
NS_WST = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
NS_WSP = "http://schemas.xmlsoap.org/ws/2004/09/policy"
NS_WSA = "http://www.w3.org/2005/08/addressing"
NS_AUTH = "http://schemas.xmlsoap.org/ws/2006/12/authorization"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
NS_SAML = "urn:oasis:names:tc:SAML:1.0:assertion"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NS_OCS = "http://schemas.microsoft.com/OCS/AuthWebServices/"
CLAIM_URI = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/uri"
SAML11 = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV1.1"
X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
PKCS7 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#PKCS7"
BASE64 = NS_WSSE + "#base64binary"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


class WebTicketFailure(enum.StrEnum):
    """How the web ticket service refuses an RST from a correctly authenticated user."""

    NONE = ""
    UNAUTHORIZED = "401"
    """HTTP 401 with ``X-Ms-diagnostics`` once NTLM completed (no token: the client gives up)."""
    FAULT = "fault"
    """A SOAP fault with ``Detail/error/internalerror/text``, HTTP 200: SIPE shows the text."""
    FAULT_500 = "fault-500"
    """The same fault with HTTP 500: SIPE does not read the body, so shows no detail."""


class HttpsCertificate(enum.StrEnum):
    """The web services' HTTPS certificate."""

    RSA = "rsa"
    """RSA, from the test CA (like an AD CS-issued Lync certificate)."""
    ECDSA = "ecdsa"
    """ECDSA P-256, from the test CA: allowed (only the TLS-DSK server key must be RSA)."""
    SELF_SIGNED = "self-signed"
    """Self-signed, so not trusted by whoever trusts the test CA."""


@dataclass(frozen=True)
class WebServicesOptions:
    """The web services' behaviour; the defaults are a working Lync pool.

    Attributes:
        offer_negotiate: the web ticket 401 offers ``Negotiate`` before ``NTLM`` (SIPE then
            tries Kerberos first and falls back to raw NTLM).
        webticket_failure: refuse the web ticket after authentication (:class:`WebTicketFailure`).
        fault_text: ``internalerror/text`` of the web ticket fault.
        certprov_500: GetAndPublishCert answers HTTP 500 whatever it gets.
        publish: publish issued certificates (False: issued, but TLS-DSK will not know them).
        certificate_lifetime: validity of issued client certificates (SIPE loops below 1 h).
        ticket_lifetime: validity of web tickets.
        canonical_lifetime: the RSTR's ``Lifetime`` children rely on ``wsu`` bound on an
            ancestor (False: each redeclares it, so SIPE's raw Timestamp is not canonical and
            its digest no longer matches).
        mex_policy: the CertProv mex carries the WebTicketProof_SHA1 policy (False: only the
            port, so a client finds no web ticket service).
        https_certificate: :class:`HttpsCertificate`.
    """

    offer_negotiate: bool = False
    webticket_failure: WebTicketFailure = WebTicketFailure.NONE
    fault_text: str = "The user account is disabled."
    certprov_500: bool = False
    publish: bool = True
    certificate_lifetime: dt.timedelta = dt.timedelta(hours=8)
    ticket_lifetime: dt.timedelta = dt.timedelta(hours=8)
    canonical_lifetime: bool = True
    mex_policy: bool = True
    https_certificate: HttpsCertificate = HttpsCertificate.RSA


@dataclass(frozen=True)
class HttpExchange:
    """One request as received, and the status it got."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    status: int

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass
class WebServicesStats:
    """What happened, for tests (written under the server's lock).

    The lists keep the first :data:`KEPT` entries only (a client looping for hours, as SIPE
    does on short certificates, must not grow them without bound); the counters count all.
    """

    KEPT: ClassVar[int] = 1000

    requests: int = 0
    exchanges: list[HttpExchange] = field(default_factory=list)
    ntlm_logins: list[str] = field(default_factory=list)
    ntlm_failures: int = 0
    tickets_issued: int = 0
    certificates_issued: int = 0
    certificates_published: int = 0
    refusals: list[str] = field(default_factory=list)
    """Why requests were refused, in order (NTLM, web ticket, certificate provisioning)."""
    csr_facts: list[CsrFacts] = field(default_factory=list)

    def keep(self, entries: list[Any], entry: Any) -> None:
        if len(entries) < self.KEPT:
            entries.append(entry)

    def count(self, method: str, path_suffix: str) -> int:
        return sum(1 for e in self.exchanges
                   if e.method == method and e.path.endswith(path_suffix))


@dataclass(frozen=True)
class _WebTicket:
    assertion_id: str
    sip_uri: str
    key: bytes = field(repr=False)
    expires: dt.datetime


class _Refused(Exception):
    """A request the service refuses; the message says why."""


# --- XML ----------------------------------------------------------------------------------------

class _SubtreeTarget:
    """Passes one element's subtree to a C14N writer, with the namespaces in scope at its start
    (the writer then declares those it uses, as exclusive canonicalization does)."""

    def __init__(self, wanted: Callable[[str, dict[str, str]], bool],
                 writer: ET.C14NWriterTarget) -> None:
        self._wanted = wanted
        self._writer = writer
        self._scopes: list[list[tuple[str, str]]] = []
        self._pending: list[tuple[str, str]] = []
        self._depth = 0
        self.found = False

    def start_ns(self, prefix: str, uri: str) -> None:
        if self._depth:
            self._writer.start_ns(prefix, uri)
        else:
            self._pending.append((prefix, uri))

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if self._depth:
            self._depth += 1
            self._writer.start(tag, attrs)
            return
        declared, self._pending = self._pending, []
        self._scopes.append(declared)
        if not self.found and self._wanted(tag, attrs):
            self.found = True
            self._depth = 1
            in_scope = {prefix: uri for scope in self._scopes for prefix, uri in scope}
            for prefix, uri in in_scope.items():
                self._writer.start_ns(prefix, uri)
            self._writer.start(tag, attrs)

    def end(self, tag: str) -> None:
        if self._depth:
            self._writer.end(tag)
            self._depth -= 1
            if self._depth:
                return
        self._scopes.pop()

    def data(self, text: str) -> None:
        if self._depth:
            self._writer.data(text)

    def close(self) -> None:
        return None


def exclusive_c14n(document: bytes, wanted: Callable[[str, dict[str, str]], bool]) -> bytes:
    """The exclusive canonical form of the first element for which ``wanted(tag, attrs)``
    (Clark names) is true.

    Raises:
        ValueError: no such element, or the document is not well-formed.
    """
    out: list[str] = []
    target = _SubtreeTarget(wanted, ET.C14NWriterTarget(out.append))
    parser = ET.XMLParser(target=target)
    try:
        parser.feed(document)
        parser.close()
    except ET.ParseError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from exc
    if not target.found:
        raise ValueError("element to canonicalize not found")
    return "".join(out).encode("utf-8")


def _xml_time(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse_xml_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


# --- CSR ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CsrFacts:
    """What a PKCS#10 request says (recorded for tests)."""

    subject: str
    version: int
    hash_name: str
    key_bits: int
    public_key: CertificatePublicKeyTypes = field(repr=False)


def _der_header_length(der: bytes, offset: int) -> int:
    first = der[offset + 1]
    return 2 + (first & 0x7F if first & 0x80 else 0)


def read_csr(der: bytes) -> CsrFacts:
    """Parse a PKCS#10 request and check its signature.

    Version 0 is standard; SIPE's OpenSSL backend writes version 2 (with SHA-1), which
    ``cryptography`` refuses, so such a request is parsed with version 0 patched in and its
    signature checked over the original bytes.

    Raises:
        ValueError: not a CSR, an unexpected version, or a bad signature.
    """
    if len(der) < 16 or der[0] != 0x30:
        raise ValueError("not a PKCS#10 certification request")
    tbs_at = _der_header_length(der, 0)
    version_at = tbs_at + _der_header_length(der, tbs_at)
    if der[version_at:version_at + 2] != b"\x02\x01":
        raise ValueError("not a PKCS#10 certification request")
    version = der[version_at + 2]
    if version not in (0, 2):
        raise ValueError(f"CSR version {version}")
    patched = der[:version_at + 2] + b"\x00" + der[version_at + 3:]
    csr = x509.load_der_x509_csr(patched)
    tbs = bytearray(csr.tbs_certrequest_bytes)
    tbs[version_at - tbs_at + 2] = version
    key = csr.public_key()
    digest = csr.signature_hash_algorithm
    if digest is None:
        raise ValueError("CSR signature algorithm without a hash")
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(csr.signature, bytes(tbs), padding.PKCS1v15(), digest)
            bits = key.key_size
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(csr.signature, bytes(tbs), ec.ECDSA(digest))
            bits = key.key_size
        else:
            raise ValueError(f"CSR key type {type(key).__name__}")
    except InvalidSignature:
        raise ValueError("the CSR's signature does not verify") from None
    return CsrFacts(csr.subject.rfc4514_string(), version, digest.name, bits, key)


# --- documents ----------------------------------------------------------------------------------

def _certprov_mex(base: str, *, policy: bool) -> bytes:
    policy_xml = (
        f'<wsp:Policy wsu:Id="{CERTPROV_PORT}_policy"><wsp:ExactlyOne><wsp:All>\n'
        '<sp:EndorsingSupportingTokens><wsp:Policy><sp:IssuedToken sp:IncludeToken="'
        'http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702/IncludeToken/AlwaysToRecipient">'
        f'\n<sp:Issuer><wsa10:Address>{base}{WEBTICKET_PATH}</wsa10:Address></sp:Issuer>\n'
        '<sp:RequestSecurityTokenTemplate>'
        f'<t:TokenType xmlns:t="{NS_WST}">{SAML11}</t:TokenType>'
        f'<t:KeyType xmlns:t="{NS_WST}">{NS_WST}/SymmetricKey</t:KeyType>'
        f'<t:KeySize xmlns:t="{NS_WST}">256</t:KeySize></sp:RequestSecurityTokenTemplate>\n'
        '</sp:IssuedToken></wsp:Policy></sp:EndorsingSupportingTokens>\n'
        '</wsp:All></wsp:ExactlyOne></wsp:Policy>\n'
    ) if policy else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<wsdl:definitions name="CertProvisioningService" targetNamespace="'
        f'{NS_OCS}" xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:wsp="{NS_WSP}" '
        f'xmlns:wsu="{NS_WSU}" '
        'xmlns:sp="http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702" '
        f'xmlns:wsa10="{NS_WSA}" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/">\n'
        f'{policy_xml}'
        '<wsdl:service name="CertProvisioningService">\n'
        f'<wsdl:port name="{CERTPROV_PORT}" binding="tns:{CERTPROV_PORT}">'
        f'<soap:address location="{base}{CERTPROV_PATH}/WebTicket_Proof_SHA1"/></wsdl:port>\n'
        '</wsdl:service>\n</wsdl:definitions>\n'
    ).encode()


def _webticket_mex(base: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<wsdl:definitions name="WebTicketService" xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"'
        ' xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/">\n'
        '<wsdl:service name="WebTicketService">\n'
        f'<wsdl:port name="{WINNEGOTIATE_PORT}" binding="tns:{WINNEGOTIATE_PORT}">'
        f'<soap:address location="{base}{WEBTICKET_PATH}/WinNegotiate"/></wsdl:port>\n'
        '</wsdl:service>\n</wsdl:definitions>\n'
    ).encode()


def _rstr(*, assertion: str, server_entropy: bytes, created: str, expires: str,
          canonical: bool) -> bytes:
    # SIPE copies Lifetime's inner text into its own Timestamp, which declares wsu itself:
    # redundant declarations here survive there and break the exc-c14n digest (§1.3.2).
    wsu = "" if canonical else f' xmlns:wsu="{NS_WSU}"'
    return (
        f'<s:Envelope xmlns:s="{NS_SOAP}" xmlns:wsu="{NS_WSU}"><s:Body>'
        f'<RequestSecurityTokenResponse xmlns="{NS_WST}"><TokenType>{SAML11}</TokenType>'
        f'<RequestedSecurityToken>{assertion}</RequestedSecurityToken>'
        f'<RequestedProofToken><ComputedKey>{NS_WST}/CK/PSHA1</ComputedKey>'
        '</RequestedProofToken>'
        f'<Entropy><BinarySecret>{base64.b64encode(server_entropy).decode()}</BinarySecret>'
        f'</Entropy><Lifetime><wsu:Created{wsu}>{created}</wsu:Created>'
        f'<wsu:Expires{wsu}>{expires}</wsu:Expires></Lifetime><KeySize>256</KeySize>'
        '</RequestSecurityTokenResponse></s:Body></s:Envelope>'
    ).encode()


def _assertion(*, assertion_id: str, issuer: str, audience: str, sip_uri: str, created: str,
               expires: str) -> str:
    return (
        f'<saml:Assertion MajorVersion="1" MinorVersion="1" AssertionID="{assertion_id}" '
        f'Issuer="{issuer}" IssueInstant="{created}" xmlns:saml="{NS_SAML}">'
        f'<saml:Conditions NotBefore="{created}" NotOnOrAfter="{expires}">'
        '<saml:AudienceRestrictionCondition>'
        f'<saml:Audience>{audience}</saml:Audience></saml:AudienceRestrictionCondition>'
        '</saml:Conditions><saml:AuthenticationStatement AuthenticationMethod="'
        f'urn:federation:authentication:windows" AuthenticationInstant="{created}">'
        '<saml:Subject><saml:NameIdentifier Format="http://schemas.xmlsoap.org/claims/UPN">'
        f'{sip_uri}</saml:NameIdentifier></saml:Subject></saml:AuthenticationStatement>'
        '</saml:Assertion>'
    )


def _certificate_response(certificate: x509.Certificate, chain: list[x509.Certificate]) -> bytes:
    der = base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()
    p7 = base64.b64encode(pkcs7.serialize_certificates(
        [certificate, *chain], serialization.Encoding.DER)).decode()
    token = f'EncodingType="{BASE64}" xmlns="{NS_WSSE}"'
    return (
        f'<s:Envelope xmlns:s="{NS_SOAP}"><s:Body>'
        f'<GetAndPublishCertResponse xmlns="{NS_OCS}">'
        f'<RequestSecurityTokenResponse xmlns="{NS_WST}/"><TokenType>{X509V3}</TokenType>'
        '<DispositionMessage xmlns="http://schemas.microsoft.com/windows/pki/2009/01/enrollment">'
        'Issued</DispositionMessage>'
        f'<BinarySecurityToken ValueType="{PKCS7}" {token}>{p7}</BinarySecurityToken>'
        f'<RequestedSecurityToken><BinarySecurityToken ValueType="{X509V3}" {token}>{der}'
        '</BinarySecurityToken></RequestedSecurityToken>'
        '</RequestSecurityTokenResponse></GetAndPublishCertResponse></s:Body></s:Envelope>'
    ).encode()


def _security_fault(reason: str) -> bytes:
    """A WCF-style SOAP 1.1 fault (sent with HTTP 500)."""
    return (
        f'<s:Envelope xmlns:s="{NS_SOAP}"><s:Body><s:Fault>'
        f'<faultcode xmlns:a="{NS_WSSE}">a:InvalidSecurity</faultcode>'
        f'<faultstring xml:lang="en-US">{_escape(reason)}</faultstring>'
        '</s:Fault></s:Body></s:Envelope>'
    ).encode()


def _webticket_fault(text: str) -> bytes:
    """A SOAP fault with ``Detail/error/internalerror/text``, the path SIPE reads (shaped like
    the Passport faults that code was written for; the codes in it mean nothing here)."""
    return (
        '<S:Envelope xmlns:S="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:psf="http://schemas.microsoft.com/Passport/SoapServices/SOAPFault"><S:Body>'
        '<S:Fault><S:Code><S:Value>S:Sender</S:Value></S:Code>'
        '<S:Reason><S:Text xml:lang="en-US">Authentication Failure</S:Text></S:Reason>'
        '<S:Detail><psf:error><psf:value>0x80048821</psf:value><psf:internalerror>'
        f'<psf:code>0x80041012</psf:code><psf:text>{_escape(text)}</psf:text>'
        '</psf:internalerror></psf:error></S:Detail></S:Fault></S:Body></S:Envelope>'
    ).encode()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- HTTP ---------------------------------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    """One HTTPS connection; NTLM is connection-oriented, so its state lives here."""

    protocol_version = "HTTP/1.1"
    timeout = 120  # IIS's idle keep-alive; SIPE reports a shorter one as "Server has disconnected"
    disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK stall
    server: _HttpsServer
    _ntlm: NtlmServerHandshake | None = None

    def log_message(self, format: str, *args: Any) -> None:
        return

    @property
    def owner(self) -> WebServicesServer:
        return self.server.owner

    def do_GET(self) -> None:
        base = self.owner.base_url
        policy = self.owner.options.mex_policy
        if self.path == f"{CERTPROV_PATH}/mex":
            self._reply(200, _certprov_mex(base, policy=policy), b"")
        elif self.path == f"{WEBTICKET_PATH}/mex":
            self._reply(200, _webticket_mex(base), b"")
        else:
            self._reply(404, b"", b"", content_type="text/html")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == f"{WEBTICKET_PATH}/WinNegotiate":
            self._web_ticket(body)
        elif self.path == f"{CERTPROV_PATH}/WebTicket_Proof_SHA1":
            self._certificate(body)
        else:
            self._reply(404, b"", body, content_type="text/html")

    # --- web ticket ---

    def _web_ticket(self, body: bytes) -> None:
        owner = self.owner
        login = self._ntlm_login(body)
        if login is None:
            return
        failure = owner.options.webticket_failure
        if failure is WebTicketFailure.UNAUTHORIZED:
            owner.refused("web ticket: refused by the scenario (401)")
            self._reply(401, b"", body, content_type="text/html", headers=(
                ("X-Ms-diagnostics", owner.diagnostics(28020, "User is not allowed to get a "
                                                              "web ticket.")),))
            return
        if failure in (WebTicketFailure.FAULT, WebTicketFailure.FAULT_500):
            owner.refused(f"web ticket: SOAP fault ({failure.value})")
            self._reply(200 if failure is WebTicketFailure.FAULT else 500,
                        _webticket_fault(owner.options.fault_text), body)
            return
        try:
            reply = owner.issue_ticket(body, login)
        except _Refused as exc:
            owner.refused(f"web ticket: {exc}")
            self._reply(500, _security_fault(str(exc)), body)
            return
        self._reply(200, reply, body)

    def _ntlm_login(self, body: bytes) -> tuple[str, str] | None:
        """Drive HTTP NTLM on this connection: (domain, user) once it completed, else None
        (a 401 was sent)."""
        owner = self.owner
        scheme, _, token_text = self.headers.get("Authorization", "").partition(" ")
        token = b""
        if scheme.lower() in ("ntlm", "negotiate"):
            with contextlib.suppress(ValueError):
                token = base64.b64decode(token_text.strip(), validate=True)
        if token[8:12] == b"\x01\x00\x00\x00":
            try:
                self._ntlm = owner.acceptor.new_handshake(negotiate=token)
            except NtlmProtocolError:
                self._ntlm = None
            else:
                challenge = base64.b64encode(self._ntlm.challenge).decode()
                self._reply(401, b"", body, content_type="text/html",
                            headers=(("WWW-Authenticate", f"{scheme} {challenge}"),))
                return None
        handshake, self._ntlm = self._ntlm, None
        if handshake is None or token[8:12] != b"\x03\x00\x00\x00":
            self._reply(401, b"", body, content_type="text/html", headers=owner.offers())
            return None
        outcome = handshake.accept(token)
        if not outcome.ok:
            owner.ntlm_failed(f"NTLM: {outcome.reason} ({outcome.detail})")
            self._reply(401, b"", body, content_type="text/html", headers=(
                *owner.offers(),
                ("X-Ms-diagnostics", owner.diagnostics(28002, "Integrated Windows "
                                                              "authentication failed."))))
            return None
        owner.ntlm_succeeded(f"{outcome.domain}\\{outcome.user}")
        return outcome.domain, outcome.user

    # --- certificate provisioning ---

    def _certificate(self, body: bytes) -> None:
        owner = self.owner
        if owner.options.certprov_500:
            owner.refused("certprov: HTTP 500 by the scenario")
            self._reply(500, _security_fault("The service is unavailable."), body)
            return
        try:
            reply = owner.issue_certificate(body)
        except _Refused as exc:
            owner.refused(f"certprov: {exc}")
            self._reply(500, _security_fault(str(exc)), body)
            return
        self._reply(200, reply, body)

    def _reply(self, status: int, payload: bytes, request_body: bytes, *,
               content_type: str = "text/xml; charset=utf-8",
               headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.owner.record(HttpExchange(self.command, self.path, tuple(self.headers.items()),
                                       request_body, status))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(payload)


class _HttpsServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: WebServicesServer, host: str, context: ssl.SSLContext) -> None:
        self.owner = owner
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__((host, 0), _Handler)
        # Handshake lazily in the handler thread, so a client that rejects the certificate
        # never blocks the accept loop (as in tests/servers/autodiscover.py).
        self.socket = context.wrap_socket(self.socket, server_side=True,
                                          do_handshake_on_connect=False)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End idle keep-alive connections (their threads wait up to the handler timeout)."""
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # clients hanging up or refusing our certificate are expected here


# --- the server ---------------------------------------------------------------------------------

class WebServicesServer:
    """CertProv + WebTicket web services on ``https://<host>:<free port>``.

    Args:
        accounts: who may log in (NTLM) and which SIP URI each login owns.
        options: :class:`WebServicesOptions`.
        ca: the CA that signs the HTTPS certificate and the client certificates (a new RSA
            test CA by default).
        directory: where certificates and keys go (a temporary directory, removed on
            :meth:`stop`, by default).
        host: loopback address (or ``localhost``) in the URLs and the certificate.
        server_name: the pool FQDN named in NTLM target info and ``X-Ms-diagnostics``.
    """

    def __init__(self, accounts: Accounts, options: WebServicesOptions | None = None, *,
                 ca: TestCA | None = None, directory: Path | None = None,
                 host: str = "127.0.0.1", server_name: str = "server.example.test") -> None:
        self.accounts = accounts
        self.options = options or WebServicesOptions()
        self.host = host
        self.server_name = server_name
        self.stats = WebServicesStats()
        self.acceptor = accounts.acceptor(server_name)
        self._lock = threading.Lock()
        self._tickets: dict[str, _WebTicket] = {}
        self._published: dict[str, x509.Certificate] = {}
        self._own_directory = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="sipe-webservices-"))
        self.ca = ca or TestCA.create(self.directory / "ca", key_type="rsa")
        names, ips = ["localhost", server_name], ["127.0.0.1"]
        kind = self.options.https_certificate
        self.https_certificate = (
            self_signed(self.directory / "self-signed", names, ip_addresses=ips, key_type="rsa")
            if kind is HttpsCertificate.SELF_SIGNED
            else self.ca.issue(names, ip_addresses=ips,
                               key_type="ecdsa" if kind is HttpsCertificate.ECDSA else "rsa"))
        self._server: _HttpsServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- what clients and tests need ---

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def sts_uri(self) -> str:
        """The 401's ``sts-uri``: the Certificate Provisioning service."""
        return self.base_url + CERTPROV_PATH

    @property
    def auth_uri(self) -> str:
        """Where GetAndPublishCert goes (the CertProv mex's port address)."""
        return f"{self.base_url}{CERTPROV_PATH}/WebTicket_Proof_SHA1"

    @property
    def ca_cert_path(self) -> Path:
        return self.ca.ca_path

    @property
    def https_cert_path(self) -> Path:
        return self.https_certificate.cert_path

    @property
    def https_cert_pem(self) -> bytes:
        """The HTTPS certificate, PEM: what libpurple's ``tls_peers/<host>`` must hold."""
        return self.https_certificate.cert_path.read_bytes()

    def published(self, sip_uri: str) -> x509.Certificate | None:
        """The client certificate last published for ``sip_uri``."""
        with self._lock:
            return self._published.get(sip_uri.lower())

    # --- lifecycle ---

    def start(self) -> WebServicesServer:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.https_certificate.cert_path,
                                self.https_certificate.key_path)
        self._server = _HttpsServer(self, self.host, context)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="webservices")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> WebServicesServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- bookkeeping (handler threads) ---

    def record(self, exchange: HttpExchange) -> None:
        with self._lock:
            self.stats.requests += 1
            self.stats.keep(self.stats.exchanges, exchange)

    def refused(self, why: str) -> None:
        with self._lock:
            self.stats.keep(self.stats.refusals, why)

    def ntlm_failed(self, why: str) -> None:
        with self._lock:
            self.stats.ntlm_failures += 1
            self.stats.keep(self.stats.refusals, why)

    def ntlm_succeeded(self, login: str) -> None:
        with self._lock:
            self.stats.keep(self.stats.ntlm_logins, login)

    def offers(self) -> tuple[tuple[str, str], ...]:
        """The ``WWW-Authenticate`` headers of an unauthenticated 401."""
        offers: tuple[tuple[str, str], ...] = (("WWW-Authenticate", "NTLM"),)
        if self.options.offer_negotiate:
            offers = (("WWW-Authenticate", "Negotiate"), *offers)
        return offers

    def diagnostics(self, error_id: int, reason: str) -> str:
        """An ``X-Ms-diagnostics`` value in MS-OCAUTHWS §3.2.4.1's format. (The error ids for
        401s are this server's own: the spec's table lists 28000 (403) and 28001 (500).)"""
        return (f'{error_id};source="{self.server_name}";reason="{reason}";'
                'fault="wsse:FailedAuthentication"')

    # --- the two operations ---

    def issue_ticket(self, body: bytes, login: tuple[str, str]) -> bytes:
        """An RSTR for an RST from an NTLM-authenticated ``login``."""
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise _Refused(f"RST is not XML: {exc}") from None
        rst = root.find(f".//{{{NS_WST}}}RequestSecurityToken")
        if rst is None:
            raise _Refused("no RequestSecurityToken")
        applies_to = _text(rst.find(f"{{{NS_WSP}}}AppliesTo/{{{NS_WSA}}}EndpointReference/"
                                    f"{{{NS_WSA}}}Address"))
        claimed = _text(rst.find(f"{{{NS_WST}}}Claims/{{{NS_AUTH}}}ClaimType"
                                 f"[@Uri='{CLAIM_URI}']/{{{NS_AUTH}}}Value"))
        try:
            client_entropy = base64.b64decode(
                _text(rst.find(f"{{{NS_WST}}}Entropy/{{{NS_WST}}}BinarySecret")), validate=True)
        except ValueError:
            raise _Refused("client entropy is not base64") from None
        if applies_to != self.auth_uri:
            raise _Refused(f"AppliesTo {applies_to!r} is not {self.auth_uri!r}")
        owned = self.accounts.sip_uri(*login)
        if owned is None or owned != claimed.lower():
            raise _Refused(f"{login[0]}\\{login[1]} does not own {claimed!r}")
        if len(client_entropy) < 16:
            raise _Refused(f"client entropy of {len(client_entropy)} bytes")
        server_entropy = secrets.token_bytes(32)
        now = dt.datetime.now(dt.UTC)
        expires = now + self.options.ticket_lifetime
        created_text, expires_text = _xml_time(now), _xml_time(expires)
        ticket = _WebTicket(f"SamlSecurityToken-{uuid.uuid4()}", owned,
                            p_hash("sha1", client_entropy, server_entropy, 32), expires)
        with self._lock:
            self._tickets = {k: t for k, t in self._tickets.items() if t.expires > now}
            self._tickets[ticket.assertion_id] = ticket
            self.stats.tickets_issued += 1
        assertion = _assertion(assertion_id=ticket.assertion_id,
                               issuer=self.base_url + WEBTICKET_PATH, audience=applies_to,
                               sip_uri=owned, created=created_text, expires=expires_text)
        return _rstr(assertion=assertion, server_entropy=server_entropy, created=created_text,
                     expires=expires_text, canonical=self.options.canonical_lifetime)

    def issue_certificate(self, body: bytes) -> bytes:
        """Check GetAndPublishCert's web ticket and CSR; issue (and publish) a certificate."""
        ticket, root = self._check_ticket(body)
        request = root.find(f".//{{{NS_OCS}}}GetAndPublishCert")
        if request is None:
            raise _Refused("no GetAndPublishCert")
        entity = request.get("Entity", "")
        if f"sip:{entity.lower()}" != ticket.sip_uri:
            raise _Refused(f"Entity {entity!r} is not the ticket's {ticket.sip_uri!r}")
        try:
            der = base64.b64decode("".join(_text(request.find(
                f".//{{{NS_WSSE}}}BinarySecurityToken")).split()), validate=True)
            csr = read_csr(der)
        except ValueError as exc:
            raise _Refused(f"CSR: {exc}") from None
        now = dt.datetime.now(dt.UTC)
        certificate = self.ca.certify(csr.public_key, ticket.sip_uri,
                                      not_after=now + self.options.certificate_lifetime)
        with self._lock:
            self.stats.keep(self.stats.csr_facts, csr)
            self.stats.certificates_issued += 1
            if self.options.publish:
                self._published[ticket.sip_uri] = certificate
                self.stats.certificates_published += 1
        return _certificate_response(certificate, [self.ca.certificate])

    def _check_ticket(self, body: bytes) -> tuple[_WebTicket, ET.Element]:
        """The web ticket in ``wsse:Security``, with its proof-of-possession signature checked
        (and the parsed request)."""
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise _Refused(f"request is not XML: {exc}") from None
        security = root.find(f"{{{NS_SOAP}}}Header/{{{NS_WSSE}}}Security")
        if security is None:
            raise _Refused("no wsse:Security header")
        assertion = security.find(f"{{{NS_SAML}}}Assertion")
        assertion_id = assertion.get("AssertionID", "") if assertion is not None else ""
        with self._lock:
            ticket = self._tickets.get(assertion_id)
        if ticket is None:
            raise _Refused(f"unknown web ticket {assertion_id!r}")
        if ticket.expires <= dt.datetime.now(dt.UTC):
            raise _Refused("the web ticket has expired")
        timestamp = security.find(f"{{{NS_WSU}}}Timestamp")
        if timestamp is None or _parse_xml_time(
                _text(timestamp.find(f"{{{NS_WSU}}}Expires"))) <= dt.datetime.now(dt.UTC):
            raise _Refused("no Timestamp, or it has expired")
        signature = security.find(f"{{{NS_DS}}}Signature")
        if signature is None:
            raise _Refused("the ticket is not signed (the policy requires a proof)")
        ds = f"{{{NS_DS}}}"
        reference = signature.find(f"{ds}SignedInfo/{ds}Reference")
        method = signature.find(f"{ds}SignedInfo/{ds}SignatureMethod")
        key_id = _text(signature.find(f"{ds}KeyInfo/{{{NS_WSSE}}}SecurityTokenReference/"
                                      f"{{{NS_WSSE}}}KeyIdentifier"))
        if reference is None or method is None:
            raise _Refused("incomplete SignedInfo")
        if method.get("Algorithm") != NS_DS + "hmac-sha1":
            raise _Refused(f"signature method {method.get('Algorithm')!r}")
        if key_id != assertion_id:
            raise _Refused(f"KeyIdentifier {key_id!r} is not the AssertionID")
        reference_id = reference.get("URI", "")
        if reference_id != "#timestamp" or timestamp.get(f"{{{NS_WSU}}}Id") != "timestamp":
            raise _Refused(f"the signature references {reference_id!r}, not the Timestamp")
        wsu_id = f"{{{NS_WSU}}}Id"
        canonical_timestamp = exclusive_c14n(
            body, lambda tag, attrs: tag == f"{{{NS_WSU}}}Timestamp"
            and attrs.get(wsu_id) == "timestamp")
        digest = base64.b64encode(hashlib.sha1(canonical_timestamp).digest()).decode()
        if digest != _text(reference.find(f"{ds}DigestValue")):
            raise _Refused("DigestValue is not the SHA-1 of the canonical Timestamp")
        canonical_signed_info = exclusive_c14n(body, lambda tag, _a: tag == f"{ds}SignedInfo")
        expected = base64.b64encode(
            hmac.new(ticket.key, canonical_signed_info, "sha1").digest()).decode()
        if not hmac.compare_digest(expected, _text(signature.find(f"{ds}SignatureValue"))):
            raise _Refused("SignatureValue does not verify with the ticket's proof key")
        return ticket, root


def main(argv: list[str] | None = None) -> int:
    from tests.servers.registrar import parse_user

    parser = argparse.ArgumentParser(prog="python -m tests.servers.webservices",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--domain", default="example.test", help="SIP domain")
    parser.add_argument("--user", action="append", type=parse_user, default=[],
                        metavar="DOMAIN\\USER:PASSWORD", help="an account (repeatable)")
    args = parser.parse_args(argv)
    with WebServicesServer(Accounts(tuple(args.user), args.domain)) as server:
        print(f"sts-uri  {server.sts_uri}\nCA       {server.ca_cert_path}\n"
              f"HTTPS    {server.https_cert_path}  (Ctrl-C stops)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
