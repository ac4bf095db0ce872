"""The MS-SIPAE signature input string and the ``Authentication-Info`` header (reference §3.5).

Invariants:
- Field values are copied exactly as they appear in the message (case kept, nothing
  normalized), with SIPE's own extraction rules — substring searches included — because the
  server computed its signature over the very same text.
- Version ≥ 3: 16 fields (no trailing field for requests, ``<code>`` for responses);
  version < 3: 13 fields.
- No realm → no signature string (SIPE signs nothing then); :func:`signature_string` returns
  None in that case.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipe_setup.core.sip.message import (
    AuthParams,
    SipMessage,
    SipProtocolError,
    SipRequest,
    SipResponse,
    parse_auth_params,
)

__all__ = [
    "AuthenticationInfo",
    "SignatureFields",
    "authentication_info",
    "fields_from_message",
    "incoming_signature_fields",
    "signature_string",
]


def _part_of(header: str, start: str | None, end: str) -> str:
    """SIPE's ``sipmsg_find_part_of_header``: text after ``start`` up to ``end`` (or the end)."""
    pos = 0
    if start is not None:
        found = header.find(start)
        if found < 0:
            return ""
        pos = found + len(start)
    stop = header.find(end, pos)
    return header[pos:] if stop < 0 else header[pos:stop]


def _uri_of(header: str) -> str:
    """SIPE's ``parse_from``: the text inside ``<…>``, or up to ``;`` without brackets."""
    lt = header.find("<")
    if lt >= 0:
        gt = header.find(">", lt + 1)
        return header[lt + 1:] if gt < 0 else header[lt + 1:gt]
    return header.split(";", 1)[0].strip()


def _pai_uris(header: str) -> tuple[str, str]:
    """(sip URI, tel URI) from a P-Asserted-Identity value (``<sip:…>, <tel:…>``)."""
    sip_uri = tel_uri = ""
    for item in header.split(","):
        uri = _uri_of(item.strip())
        lowered = uri.lower()
        if lowered.startswith("sip:") and not sip_uri:
            sip_uri = uri
        elif lowered.startswith("tel:") and not tel_uri:
            tel_uri = uri
    return sip_uri, tel_uri


@dataclass(frozen=True, slots=True)
class SignatureFields:
    """Everything that goes into a signature string."""

    scheme: str
    rand: str
    num: str
    realm: str
    target_name: str
    call_id: str
    cseq_number: str
    method: str
    from_uri: str
    from_tag: str
    to_uri: str
    to_tag: str
    pai_sip_uri: str
    pai_tel_uri: str
    expires: str
    response_code: int | None
    """The status code for responses, None for requests."""

    def to_string(self, version: int) -> str:
        """The signature input string for the auth protocol ``version``."""
        code = "" if self.response_code is None else f"<{self.response_code}>"
        if version < 3:
            fields = [self.scheme, self.rand, self.num, self.realm, self.target_name,
                      self.call_id, self.cseq_number, self.method, self.from_uri, self.from_tag,
                      self.to_tag, self.expires]
        else:
            fields = [self.scheme, self.rand, self.num, self.realm, self.target_name,
                      self.call_id, self.cseq_number, self.method, self.from_uri, self.from_tag,
                      self.to_uri, self.to_tag, self.pai_sip_uri, self.pai_tel_uri,
                      self.expires]
        return "".join(f"<{f}>" for f in fields) + code


def fields_from_message(message: SipMessage, *, scheme: str, rand: str, num: str, realm: str,
                        target_name: str) -> SignatureFields:
    """Signature fields of a message with the auth values given explicitly (outgoing side)."""
    cseq = message.header("CSeq") or ""
    cseq_number = _part_of(cseq, None, " ")
    if isinstance(message, SipRequest):
        method, code = message.method, None
    elif isinstance(message, SipResponse):
        method, code = _part_of(cseq, " ", "\0").strip(), message.status
    else:  # pragma: no cover - SipMessage is only ever one of the two
        raise TypeError("a SipRequest or SipResponse is required")
    from_header = message.header("From") or ""
    to_header = message.header("To") or ""
    pai = message.header("P-Asserted-Identity")
    if pai is None:
        pai = message.header("P-Preferred-Identity")
    pai_sip, pai_tel = _pai_uris(pai) if pai is not None else ("", "")
    return SignatureFields(
        scheme=scheme, rand=rand, num=num, realm=realm, target_name=target_name,
        call_id=message.header("Call-ID") or "",
        cseq_number=cseq_number,
        method=method,
        from_uri=_uri_of(from_header) if from_header else "",
        from_tag=_part_of(from_header, ";tag=", ";"),
        to_uri=_uri_of(to_header) if to_header else "",
        to_tag=_part_of(to_header, ";tag=", ";"),
        pai_sip_uri=pai_sip, pai_tel_uri=pai_tel,
        expires=message.header("Expires") or "",
        response_code=code,
    )


_INCOMING_AUTH_HEADERS = ("Proxy-Authorization", "Proxy-Authentication-Info",
                          "Authentication-Info")


def incoming_signature_fields(message: SipMessage) -> SignatureFields | None:
    """Fields of a received message, auth values read from its own auth header as SIPE does.

    Looks at ``Proxy-Authorization``, ``Proxy-Authentication-Info``, then
    ``Authentication-Info``; scheme = first token, ``rand``/``num`` by substring (so ``srand``,
    ``snum`` and ``crand``, ``cnum`` are found). None if the message has none of them.
    """
    for name in _INCOMING_AUTH_HEADERS:
        header = message.header(name)
        if header is not None:
            break
    else:
        return None
    return fields_from_message(
        message,
        scheme=_part_of(header, None, " "),
        rand=_part_of(header, 'rand="', '"'),
        num=_part_of(header, 'num="', '"'),
        realm=_part_of(header, 'realm="', '"'),
        target_name=_part_of(header, 'targetname="', '"'),
    )


def signature_string(fields: SignatureFields | None, version: int) -> str | None:
    """The string to sign, or None when there is nothing to sign (no fields or no realm)."""
    if fields is None or not fields.realm:
        return None
    return fields.to_string(version)


@dataclass(frozen=True, slots=True)
class AuthenticationInfo:
    """A parsed ``Authentication-Info`` (or ``Proxy-Authentication-Info``) header."""

    scheme: str
    rspauth: str | None
    srand: str | None
    snum: str | None
    realm: str | None
    target_name: str | None
    opaque: str | None
    qop: str | None
    version: int | None
    params: AuthParams


def authentication_info(message: SipMessage) -> AuthenticationInfo | None:
    """Parse the message's ``Authentication-Info`` (else ``Proxy-Authentication-Info``).

    Returns None if absent.

    Raises:
        SipProtocolError: the header is present but malformed.
    """
    value = message.header("Authentication-Info")
    if value is None:
        value = message.header("Proxy-Authentication-Info")
    if value is None:
        return None
    params = parse_auth_params(value)
    version_text = params.get("version")
    version = (int(version_text) if version_text and version_text.isascii()
               and version_text.isdigit() and len(version_text) < 10 else None)
    if version_text is not None and version is None:
        raise SipProtocolError(f"Authentication-Info version {version_text[:10]!r} is not a "
                               "number")
    return AuthenticationInfo(scheme=params.scheme, rspauth=params.get("rspauth"),
                              srand=params.get("srand"), snum=params.get("snum"),
                              realm=params.get("realm"), target_name=params.get("targetname"),
                              opaque=params.get("opaque"), qop=params.get("qop"),
                              version=version, params=params)
