"""MS-SIPAE Kerberos through pyspnego (GSSAPI krb5 mechanism), as SIPE does it.

Reference §3.4: ``targetname="sip/<fqdn>"`` → GSS host-based name ``sip@<fqdn>``; mechanism
krb5, integrity only, no mutual authentication; the context completes in one step, so the first
authenticated REGISTER already carries the AP-REQ in ``gssapi-data`` *and*, for version > 3, the
signature. Signatures are GSS MICs in hex.

The Kerberos libraries are an optional extra (``pip install 'sipe-setup[kerberos]'``):
:func:`kerberos_available` says whether they are installed, and :class:`KerberosUnavailable`
is raised when they are not.

Unlike NTLM this is not free of I/O: acquiring a ticket talks to the KDC. Callers run
:meth:`KerberosSipAuthenticator.start` in a worker thread.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from sipe_setup.core.account import KerberosPrincipal, Secret
from sipe_setup.core.auth.authenticator import MessageSigningAuthenticator
from sipe_setup.core.auth.challenge import AuthChallenge, ChallengeScheme
from sipe_setup.core.auth.errors import AuthError, AuthUsageError
from sipe_setup.core.sip.message import SipRequest

__all__ = ["KerberosError", "KerberosSipAuthenticator", "KerberosUnavailable",
           "kerberos_available"]


class KerberosError(AuthError):
    """Kerberos could not produce a ticket/context (no ticket, KDC unreachable, bad password)."""


class KerberosUnavailable(KerberosError):
    """The Python Kerberos modules (gssapi, krb5) are not installed."""


def kerberos_available() -> bool:
    """True when pyspnego can use the krb5 GSSAPI mechanism on this machine."""
    return importlib.util.find_spec("gssapi") is not None


class KerberosSipAuthenticator(MessageSigningAuthenticator):
    """SIPE's Kerberos over SIP.

    Args:
        principal: the client principal from the Login (``ParsedLogin.kerberos``); ignored
            with ``sso``.
        password: the account password; None with ``sso`` (the credential cache is used).
        sso: use the existing ticket (``kinit``) instead of the password.
    """

    def __init__(self, principal: KerberosPrincipal, password: Secret | None, *,
                 sso: bool = False) -> None:
        super().__init__()
        self._principal = principal
        self._password = password
        self._sso = sso
        self._context: Any = None

    def __repr__(self) -> str:
        return (f"KerberosSipAuthenticator(principal={str(self._principal)!r}, sso={self._sso}, "
                f"complete={self.is_complete})")

    @property
    def scheme(self) -> ChallengeScheme:
        return ChallengeScheme.KERBEROS

    @property
    def is_complete(self) -> bool:
        return self._context is not None and bool(self._context.complete)

    @property
    def principal_text(self) -> str:
        """What was asked of the KDC, for messages."""
        return "the ticket in the credential cache" if self._sso else str(self._principal)

    def start(self, challenge: AuthChallenge, request: SipRequest) -> str:
        """Get a service ticket for the challenge's target and answer with the AP-REQ.

        Raises:
            KerberosUnavailable: gssapi is not installed.
            KerberosError: no ticket could be had (the message says why, from GSSAPI).
        """
        self.restart()
        self._remember(challenge)
        assert self.target_name is not None
        service, _, host = self.target_name.partition("/")
        if not host:
            service, host = "sip", self.target_name
        if not kerberos_available():
            raise KerberosUnavailable("the Python gssapi module is not installed")
        import spnego  # the kerberos extra provides gssapi underneath

        username = None if self._sso else str(self._principal)
        password = None if self._sso or self._password is None else self._password.reveal()
        try:
            context = spnego.client(username, password, hostname=host, service=service,
                                    protocol="kerberos",
                                    context_req=spnego.ContextReq.integrity)
            token = context.step()
        except Exception as exc:  # GSSAPI raises many types; all mean "no ticket"
            raise KerberosError(_describe_gss_error(exc, password)) from None
        if not token or not context.complete:
            raise KerberosError("the Kerberos context did not complete in one step")
        self._context = context
        import base64

        return self._handshake(request, gssapi_data=base64.b64encode(token).decode("ascii"),
                               signed=self.version > 3)

    def step(self, challenge: AuthChallenge, request: SipRequest) -> str:
        raise AuthUsageError("Kerberos completes in one step; a further 401 means it failed")

    def restart(self) -> None:
        super().restart()
        self._context = None

    def _sign_text(self, text: str) -> str:
        return bytes(self._context.sign(text.encode("utf-8"))).hex().upper()

    def _verify_text(self, text: str, rspauth: str) -> bool:
        try:
            self._context.verify(text.encode("utf-8"), bytes.fromhex(rspauth))
        except Exception:  # a bad MIC raises; any failure means "does not verify"
            return False
        return True


def _describe_gss_error(exc: Exception, password: str | None) -> str:
    text = str(exc) or type(exc).__name__
    if password:
        text = text.replace(password, "********")
    lowered = text.lower()
    if "no credentials cache" in lowered or "credentials cache file" in lowered or \
            "no kerberos credentials" in lowered:
        return "no Kerberos ticket in the credential cache (run kinit first)"
    if "cannot find kdc" in lowered or "cannot contact any kdc" in lowered:
        return "no Kerberos server (KDC) for the realm could be reached"
    if ("preauthentication failed" in lowered or "password incorrect" in lowered
            or "decrypt integrity check failed" in lowered):
        return "the KDC rejected the password"
    if "not found in kerberos database" in lowered:
        return "the KDC does not know this principal or the server's sip/ principal"
    if "clock skew" in lowered:
        return "this computer's clock differs too much from the KDC's"
    return text.splitlines()[0][:300]
