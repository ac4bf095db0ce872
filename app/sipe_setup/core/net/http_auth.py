"""HTTP authentication of the bounded HTTP client, as SIPE's ``sipe-http-request.c`` does it.

The public part: :class:`HttpCredentials` (what a request may authenticate with) and
:class:`HttpAuthOutcome` (what authentication did). The rest is internal to
:mod:`sipe_setup.core.net`: reading ``WWW-Authenticate``, picking the scheme in SIPE's order
(Negotiate = Kerberos, else raw NTLM; Basic only when nothing else is offered) and producing the
first token of the handshake, which :class:`~sipe_setup.core.net.http.BoundedHttpClient` drives.

The password and tokens never appear in a repr, an exception or an outcome line.
"""

from __future__ import annotations

import asyncio
import base64
import enum
from dataclasses import dataclass
from typing import Any

from sipe_setup.core.account import (
    AccountSettings,
    AuthScheme,
    KerberosPrincipal,
    NtlmIdentity,
    Secret,
)

from .headers import HttpHeaders

__all__ = ["HttpAuthOutcome", "HttpCredentials"]


class HttpAuthOutcome(enum.StrEnum):
    """What HTTP authentication did for one request."""

    NOT_NEEDED = "not-needed"  # no 401
    NO_CREDENTIALS = "no-credentials"  # 401, but the caller gave none (or no password for it)
    PLAIN_HTTP = "plain-http"  # 401 over http://: credentials are never sent there
    NO_SCHEME = "no-scheme"  # 401 offering nothing we do (Negotiate/NTLM/Basic)
    ACCEPTED = "accepted"  # credentials sent, the answer is not a 401
    REJECTED = "rejected"  # 401 after the last leg: wrong password or unknown user
    FAILED = "failed"  # the handshake broke (bad or missing token, closed connection)


@dataclass(frozen=True, slots=True)
class HttpCredentials:
    """What HTTP authentication may use (the repr never shows the password).

    Attributes:
        ntlm: user and domain for NTLM and Basic (SIPE's ``authuser``: the Login, else the
            sign-in address).
        password: the account password; None with single sign-on.
        kerberos: the client principal for Kerberos (Negotiate); None = no Kerberos.
        sso: use the credential cache (``kinit``) for Kerberos instead of the password.
        ntlm_only: the account is set to NTLM, so Negotiate is never used (as SIPE).
    """

    ntlm: NtlmIdentity | None = None
    password: Secret | None = None
    kerberos: KerberosPrincipal | None = None
    sso: bool = False
    ntlm_only: bool = False

    @classmethod
    def for_account(cls, account: AccountSettings, password: Secret | None) -> HttpCredentials:
        """The credentials SIPE's HTTP requests use for ``account``."""
        return cls(ntlm=account.login.ntlm, password=None if account.sso else password,
                   kerberos=account.login.kerberos, sso=account.sso,
                   ntlm_only=account.auth is AuthScheme.NTLM)

    @property
    def ntlm_username(self) -> str:
        """``DOMAIN\\user`` (or ``user`` / ``user@domain``) as NTLM and Basic send it."""
        if self.ntlm is None:
            return ""
        if self.ntlm.domain:
            return f"{self.ntlm.domain}\\{self.ntlm.user}"
        return self.ntlm.user


# --- the handshake --------------------------------------------------------------------------------


def offered_schemes(headers: HttpHeaders) -> dict[str, str | None]:
    """``{scheme lower: token or None}`` from the WWW-Authenticate headers (first of each)."""
    offered: dict[str, str | None] = {}
    for value in headers.get_list("www-authenticate")[:16]:
        parts = value.strip().split(None, 1)
        if not parts:
            continue
        scheme = parts[0].lower().rstrip(",")
        token = parts[1].strip() if len(parts) == 2 else ""
        offered.setdefault(scheme, token or None)
    return offered


def challenge_token(headers: HttpHeaders, scheme: str) -> bytes | None:
    token = offered_schemes(headers).get(scheme.lower())
    if not token:
        return None
    try:
        return base64.b64decode(token, validate=True)
    except ValueError:
        return None


def b64_token(token: bytes) -> str:
    return base64.b64encode(token).decode("ascii")


class AuthAttempt:
    """The state of one authentication handshake (a mechanism and its scheme name)."""

    def __init__(self, scheme: str, mechanism: str, identity: str, context: Any,
                 first_token: bytes, note: str = "") -> None:
        self.scheme = scheme  # the name in the Authorization header
        self.mechanism = mechanism  # "Kerberos", "NTLM", "Basic"
        self.identity = identity
        self.context = context
        self.token: bytes | None = first_token
        self.note = note

    @property
    def complete(self) -> bool:
        if self.context is None:
            return True
        return bool(self.context.complete)

    def describe(self) -> str:
        text = f"{self.mechanism} as {self.identity}" if self.identity else self.mechanism
        return f"{text} ({self.note})" if self.note else text


def _kerberos_error(exc: Exception, password: Secret | None) -> str:
    from sipe_setup.core.auth.kerberos import _describe_gss_error

    return _describe_gss_error(exc, password.reveal() if password else None)


def _kerberos_token(credentials: HttpCredentials, host: str) -> tuple[Any, bytes]:
    """Runs in a worker thread: asking the KDC is blocking I/O."""
    import spnego

    username = None if credentials.sso or credentials.kerberos is None else str(
        credentials.kerberos)
    password = (None if credentials.sso or credentials.password is None
                else credentials.password.reveal())
    # No mutual authentication: the context completes with the AP-REQ, so a 401 to it is a
    # plain rejection (SIPE does not verify an AP-REP on HTTP either).
    context = spnego.client(username, password, hostname=host, service="HTTP",
                            protocol="kerberos", context_req=spnego.ContextReq.integrity)
    token = context.step()
    if not token:
        raise ValueError("the Kerberos mechanism produced no token")
    return context, bytes(token)


def _ntlm_start(credentials: HttpCredentials, host: str) -> tuple[Any, bytes]:
    import spnego

    assert credentials.password is not None
    context = spnego.client(credentials.ntlm_username, credentials.password.reveal(),
                            hostname=host, service="HTTP", protocol="ntlm")
    token = context.step()
    if not token:
        raise ValueError("the NTLM mechanism produced no NEGOTIATE message")
    return context, bytes(token)


_NotStarted = tuple[HttpAuthOutcome, str]


async def start_auth(offered: dict[str, str | None], credentials: HttpCredentials,
                      host: str) -> AuthAttempt | _NotStarted:
    """Pick the scheme as SIPE does and produce the first token, or say why not."""
    from sipe_setup.core.auth.kerberos import kerberos_available

    note = ""
    if "negotiate" in offered and not credentials.ntlm_only:
        # SIPE's Negotiate: Kerberos first; if no ticket can be had, raw NTLM under "NTLM".
        wants_kerberos = credentials.sso or (credentials.kerberos is not None
                                             and bool(credentials.password))
        if wants_kerberos and kerberos_available():
            try:
                context, token = await asyncio.to_thread(_kerberos_token, credentials, host)
            except Exception as exc:  # GSSAPI raises many types; all mean "no ticket"
                note = f"Kerberos not possible: {_kerberos_error(exc, credentials.password)}"
            else:
                who = ("the ticket in the credential cache" if credentials.sso
                       else str(credentials.kerberos))
                return AuthAttempt("Negotiate", "Kerberos", who, context, token)
        elif wants_kerberos:
            note = "Kerberos not possible: the Python Kerberos modules are not installed"
        use_ntlm = True
    else:
        use_ntlm = "ntlm" in offered
    if use_ntlm:
        if credentials.ntlm is None or not credentials.password:
            return (HttpAuthOutcome.NO_CREDENTIALS,
                    "NTLM needs the password, and none was given" + (f" ({note})" if note else ""))
        try:
            context, token = _ntlm_start(credentials, host)
        except Exception as exc:  # spnego texts hold no secret, but keep it short anyway
            return HttpAuthOutcome.FAILED, f"NTLM could not start ({type(exc).__name__})"
        return AuthAttempt("NTLM", "NTLM", credentials.ntlm_username, context, token, note)
    if "basic" in offered:
        if credentials.ntlm is None or not credentials.password:
            return HttpAuthOutcome.NO_CREDENTIALS, "Basic needs the password, and none was given"
        raw = f"{credentials.ntlm_username}:{credentials.password.reveal()}".encode()
        return AuthAttempt("Basic", "Basic", credentials.ntlm_username, None, raw)
    schemes = ", ".join(sorted(offered)) or "none"
    return (HttpAuthOutcome.NO_SCHEME,
            f"the server offers no scheme SIPE can use (offered: {schemes})")

