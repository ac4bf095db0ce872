"""Server challenges (``WWW-Authenticate``) in, ``Authorization`` header values out.

Reference §3.3 (parsing), §3.4 (the two Authorization forms, byte-exact), §3.8 (Auto's scheme
order).

Invariants:
- Challenges are kept in header order; choosing one follows SIPE's priority, not that order.
- A header we cannot parse never aborts the others: it becomes an ``OTHER`` challenge holding
  the raw text (a VoIP server's odd Digest must not hide its NTLM offer).
- Authorization values are built exactly as SIPE writes them: parameter order, ``qop="auth"``
  first, ``version`` unquoted and only if > 2, signature hex as given.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sipe_setup.core.account import AuthScheme
from sipe_setup.core.auth.errors import AuthProtocolError
from sipe_setup.core.sip.message import (
    AuthParams,
    SipMessage,
    SipProtocolError,
    parse_auth_params,
    quote,
)

__all__ = [
    "AuthChallenge",
    "ChallengeScheme",
    "MessageSignature",
    "build_handshake_authorization",
    "build_signed_authorization",
    "find_challenge",
    "parse_challenge_header",
    "parse_challenges",
    "select_challenge",
]


class ChallengeScheme(enum.StrEnum):
    """Auth schemes a Lync/OCS or other SIP server may offer; values are SIPE's spelling."""

    NTLM = "NTLM"
    KERBEROS = "Kerberos"
    TLS_DSK = "TLS-DSK"
    DIGEST = "Digest"
    BASIC = "Basic"
    OTHER = "other"

    @classmethod
    def from_token(cls, token: str) -> ChallengeScheme:
        """Map a scheme token case-insensitively; unknown → OTHER."""
        for member in cls:
            if member is not cls.OTHER and member.value.lower() == token.lower():
                return member
        return cls.OTHER


@dataclass(frozen=True, slots=True)
class AuthChallenge:
    """One offered scheme with the parameters SIPE reads (reference §3.3)."""

    scheme: ChallengeScheme
    scheme_token: str
    """The scheme as the server wrote it."""
    realm: str | None = None
    target_name: str | None = None
    version: int = 0
    """``version=`` (absent → 0, as for LCS 2005 / OCS 2007)."""
    opaque: str | None = None
    gssapi_data: str | None = None
    """Base64 token text; ``""`` when present but empty."""
    sts_uri: str | None = None
    header_name: str = "WWW-Authenticate"
    raw: str = ""
    params: AuthParams | None = field(default=None, repr=False)

    @property
    def authorization_header_name(self) -> str:
        """``Authorization``, or ``Proxy-Authorization`` for a ``Proxy-Authenticate`` (407)."""
        return ("Proxy-Authorization" if self.header_name.lower() == "proxy-authenticate"
                else "Authorization")

    def gssapi_token(self) -> bytes:
        """The decoded ``gssapi-data`` token.

        Raises:
            AuthProtocolError: missing, empty, or not base64.
        """
        if not self.gssapi_data:
            raise AuthProtocolError(f"the server's {self.scheme_token} challenge carries no "
                                    "gssapi-data token")
        try:
            return base64.b64decode(self.gssapi_data, validate=True)
        except (binascii.Error, ValueError):
            raise AuthProtocolError(f"the server's {self.scheme_token} gssapi-data is not "
                                    "valid base64") from None


def _atoi(text: str | None) -> int:
    """C ``atoi``: leading digits, else 0 (how SIPE reads ``version``)."""
    if not text:
        return 0
    digits = ""
    for ch in text.strip():
        if not ch.isascii() or not ch.isdigit():
            break
        digits += ch
    return int(digits[:9]) if digits else 0


def parse_challenge_header(value: str, header_name: str = "WWW-Authenticate") -> AuthChallenge:
    """Parse one challenge header value; never raises for malformed input (→ ``OTHER``)."""
    try:
        params = parse_auth_params(value)
    except SipProtocolError:
        token = value.strip().split(" ", 1)[0] if value.strip() else ""
        return AuthChallenge(scheme=ChallengeScheme.OTHER, scheme_token=token,
                             header_name=header_name, raw=value)
    return AuthChallenge(
        scheme=ChallengeScheme.from_token(params.scheme),
        scheme_token=params.scheme,
        realm=params.get("realm"),
        target_name=params.get("targetname"),
        version=_atoi(params.get("version")),
        opaque=params.get("opaque"),
        gssapi_data=params.get("gssapi-data"),
        sts_uri=params.get("sts-uri"),
        header_name=header_name,
        raw=value,
        params=params,
    )


def parse_challenges(message: SipMessage) -> list[AuthChallenge]:
    """Every ``WWW-Authenticate`` and ``Proxy-Authenticate`` of a response, in order."""
    out: list[AuthChallenge] = []
    for name, value in message.headers:
        lowered = name.lower()
        if lowered in ("www-authenticate", "proxy-authenticate"):
            out.append(parse_challenge_header(value, name))
    return out


def find_challenge(challenges: Iterable[AuthChallenge],
                   scheme: ChallengeScheme) -> AuthChallenge | None:
    """The first challenge for ``scheme`` (how SIPE picks up the next step of a handshake)."""
    return next((c for c in challenges if c.scheme is scheme), None)


_AUTO_ORDER = (ChallengeScheme.TLS_DSK, ChallengeScheme.KERBEROS, ChallengeScheme.NTLM)
_EXPLICIT = {
    AuthScheme.NTLM: ChallengeScheme.NTLM,
    AuthScheme.KERBEROS: ChallengeScheme.KERBEROS,
    AuthScheme.TLS_DSK: ChallengeScheme.TLS_DSK,
}


def select_challenge(challenges: Sequence[AuthChallenge], wanted: AuthScheme, *,
                     available: Iterable[ChallengeScheme] = _AUTO_ORDER,
                     exclude: Iterable[ChallengeScheme] = ()) -> AuthChallenge | None:
    """SIPE's choice on a 401 (reference §3.8).

    Args:
        challenges: from :func:`parse_challenges`.
        wanted: the account's scheme; AUTO walks TLS-DSK → Kerberos → NTLM, by priority not
            header order. An explicit scheme looks only for its own header.
        available: schemes this build can do (leave Kerberos out without gssapi).
        exclude: schemes already tried and failed (Auto's retry moves on).

    Returns:
        The challenge to answer, or None (SIPE: "Incompatible authentication scheme chosen").
    """
    usable = set(available) - set(exclude)
    if wanted is AuthScheme.AUTO:
        order = [s for s in _AUTO_ORDER if s in usable]
    else:
        order = [_EXPLICIT[wanted]] if _EXPLICIT[wanted] in usable else []
    for scheme in order:
        found = find_challenge(challenges, scheme)
        if found is not None:
            return found
    return None


@dataclass(frozen=True, slots=True)
class MessageSignature:
    """``crand``, ``cnum`` and ``response`` of a signed message."""

    crand: str
    cnum: int
    response: str


def build_handshake_authorization(scheme: ChallengeScheme | str, *, realm: str,
                                  target_name: str, opaque: str | None = None,
                                  gssapi_data: str | None = None, version: int = 0,
                                  signature: MessageSignature | None = None) -> str:
    """The handshake form (reference §3.4), e.g. ``NTLM qop="auth", realm="…", …``.

    ``opaque`` only when the server sent one; ``gssapi-data`` when given (``""`` is written as
    ``gssapi-data=""``); ``version`` only if > 2; ``signature`` for the handshake-completing
    message of a v4 server.
    """
    parts = [f'{scheme} qop="auth"']
    if opaque is not None:
        parts.append(f"opaque={quote(opaque)}")
    parts.append(f"realm={quote(realm)}")
    parts.append(f"targetname={quote(target_name)}")
    if gssapi_data is not None:
        parts.append(f"gssapi-data={quote(gssapi_data)}")
    if version > 2:
        parts.append(f"version={version}")
    if signature is not None:
        parts.extend(_signature_params(signature))
    return ", ".join(parts)


def build_signed_authorization(scheme: ChallengeScheme | str, *, opaque: str | None, realm: str,
                               target_name: str, signature: MessageSignature) -> str:
    """The signed form for every message after the handshake (no version, no gssapi-data).

    With no opaque (Kerberos servers send none) SIPE prints C's ``(null)``; so do we, to stay
    byte-identical with the captures.
    """
    parts = [f'{scheme} qop="auth"', f"opaque={quote(opaque if opaque is not None else '(null)')}",
             f"realm={quote(realm)}", f"targetname={quote(target_name)}",
             *_signature_params(signature)]
    return ", ".join(parts)


def _signature_params(signature: MessageSignature) -> list[str]:
    return [f"crand={quote(signature.crand)}", f'cnum="{signature.cnum}"',
            f"response={quote(signature.response)}"]
