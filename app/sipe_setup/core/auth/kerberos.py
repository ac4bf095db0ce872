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

Why a ticket could not be had is a typed fact (:class:`KerberosFailure` on
:class:`KerberosError`), taken from the Kerberos error code — never from the message text. MIT
krb5 numbers its errors in the com_err table ``krb5`` (base ``0x96C73A00``); RFC 4120 §7.5.9's
KDC error *n* is ``base + n``. pyspnego raises ``krb5.Krb5Error`` (``err_code``, signed) when it
gets the initial ticket with a password, and ``SpnegoError`` wrapping ``gssapi``'s
``GSSError`` (``min_code``, unsigned 32 bit; ``base_error``) for the service ticket and the
credential cache: :func:`krb5_error_number` reads both.
"""

from __future__ import annotations

import enum
import importlib.util
import sys
from typing import Any, Final

from sipe_setup.core.account import KerberosPrincipal, Secret
from sipe_setup.core.auth.authenticator import MessageSigningAuthenticator
from sipe_setup.core.auth.challenge import AuthChallenge, ChallengeScheme
from sipe_setup.core.auth.errors import AuthError, AuthUsageError
from sipe_setup.core.sip.message import SipRequest

__all__ = ["KERBEROS_MODULES", "KRB5_ERROR_BASE", "KRB5_ERROR_NAMES", "KerberosError",
           "KerberosFailure", "KerberosSipAuthenticator", "KerberosUnavailable",
           "classify_krb5_error", "kerberos_available", "kerberos_install_advice",
           "kerberos_unavailable_reason", "krb5_error_name", "krb5_error_number",
           "missing_kerberos_modules"]

KRB5_ERROR_BASE: Final = -1765328384
"""``ERROR_TABLE_BASE_krb5`` (``0x96C73A00`` as a signed 32-bit number)."""
_TABLE_SIZE: Final = 256


class KerberosFailure(enum.StrEnum):
    """Why Kerberos produced no ticket, by the KDC's (or the library's) error code."""

    CLIENT_UNKNOWN = "client-unknown"  # KDC_ERR_C_PRINCIPAL_UNKNOWN (6)
    SERVICE_UNKNOWN = "service-unknown"  # KDC_ERR_S_PRINCIPAL_UNKNOWN (7)
    CLIENT_REVOKED = "client-revoked"  # KDC_ERR_CLIENT_REVOKED (18): locked or disabled
    PASSWORD_EXPIRED = "password-expired"  # noqa: S105 - KDC_ERR_KEY_EXPIRED (23)
    WRONG_PASSWORD = "wrong-password"  # noqa: S105 - KDC_ERR_PREAUTH_FAILED (24), BAD_INTEGRITY (31)
    CLOCK_SKEW = "clock-skew"  # KRB_AP_ERR_SKEW (37), KRB5_KDCREP_SKEW (148)
    KDC_UNREACHABLE = "kdc-unreachable"  # KRB5_REALM_UNKNOWN (154), KRB5_KDC_UNREACH (156)
    NO_TICKET = "no-ticket"  # no (usable) credential cache: KRB5_CC_NOTFOUND, KRB5_FCC_NOFILE …
    OTHER = "other"


_BY_NUMBER: Final = {
    6: KerberosFailure.CLIENT_UNKNOWN,
    7: KerberosFailure.SERVICE_UNKNOWN,
    18: KerberosFailure.CLIENT_REVOKED,
    23: KerberosFailure.PASSWORD_EXPIRED,
    24: KerberosFailure.WRONG_PASSWORD,
    31: KerberosFailure.WRONG_PASSWORD,  # no pre-authentication: the AS-REP does not decrypt
    32: KerberosFailure.NO_TICKET,  # KRB_AP_ERR_TKT_EXPIRED: the cached ticket expired
    37: KerberosFailure.CLOCK_SKEW,
    141: KerberosFailure.NO_TICKET,  # KRB5_CC_NOTFOUND
    148: KerberosFailure.CLOCK_SKEW,  # KRB5_KDCREP_SKEW
    154: KerberosFailure.KDC_UNREACHABLE,  # KRB5_REALM_UNKNOWN: no KDC known for the realm
    156: KerberosFailure.KDC_UNREACHABLE,  # KRB5_KDC_UNREACH
    195: KerberosFailure.NO_TICKET,  # KRB5_FCC_NOFILE
}


def _krb5_number(code: int) -> int | None:
    signed = code - (1 << 32) if code >= (1 << 31) else code
    number = signed - KRB5_ERROR_BASE
    return number if 0 <= number < _TABLE_SIZE else None


def krb5_error_number(exc: BaseException) -> int | None:
    """The number in MIT's ``krb5`` error table (RFC 4120 error codes for 0-127) behind
    ``exc``, looking through pyspnego's and gssapi's wrapping; None if there is none."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        for attribute in ("err_code", "min_code"):  # krb5.Krb5Error, gssapi GSSError
            value = getattr(current, attribute, None)
            if isinstance(value, int) and not isinstance(value, bool) and value:
                number = _krb5_number(value)
                if number is not None:
                    return number
        base = getattr(current, "base_error", None)  # spnego.exceptions.SpnegoError
        todo += [base if isinstance(base, BaseException) else None,
                 current.__cause__, current.__context__]
    return None


KRB5_ERROR_NAMES: Final = {
    6: "KDC_ERR_C_PRINCIPAL_UNKNOWN", 7: "KDC_ERR_S_PRINCIPAL_UNKNOWN",
    18: "KDC_ERR_CLIENT_REVOKED", 23: "KDC_ERR_KEY_EXPIRED", 24: "KDC_ERR_PREAUTH_FAILED",
    31: "KRB_AP_ERR_BAD_INTEGRITY", 32: "KRB_AP_ERR_TKT_EXPIRED", 37: "KRB_AP_ERR_SKEW",
    141: "KRB5_CC_NOTFOUND", 148: "KRB5_KDCREP_SKEW", 154: "KRB5_REALM_UNKNOWN",
    156: "KRB5_KDC_UNREACH", 195: "KRB5_FCC_NOFILE",
}
"""Names of the ``krb5`` table numbers this module classifies (RFC 4120 §7.5.9 / MIT krb5)."""


def krb5_error_name(number: int | None) -> str:
    """``KDC_ERR_PREAUTH_FAILED (24)``-style text for messages; ``""`` for None."""
    if number is None:
        return ""
    return f"{KRB5_ERROR_NAMES.get(number, 'krb5 error')} ({number})"


def classify_krb5_error(number: int | None) -> KerberosFailure:
    """The failure a ``krb5`` error number means (OTHER for unknown or None)."""
    return _BY_NUMBER.get(number, KerberosFailure.OTHER) if number is not None \
        else KerberosFailure.OTHER


class KerberosError(AuthError):
    """Kerberos could not produce a ticket/context (no ticket, KDC unreachable, bad password).

    Attributes:
        failure: why, as a typed fact.
        krb5_code: the number in the ``krb5`` error table (RFC 4120 §7.5.9 for 0-127), or
            None when the error carried none.
    """

    def __init__(self, message: str, failure: KerberosFailure = KerberosFailure.OTHER,
                 krb5_code: int | None = None) -> None:
        super().__init__(message)
        self.failure = failure
        self.krb5_code = krb5_code


class KerberosUnavailable(KerberosError):
    """The Python Kerberos modules (gssapi, krb5) are not installed."""


KERBEROS_MODULES: Final = ("gssapi", "krb5")
"""What pyspnego's Kerberos needs: it imports both or offers no Kerberos at all
(``spnego._gss.HAS_GSSAPI``); ``krb5`` gets the initial ticket from a password."""


def missing_kerberos_modules() -> tuple[str, ...]:
    """The modules of :data:`KERBEROS_MODULES` that are not installed (cheap: no import)."""
    return tuple(name for name in KERBEROS_MODULES if importlib.util.find_spec(name) is None)


def kerberos_available() -> bool:
    """True when pyspnego can use the krb5 GSSAPI mechanism on this machine: both Python
    modules it imports for it, ``gssapi`` and ``krb5``, are installed."""
    return not missing_kerberos_modules()


def kerberos_unavailable_reason(missing: tuple[str, ...] | None = None) -> str:
    """Which Python Kerberos module is missing, in words ("" when none is)."""
    missing = missing_kerberos_modules() if missing is None else missing
    if not missing:
        return ""
    names = " and ".join(missing)
    verb = "is" if len(missing) == 1 else "are"
    return (f"the Python module{'s' if len(missing) > 1 else ''} {names} {verb} not installed "
            "(sipe-setup's Kerberos goes through pyspnego, which needs both gssapi and krb5)")


def kerberos_install_advice(missing: tuple[str, ...] | None = None) -> str:
    """How to get the missing modules where this sipe-setup runs: its own venv (pip/pipx) or
    the system's Python (a distribution package)."""
    missing = missing_kerberos_modules() if missing is None else missing
    if sys.prefix != sys.base_prefix:  # a venv (make, pipx): the modules go in there
        return ("Install them into sipe-setup's environment: pip install 'sipe-setup[kerberos]' "
                "(pipx: pipx inject sipe-setup gssapi krb5; building krb5 needs the Kerberos "
                "headers, e.g. libkrb5-dev, and a C compiler)")
    packages = " ".join(f"python3-{name}" for name in missing or KERBEROS_MODULES)
    return (f"Debian/Ubuntu: sudo apt install {packages} (Debian 13 has no python3-krb5: "
            "there, run sipe-setup from a venv or pipx with the kerberos extra to check "
            "Kerberos). Pidgin itself does not need these modules: SIPE uses the system's "
            "Kerberos libraries")


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
            raise KerberosUnavailable(kerberos_unavailable_reason())
        import spnego  # the kerberos extra provides gssapi and krb5 underneath

        username = None if self._sso else str(self._principal)
        password = None if self._sso or self._password is None else self._password.reveal()
        try:
            context = spnego.client(username, password, hostname=host, service=service,
                                    protocol="kerberos",
                                    context_req=spnego.ContextReq.integrity)
            token = context.step()
        except ImportError as exc:  # a module is there but does not load (missing C library)
            raise KerberosUnavailable(f"the Python Kerberos modules do not load ({exc})") \
                from None
        except Exception as exc:  # GSSAPI raises many types; all mean "no ticket"
            number = krb5_error_number(exc)
            failure = classify_krb5_error(number)
            raise KerberosError(_describe_gss_error(exc, password, failure), failure,
                                number) from None
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


_FAILURE_WORDS: Final = {
    KerberosFailure.CLIENT_UNKNOWN: "the KDC does not know this principal (the Login)",
    KerberosFailure.SERVICE_UNKNOWN: "the KDC does not know the server's sip/ principal",
    KerberosFailure.CLIENT_REVOKED: "the KDC says the account is locked or disabled",
    KerberosFailure.PASSWORD_EXPIRED: "the KDC says the password has expired",
    KerberosFailure.WRONG_PASSWORD: "the KDC rejected the password",
    KerberosFailure.CLOCK_SKEW: "this computer's clock differs too much from the KDC's",
    KerberosFailure.KDC_UNREACHABLE: "no Kerberos server (KDC) for the realm could be reached",
    KerberosFailure.NO_TICKET: "no Kerberos ticket in the credential cache (run kinit first)",
}


def _describe_gss_error(exc: Exception, password: str | None,
                        failure: KerberosFailure = KerberosFailure.OTHER) -> str:
    """Plain words for the error (the library's own text for unknown codes), no secrets."""
    words = _FAILURE_WORDS.get(failure)
    if words is not None:
        return words
    text = str(exc) or type(exc).__name__
    if password:
        text = text.replace(password, "********")
    return text.splitlines()[0][:300]
