"""SIPE 1.25.0's SOAP 1.1 envelope, and what a SOAP fault says (tls-dsk.md §1.3.1, §1.9).

Invariants:
- :func:`soap_envelope` reproduces SIPE's ``sipe_svc_wsdl_request`` text byte for byte; what
  it is given is inserted verbatim (callers escape values with :func:`xml_text`).
- Fault reading never raises: an unparseable body simply has no fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from xml.sax.saxutils import escape

from .errors import WebServiceFormatError
from .sipexml import parse_tree

__all__ = [
    "SIPE_ENVELOPE_NAMESPACES",
    "SoapFault",
    "parse_soap_fault",
    "soap_envelope",
    "soap_fault_text",
    "xml_text",
]

SIPE_ENVELOPE_NAMESPACES: Final[dict[str, str]] = {
    "saml": "urn:oasis:names:tc:SAML:1.0:assertion",
    "soap": "http://schemas.xmlsoap.org/soap/envelope/",
    "wst": "http://docs.oasis-open.org/ws-sx/ws-trust/200512",
    "auth": "http://schemas.xmlsoap.org/ws/2006/12/authorization",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "wsp": "http://schemas.xmlsoap.org/ws/2004/09/policy",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
}
"""Prefixes declared on ``soap:Envelope`` of every SIPE SOAP 1.1 request, in SIPE's order."""

_FAULT_TEXT_LIMIT: Final = 300


def xml_text(value: str, what: str) -> str:
    """``value`` escaped for element content or a double-quoted attribute.

    Raises:
        ValueError: ``value`` holds a character XML 1.0 cannot carry (a caller bug).
    """
    if any((ord(ch) < 0x20 and ch not in "\t\n\r") or 0xD800 <= ord(ch) <= 0xDFFF
           or ord(ch) in (0xFFFE, 0xFFFF) for ch in value):
        raise ValueError(f"{what} contains a character XML cannot carry")
    return escape(value, {'"': "&quot;"})


def soap_envelope(body: str, header: str = "") -> bytes:
    """SIPE's SOAP 1.1 request document (``sipe_svc_wsdl_request`` via ``new_soap_req``).

    ``header`` (a whole ``<soap:Header>…</soap:Header>`` or ``""``) and ``body`` (the content of
    ``soap:Body``) are inserted verbatim.
    """
    declarations = "".join(f' xmlns:{prefix}="{uri}"'
                           for prefix, uri in SIPE_ENVELOPE_NAMESPACES.items())
    return (f'<?xml version="1.0"?>\r\n<soap:Envelope{declarations} >{header}'
            f" <soap:Body>{body}</soap:Body></soap:Envelope>").encode()


@dataclass(frozen=True)
class SoapFault:
    """What a SOAP fault in a web service answer says.

    Attributes:
        sipe_text: ``Body/Fault/Detail/error/internalerror/text``, stripped — exactly the
            second line SIPE shows under "Web ticket request to … failed", and only when the
            fault came with HTTP 200 (SIPE does not parse other bodies). SIPE's path spells
            ``Detail``: a SOAP 1.1 ``detail`` does not match.
        fault_string: ``faultstring`` (SOAP 1.1) or ``Reason/Text`` (SOAP 1.2), stripped.
    """

    sipe_text: str | None
    fault_string: str | None


def _stripped(text: str | None) -> str | None:
    """``g_strstrip`` (ASCII white space only), shortened for display."""
    if text is None:
        return None
    text = text.strip(" \t\n\v\f\r")
    return text if len(text) <= _FAULT_TEXT_LIMIT else text[:_FAULT_TEXT_LIMIT] + "…"


def parse_soap_fault(body: bytes) -> SoapFault | None:
    """The fault in ``body``, or ``None`` when the body is no parseable SOAP fault."""
    try:
        root = parse_tree(body, document="SOAP response")
    except WebServiceFormatError:
        return None
    fault = root.child("Body/Fault")
    if fault is None:
        return None
    sipe = fault.child("Detail/error/internalerror/text")
    reason = fault.child("faultstring")
    if reason is None:
        reason = fault.child("Reason/Text")
    return SoapFault(sipe_text=_stripped(sipe.data if sipe is not None else None),
                     fault_string=_stripped(reason.data if reason is not None else None))


def soap_fault_text(body: bytes) -> str | None:
    """One line for the user: SIPE's internalerror text, else the faultstring, else ``None``."""
    fault = parse_soap_fault(body)
    if fault is None:
        return None
    return fault.sipe_text or fault.fault_string
