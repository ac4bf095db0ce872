"""The two metadata (mex) documents of SIPE 1.25.0's web ticket flow (reference tls-dsk.md §1.3).

(a) ``GET <sts-uri>/mex`` — the Certificate Provisioning service (``sipe-webticket.c``:
    ``service_metadata``):

    1. Among the root's children named ``Policy``, the **first** whose ``Id`` attribute equals
       ``<port>_policy`` (ASCII case-insensitive, any prefix: ``wsu:Id`` counts) is used; later
       ones are never looked at, even if the first one is unusable.
    2. In it ``ExactlyOne/All/EndorsingSupportingTokens/Policy/IssuedToken/Issuer/Address``
       (first match per step, prefixes ignored, names case-sensitive) gives the web ticket URL
       and means "signing required". Only when that path yields no text,
       ``…/SignedSupportingTokens/…`` gives it, without signing.
    3. Among the ``port`` children of the root's first ``service``, the **first** whose ``name``
       equals the port name (ASCII case-insensitive) is used; its first ``address`` child's
       ``location`` attribute is the *auth URI* (the RST's AppliesTo and the GetAndPublishCert
       target). A port without it ends the search.

(b) ``GET <web ticket URL>/mex`` — the web ticket service (``webticket_metadata``): every
    ``port`` of the root's first ``service`` that has an ``address@location`` and is named
    ``WebTicketServiceWinNegotiate`` or ``WsFedBearer`` (ASCII case-insensitive) sets that URL;
    a later port of the same name **replaces** an earlier one. At least one must be present.

URL policy (ours, stricter than SIPE): only ``https://`` URLs are accepted. SIPE would also use
``http://`` — and so send the ticket in clear — which the error says. Text is taken verbatim as
SIPE does: an address with white space around it is reported, not repaired, because SIPE fails
on it.

Invariants:
- Bytes in, a frozen value out, or :class:`WebServiceFormatError` with what was missing and in
  which document. Nothing else is raised on any input (see :mod:`.sipexml` for the XML bounds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .errors import WebServiceFormatError
from .sipexml import ascii_equal_ignore_case, parse_tree

__all__ = [
    "CERTPROV_PORT",
    "WEBTICKET_NEGOTIATE_PORT",
    "WSFED_BEARER_PORT",
    "CertProvisioningMetadata",
    "WebTicketServiceMetadata",
    "mex_url",
    "parse_certprov_mex",
    "parse_webticket_mex",
]

CERTPROV_PORT: Final = "CertProvisioningServiceWebTicketProof_SHA1"
WEBTICKET_NEGOTIATE_PORT: Final = "WebTicketServiceWinNegotiate"
WSFED_BEARER_PORT: Final = "WsFedBearer"

_CERTPROV_DOCUMENT: Final = "Certificate Provisioning service metadata (mex)"
_WEBTICKET_DOCUMENT: Final = "web ticket service metadata (mex)"
_ISSUER_PATH: Final = "ExactlyOne/All/{tokens}/Policy/IssuedToken/Issuer/Address"
_ENDORSING_PATH: Final = _ISSUER_PATH.format(tokens="EndorsingSupportingTokens")
_SIGNED_PATH: Final = _ISSUER_PATH.format(tokens="SignedSupportingTokens")
_MAX_URL_LENGTH: Final = 4096


@dataclass(frozen=True)
class CertProvisioningMetadata:
    """What SIPE takes from the Certificate Provisioning service's mex document.

    Attributes:
        webticket_url: base URL of the web ticket service (its mex is ``<url>/mex``).
        auth_uri: the port's address: AppliesTo of the RST and target of GetAndPublishCert.
        signing_required: the ticket came from ``EndorsingSupportingTokens`` → the
            ``wsse:Security`` header carries an HMAC-SHA1 signature (PSHA1 proof key).
    """

    webticket_url: str
    auth_uri: str
    signing_required: bool


@dataclass(frozen=True)
class WebTicketServiceMetadata:
    """The web ticket service's authentication ports (at least one is set).

    Attributes:
        win_negotiate_url: ``WebTicketServiceWinNegotiate`` (HTTP Negotiate/NTLM), tried first.
        wsfed_bearer_url: ``WsFedBearer`` (Office 365 federation; retired service).
    """

    win_negotiate_url: str | None
    wsfed_bearer_url: str | None


def mex_url(base: str) -> str:
    """SIPE's metadata URL for a service base URL: ``base + "/mex"`` (no normalization)."""
    return f"{base}/mex"


def _https_url(value: str, *, what: str, document: str, needs_path: bool) -> str:
    """``value`` if SIPE could request it and it is https; the reason otherwise.

    SIPE's ``sipe_http_parse_uri`` wants a lower-case ``http(s)://`` prefix, a host, and a ``/``
    after the host (the path); it uses the text verbatim.
    """
    where = f"{what} in the {document}"
    shown = value if len(value) <= 200 else value[:200] + "…"
    if not value:
        raise WebServiceFormatError(f"the {where} is empty")
    if len(value) > _MAX_URL_LENGTH:
        raise WebServiceFormatError(f"the {where} is {len(value)} characters long; refused")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise WebServiceFormatError(
            f"the {where} ({shown!r}) contains white space or control characters; SIPE uses "
            "the text verbatim and cannot request it")
    if value.startswith("http://"):
        raise WebServiceFormatError(
            f"the {where} ({shown}) is plain http://; sipe-setup only sends web tickets over "
            "https:// (SIPE 1.25.0 would send them unencrypted)")
    if not value.startswith("https://"):
        raise WebServiceFormatError(
            f"the {where} ({shown}) is not an https:// URL (SIPE only understands a lower-case "
            "http:// or https:// prefix)")
    host_port, slash, _ = value[len("https://"):].partition("/")
    if not host_port.partition(":")[0]:
        raise WebServiceFormatError(f"the {where} ({shown}) names no host")
    if needs_path and not slash:
        raise WebServiceFormatError(
            f"the {where} ({shown}) has no path after the host; SIPE cannot request it")
    return value


def parse_certprov_mex(body: bytes,
                       port_name: str = CERTPROV_PORT) -> CertProvisioningMetadata:
    """Read mex document (a) as SIPE's ``service_metadata`` does.

    Raises:
        WebServiceFormatError: unusable XML, no matching policy, no issuer address in it, no
            matching port or address, or a URL SIPE could not request / that is not https.
    """
    root = parse_tree(body, document=_CERTPROV_DOCUMENT)
    policy_id = f"{port_name}_policy"
    policy = next((node for node in root.all_children("Policy")
                   if ascii_equal_ignore_case(node.attribute("Id"), policy_id)), None)
    if policy is None:
        raise WebServiceFormatError(
            f"the {_CERTPROV_DOCUMENT} has no top-level Policy with Id {policy_id!r}")

    endorsing = policy.child(_ENDORSING_PATH)
    ticket_url = endorsing.data if endorsing is not None else None
    signing_required = ticket_url is not None
    if ticket_url is None:
        signed = policy.child(_SIGNED_PATH)
        ticket_url = signed.data if signed is not None else None
    if ticket_url is None:
        raise WebServiceFormatError(
            f"the {_CERTPROV_DOCUMENT}: policy {policy_id!r} names no web ticket issuer (no "
            "ExactlyOne/All/EndorsingSupportingTokens or …/SignedSupportingTokens "
            "/Policy/IssuedToken/Issuer/Address with text, first match per step)")

    port = next((node for node in root.all_children("service/port")
                 if ascii_equal_ignore_case(node.attribute("name"), port_name)), None)
    if port is None:
        raise WebServiceFormatError(
            f"the {_CERTPROV_DOCUMENT} has no service/port named {port_name!r} (only the first "
            "service element is searched)")
    address = port.child("address")
    auth_uri = address.attribute("location") if address is not None else None
    if auth_uri is None:
        raise WebServiceFormatError(
            f"the {_CERTPROV_DOCUMENT}: port {port_name!r} has no address with a location")

    return CertProvisioningMetadata(
        webticket_url=_https_url(ticket_url, what="web ticket issuer address",
                                 document=_CERTPROV_DOCUMENT, needs_path=False),
        auth_uri=_https_url(auth_uri, what=f"address of port {port_name!r}",
                            document=_CERTPROV_DOCUMENT, needs_path=True),
        signing_required=signing_required,
    )


def parse_webticket_mex(body: bytes) -> WebTicketServiceMetadata:
    """Read mex document (b) as SIPE's ``webticket_metadata`` does.

    Raises:
        WebServiceFormatError: unusable XML, neither port present with an address, or a port
            URL SIPE could not request / that is not https.
    """
    root = parse_tree(body, document=_WEBTICKET_DOCUMENT)
    urls: dict[str, str] = {}
    for port in root.all_children("service/port"):
        address = port.child("address")
        location = address.attribute("location") if address is not None else None
        if location is None:
            continue
        for wanted in (WEBTICKET_NEGOTIATE_PORT, WSFED_BEARER_PORT):
            if ascii_equal_ignore_case(port.attribute("name"), wanted):
                urls[wanted] = location  # a later port of the same name wins, as in SIPE
    if not urls:
        raise WebServiceFormatError(
            f"the {_WEBTICKET_DOCUMENT} has no service/port named {WEBTICKET_NEGOTIATE_PORT!r} "
            f"or {WSFED_BEARER_PORT!r} with an address location (only the first service "
            "element is searched)")
    checked = {name: _https_url(url, what=f"address of port {name!r}",
                                document=_WEBTICKET_DOCUMENT, needs_path=True)
               for name, url in urls.items()}
    return WebTicketServiceMetadata(
        win_negotiate_url=checked.get(WEBTICKET_NEGOTIATE_PORT),
        wsfed_bearer_url=checked.get(WSFED_BEARER_PORT),
    )
