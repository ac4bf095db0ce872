"""Lync web services for TLS-DSK, sans-I/O: exactly what SIPE 1.25.0 sends and accepts.

The flow (reference tls-dsk.md §1.3-1.4), with the function for each step:

1. ``GET mex_url(sts_uri)`` → :func:`parse_certprov_mex` → web ticket URL, auth URI, signing.
2. ``GET mex_url(webticket_url)`` → :func:`parse_webticket_mex` → WinNegotiate / WsFedBearer.
3. ``POST`` :func:`build_rst` to WinNegotiate (HTTP Negotiate/NTLM) → :func:`parse_rstr`
   (HTTP 200 only; on failure :func:`soap_fault_text` for SIPE's second line).
4. :func:`wsse_security` (signed when the mex said so), :func:`new_client_key`,
   :func:`build_csr`, :func:`new_request_id` → ``POST`` :func:`build_get_and_publish_cert` to the
   auth URI → :func:`parse_get_and_publish_cert_response` → :func:`certificate_validity`.

Autodiscover's User link (§5.1) uses steps 2-3 with the User URL as AppliesTo, then
:func:`webticket_header_value`. Every parser raises only :class:`WebServiceFormatError`.
"""

from __future__ import annotations

from .certprov import (
    CertificateValidity,
    build_csr,
    build_csr_der,
    build_get_and_publish_cert,
    certificate_validity,
    message_id_for,
    new_client_key,
    new_request_id,
    parse_get_and_publish_cert_response,
    uuid_from_text,
)
from .errors import WebServiceFormatError
from .mex import (
    CertProvisioningMetadata,
    WebTicketServiceMetadata,
    mex_url,
    parse_certprov_mex,
    parse_webticket_mex,
)
from .soap import SoapFault, parse_soap_fault, soap_fault_text
from .webticket import (
    WebTicket,
    build_rst,
    parse_rstr,
    psha1,
    timestamp_canonical_form,
    timestamp_is_canonical,
    webticket_header_value,
    wsse_security,
)

__all__ = [
    "CertProvisioningMetadata",
    "CertificateValidity",
    "SoapFault",
    "WebServiceFormatError",
    "WebTicket",
    "WebTicketServiceMetadata",
    "build_csr",
    "build_csr_der",
    "build_get_and_publish_cert",
    "build_rst",
    "certificate_validity",
    "message_id_for",
    "mex_url",
    "new_client_key",
    "new_request_id",
    "parse_certprov_mex",
    "parse_get_and_publish_cert_response",
    "parse_rstr",
    "parse_soap_fault",
    "parse_webticket_mex",
    "psha1",
    "soap_fault_text",
    "timestamp_canonical_form",
    "timestamp_is_canonical",
    "uuid_from_text",
    "webticket_header_value",
    "wsse_security",
]
