"""Certificate provisioning (GetAndPublishCert) exactly as SIPE 1.25.0 does it (tls-dsk.md §1.4).

- :func:`build_csr` — SIPE's PKCS#10 request as its NSS backend writes it: version 0, subject
  ``CN=<sign-in>`` (PrintableString when every character allows it, else UTF8String — NSS's
  rule; a sign-in with ``@`` is always UTF8String), the RSA public key, an empty attribute set
  (``[0]`` of length 0), sha256WithRSAEncryption; base64 cut into 76-character lines, each full
  line followed by CRLF (so a length that is a multiple of 76 ends in CRLF — SIPE's loop).
- :func:`build_get_and_publish_cert` — the SOAP request, byte for byte: SIPE's envelope, a
  header with ``wsa:To``/``ReplyTo``/``MessageID``/``Action``/``wsse:Security`` and the body
  with ``DeviceId="{<instance>}"``, ``Entity``, the CSR and ``wstep:RequestID``.
- ``wsa:MessageID`` = ``uuid:`` + SIPE's name-based UUID of the whole ``wsse:Security`` text;
  ``wstep:RequestID`` = the same UUID function over base64 of 32 random bytes
  (``generateUUIDfromEPID``, the function that also turns the epid into ``+sip.instance``).
- :func:`parse_get_and_publish_cert_response` — SIPE's path
  ``Body/GetAndPublishCertResponse/RequestSecurityTokenResponse/RequestedSecurityToken/``
  ``BinarySecurityToken``, base64-decoded the glib way. SIPE hands these bytes *as they are*
  to its TLS Certificate message, so only a single DER X.509 certificate works.
- :func:`certificate_validity` — what SIPE will do with the certificate's validity.

Invariants:
- Sans-I/O; the only randomness is the key (:func:`new_client_key`) and the request ID, both
  injectable for tests.
- Peer bytes give a value or :class:`WebServiceFormatError`; bad arguments from our caller
  give :class:`ValueError`. No key material in any message.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from .errors import WebServiceFormatError
from .sipexml import glib_base64_decode, parse_tree
from .soap import soap_envelope, soap_fault_text, xml_text

__all__ = [
    "CSR_LINE_LENGTH",
    "GET_AND_PUBLISH_CERT_SOAP_ACTION",
    "RSA_KEY_BITS",
    "SIPE_CERTIFICATE_MARGIN",
    "CertificateValidity",
    "build_csr",
    "build_csr_der",
    "build_get_and_publish_cert",
    "certificate_validity",
    "csr_text",
    "message_id_for",
    "new_client_key",
    "new_request_id",
    "parse_get_and_publish_cert_response",
    "uuid_from_text",
]

RSA_KEY_BITS: Final = 2048
CSR_LINE_LENGTH: Final = 76
GET_AND_PUBLISH_CERT_SOAP_ACTION: Final = (
    "http://schemas.microsoft.com/OCS/AuthWebServices/GetAndPublishCert")
SIPE_CERTIFICATE_MARGIN: Final = timedelta(hours=1)
"""A cached certificate is used only if still valid this long from now (else: provision)."""
NSS_NOT_BEFORE_SLOP: Final = timedelta(days=1)
"""NSS's ``CERT_CheckCertValidTimes`` accepts a notBefore up to one day in the future."""

_UUID_NAMESPACE: Final = uuid.UUID("fcacfb03-8a73-46ef-91b1-e5ebeeaba4fe")
_REQUEST_ID_RANDOM_BYTES: Final = 32
_RESPONSE_DOCUMENT: Final = "GetAndPublishCert response"
_CERTIFICATE_PATH: Final = ("Body/GetAndPublishCertResponse/RequestSecurityTokenResponse/"
                      "RequestedSecurityToken/BinarySecurityToken")
_CN_MAX_UTF8_BYTES: Final = 640  # NSS name2kinds "CN" limit
_NSS_DN_SPECIAL: Final = frozenset(',="\r\n+<>#;\\')
_PRINTABLE_STRING: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 '()+,-./:=?")
_CSR_TEXT: Final = re.compile(r"[A-Za-z0-9+/=\r\n]+")
_OID_COMMON_NAME: Final = bytes.fromhex("0603550403")
_SHA256_WITH_RSA: Final = bytes.fromhex("300d06092a864886f70d01010b0500")


# --- identifiers -------------------------------------------------------------------------------


def uuid_from_text(text: str) -> str:
    """SIPE's ``generateUUIDfromEPID``: a version-5-like UUID of ``text`` (lower case).

    SHA-1 over the namespace ``fcacfb03-8a73-46ef-91b1-e5ebeeaba4fe`` laid out little-endian
    plus the UTF-8 text up to any NUL (a C string); the first 16 bytes read little-endian, with
    version 5 and the RFC 4122 variant. Same function as ``sip.register.sip_instance``.
    """
    data = text.encode("utf-8").split(b"\0", 1)[0]
    digest = hashlib.sha1(_UUID_NAMESPACE.bytes_le + data, usedforsecurity=False).digest()
    raw = bytearray(digest[:16])
    raw[7] = (raw[7] & 0x0F) | 0x50  # time_hi_and_version, stored little-endian
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes_le=bytes(raw)))


def message_id_for(wsse: str) -> str:
    """``wsa:MessageID`` without its ``uuid:`` prefix: the UUID of the ``wsse:Security`` text."""
    return uuid_from_text(wsse)


def new_request_id(random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """``wstep:RequestID``: the UUID of base64(32 random bytes), as SIPE makes it."""
    return uuid_from_text(base64.b64encode(random_bytes(_REQUEST_ID_RANDOM_BYTES)).decode())


# --- the key and the CSR -----------------------------------------------------------------------


def new_client_key() -> rsa.RSAPrivateKey:
    """A fresh RSA-2048 key pair with e = 65537, as SIPE generates per session."""
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)


def _der(tag: int, content: bytes) -> bytes:
    """One DER TLV (definite length, short or long form)."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def _subject_common_name(signin: str) -> bytes:
    """DER ``Name`` holding ``CN=<signin>`` as NSS's ``CERT_AsciiToName`` builds it.

    Raises:
        ValueError: NSS would read the text as something else than one CN value (separators,
            quotes, leading/trailing spaces, controls) or refuse it (over 640 bytes).
    """
    value = signin.encode("utf-8")
    if (not signin or any(ch in _NSS_DN_SPECIAL or ord(ch) < 0x20 or ord(ch) == 0x7F
                          for ch in signin)
            or signin != signin.strip(" ") or len(value) > _CN_MAX_UTF8_BYTES):
        raise ValueError("this sign-in address cannot go into SIPE's certificate request "
                         "subject (empty, too long, or it holds , = \" + < > # ; \\, spaces at "
                         "either end or control characters)")
    string_tag = 0x13 if all(ch in _PRINTABLE_STRING for ch in signin) else 0x0C
    attribute = _der(0x30, _OID_COMMON_NAME + _der(string_tag, value))
    return _der(0x30, _der(0x31, attribute))


def build_csr_der(key: rsa.RSAPrivateKey, signin: str) -> bytes:
    """SIPE's PKCS#10 request (DER) for ``signin`` (without ``sip:``), signed with ``key``.

    Raises:
        ValueError: a sign-in NSS cannot turn into ``CN=<signin>`` (see :func:`build_csr`).
    """
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    info = _der(0x30, _der(0x02, b"\x00") + _subject_common_name(signin) + spki
                + _der(0xA0, b""))
    signature = key.sign(info, padding.PKCS1v15(), hashes.SHA256())
    return _der(0x30, info + _SHA256_WITH_RSA + _der(0x03, b"\x00" + signature))


def build_csr(key: rsa.RSAPrivateKey, signin: str) -> str:
    """The CSR text as SIPE puts it into GetAndPublishCert (base64, 76-char lines + CRLF).

    Raises:
        ValueError: ``signin`` is empty, longer than NSS allows (640 bytes), or holds
            characters NSS's DN parser treats specially (``, = " + < > # ; \\``, leading or
            trailing spaces, control characters).
    """
    return csr_text(build_csr_der(key, signin))


def csr_text(der: bytes) -> str:
    """SIPE's layout of a CSR (``create_certreq``): base64 in 76-character lines, CRLF after
    every *full* line — so a text whose length is a multiple of 76 ends in CRLF."""
    text = base64.b64encode(der).decode("ascii")
    lines = [text[i:i + CSR_LINE_LENGTH] for i in range(0, len(text), CSR_LINE_LENGTH)]
    return "".join(line + "\r\n" if len(line) == CSR_LINE_LENGTH else line for line in lines)


# --- the request -------------------------------------------------------------------------------


def build_get_and_publish_cert(*, auth_uri: str, wsse: str, signin: str, instance_uuid: str,
                               csr: str, request_id: str,
                               message_id: str | None = None) -> bytes:
    """The GetAndPublishCert body SIPE POSTs to the auth URI (no HTTP auth).

    Args:
        auth_uri: the CertProv port address (``wsa:To``).
        wsse: :func:`~.webticket.wsse_security` text, inserted verbatim.
        signin: sign-in address without ``sip:`` (``Entity``).
        instance_uuid: ``+sip.instance`` UUID (``DeviceId="{…}"``).
        csr: :func:`build_csr` text, inserted verbatim after a CRLF.
        request_id: ``wstep:RequestID`` (:func:`new_request_id`).
        message_id: ``wsa:MessageID`` without ``uuid:``; default :func:`message_id_for` (SIPE).

    Invariant: byte-identical to SIPE 1.25.0 for values without ``& < > "``.

    Raises:
        ValueError: ``csr`` is not base64 text with line breaks, or a value XML cannot carry.
    """
    if not _CSR_TEXT.fullmatch(csr):
        raise ValueError("the CSR must be base64 text with CRLF line breaks")
    if message_id is None:
        message_id = message_id_for(wsse)
    header = (
        "<soap:Header>"
        f" <wsa:To>{xml_text(auth_uri, 'auth URI')}</wsa:To>"
        " <wsa:ReplyTo>"
        "  <wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address>"
        " </wsa:ReplyTo>"
        f" <wsa:MessageID>uuid:{xml_text(message_id, 'message ID')}</wsa:MessageID>"
        f" <wsa:Action>{GET_AND_PUBLISH_CERT_SOAP_ACTION}</wsa:Action>"
        f" <wsse:Security>{wsse}</wsse:Security>"
        "</soap:Header>")
    body = (
        "<GetAndPublishCert"
        ' xmlns="http://schemas.microsoft.com/OCS/AuthWebServices/"'
        ' xmlns:wst="http://docs.oasis-open.org/ws-sx/ws-trust/200512/"'
        ' xmlns:wstep="http://schemas.microsoft.com/windows/pki/2009/01/enrollment"'
        f' DeviceId="{{{xml_text(instance_uuid, "instance UUID")}}}"'
        f' Entity="{xml_text(signin, "sign-in address")}"'
        ">"
        " <wst:RequestSecurityToken>"
        "  <wst:TokenType>http://docs.oasis-open.org/wss/2004/01/"
        "oasis-200401-wss-x509-token-profile-1.0#X509v3</wst:TokenType>"
        "  <wst:RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue"
        "</wst:RequestType>"
        "  <wsse:BinarySecurityToken"
        '   ValueType="http://schemas.microsoft.com/OCS/AuthWebServices.xsd#PKCS10"'
        '   EncodingType="http://docs.oasis-open.org/wss/2004/01/'
        'oasis-200401-wss-wssecurity-secext-1.0.xsd#Base64Binary"'
        f"  >\r\n{csr}</wsse:BinarySecurityToken>"
        f"  <wstep:RequestID>{xml_text(request_id, 'request ID')}</wstep:RequestID>"
        " </wst:RequestSecurityToken>"
        "</GetAndPublishCert>")
    return soap_envelope(body, header)


# --- the response ------------------------------------------------------------------------------


def _single_certificate(raw: bytes) -> bytes | None:
    """``raw`` if it is exactly one DER X.509 certificate (nothing before or after)."""
    try:
        certificate = x509.load_der_x509_certificate(raw)
        encoded = certificate.public_bytes(serialization.Encoding.DER)
    except (ValueError, UnsupportedAlgorithm):
        return None
    return raw if encoded == raw else None


def _is_pkcs7(raw: bytes) -> bool:
    """``raw`` is a PKCS#7 SignedData carrying certificates (what NSS would also accept)."""
    try:
        pkcs7.load_der_pkcs7_certificates(raw)
    except (ValueError, UnsupportedAlgorithm):
        return False
    return True


def parse_get_and_publish_cert_response(body: bytes) -> bytes:
    """The DER certificate SIPE would take from a GetAndPublishCert answer (HTTP 200 body).

    Raises:
        WebServiceFormatError: unusable XML; no token at SIPE's path (a SOAP fault is quoted);
            a token that is not exactly one DER X.509 certificate — a PKCS#7 bundle or anything
            else. SIPE would send a bundle as-is as its TLS certificate (the handshake fails),
            and fails at once with "Certificate request to … failed" on bytes NSS cannot read.
    """
    root = parse_tree(body, document=_RESPONSE_DOCUMENT)
    token = root.child(_CERTIFICATE_PATH)
    if token is None or token.data is None:
        fault = soap_fault_text(body)
        said = f"; the server sent a SOAP fault: {fault}" if fault else ""
        what = "no" if token is None else "an empty"
        raise WebServiceFormatError(
            f"the {_RESPONSE_DOCUMENT} has {what} {_CERTIFICATE_PATH} (first match per step){said}")
    raw = glib_base64_decode(token.data.encode("utf-8"))
    if not raw:
        raise WebServiceFormatError(
            f"the certificate in the {_RESPONSE_DOCUMENT} is not base64 (decodes to nothing)")
    certificate = _single_certificate(raw)
    if certificate is not None:
        return certificate
    if _is_pkcs7(raw):
        raise WebServiceFormatError(
            f"the {_RESPONSE_DOCUMENT} holds a PKCS#7 bundle where SIPE expects a single X.509 "
            "certificate; SIPE 1.25.0 would send the whole bundle as its TLS certificate and "
            "the sign-in would fail")
    raise WebServiceFormatError(
        f"the token in the {_RESPONSE_DOCUMENT} is not a DER X.509 certificate ({len(raw)} "
        "bytes); SIPE 1.25.0 would fail (\"Certificate request to … failed\") or send the "
        "bytes as-is as its TLS certificate")


# --- validity ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateValidity:
    """What SIPE 1.25.0 does with a provisioned certificate's validity period.

    Attributes:
        not_before / not_after: the validity period (UTC).
        seconds_left: whole seconds from ``now`` to ``not_after`` (negative once expired).
        sipe_expires: SIPE's "expires" (``sipe_cert_crypto_expires``): ``seconds_left`` but 0
            once expired; the re-authentication timer is min(this, 8 h) − 5 min.
        sipe_loops: the certificate is not valid one hour from now (NSS allows notBefore one
            day ahead). SIPE then discards it on the very next REGISTER and provisions again —
            forever (tls-dsk.md §0.4).
        subject: the subject, RFC 4514 (Lync writes ``CN=sip:<sign-in>``; SIPE ignores it).
        public_key_matches: the certificate carries the client key's public key (``None``
            when no key was given). If not, SIPE's CertificateVerify cannot match it.
    """

    not_before: datetime
    not_after: datetime
    seconds_left: int
    sipe_expires: int
    sipe_loops: bool
    subject: str
    public_key_matches: bool | None


def _spki(key: rsa.RSAPublicKey | rsa.RSAPrivateKey) -> bytes:
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)


def certificate_validity(der: bytes, now: datetime, *,
                         client_key: rsa.RSAPrivateKey | rsa.RSAPublicKey | None = None,
                         ) -> CertificateValidity:
    """Judge ``der`` (from :func:`parse_get_and_publish_cert_response`) as SIPE would at ``now``.

    Raises:
        WebServiceFormatError: ``der`` is not an X.509 certificate.
        ValueError: ``now`` has no time zone.
    """
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    try:
        certificate = x509.load_der_x509_certificate(der)
        not_before = certificate.not_valid_before_utc
        not_after = certificate.not_valid_after_utc
        subject = certificate.subject.rfc4514_string()
        spki = certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    except (ValueError, UnsupportedAlgorithm):
        raise WebServiceFormatError("the provisioned certificate is not a readable X.509 "
                                    "certificate") from None
    seconds_left = int((not_after - now).total_seconds() // 1)
    checked_at = now + SIPE_CERTIFICATE_MARGIN
    valid_then = not_before - NSS_NOT_BEFORE_SLOP <= checked_at <= not_after
    return CertificateValidity(
        not_before=not_before,
        not_after=not_after,
        seconds_left=seconds_left,
        sipe_expires=max(seconds_left, 0),
        sipe_loops=not valid_then,
        subject=subject,
        public_key_matches=None if client_key is None else spki == _spki(client_key),
    )
