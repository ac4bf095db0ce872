"""Facts → advice: the one place that turns what the server said into a catalog entry.

Steps gather facts (a status line, ms-diagnostics, a certificate, a clock difference); the
functions here pick the advice id and fill it. Nothing here does I/O.

What a server says is read by :mod:`sipe_setup.core.sip.diagnostics` (the SIP grammar, several
entries, the public header too) and judged here, most specific first: the client version filter
([MS-SIPREGE] §3.4.2.5: ``Warning: 31x lcs.microsoft.com``, ms-diagnostics 17001-17999), a server
that is not Lync at all (405/501, a VoIP product in ``Server``/``User-Agent``), a documented
ErrorId ([MS-OCER]'s SipStack and front-end tables), then the status. The server's own reason
always travels verbatim as ``server_reason``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from sipe_setup.core.account import AccountSettings, Transport
from sipe_setup.core.advice import SUGGESTED_USER_AGENTS, RenderedAdvice, advice
from sipe_setup.core.auth.challenge import AuthChallenge, ChallengeScheme
from sipe_setup.core.auth.kerberos import KerberosError, KerberosFailure, krb5_error_name
from sipe_setup.core.auth.mechanism import Rejection, RejectionKind
from sipe_setup.core.discovery import Candidate, DiscoveryResult, QueryOutcome
from sipe_setup.core.sip.diagnostics import ServerWords, server_words
from sipe_setup.core.sip.message import SipResponse
from sipe_setup.core.transport import CertificateInfo, ConnectFailed

if TYPE_CHECKING:  # TLS-DSK's modules (cryptography, the web services) load only when used
    from sipe_setup.core.webservices.provisioning import ProvisioningError

__all__ = [
    "KERBEROS_SKEW_LIMIT",
    "KNOWN_DIAGNOSTICS",
    "NTLM_SKEW_LIMIT",
    "certificate_advice",
    "clock_offset",
    "connect_advice",
    "discovery_failure_advice",
    "kerberos_advice",
    "not_lync_advice",
    "ok_warning",
    "provisioning_advice",
    "rejected_advice",
    "rejection_advice",
    "rejection_summary",
    "server_diagnostics",
    "status_advice",
]

KERBEROS_SKEW_LIMIT = dt.timedelta(minutes=5)
NTLM_SKEW_LIMIT = dt.timedelta(minutes=15)
_PROVISIONING_ADVICE = {  # ProvisioningFailure names → advice
    "UNREACHABLE": "dsk-ws-unreachable",
    "PROTOCOL": "dsk-ws-unreachable",
    "URL_INVALID": "dsk-ws-unreachable",
    "CERTIFICATE_REFUSED": "dsk-ws-unreachable",
    "MEX_FAILED": "dsk-mex",
    "MEX_INVALID": "dsk-mex",
    "WEBTICKET_UNSUPPORTED": "dsk-mex",
    "WEBTICKET_FAULT": "dsk-ticket",
    "WEBTICKET_FAILED": "dsk-ticket",
    "WEBTICKET_INVALID": "dsk-ticket",
    "WEBTICKET_AUTH_FAILED": "dsk-ticket",
    "CERTIFICATE_SHORT_LIVED": "dsk-short-cert",
}
KNOWN_DIAGNOSTICS: Final[Mapping[int, str]] = {
    # [MS-OCER], front-end ErrorIds 4000-4999 that answer a sign-in (learn.microsoft.com/en-us/
    # openspecs/office_protocols/ms-ocer/d5c23768-e89d-42af-a2f3-415b81c9cfd0)
    4003: "remote-access-disabled",  # ms-diagnostics-public: From URI not enabled for remote access
    4004: "not-authorized-for-uri",  # Credentials … not authorized to act as specified from URI
    4005: "not-found",  # Destination URI either not enabled for SIP or does not exist
    4006: "user-not-in-pool",  # User not found in pool
    4141: "user-disabled",  # User disabled (a registration NOTIFY, sipe-notify.c)
    # [MS-OCER] §8.2, SipStack ErrorIds 1000-1999 (routing toward the next hop)
    1008: "dns-srv-failed",  # Unable to resolve DNS SRV record
    1009: "dns-conflict",  # Conflicting SRV and host domains in DNS
    1010: "next-hop-untrusted",  # Certificate trust with next-hop server could not be established
    1013: "server-time-skew",  # Significant time skew detected during authentication
}
"""ms-diagnostics ErrorId → advice id (the documented codes a sign-in can meet)."""
#: [MS-OCER] §8.16: the client version filter's range. 17000 is "Server overloaded": the
#: filter application is busy, which no User Agent fixes, so it is left to the status.
_VERSION_FILTER_CODES = range(17001, 18000)
#: [MS-SIPREGE] §3.4.2.5: 310 (prompt), 312 (dynamic URL), 313 (static URL), 314 (upgrade).
_VERSION_WARNINGS = range(310, 315)
_NOT_A_REGISTRAR = (405, 501)  # Lync always accepts REGISTER: this server does not
_MICROSOFT_AGENT = re.compile(r"^\s*RTCC?/", re.IGNORECASE)
_VOIP_PRODUCTS = re.compile(
    r"asterisk|freeswitch|kamailio|opensips|openser|sip express router|3cx|yate|sipx|"
    r"sofia-sip|flexisip|linphone|voipswitch|openvoip|fritz!?box|avaya|mitel|cisco|"
    r"grandstream|yealink|polycom|broadworks|twilio", re.IGNORECASE)
_URI_IN_USE = re.compile(r"already (?:in )?use|used by another user", re.IGNORECASE)


def server_diagnostics(response: SipResponse) -> tuple[str, str]:
    """(ms-diagnostics code, the server's reason) — code ``""`` without ms-diagnostics."""
    words = server_words(response, KNOWN_DIAGNOSTICS)
    return (str(words.code) if words.code is not None else ""), words.reason


def _identity(response: SipResponse) -> str:
    """How the peer names itself (``Server``, else ``User-Agent``), or ``""``."""
    return (response.header("Server") or response.header("User-Agent") or "").strip()


def _speaks_lync(words: ServerWords) -> bool:
    return bool(words.diagnostics) or any(w.from_lcs for w in words.warnings)


def _foreign_server(response: SipResponse, words: ServerWords) -> bool:
    """The peer names a VoIP product and says nothing the Lync way."""
    identity = _identity(response)
    return (bool(_VOIP_PRODUCTS.search(identity)) and not _MICROSOFT_AGENT.match(identity)
            and not _speaks_lync(words))


def _version_filter(words: ServerWords) -> tuple[str, str] | None:
    """(what the filter sent, its words) when the client version filter answered."""
    warning = words.lcs_warning(_VERSION_WARNINGS)
    diagnostic = words.codes_in(_VERSION_FILTER_CODES.start, _VERSION_FILTER_CODES.stop - 1)
    if warning is not None:
        return f"Warning {warning.code}", warning.text or (diagnostic.reason if diagnostic
                                                           else "")
    if diagnostic is not None:
        return f"ms-diagnostics {diagnostic.code}", diagnostic.reason
    return None


def clock_offset(response: SipResponse) -> dt.timedelta | None:
    """Server clock minus ours, from the answer's ``Date`` header (None without one)."""
    value = response.header("Date")
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed - dt.datetime.now(dt.UTC)


def _format_skew(delta: dt.timedelta) -> str:
    seconds = abs(round(delta.total_seconds()))
    if seconds >= 120:
        seconds = round(seconds / 60) * 60  # a Date header has one-second resolution anyway
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours} h {minutes} min" if hours else (
        f"{minutes} min" if minutes >= 2 else f"{minutes * 60 + secs} s")
    return text + (" (server ahead)" if delta.total_seconds() > 0 else " (server behind)")


def clock_skew_advice(skew: dt.timedelta | None,
                      limit: dt.timedelta) -> RenderedAdvice | None:
    """The clock advice when the server's clock is further off than ``limit``."""
    if skew is None or abs(skew) <= limit:
        return None
    now = dt.datetime.now(dt.UTC)
    return advice("clock-skew", skew=_format_skew(skew),
                  server_time=f"{now + skew:%Y-%m-%d %H:%M:%S} UTC",
                  local_time=f"{now:%Y-%m-%d %H:%M:%S} UTC")


def rejected_advice(account: AccountSettings, scheme: str, skew: dt.timedelta | None,
                    skew_limit: dt.timedelta) -> RenderedAdvice:
    """A 401 after the scheme's last handshake message: clock, loop or wrong password."""
    clock = clock_skew_advice(skew, skew_limit)
    if clock is not None:
        return clock
    if scheme != "NTLM":
        return advice("auth-loop", scheme=scheme)
    login = account.login.text or account.signin.address
    return advice("auth-failed", login=login, scheme=scheme)


def _status_values(response: SipResponse, host: str, account: AccountSettings,
                   words: ServerWords) -> dict[str, object]:
    return {"status": response.status, "reason_phrase": response.reason, "host": host,
            "server_reason": words.reason, "signin": account.signin.address,
            "user_agent": account.user_agent or "the built-in one"}


def status_advice(response: SipResponse, host: str, account: AccountSettings) -> RenderedAdvice:
    """A final answer that is neither a challenge nor success."""
    words = server_words(response, KNOWN_DIAGNOSTICS)
    status = response.status
    values = _status_values(response, host, account, words)
    version = _version_filter(words)
    if version is not None:
        said, text = version
        values["server_reason"] = text
        return advice("client-version", filter_said=said, **values)
    if status in _NOT_A_REGISTRAR or _foreign_server(response, words):
        return not_lync_advice([], response, host)
    known = KNOWN_DIAGNOSTICS.get(words.code) if words.code is not None else None
    if known is not None:
        return advice(known, **values)
    if status == 403:
        if _URI_IN_USE.search(words.reason):
            return advice("uri-in-use", **values)
        return advice("forbidden", **values)
    if status == 404:
        return advice("not-found", **values)
    if status == 480:
        return advice("temporarily-unavailable", **values)
    if status == 504:
        return advice("server-timeout", **values)
    if status == 503:
        return advice("service-unavailable", **values)
    if 500 <= status < 600:
        return advice("server-error", **values)
    return advice("unexpected-status", **values)


def ok_warning(response: SipResponse, account: AccountSettings) -> RenderedAdvice | None:
    """The warning a 200 OK to REGISTER carries, if any: the client version filter allowed
    this User Agent but marks it as out of date ([MS-SIPREGE] §3.4.2.5: ``Warning: 313`` or
    ``314`` — and ``312`` with ms-diagnostics 17002 in its §4.3.6 example — on a 200 OK).

    The verify step returns ``StepOutcome.warned(…, adv)`` with it; the verdict then carries it.
    """
    if response.status != 200:
        return None
    words = server_words(response, KNOWN_DIAGNOSTICS)
    version = _version_filter(words)
    if version is None:
        return None
    said, text = version
    return advice("client-version-advised", filter_said=said, server_reason=text,
                  user_agent=account.user_agent or "the built-in one",
                  suggested=SUGGESTED_USER_AGENTS[0])


def _not_lync_answer(challenges: list[AuthChallenge], response: SipResponse) -> str:
    if challenges:
        schemes = ", ".join(sorted({c.scheme_token for c in challenges}))
        return f"asks for {schemes} authentication"
    if response.status == 200:
        return "signs you in without any authentication"
    return f"answers the sign-in request with {response.status} {response.reason}".rstrip()


def not_lync_advice(challenges: list[AuthChallenge], response: SipResponse,
                    host: str) -> RenderedAdvice:
    """A SIP server that answers, but not as Lync does: Digest, no authentication, a refusal
    of REGISTER (405/501), a VoIP product — or a Digest proxy in front (407)."""
    identity = _identity(response) or "unknown"
    proxy = next((c for c in challenges if c.scheme is ChallengeScheme.DIGEST
                  and c.header_name.lower() == "proxy-authenticate"), None)
    if response.status == 407 and proxy is not None:
        # SIPE answers a Digest 407 with Login and password and goes on (bug #190, 2013).
        return advice("proxy-digest", host=host, realm=proxy.realm or "none given",
                      server_header=identity)
    return advice("not-lync", host=host, answer=_not_lync_answer(challenges, response),
                  server_header=identity)


def certificate_advice(candidate: Candidate, cert: CertificateInfo) -> RenderedAdvice:
    """Why a server certificate is not accepted, most specific reason first."""
    if cert.expired or cert.not_yet_valid:
        return advice("tls-expired", host=candidate.host, detail=" ".join(cert.problems()))
    if not cert.host_matches:
        names = cert.dns_names + cert.ip_addresses
        return advice("tls-name-mismatch", host=candidate.host,
                      names=", ".join(names) or cert.subject,
                      suggested=f"{names[0]}:{candidate.port}" if names else "?")
    return advice("tls-untrusted", host=candidate.host, fingerprint=cert.sha256_fingerprint,
                  issuer=cert.issuer, detail=cert.trust_problem or "unknown issuer")


def connect_advice(candidate: Candidate, exc: ConnectFailed,
                   chosen_transport: Transport) -> RenderedAdvice:
    """A failed TCP connect or TLS handshake."""
    values = {"host": candidate.host, "port": candidate.port,
              "transport": candidate.transport.value.upper(), "detail": str(exc)}
    if exc.kind == "refused":
        if candidate.transport is Transport.TCP and chosen_transport is Transport.TCP:
            return advice("tcp-refused", **values)
        return advice("connect-refused", **values)
    by_kind = {"timeout": "connect-timeout", "dns": "connect-dns", "tls": "tls-handshake",
               "tls-timeout": "tls-handshake"}  # accepted TCP, never answered the handshake
    return advice(by_kind.get(exc.kind, "connect-unreachable"), **values)


def _tls_dsk_advice(rejection: Rejection, final: SipResponse | None,
                    alternative: str) -> RenderedAdvice:
    from sipe_setup.core.auth.tls_dsk import TlsDskFailure, TlsDskHandshakeError

    cause = rejection.cause
    if isinstance(cause, TlsDskHandshakeError):
        by_failure = {TlsDskFailure.SPLIT_FLIGHT: "dsk-tls-frame"}
        adv_id = by_failure.get(cause.failure, "dsk-tls-failed")
        if cause.failure is TlsDskFailure.SERVER_ALERT and cause.alert is not None and \
                cause.alert.description_name in ("protocol_version", "handshake_failure"):
            adv_id = "dsk-tls-version"
        return advice(adv_id, detail=cause.detail, alternative=alternative)
    if rejection.kind is RejectionKind.REJECTED:
        reason = server_words(final, KNOWN_DIAGNOSTICS).reason if final is not None else ""
        return advice("dsk-rejected", server_reason=reason or rejection.detail,
                      alternative=alternative)
    return advice("dsk-tls-failed", detail=rejection.detail, alternative=alternative)


def provisioning_advice(account: AccountSettings, exc: ProvisioningError,
                        alternative: str) -> RenderedAdvice:
    """Why no sign-in certificate could be had → the advice."""
    from sipe_setup.core.webservices.provisioning import ProvisioningFailure as F

    host = (urlsplit(exc.url).hostname or "?") if exc.url else "?"
    detail = exc.detail + (f" — the server said: {exc.server_text}" if exc.server_text else "")
    values: dict[str, object] = {"url": exc.url or "?", "host": host, "detail": detail,
                                 "alternative": alternative}
    failure = exc.failure
    if failure is F.CERTIFICATE_REFUSED and exc.certificate is not None:
        cert = exc.certificate
        return advice("dsk-ws-untrusted", host=host, fingerprint=cert.sha256_fingerprint,
                      detail=cert.trust_problem or " ".join(cert.problems()) or "not trusted")
    if failure is F.HOST_REFUSED:
        return advice("dsk-ws-host", host=host, domain=account.sip_domain)
    if failure is F.WEBTICKET_REJECTED:
        login = account.login.text or account.signin.address
        return advice("dsk-ticket-password", host=host, login=login, status=exc.http_status,
                      server_reason=exc.server_text)
    return advice(_PROVISIONING_ADVICE.get(failure.name, "dsk-certprov"), **values)


def rejection_advice(account: AccountSettings, rejection: Rejection, target: str,
                     skew: dt.timedelta | None, *, final: SipResponse | None = None,
                     alternative: str = "") -> RenderedAdvice:
    """A mechanism's typed refusal → the advice (Login forms are tried by the caller)."""
    scheme = rejection.scheme
    kind = rejection.kind
    if scheme is ChallengeScheme.TLS_DSK:
        clock = clock_skew_advice(skew, KERBEROS_SKEW_LIMIT) if kind is RejectionKind.REJECTED \
            else None
        return clock or _tls_dsk_advice(rejection, final, alternative or "NTLM or Kerberos")
    principal = str(account.login.kerberos)
    if kind is RejectionKind.UNAVAILABLE:
        from sipe_setup.core.auth.kerberos import kerberos_install_advice

        return advice("kerberos-unavailable", detail=rejection.detail,
                      install=kerberos_install_advice())
    if kind is RejectionKind.NO_CREDENTIALS:
        if scheme is ChallengeScheme.NTLM:
            return advice("password-required")
        return advice("kerberos-no-ticket", detail=rejection.detail, principal=principal)
    if kind in (RejectionKind.CONTEXT_FAILED, RejectionKind.TIMEOUT):
        if isinstance(rejection.cause, KerberosError):
            return kerberos_advice(account, rejection.cause, target)
        return advice("kerberos-failed", target=target, detail=rejection.detail)
    if kind is RejectionKind.BAD_CHALLENGE:
        return advice("auth-server-bad-challenge", scheme=str(scheme), detail=rejection.detail)
    limit = KERBEROS_SKEW_LIMIT if scheme is ChallengeScheme.KERBEROS else NTLM_SKEW_LIMIT
    label = "NTLM" if scheme is ChallengeScheme.NTLM else (
        "Kerberos" if scheme is ChallengeScheme.KERBEROS else str(scheme))
    adv = rejected_advice(account, label, skew, limit)
    if adv.id == "auth-failed" and rejection.signed_by_server:
        # Only a server that derived the session key from *this* password can sign: the
        # password is right, the account is refused after a completed handshake.
        return advice("auth-loop", scheme=label)
    return adv


_KERBEROS_ADVICE = {
    KerberosFailure.WRONG_PASSWORD: "kerberos-wrong-password",
    KerberosFailure.CLIENT_UNKNOWN: "kerberos-principal-unknown",
    KerberosFailure.CLIENT_REVOKED: "kerberos-revoked",
    KerberosFailure.PASSWORD_EXPIRED: "kerberos-password-expired",
    KerberosFailure.CLOCK_SKEW: "kerberos-clock-skew",
    KerberosFailure.SERVICE_UNKNOWN: "kerberos-service-unknown",
    KerberosFailure.KDC_UNREACHABLE: "kerberos-kdc-unreachable",
    KerberosFailure.NO_TICKET: "kerberos-no-ticket",
}


def kerberos_advice(account: AccountSettings, error: KerberosError,
                    target: str) -> RenderedAdvice:
    """A Kerberos failure, by the KDC's error code (RFC 4120 §7.5.9), never by its text."""
    principal = ("the principal of your ticket" if account.sso
                 else str(account.login.kerberos))
    adv_id = _KERBEROS_ADVICE.get(error.failure, "kerberos-failed")
    kdc_error = krb5_error_name(error.krb5_code) or str(error)
    return advice(adv_id, principal=principal, target=target, kdc_error=kdc_error,
                  detail=str(error))


def discovery_failure_advice(result: DiscoveryResult) -> RenderedAdvice:
    """Why discovery found no server: the DNS server did not answer (SS-DISC-DNS), or nothing
    is published (SS-DISC-NONE). ``discover`` and ``check`` both say it this way."""
    domain = result.sip_domain
    asked = [q.outcome for q in result.queries if q.outcome is not QueryOutcome.NOT_WAITED]
    if asked and not any(outcome.is_definitive for outcome in asked):
        troubles = sorted({o.value for o in asked})
        return advice("discovery-dns-failed", domain=domain, detail=", ".join(troubles))
    return advice("discovery-none", domain=domain)


def rejection_summary(rejection: Rejection) -> str:
    """The step's one-line summary for a refusal."""
    scheme = rejection.scheme
    if rejection.kind is RejectionKind.UNAVAILABLE:
        return "Kerberos not installed"
    if rejection.kind is RejectionKind.NO_CREDENTIALS:
        return "NTLM needs a password" if scheme is ChallengeScheme.NTLM else \
            f"Kerberos: {rejection.detail}"
    if rejection.kind is RejectionKind.TIMEOUT:
        return "Kerberos: KDC timeout"
    if rejection.kind is RejectionKind.CONTEXT_FAILED:
        return f"Kerberos: {rejection.detail}"
    if scheme is ChallengeScheme.TLS_DSK:
        return f"TLS-DSK: {rejection.detail}"
    if rejection.kind is RejectionKind.BAD_CHALLENGE:
        return f"unusable {scheme} challenge"
    if scheme is ChallengeScheme.KERBEROS:
        return "the server rejected the Kerberos ticket"
    if rejection.signed_by_server:
        return "401 again after a completed handshake"
    return "the server rejected the Login or password"
