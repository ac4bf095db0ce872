"""The WS-Trust web ticket exactly as SIPE 1.25.0 asks for it and uses it (tls-dsk.md §1.3.1-2).

- :func:`build_rst` — the RequestSecurityToken body SIPE POSTs to the WinNegotiate port
  (``sipe-svc.c``: ``sipe_svc_webticket``), byte for byte.
- :func:`parse_rstr` — the RSTR read SIPE's way: the body must parse as XML, then ``Lifetime``
  (inner text), ``Assertion`` (whole element) and ``BinarySecret`` (inner text) are cut out of
  the raw bytes (``<T`` first, then the first ``:T``), so a bare RSTR and an RSTRC work alike.
- :func:`wsse_security` — SIPE's ``wsse:Security`` content (``generate_sha1_proof_wsse``):
  ``Timestamp + Assertion`` and, when signing, an XML-DSig ``Signature`` whose key is
  ``P_SHA1(client entropy, server entropy)`` truncated to the client entropy's length (32),
  whose DigestValue is SHA-1 over SIPE's *raw* Timestamp string and whose SignatureValue is
  HMAC-SHA1 over the exc-c14n SignedInfo.
- :func:`timestamp_is_canonical` — whether a server that checks the digest with exc-c14n
  (WCF) can accept SIPE's signature at all.
- :func:`webticket_header_value` — ``X-MS-WebTicket`` for Lync autodiscover (§5.1).
- :func:`parse_soap_fault` / :func:`soap_fault_text` — what a fault says; SIPE shows only
  ``Body/Fault/Detail/error/internalerror/text`` and only for a fault sent with HTTP 200.

Invariants:
- Sans-I/O: bytes/values in, bytes/strings out; entropy is passed in, never drawn here.
- Hostile bodies are bounded and parsed with defusedxml (:mod:`.sipexml`); any input bytes give
  a value or :class:`WebServiceFormatError`, nothing else.
- The assertion and the entropies never appear in a ``repr`` or an error message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from .c14n import exclusive_c14n
from .errors import WebServiceFormatError
from .sipexml import c_string, extract_raw, glib_base64_decode, parse_tree, raw_attribute
from .soap import (
    SIPE_ENVELOPE_NAMESPACES,
    SoapFault,
    parse_soap_fault,
    soap_envelope,
    soap_fault_text,
    xml_text,
)

__all__ = [
    "RST_SOAP_ACTION",
    "SIPE_ENVELOPE_NAMESPACES",
    "SoapFault",
    "WebTicket",
    "build_rst",
    "parse_rstr",
    "parse_soap_fault",
    "psha1",
    "soap_envelope",
    "soap_fault_text",
    "timestamp_canonical_form",
    "timestamp_is_canonical",
    "webticket_header_value",
    "wsse_security",
]

RST_SOAP_ACTION: Final = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue"

_RSTR_DOCUMENT: Final = "web ticket response (RSTR)"
_TIMESTAMP_OPEN: Final = (
    '<wsu:Timestamp xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/'
    'oasis-200401-wss-wssecurity-utility-1.0.xsd" wsu:Id="timestamp">')
_TIMESTAMP_CLOSE: Final = "</wsu:Timestamp>"
# SIPE's SignedInfo after libxml2's exc-c14n (empty elements → start/end pairs); only the
# DigestValue varies, and base64 needs no escaping, so the canonical form is this template.
_SIGNED_INFO: Final = (
    '<SignedInfo xmlns="http://www.w3.org/2000/09/xmldsig#">'
    '<CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#">'
    "</CanonicalizationMethod>"
    '<SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1"></SignatureMethod>'
    '<Reference URI="#timestamp"><Transforms>'
    '<Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"></Transform></Transforms>'
    '<DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"></DigestMethod>'
    "<DigestValue>{digest}</DigestValue></Reference></SignedInfo>")
_SAML_V11_URI: Final = (
    "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV1.1")
_ASSERTION_ID_TYPE: Final = (
    "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.0#SAMLAssertionID")


# --- the request -------------------------------------------------------------------------------


def build_rst(*, applies_to: str, signin: str, instance_uuid: str,
              client_entropy: bytes) -> bytes:
    """The RST body SIPE POSTs to the web ticket service (WinNegotiate path, no header).

    Args:
        applies_to: the auth URI (CertProv port address, or the autodiscover User URL).
        signin: the sign-in address without ``sip:`` (``alice@example.test``).
        instance_uuid: SIPE's ``+sip.instance`` UUID from the epid (no ``urn:uuid:``).
        client_entropy: the WS-Trust requester entropy (SIPE: 32 random bytes).

    Invariant: byte-identical to SIPE 1.25.0 for values without ``& < > "`` (SIPE inserts them
    unescaped; we escape them so the document stays well-formed).

    Raises:
        ValueError: empty entropy or a value XML cannot carry.
    """
    if not client_entropy:
        raise ValueError("the client entropy must not be empty")
    secret = base64.b64encode(client_entropy).decode("ascii")
    body = (
        f'<wst:RequestSecurityToken Context="{xml_text(instance_uuid, "instance UUID")}">'
        f" <wst:TokenType>{_SAML_V11_URI}</wst:TokenType>"
        " <wst:RequestType>http://schemas.xmlsoap.org/ws/2005/02/trust/Issue</wst:RequestType>"
        " <wsp:AppliesTo>"
        "  <wsa:EndpointReference>"
        f"   <wsa:Address>{xml_text(applies_to, 'AppliesTo address')}</wsa:Address>"
        "  </wsa:EndpointReference>"
        " </wsp:AppliesTo>"
        ' <wst:Claims Dialect="urn:component:Microsoft.Rtc.WebAuthentication.2010:authclaims">'
        '  <auth:ClaimType Uri="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/uri"'
        ' Optional="false">'
        f"   <auth:Value>sip:{xml_text(signin, 'sign-in address')}</auth:Value>"
        "  </auth:ClaimType>"
        " </wst:Claims>"
        " <wst:Entropy>"
        f"  <wst:BinarySecret>{secret}</wst:BinarySecret>"
        " </wst:Entropy>"
        " <wst:KeyType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/SymmetricKey</wst:KeyType>"
        "</wst:RequestSecurityToken>")
    return soap_envelope(body)


# --- the response ------------------------------------------------------------------------------


def _sipe_time(text: str | None) -> datetime | None:
    """``sipe_utils_str_to_time``: ISO 8601, UTC when no zone is given; ``None`` if unreadable."""
    if not text:
        return None
    value = text + "Z" if text[-1] in "0123456789" else text
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise WebServiceFormatError(
            f"the {what} in the {_RSTR_DOCUMENT} is not UTF-8 text") from None


@dataclass(frozen=True)
class WebTicket:
    """A web ticket as SIPE keeps it: raw pieces of the RSTR, never re-serialized.

    Attributes:
        lifetime: raw inner text of the first ``Lifetime`` (normally ``<wsu:Created>…``
            ``<wsu:Expires>…``), pasted into SIPE's Timestamp.
        assertion: the raw ``Assertion`` element, tags included (a bearer token: secret).
        assertion_id: the ``AssertionID="…"`` value inside it (``None``: SIPE cannot sign).
        server_entropy: ``BinarySecret`` decoded leniently as glib does (``None`` when absent:
            SIPE cannot derive the proof key; an empty element gives ``b""``).
        created: ``Created`` of the Timestamp, UTC (``None`` when missing or unreadable).
        expires: ``Expires`` of the Timestamp, UTC; SIPE caches the ticket until 60 s before.
    """

    lifetime: str
    assertion: str = field(repr=False)
    assertion_id: str | None
    server_entropy: bytes | None = field(repr=False)
    created: datetime | None
    expires: datetime | None

    @property
    def timestamp(self) -> str:
        """SIPE's ``wsu:Timestamp`` string: fixed start tag + raw Lifetime text + end tag."""
        return f"{_TIMESTAMP_OPEN}{self.lifetime}{_TIMESTAMP_CLOSE}"

    def __repr__(self) -> str:
        entropy = "absent" if self.server_entropy is None else f"{len(self.server_entropy)} bytes"
        return (f"WebTicket(assertion_id={self.assertion_id!r}, created={self.created!r}, "
                f"expires={self.expires!r}, assertion=<{len(self.assertion)} chars>, "
                f"server_entropy=<{entropy}>)")


def parse_rstr(body: bytes) -> WebTicket:
    """Read a web ticket response (HTTP 200 body) as SIPE's ``webticket_token`` does.

    The body must be well-formed XML (SIPE drops it otherwise), then the pieces are cut out of
    the raw bytes. A missing ``AssertionID`` or ``BinarySecret`` is not an error here: SIPE
    needs them only to sign (:func:`wsse_security` reports it).

    Raises:
        WebServiceFormatError: unusable XML, or no ``Lifetime`` or ``Assertion`` (for a SOAP
            fault the message quotes what the fault says).
    """
    raw = c_string(body, document=_RSTR_DOCUMENT)
    parse_tree(raw, document=_RSTR_DOCUMENT)
    lifetime = extract_raw(raw, "Lifetime", include_tag=False)
    assertion = extract_raw(raw, "Assertion", include_tag=True)
    missing = [name for name, piece in (("Lifetime", lifetime), ("Assertion", assertion))
               if piece is None]
    if lifetime is None or assertion is None:
        fault = soap_fault_text(raw)
        said = f"; the server sent a SOAP fault: {fault}" if fault else ""
        raise WebServiceFormatError(
            f"the {_RSTR_DOCUMENT} has no {' and no '.join(missing)} element{said}")
    assertion_id = raw_attribute(assertion, "AssertionID")
    entropy_text = extract_raw(raw, "BinarySecret", include_tag=False)
    lifetime_text = _utf8(lifetime, "Lifetime")
    timestamp = f"{_TIMESTAMP_OPEN}{lifetime_text}{_TIMESTAMP_CLOSE}".encode()
    created = extract_raw(timestamp, "Created", include_tag=False)
    expires = extract_raw(timestamp, "Expires", include_tag=False)
    return WebTicket(
        lifetime=lifetime_text,
        assertion=_utf8(assertion, "Assertion"),
        assertion_id=None if assertion_id is None else _utf8(assertion_id, "AssertionID"),
        server_entropy=None if entropy_text is None else glib_base64_decode(entropy_text),
        created=_sipe_time(None if created is None else _utf8(created, "Created time")),
        expires=_sipe_time(None if expires is None else _utf8(expires, "Expires time")),
    )


# --- the proof ---------------------------------------------------------------------------------


def psha1(secret: bytes, seed: bytes, length: int = 32) -> bytes:
    """TLS 1.0 ``P_SHA1(secret, seed)`` truncated to ``length`` bytes (WS-Trust ``CK/PSHA1``).

    Raises:
        ValueError: ``length`` < 1.
    """
    if length < 1:
        raise ValueError("P_SHA1 output length must be at least 1")
    output = bytearray()
    a = hmac.digest(secret, seed, "sha1")
    while len(output) < length:
        output += hmac.digest(secret, a + seed, "sha1")
        a = hmac.digest(secret, a, "sha1")
    return bytes(output[:length])


def wsse_security(ticket: WebTicket, client_entropy: bytes, *, signed: bool) -> str:
    """SIPE's ``wsse:Security`` content for ``ticket``.

    Unsigned (SignedSupportingTokens, autodiscover): ``Timestamp + Assertion``. Signed
    (EndorsingSupportingTokens): ``Timestamp + Assertion + Signature`` as described in the
    module docstring; ``client_entropy`` must be the entropy sent in the RST.

    Raises:
        WebServiceFormatError: signing needs an AssertionID or server entropy the RSTR lacks.
        ValueError: signing with an empty client entropy.
    """
    if not signed:
        return ticket.timestamp + ticket.assertion
    if ticket.assertion_id is None:
        raise WebServiceFormatError(
            f"the Assertion in the {_RSTR_DOCUMENT} has no AssertionID=\"…\" attribute; SIPE "
            "cannot sign the ticket")
    if ticket.server_entropy is None:
        raise WebServiceFormatError(
            f"the {_RSTR_DOCUMENT} has no BinarySecret (server entropy); SIPE cannot compute "
            "the proof key")
    if not client_entropy:
        raise ValueError("signing needs the client entropy that was sent in the RST")
    key = psha1(client_entropy, ticket.server_entropy, len(client_entropy))
    # SHA-1 is fixed by the protocol (XML-DSig digest of the Timestamp), not our choice.
    digest = base64.b64encode(hashlib.sha1(ticket.timestamp.encode(),
                                           usedforsecurity=False).digest()).decode("ascii")
    signed_info = _SIGNED_INFO.format(digest=digest)
    signature_value = base64.b64encode(
        hmac.digest(key, signed_info.encode(), "sha1")).decode("ascii")
    signature = (
        '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">'
        f" {signed_info}"
        f" <SignatureValue>{signature_value}</SignatureValue>"
        " <KeyInfo>"
        f'  <wsse:SecurityTokenReference wsse:TokenType="{_SAML_V11_URI}">'
        f'   <wsse:KeyIdentifier ValueType="{_ASSERTION_ID_TYPE}">{ticket.assertion_id}'
        "</wsse:KeyIdentifier>"
        "  </wsse:SecurityTokenReference>"
        " </KeyInfo>"
        "</Signature>")
    return ticket.timestamp + ticket.assertion + signature


def timestamp_canonical_form(ticket: WebTicket) -> str | None:
    """The exc-c14n form of SIPE's Timestamp where it stands in SIPE's request (inside
    ``wsse:Security`` under SIPE's envelope declarations); ``None`` when a server could not
    even parse it there (e.g. the Lifetime uses a prefix SIPE's envelope does not declare)."""
    return exclusive_c14n(ticket.timestamp, SIPE_ENVELOPE_NAMESPACES)


def timestamp_is_canonical(ticket: WebTicket) -> bool:
    """Does SIPE's raw Timestamp equal its exc-c14n form?

    If not, SIPE's DigestValue (over the raw string) differs from what an exc-c14n verifier
    (WCF) computes, and the server rejects the signed GetAndPublishCert. Typical causes: a
    redundant ``xmlns:wsu`` on ``Created``/``Expires``, a prefix other than ``wsu``, single
    quotes, self-closing tags, comments, CR characters.
    """
    return timestamp_canonical_form(ticket) == ticket.timestamp


def webticket_header_value(ticket: WebTicket) -> str:
    """The ``X-MS-WebTicket`` header value SIPE's autodiscover sends (§5.1):
    ``opaque=`` + base64 of the ``Assertion`` cut again out of the unsigned ``wsse`` text.

    Raises:
        WebServiceFormatError: no Assertion can be cut out of it (cannot happen for a ticket
            from :func:`parse_rstr`, kept for SIPE's exact path).
    """
    wsse = wsse_security(ticket, b"", signed=False).encode()
    saml = extract_raw(wsse, "Assertion", include_tag=True)
    if saml is None:
        raise WebServiceFormatError(f"no Assertion in the {_RSTR_DOCUMENT}")
    return "opaque=" + base64.b64encode(saml).decode("ascii")
