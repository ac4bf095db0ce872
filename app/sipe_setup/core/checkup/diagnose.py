"""Facts → advice: the one place that turns what the server said into a catalog entry.

Steps gather facts (a status line, ms-diagnostics, a certificate, a clock difference); the
functions here pick the advice id and fill it. Nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from urllib.parse import urlsplit

from sipe_setup.core.account import AccountSettings, Transport
from sipe_setup.core.advice import RenderedAdvice, advice
from sipe_setup.core.auth.challenge import AuthChallenge, ChallengeScheme
from sipe_setup.core.auth.mechanism import Rejection, RejectionKind
from sipe_setup.core.auth.tls_dsk import TlsDskFailure, TlsDskHandshakeError
from sipe_setup.core.discovery import Candidate
from sipe_setup.core.sip.message import SipResponse
from sipe_setup.core.transport import CertificateInfo, ConnectFailed
from sipe_setup.core.webservices.provisioning import ProvisioningError, ProvisioningFailure

__all__ = [
    "KERBEROS_SKEW_LIMIT",
    "NTLM_SKEW_LIMIT",
    "certificate_advice",
    "clock_offset",
    "connect_advice",
    "not_lync_advice",
    "provisioning_advice",
    "rejected_advice",
    "rejection_advice",
    "rejection_summary",
    "server_diagnostics",
    "status_advice",
]

KERBEROS_SKEW_LIMIT = dt.timedelta(minutes=5)
NTLM_SKEW_LIMIT = dt.timedelta(minutes=15)
_PROVISIONING_ADVICE = {
    ProvisioningFailure.UNREACHABLE: "dsk-ws-unreachable",
    ProvisioningFailure.PROTOCOL: "dsk-ws-unreachable",
    ProvisioningFailure.URL_INVALID: "dsk-ws-unreachable",
    ProvisioningFailure.CERTIFICATE_REFUSED: "dsk-ws-unreachable",
    ProvisioningFailure.MEX_FAILED: "dsk-mex",
    ProvisioningFailure.MEX_INVALID: "dsk-mex",
    ProvisioningFailure.WEBTICKET_UNSUPPORTED: "dsk-mex",
    ProvisioningFailure.WEBTICKET_FAULT: "dsk-ticket",
    ProvisioningFailure.WEBTICKET_FAILED: "dsk-ticket",
    ProvisioningFailure.WEBTICKET_INVALID: "dsk-ticket",
    ProvisioningFailure.WEBTICKET_AUTH_FAILED: "dsk-ticket",
    ProvisioningFailure.CERTIFICATE_SHORT_LIVED: "dsk-short-cert",
}
_DIAG_RE = re.compile(r'^\s*(\d+)(?:\.\d+)?\s*(?:;.*?reason="([^"]*)")?')


def server_diagnostics(response: SipResponse) -> tuple[str, str]:
    """(ms-diagnostics code, reason) from ms-diagnostics(-public) or Warning."""
    for name in ("ms-diagnostics", "ms-diagnostics-public"):
        value = response.header(name)
        if value:
            match = _DIAG_RE.match(value)
            if match:
                return match.group(1), match.group(2) or ""
    warning = response.header("Warning")
    if warning:
        match = re.search(r'"([^"]*)"', warning)
        return "", match.group(1) if match else warning
    return "", ""


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


def status_advice(response: SipResponse, host: str, account: AccountSettings) -> RenderedAdvice:
    """A final answer that is neither a challenge nor success."""
    code, reason = server_diagnostics(response)
    status = response.status
    values = {"status": status, "reason_phrase": response.reason, "host": host,
              "server_reason": reason or "no reason given",
              "signin": account.signin.address,
              "user_agent": account.user_agent or "the built-in one"}
    if status == 403:
        if code == "17002":
            return advice("client-version", **values)
        if code == "4004":
            return advice("not-authorized-for-uri", **values)
        return advice("forbidden", **values)
    if status == 404:
        if code == "4006":
            return advice("user-not-in-pool", **values)
        return advice("not-found", **values)
    if status == 480:
        return advice("temporarily-unavailable", **values)
    if status in (503, 504):
        return advice("service-unavailable", **values)
    if 500 <= status < 600:
        return advice("server-error", **values)
    return advice("unexpected-status", **values)


def not_lync_advice(challenges: list[AuthChallenge], response: SipResponse,
                    host: str) -> RenderedAdvice:
    """A SIP server that answers, but not as Lync does (Digest, or no authentication)."""
    schemes = ", ".join(sorted({c.scheme_token for c in challenges})) or "no"
    return advice("not-lync", host=host, schemes=schemes,
                  server_header=response.header("Server") or "unknown")


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
    by_kind = {"timeout": "connect-timeout", "dns": "connect-dns", "tls": "tls-handshake"}
    return advice(by_kind.get(exc.kind, "connect-unreachable"), **values)


def _tls_dsk_advice(rejection: Rejection, final: SipResponse | None,
                    alternative: str) -> RenderedAdvice:
    cause = rejection.cause
    if isinstance(cause, TlsDskHandshakeError):
        by_failure = {TlsDskFailure.SPLIT_FLIGHT: "dsk-tls-frame"}
        adv_id = by_failure.get(cause.failure, "dsk-tls-failed")
        if cause.failure is TlsDskFailure.SERVER_ALERT and cause.alert is not None and \
                cause.alert.description_name in ("protocol_version", "handshake_failure"):
            adv_id = "dsk-tls-version"
        return advice(adv_id, detail=cause.detail, alternative=alternative)
    if rejection.kind is RejectionKind.REJECTED:
        reason = server_diagnostics(final)[1] if final is not None else ""
        return advice("dsk-rejected", server_reason=reason or rejection.detail,
                      alternative=alternative)
    return advice("dsk-tls-failed", detail=rejection.detail, alternative=alternative)


def provisioning_advice(account: AccountSettings, exc: ProvisioningError,
                        alternative: str) -> RenderedAdvice:
    """Why no sign-in certificate could be had → the advice."""
    F = ProvisioningFailure
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
        said = f"; the server said: {exc.server_text}" if exc.server_text else ""
        return advice("dsk-ticket-password", host=host, login=login, status=exc.http_status,
                      server_reason=said)
    return advice(_PROVISIONING_ADVICE.get(failure, "dsk-certprov"), **values)


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
        return advice("kerberos-unavailable")
    if kind is RejectionKind.NO_CREDENTIALS:
        return advice("kerberos-no-ticket", detail=rejection.detail, principal=principal)
    if kind in (RejectionKind.CONTEXT_FAILED, RejectionKind.TIMEOUT):
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
