"""The trial sign-in: discover → connect → TLS → REGISTER → authenticate → signed 200 → sign out.

Each stage is a step (:mod:`sipe_setup.core.steps`) reported live through ``on_event``; the
run ends with a :class:`~sipe_setup.core.steps.CheckResult` whose verdict points at one advice
entry. The CLI and the GUI drive this same code.

Behaviour follows SIPE (reference §1.5, §1.6, §3.8) where a user would otherwise be surprised
by a difference between this check and Pidgin:
- a connect or TLS failure moves on to the next candidate, and says so; once connected, errors
  are final (SIPE does not try another server then);
- a 301 to REGISTER moves to the home pool it names;
- Auto walks TLS-DSK → Kerberos → NTLM among the offered schemes; TLS-DSK is not implemented
  yet and is reported as skipped; a Kerberos context that cannot start falls back to NTLM;
- 480/500 and silence are answered with a timeout instead of SIPE's endless wait.

Safety (DESIGN §6): credentials go only to servers in the SIP domain unless the front end's
``ask_trust`` allows another one; an untrusted certificate is used only if the user accepted
that exact fingerprint. Cancelling the task closes every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import enum
import ipaddress
import re
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sipe_setup.core.account import (
    AccountSettings,
    AuthScheme,
    NtlmIdentity,
    ParsedLogin,
    Secret,
    Transport,
    parse_login,
)
from sipe_setup.core.advice import RenderedAdvice, advice
from sipe_setup.core.auth.authenticator import NtlmSipAuthenticator, SipAuthenticator
from sipe_setup.core.auth.challenge import (
    AuthChallenge,
    ChallengeScheme,
    find_challenge,
    parse_challenges,
    select_challenge,
)
from sipe_setup.core.auth.errors import (
    AuthError,
)
from sipe_setup.core.auth.kerberos import (
    KerberosError,
    KerberosSipAuthenticator,
    KerberosUnavailable,
)
from sipe_setup.core.auth.ntlm import AvId, NtlmProtocolError, parse_challenge
from sipe_setup.core.discovery import (
    Candidate,
    CandidateSource,
    DiscoveryEvent,
    DiscoveryOptions,
    DiscoveryResult,
    QueryFinished,
    QueryOutcome,
    discover,
)
from sipe_setup.core.discovery.dns import make_resolver, resolve_host
from sipe_setup.core.discovery.engine import AutodiscoverFinished
from sipe_setup.core.discovery.model import QueryPurpose
from sipe_setup.core.sip.message import SipProtocolError, SipResponse, SipStreamParser
from sipe_setup.core.sip.register import RegisterAttempt, RegisterDialog, parse_redirect_contact
from sipe_setup.core.steps import (
    AcceptedCertificate,
    CheckResult,
    EventSink,
    StepId,
    StepRecorder,
    StepResult,
    StepStatus,
    Verdict,
)
from sipe_setup.core.transport import (
    CertificateInfo,
    CertificateRejected,
    ConnectFailed,
    ConnectionClosed,
    SipConnection,
    open_sip_connection,
)

__all__ = ["CheckOptions", "CheckRun", "TrustDecider", "TrustKind", "TrustQuestion", "run_check"]

KERBEROS_SKEW_LIMIT = dt.timedelta(minutes=5)
NTLM_SKEW_LIMIT = dt.timedelta(minutes=15)
_DIAG_RE = re.compile(r'^\s*(\d+)(?:\.\d+)?\s*(?:;.*?reason="([^"]*)")?')


class TrustKind(enum.StrEnum):
    """What the front end is asked to decide."""

    CERTIFICATE = "certificate"
    OUTSIDE_DOMAIN = "outside-domain"


@dataclass(frozen=True, slots=True)
class TrustQuestion:
    """A decision only the user can take; ``message`` says it in plain words."""

    kind: TrustKind
    host: str
    port: int
    sip_domain: str
    message: str
    certificate: CertificateInfo | None = None


TrustDecider = Callable[[TrustQuestion], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """How a check runs.

    Attributes:
        discovery: resolver, autodiscover and discovery deadline settings.
        ca_file: extra CA certificates (PEM) to trust for SIP TLS.
        trusted_fingerprints: SHA-256 fingerprints the user already accepted.
        deadline: the whole check, in seconds.
        connect_timeout: TCP connect (and, separately, the TLS handshake).
        response_timeout: waiting for one SIP answer.
        hostname: the host name SIPE would use for the epid (default: this machine's).
        try_other_logins: after a wrong-password answer, try up to two other Login forms
            to tell a wrong form from a wrong password.
        max_redirects: 301 hops followed.
    """

    discovery: DiscoveryOptions = field(default_factory=DiscoveryOptions)
    ca_file: str | None = None
    trusted_fingerprints: frozenset[str] = frozenset()
    deadline: float = 90.0
    connect_timeout: float = 10.0
    response_timeout: float = 15.0
    hostname: str = ""
    try_other_logins: bool = True
    max_redirects: int = 3


class _Stop(Exception):
    """Internal: the check ends here with this advice (already recorded on a step)."""

    def __init__(self, advice_value: RenderedAdvice, summary: str) -> None:
        super().__init__(summary)
        self.advice = advice_value
        self.summary = summary


class _Redirect(Exception):
    def __init__(self, candidate: Candidate) -> None:
        super().__init__(str(candidate))
        self.candidate = candidate


@dataclass(slots=True)
class _AuthOutcome:
    response: SipResponse
    authenticator: SipAuthenticator
    dialog: RegisterDialog
    scheme_label: str


def _diagnostics(response: SipResponse) -> tuple[str, str]:
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


def _server_time(response: SipResponse) -> dt.datetime | None:
    value = response.header("Date")
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def _format_skew(delta: dt.timedelta) -> str:
    seconds = abs(round(delta.total_seconds()))
    if seconds >= 120:
        seconds = round(seconds / 60) * 60  # a Date header has one-second resolution anyway
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours} h {minutes} min" if hours else (
        f"{minutes} min" if minutes >= 2 else f"{minutes * 60 + secs} s")
    return text + (" (server ahead)" if delta.total_seconds() > 0 else " (server behind)")


class CheckRun:
    """One check. ``await execute()`` runs it; :attr:`recorder` holds the steps so far."""

    def __init__(self, account: AccountSettings, password: Secret | None,
                 options: CheckOptions | None = None, *, on_event: EventSink | None = None,
                 ask_trust: TrustDecider | None = None) -> None:
        self.account = account
        self.password = password
        self.options = options or CheckOptions()
        self.recorder = StepRecorder(on_event)
        self.ask_trust = ask_trust
        self.hostname = self.options.hostname or socket.gethostname() or "localhost"
        self.discovery_result: DiscoveryResult | None = None
        self.selected: dict[str, object] | None = None
        self.server: dict[str, object] = {}
        self.round_trips = 0
        self.started_wall = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self.started = time.monotonic()
        self.timings: dict[str, float] = {}
        self._connections: list[SipConnection] = []
        self._clock_skew: dt.timedelta | None = None
        self._current: StepResult | None = None
        self.accepted_certificate: AcceptedCertificate | None = None

    # --- results ------------------------------------------------------------------------------

    def account_summary(self) -> dict[str, object]:
        """The settings as checked (never the password)."""
        a = self.account
        return {
            "signin": a.signin.address,
            "login": a.login.text,
            "server": str(a.server) if a.server else "",
            "transport": a.transport.value,
            "auth": a.auth.value,
            "sso": a.sso,
            "user_agent": a.user_agent,
            "password_given": bool(self.password),
        }

    def result(self, verdict: Verdict, summary: str,
               advice_value: RenderedAdvice | None) -> CheckResult:
        """Assemble the result from what was recorded."""
        self.timings["total"] = time.monotonic() - self.started
        return CheckResult(
            verdict=verdict, summary=summary, advice=advice_value,
            steps=list(self.recorder.steps), account=self.account_summary(),
            discovery=self._discovery_json(),
            selected=self.selected, server=dict(self.server), timings=dict(self.timings),
            round_trips=self.round_trips, started=self.started_wall,
            accepted_certificate=self.accepted_certificate,
        )

    def _discovery_json(self) -> dict[str, object] | None:
        """DESIGN §3's ``discovery`` object: queries, candidates, warnings, SIPE's first pick."""
        if self.discovery_result is None:
            return None
        doc = self.discovery_result.to_json()
        return {**doc["discovery"], "sipe_would_use": doc["selected"],
                "warnings": doc["warnings"], "timings": doc["timings"]}

    def cancelled_result(self) -> CheckResult:
        """What to show after the user cancelled."""
        self._close_running(StepStatus.SKIP, "cancelled")
        return self.result(Verdict.CANCELLED, "The check was cancelled.", advice("cancelled"))

    def _close_running(self, status: StepStatus, summary: str,
                       advice_value: RenderedAdvice | None = None) -> None:
        for step in self.recorder.steps:
            if step.status is StepStatus.RUNNING:
                self.recorder.finish(step, status, summary, advice_value)

    # --- the run ------------------------------------------------------------------------------

    async def execute(self) -> CheckResult:
        """Run the whole check within ``options.deadline``.

        Raises:
            asyncio.CancelledError: when cancelled (connections are closed first); use
                :meth:`cancelled_result` for what to show.
        """
        try:
            return await asyncio.wait_for(self._run(), self.options.deadline)
        except TimeoutError:
            where = next((s.title for s in reversed(self.recorder.steps)
                          if s.status is StepStatus.RUNNING), "the last step")
            adv = advice("deadline", timeout=f"{self.options.deadline:g}", detail=where)
            self._close_running(StepStatus.FAIL, "stopped: the check took too long", adv)
            return self.result(Verdict.FAILED, adv.title, adv)
        finally:
            for conn in self._connections:
                await conn.close()
            self._connections.clear()

    async def _run(self) -> CheckResult:
        try:
            self._validate()
            candidates = await self._discover()
            return await self._try_candidates(candidates)
        except _Stop as stop:
            return self.result(Verdict.FAILED, stop.summary, stop.advice)

    def _fail(self, step: StepResult, adv: RenderedAdvice, summary: str) -> _Stop:
        self.recorder.finish(step, StepStatus.FAIL, summary, adv)
        return _Stop(adv, adv.title)

    # --- validate -----------------------------------------------------------------------------

    def _validate(self) -> None:
        step = self.recorder.start(StepId.VALIDATE, "Check the settings")
        a = self.account
        self.recorder.line(step, f"Sign-in address: {a.signin.address}")
        ntlm = a.login.ntlm
        ntlm_text = f"{ntlm.domain}\\{ntlm.user}" if ntlm.domain else ntlm.user
        self.recorder.line(step, f"Login: {a.login.text or '(same as the sign-in address)'} "
                                 f"→ NTLM {ntlm_text}, Kerberos {a.login.kerberos}")
        if not a.sso and not self.password:
            raise self._fail(step, advice("password-required"), "no password")
        for warning in a.warnings:
            self.recorder.line(step, f"Note: {warning.message}")
        notes = len(a.warnings)
        self.recorder.finish(step, StepStatus.WARN if notes else StepStatus.PASS,
                             "settings are complete" + (f"; {notes} note(s) below" if notes
                                                        else ""))

    # --- discover -----------------------------------------------------------------------------

    async def _discover(self) -> list[Candidate]:
        manual = self.account.server is not None
        step = self.recorder.start(StepId.DISCOVER, "Use the server you entered" if manual
                                   else f"Find the server for {self.account.sip_domain}")
        started = time.monotonic()

        def on_discovery(event: DiscoveryEvent) -> None:
            if isinstance(event, QueryFinished):
                r = event.result
                records = ", ".join(r.records) if r.records else r.detail
                self.recorder.line(step, f"{r.name} {r.record_type.value.upper()}: "
                                         f"{r.outcome.value}{' — ' + records if records else ''}")
            elif isinstance(event, AutodiscoverFinished):
                att = event.attempt
                self.recorder.line(step, f"autodiscover {att.url}: {att.outcome.value}"
                                         f"{' — ' + att.detail if att.detail else ''}")

        result = await discover(self.account, password=self.password,
                                options=self.options.discovery, on_event=on_discovery)
        self.discovery_result = result
        self.timings["discovery"] = time.monotonic() - started
        candidates = [c for c in result.candidates if c.resolves]
        for index, cand in enumerate(candidates):
            note = " ← SIPE tries this first" if index == 0 else ""
            self.recorder.line(step, f"candidate {index + 1}: {cand} from {cand.via}{note}")
        if not candidates:
            outcomes = {q.outcome for q in result.queries}
            if outcomes and outcomes <= {QueryOutcome.TIMEOUT, QueryOutcome.SERVFAIL,
                                         QueryOutcome.ERROR}:
                adv = advice("discovery-dns-failed", domain=self.account.sip_domain,
                             detail=", ".join(sorted(o.value for o in outcomes)))
            else:
                adv = advice("discovery-none", domain=self.account.sip_domain)
            raise self._fail(step, adv, "no server found")
        outside = [c for c in candidates if c.outside_domain]
        if outside:
            first = outside[0]
            adv = advice("discovery-outside-domain", host=first.host,
                         domain=self.account.sip_domain)
            self.recorder.finish(step, StepStatus.WARN,
                                 f"{len(candidates)} server(s) found; {first.host} is outside "
                                 f"{self.account.sip_domain}", adv)
        else:
            self.recorder.finish(step, StepStatus.PASS,
                                 f"using {candidates[0]}" if manual else
                                 f"{len(candidates)} server(s) found; first: {candidates[0]}")
        return candidates

    # --- candidates ---------------------------------------------------------------------------

    async def _try_candidates(self, candidates: list[Candidate]) -> CheckResult:
        first_failure: _Stop | None = None
        redirects = 0
        queue = list(candidates)
        attempt = 0
        while queue:
            candidate = queue.pop(0)
            if candidate.outside_domain and not await self._allowed_outside(candidate):
                step = self.recorder.start(StepId.CONNECT, f"Connect to {candidate}", attempt)
                self.recorder.finish(step, StepStatus.SKIP,
                                     "not used: outside your SIP domain and not allowed")
                attempt += 1
                continue
            try:
                conn = await self._connect(candidate, attempt)
            except _Stop as stop:
                first_failure = first_failure or stop
                attempt += 1
                if queue:
                    step = self.recorder.steps[-1]
                    self.recorder.line(step, f"SIPE would now try the next server: {queue[0]}")
                continue
            if redirects == 0:
                # Where a sign-in starts (before any 301): what Pidgin must reach on its own.
                self.server["entry_point"] = candidate.to_json()
            try:
                return await self._sign_in(conn, candidate, attempt)
            except _Redirect as redirect:
                redirects += 1
                if redirects > self.options.max_redirects:
                    adv = advice("redirect-loop", detail=f"{redirects} redirects")
                    step = self.recorder.start(StepId.REGISTER, "Follow redirect", attempt)
                    raise self._fail(step, adv, "too many redirects") from None
                queue = [redirect.candidate]
                attempt += 1
            finally:
                await conn.close()
        assert first_failure is not None
        return self.result(Verdict.FAILED, first_failure.summary, first_failure.advice)

    async def _allowed_outside(self, candidate: Candidate) -> bool:
        if self.ask_trust is None:
            return False
        question = TrustQuestion(
            TrustKind.OUTSIDE_DOMAIN, candidate.host, candidate.port, self.account.sip_domain,
            f"The server {candidate.host} (found via {candidate.via}) is not inside your SIP "
            f"domain {self.account.sip_domain}. Send your credentials to it?")
        return await self.ask_trust(question)

    async def _resolve(self, host: str) -> str | None:
        """An address for ``host`` through the discovery resolver (IP literals as they are)."""
        try:
            ipaddress.ip_address(host)
            return host
        except ValueError:
            pass
        resolver = make_resolver(self.options.discovery.resolver)
        a_result, aaaa_result = await resolve_host(resolver, host, QueryPurpose.CONNECT_HOST)
        for res in (a_result, aaaa_result):
            if res.addresses:
                return res.addresses[0]
        return None

    async def _connect(self, candidate: Candidate, attempt: int) -> SipConnection:
        transport = candidate.transport
        step = self.recorder.start(StepId.CONNECT, f"Connect to {candidate}", attempt)
        address = candidate.addresses[0] if candidate.addresses else await self._resolve(
            candidate.host)
        if address is None:
            raise self._fail(step, advice("connect-dns", host=candidate.host),
                             f"{candidate.host} does not resolve")
        self.recorder.line(step, f"{candidate.host} → {address}, port {candidate.port}, "
                                 f"{transport.value.upper()}")
        started = time.monotonic()
        trusted = set(self.options.trusted_fingerprints)
        try:
            conn = await self._open(candidate, address, frozenset(trusted))
        except CertificateRejected as rejected:
            cert = rejected.certificate
            self.recorder.finish(step, StepStatus.PASS, f"connected to {address}")
            tls_step = self.recorder.start(StepId.TLS, f"Check the certificate of "
                                                       f"{candidate.host}", attempt)
            self._certificate_lines(tls_step, cert)
            self.server["certificate"] = cert.to_json()
            adv = self._certificate_advice(candidate, cert)
            if self.ask_trust is not None and await self.ask_trust(TrustQuestion(
                    TrustKind.CERTIFICATE, candidate.host, candidate.port,
                    self.account.sip_domain, " ".join(cert.problems()), cert)):
                trusted.add(cert.sha256_fingerprint)
                try:
                    conn = await self._open(candidate, address, frozenset(trusted))
                except ConnectFailed as exc:
                    raise self._fail(tls_step, self._connect_advice(candidate, exc),
                                     str(exc)) from None
                self.server["certificate_accepted_by_user"] = cert.sha256_fingerprint
                self.accepted_certificate = AcceptedCertificate(
                    candidate.host, cert.sha256_fingerprint, cert.pem)
                self.recorder.finish(tls_step, StepStatus.WARN,
                                     f"accepted by you: {cert.sha256_fingerprint}", adv)
                self.timings.setdefault("connect", time.monotonic() - started)
                return conn
            raise self._fail(tls_step, adv, cert.problems()[0] if cert.problems()
                             else "certificate rejected") from None
        except ConnectFailed as exc:
            adv = self._connect_advice(candidate, exc)
            if exc.kind == "tls":
                self.recorder.finish(step, StepStatus.PASS, f"connected to {address}")
                tls_step = self.recorder.start(StepId.TLS, "TLS handshake", attempt)
                raise self._fail(tls_step, adv, str(exc)) from None
            raise self._fail(step, adv, str(exc)) from None
        self.timings.setdefault("connect", time.monotonic() - started)
        self.recorder.finish(step, StepStatus.PASS,
                             f"connected to {conn.peer_ip}:{conn.port} from "
                             f"{conn.local_ip}:{conn.local_port}")
        self.selected = {**candidate.to_json(), "connected_address": conn.peer_ip}
        if conn.transport is Transport.TLS and conn.certificate is not None:
            tls_step = self.recorder.start(StepId.TLS, f"Check the certificate of "
                                                       f"{candidate.host}", attempt)
            self._certificate_lines(tls_step, conn.certificate)
            self.server["certificate"] = conn.certificate.to_json()
            self.server["tls_version"] = conn.tls_version
            cert = conn.certificate
            if cert.acceptable:
                self.recorder.finish(tls_step, StepStatus.PASS,
                                     f"{conn.tls_version}, trusted, issued to {candidate.host}")
            else:  # only reachable through a fingerprint the user accepted before
                self.accepted_certificate = AcceptedCertificate(
                    candidate.host, cert.sha256_fingerprint, cert.pem)
                self.server["certificate_accepted_by_user"] = cert.sha256_fingerprint
                self.recorder.finish(tls_step, StepStatus.PASS,
                                     f"{conn.tls_version}, accepted earlier by you: "
                                     f"{cert.sha256_fingerprint}")
        elif conn.transport is Transport.TCP:
            self.recorder.line(step, "Plain TCP: this connection is not encrypted.")
        return conn

    async def _open(self, candidate: Candidate, address: str,
                    trusted: frozenset[str]) -> SipConnection:
        conn = await open_sip_connection(
            candidate.host, candidate.port, candidate.transport, connect_to=address,
            ca_file=self.options.ca_file, trusted_fingerprints=trusted,
            connect_timeout=self.options.connect_timeout,
            tls_timeout=self.options.connect_timeout)
        self._connections.append(conn)
        return conn

    def _certificate_lines(self, step: StepResult, cert: CertificateInfo) -> None:
        line = self.recorder.line
        line(step, f"Subject: {cert.subject}")
        line(step, f"Names: {', '.join(cert.dns_names + cert.ip_addresses) or '(none)'}")
        line(step, f"Issuer: {cert.issuer}")
        line(step, f"Valid: {cert.not_before:%Y-%m-%d} to {cert.not_after:%Y-%m-%d}")
        line(step, f"SHA-256: {cert.sha256_fingerprint}")
        line(step, f"Trusted chain: {'yes' if cert.chain_trusted else 'no'}; matches "
                   f"{cert.checked_host}: {'yes' if cert.host_matches else 'no'}")
        for problem in cert.problems():
            line(step, f"Problem: {problem}")

    def _certificate_advice(self, candidate: Candidate, cert: CertificateInfo) -> RenderedAdvice:
        if cert.expired or cert.not_yet_valid:
            return advice("tls-expired", host=candidate.host, detail=" ".join(cert.problems()))
        if not cert.host_matches:
            names = cert.dns_names + cert.ip_addresses
            port = candidate.port
            return advice("tls-name-mismatch", host=candidate.host,
                          names=", ".join(names) or cert.subject,
                          suggested=f"{names[0]}:{port}" if names else "?")
        return advice("tls-untrusted", host=candidate.host, fingerprint=cert.sha256_fingerprint,
                      issuer=cert.issuer, detail=cert.trust_problem or "unknown issuer")

    def _connect_advice(self, candidate: Candidate, exc: ConnectFailed) -> RenderedAdvice:
        values = {"host": candidate.host, "port": candidate.port,
                  "transport": candidate.transport.value.upper(), "detail": str(exc)}
        if exc.kind == "refused":
            if candidate.transport is Transport.TCP and self.account.transport is Transport.TCP:
                return advice("tcp-refused", **values)
            return advice("connect-refused", **values)
        if exc.kind == "timeout":
            return advice("connect-timeout", **values)
        if exc.kind == "dns":
            return advice("connect-dns", **values)
        if exc.kind == "tls":
            return advice("tls-handshake", **values)
        return advice("connect-unreachable", **values)

    # --- SIP ----------------------------------------------------------------------------------

    async def _exchange(self, conn: SipConnection, parser: SipStreamParser,
                        attempt: RegisterAttempt, authorization: str | None,
                        step: StepResult) -> SipResponse:
        """Send one REGISTER, return its final answer (provisional and stray ones skipped)."""
        request = attempt.authorized(authorization)
        self.round_trips += 1
        label = "REGISTER" + (" (Expires: 0)" if request.header("Expires") == "0" else "")
        scheme = authorization.split(" ", 1)[0] if authorization else ""
        self.recorder.line(step, f"→ {label} CSeq {attempt.cseq}"
                                 + (f" with {scheme} Authorization" if scheme else ""))
        timeout = self.options.response_timeout
        try:
            await conn.send(request.to_bytes(), timeout)
            deadline = time.monotonic() + timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ConnectionClosed("no answer", "timeout")
                data = await conn.receive(remaining)
                for message in parser.feed(data):
                    if isinstance(message, SipResponse) and attempt.is_response_to(message):
                        if message.status < 200:
                            self.recorder.line(step, f"← {message.status} {message.reason}")
                            continue
                        self.recorder.line(step, f"← {message.status} {message.reason}")
                        server_header = message.header("Server")
                        if server_header:
                            self.server["server_header"] = server_header
                        skew = self._note_clock(message)
                        if skew is not None:
                            self._clock_skew = skew
                        return message
        except SipProtocolError as exc:
            raise self._fail(step, advice("garbage", host=conn.host, detail=str(exc)),
                             "not a SIP answer") from None
        except ConnectionClosed as exc:
            if exc.kind == "timeout":
                raise self._fail(step, advice("no-response", host=conn.host,
                                              timeout=f"{timeout:g}"),
                                 f"no answer within {timeout:g} s") from None
            raise self._fail(step, advice("server-closed", host=conn.host, detail=str(exc)),
                             "the server closed the connection") from None

    def _note_clock(self, response: SipResponse) -> dt.timedelta | None:
        server_time = _server_time(response)
        if server_time is None:
            return None
        return server_time - dt.datetime.now(dt.UTC)

    def _status_advice(self, response: SipResponse, conn: SipConnection) -> RenderedAdvice:
        code, reason = _diagnostics(response)
        status = response.status
        values = {"status": status, "reason_phrase": response.reason, "host": conn.host,
                  "server_reason": reason or "no reason given",
                  "signin": self.account.signin.address,
                  "user_agent": self.account.user_agent or "the built-in one"}
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

    def _not_lync(self, challenges: list[AuthChallenge], response: SipResponse,
                  conn: SipConnection) -> RenderedAdvice:
        schemes = ", ".join(sorted({c.scheme_token for c in challenges})) or "no"
        return advice("not-lync", host=conn.host, schemes=schemes,
                      server_header=response.header("Server") or "unknown")

    async def _redirect_target(self, response: SipResponse, step: StepResult) -> Candidate:
        target = parse_redirect_contact(response)
        if target is None:
            raise self._fail(step, advice("unexpected-status", status=301,
                                          reason_phrase=response.reason,
                                          server_reason="301 without a usable Contact"),
                             "redirect without a target")
        port = target.port or (5061 if target.transport is Transport.TLS else 5060)
        address = await self._resolve(target.host)
        candidate = Candidate(host=target.host, port=port, transport=target.transport,
                              source=CandidateSource.MANUAL, via="301 redirect",
                              addresses=(address,) if address else ())
        self.recorder.line(step, f"Redirected to {candidate} (your home pool); SIPE follows "
                                 "this too.")
        return candidate

    async def _sign_in(self, conn: SipConnection, candidate: Candidate,
                       attempt: int) -> CheckResult:
        parser = SipStreamParser()
        dialog = self._dialog(conn)
        step = self.recorder.start(StepId.REGISTER, f"Sign-in request to {candidate.host}",
                                   attempt)
        started = time.monotonic()
        first = dialog.next_register()
        response = await self._exchange(conn, parser, first, None, step)
        self.timings["first_register"] = time.monotonic() - started
        if response.status == 301:
            target = await self._redirect_target(response, step)
            self.recorder.finish(step, StepStatus.PASS, f"redirected to {target}")
            raise _Redirect(target)
        if response.status not in (401, 407):
            if response.status == 200:
                raise self._fail(step, self._not_lync([], response, conn),
                                 "signed in without any authentication")
            raise self._fail(step, self._status_advice(response, conn),
                             f"{response.status} {response.reason}")
        challenges = parse_challenges(response)
        offered = [c.scheme_token for c in challenges]
        self.server["offered_schemes"] = offered
        self.recorder.line(step, f"Server offers: {', '.join(offered) or 'nothing'}")
        ms = [c for c in challenges if c.scheme in (ChallengeScheme.NTLM,
                                                    ChallengeScheme.KERBEROS,
                                                    ChallengeScheme.TLS_DSK)]
        if not ms:
            raise self._fail(step, self._not_lync(challenges, response, conn),
                             f"offers {', '.join(offered) or 'no'} authentication; not Lync")
        self.recorder.finish(step, StepStatus.PASS,
                             f"the server asks for authentication: {', '.join(offered)}")
        outcome = await self._authenticate(conn, parser, dialog, challenges, attempt)
        return await self._after_auth(conn, parser, outcome, candidate, attempt)

    def _dialog(self, conn: SipConnection) -> RegisterDialog:
        return RegisterDialog(signin=self.account.signin, transport=conn.transport,
                              local_ip=conn.local_ip, local_port=conn.local_port,
                              hostname=self.hostname, user_agent=self.account.user_agent)

    # --- authentication -----------------------------------------------------------------------

    async def _authenticate(self, conn: SipConnection, parser: SipStreamParser,
                            dialog: RegisterDialog, challenges: list[AuthChallenge],
                            attempt: int) -> _AuthOutcome:
        wanted = self.account.auth
        available = [ChallengeScheme.KERBEROS, ChallengeScheme.NTLM]
        step = self.recorder.start(StepId.AUTHENTICATE, "Authenticate", attempt)
        offered = {c.scheme for c in challenges}
        if wanted is AuthScheme.TLS_DSK or (wanted is AuthScheme.AUTO and offered == {
                ChallengeScheme.TLS_DSK}):
            raise self._fail(step, advice("auth-tls-dsk-only"),
                             "TLS-DSK is offered but cannot be tested yet")
        excluded: list[ChallengeScheme] = []
        if wanted is AuthScheme.AUTO and ChallengeScheme.TLS_DSK in offered:
            nxt = select_challenge(challenges, wanted, available=available)
            self.recorder.line(step, "The server offers TLS-DSK; sipe-setup cannot test it yet, "
                                     f"so it falls back to {nxt.scheme_token if nxt else '—'} "
                                     "(SIPE itself would use TLS-DSK first).")
        while True:
            chosen = select_challenge(challenges, wanted, available=available, exclude=excluded)
            if chosen is None:
                names = ", ".join(sorted({c.scheme_token for c in challenges}))
                if excluded:
                    # Every usable scheme was tried and failed before a handshake completed.
                    raise _Stop(step.advice or advice("auth-failed"),
                                step.summary or "authentication failed")
                label = {AuthScheme.KERBEROS: "Kerberos", AuthScheme.NTLM: "NTLM"}.get(
                    wanted, wanted.value)
                raise self._fail(step, advice("auth-incompatible", chosen=label, offered=names),
                                 f"{label} is not offered")
            if chosen.scheme is ChallengeScheme.KERBEROS:
                try:
                    return await self._kerberos(conn, parser, dialog, chosen, step)
                except _Stop:
                    if wanted is AuthScheme.AUTO and find_challenge(challenges,
                                                                    ChallengeScheme.NTLM):
                        self.recorder.line(step, "Kerberos did not work; SIPE falls back to "
                                                 "NTLM, and so do we.")
                        step.status = StepStatus.RUNNING
                        excluded.append(ChallengeScheme.KERBEROS)
                        dialog = self._dialog(conn)
                        first = dialog.next_register()
                        response = await self._exchange(conn, parser, first, None, step)
                        challenges = parse_challenges(response) or challenges
                        continue
                    raise
            return await self._ntlm(conn, parser, dialog, chosen, step)

    async def _kerberos(self, conn: SipConnection, parser: SipStreamParser,
                        dialog: RegisterDialog, challenge: AuthChallenge,
                        step: StepResult) -> _AuthOutcome:
        a = self.account
        principal = a.login.kerberos
        auth = KerberosSipAuthenticator(principal, self.password, sso=a.sso)
        self.recorder.line(step, f"Kerberos: ticket for {challenge.target_name} as "
                                 f"{auth.principal_text}")
        attempt = dialog.next_register()
        try:
            header = await asyncio.wait_for(asyncio.to_thread(auth.start, challenge,
                                                              attempt.request),
                                            self.options.connect_timeout * 2)
        except KerberosUnavailable:
            raise self._fail(step, advice("kerberos-unavailable"), "Kerberos not installed"
                             ) from None
        except KerberosError as exc:
            if a.sso and "ticket" in str(exc):
                adv = advice("kerberos-no-ticket", detail=str(exc), principal=str(principal))
            else:
                adv = advice("kerberos-failed", target=challenge.target_name, detail=str(exc))
            raise self._fail(step, adv, f"Kerberos: {exc}") from None
        except TimeoutError:
            raise self._fail(step, advice("kerberos-failed", target=challenge.target_name,
                                          detail="the KDC did not answer in time"),
                             "Kerberos: KDC timeout") from None
        response = await self._exchange(conn, parser, attempt, header, step)
        if response.status in (401, 407):
            adv = self._rejected_advice("Kerberos", KERBEROS_SKEW_LIMIT)
            raise self._fail(step, adv, "the server rejected the Kerberos ticket")
        return _AuthOutcome(response, auth, dialog, "Kerberos")

    def _rejected_advice(self, scheme: str, skew_limit: dt.timedelta) -> RenderedAdvice:
        skew = self._clock_skew
        if skew is not None and abs(skew) > skew_limit:
            now = dt.datetime.now(dt.UTC)
            return advice("clock-skew", skew=_format_skew(skew),
                          server_time=f"{now + skew:%Y-%m-%d %H:%M:%S} UTC",
                          local_time=f"{now:%Y-%m-%d %H:%M:%S} UTC")
        if scheme == "Kerberos":
            return advice("auth-loop", scheme=scheme)
        login = self.account.login.text or self.account.signin.address
        return advice("auth-failed", login=login, scheme=scheme)

    async def _ntlm_handshake(self, conn: SipConnection, parser: SipStreamParser,
                              dialog: RegisterDialog, challenge: AuthChallenge,
                              identity: NtlmIdentity, step: StepResult
                              ) -> tuple[SipResponse, NtlmSipAuthenticator, str]:
        """The two NTLM round trips; returns (final answer, authenticator, NB domain)."""
        assert self.password is not None
        auth = NtlmSipAuthenticator(identity, self.password, self.hostname)
        second = dialog.next_register()
        response = await self._exchange(conn, parser, second, auth.start(challenge,
                                                                         second.request), step)
        if response.status not in (401, 407):
            raise self._fail(step, self._status_advice(response, conn),
                             f"{response.status} {response.reason} instead of a challenge")
        ntlm_challenge = find_challenge(parse_challenges(response), ChallengeScheme.NTLM)
        if ntlm_challenge is None or not ntlm_challenge.gssapi_data:
            raise self._fail(step, advice("auth-server-bad-challenge", scheme="NTLM",
                                          detail="no NTLM CHALLENGE in the second 401"),
                             "no NTLM challenge")
        nb_domain = ""
        try:
            parsed = parse_challenge(ntlm_challenge.gssapi_token())
            nb_domain = parsed.av_text(AvId.NB_DOMAIN_NAME) or ""
        except (NtlmProtocolError, AuthError, ValueError):
            pass
        third = dialog.next_register()
        try:
            header = auth.step(ntlm_challenge, third.request)
        except AuthError as exc:
            raise self._fail(step, advice("auth-server-bad-challenge", scheme="NTLM",
                                          detail=str(exc)), "unusable NTLM challenge") from None
        final = await self._exchange(conn, parser, third, header, step)
        return final, auth, nb_domain

    async def _ntlm(self, conn: SipConnection, parser: SipStreamParser, dialog: RegisterDialog,
                    challenge: AuthChallenge, step: StepResult) -> _AuthOutcome:
        a = self.account
        if a.sso:
            raise self._fail(step, advice("kerberos-no-ticket",
                                          detail="Single Sign-On on Linux needs Kerberos; the "
                                                 "server only accepted NTLM here",
                                          principal=str(a.login.kerberos)),
                             "NTLM needs a password")
        identity = a.login.ntlm
        shown = f"{identity.domain}\\{identity.user}" if identity.domain else identity.user
        self.recorder.line(step, f"NTLM as {shown} (version {challenge.version or 'none'})")
        response, auth, nb_domain = await self._ntlm_handshake(conn, parser, dialog, challenge,
                                                               identity, step)
        if response.status not in (401, 407):
            return _AuthOutcome(response, auth, dialog, "NTLM")
        adv = self._rejected_advice("NTLM", NTLM_SKEW_LIMIT)
        if adv.id == "auth-failed" and self._signed_by_server(auth, response, step):
            # Only a server that derived the session key from *this* password can sign: the
            # password is right, the account is refused after a completed handshake.
            raise self._fail(step, advice("auth-loop", scheme="NTLM"),
                             "401 again after a completed handshake")
        if adv.id == "auth-failed" and self.options.try_other_logins:
            working = await self._try_other_logins(conn, parser, nb_domain, step)
            if working is not None:
                adv = advice("auth-login-form", login=a.login.text or a.signin.address,
                             working_login=working)
                raise self._fail(step, adv, f"the password works with Login {working}")
        raise self._fail(step, adv, "the server rejected the Login or password")

    def _signed_by_server(self, auth: SipAuthenticator, response: SipResponse,
                          step: StepResult) -> bool:
        try:
            signed = auth.is_complete and auth.verify_response(response)
        except AuthError:
            return False
        if signed:
            self.recorder.line(step, "The rejection is signed with the session key: the "
                                     "server accepted the password.")
        return signed

    def _other_logins(self, nb_domain: str) -> list[str]:
        a = self.account
        login = a.login
        base = login.ntlm.user.split("@", 1)[0] or a.signin.user  # the name without a domain
        forms = []
        if nb_domain:
            forms.append(f"{nb_domain}\\{base}")
        forms.append(a.signin.address)
        forms.append(f"{base}@{a.sip_domain}")
        current = (login.ntlm.domain.upper(), login.ntlm.user.lower())
        seen = {current}
        out = []
        for text in forms:
            parsed = parse_login(text, a.signin)
            if not isinstance(parsed, ParsedLogin):
                continue
            key = (parsed.ntlm.domain.upper(), parsed.ntlm.user.lower())
            if key not in seen:
                seen.add(key)
                out.append(text)
        return out[:2]

    async def _try_other_logins(self, conn: SipConnection, parser: SipStreamParser,
                                nb_domain: str, step: StepResult) -> str | None:
        others = self._other_logins(nb_domain)
        if not others:
            return None
        self.recorder.line(step, "Rejected. Trying other forms of the Login to tell a wrong "
                                 f"form from a wrong password: {', '.join(others)}")
        for text in others:
            parsed = parse_login(text, self.account.signin)
            if not isinstance(parsed, ParsedLogin):
                continue
            dialog = self._dialog(conn)
            first = dialog.next_register()
            response = await self._exchange(conn, parser, first, None, step)
            challenge = find_challenge(parse_challenges(response), ChallengeScheme.NTLM)
            if challenge is None:
                return None
            final, auth, _nb = await self._ntlm_handshake(
                conn, parser, dialog, challenge, parsed.ntlm, step)
            if final.status == 200:
                self.recorder.line(step, f"Login {text} works.")
                with contextlib.suppress(_Stop):
                    await self._deregister(conn, parser, dialog, auth, step)
                return text
            self.recorder.line(step, f"Login {text} is rejected too.")
        return None

    # --- after the handshake ------------------------------------------------------------------

    async def _after_auth(self, conn: SipConnection, parser: SipStreamParser,
                          outcome: _AuthOutcome, candidate: Candidate,
                          attempt: int) -> CheckResult:
        response, auth = outcome.response, outcome.authenticator
        auth_step = self.recorder.steps[-1]
        self.recorder.finish(auth_step, StepStatus.PASS,
                             f"{outcome.scheme_label} handshake completed")
        sig_step = self.recorder.start(StepId.SIGNED_OK, "Check the server's answer and "
                                                         "signature", attempt)
        try:
            signed = auth.verify_response(response)
        except AuthError as exc:  # ServerSignatureError, or a malformed Authentication-Info
            raise self._fail(sig_step, advice("auth-bad-signature"), str(exc)) from None
        self.recorder.line(sig_step, "rspauth verified: the answer really comes from the "
                                     "server that checked your password" if signed else
                           "The answer carries no signature (rspauth).")
        if response.status == 301:
            target = await self._redirect_target(response, sig_step)
            self.recorder.finish(sig_step, StepStatus.PASS, f"redirected to {target}")
            raise _Redirect(target)
        if response.status != 200:
            raise self._fail(sig_step, self._status_advice(response, conn),
                             f"{response.status} {response.reason}")
        self.timings["verdict"] = time.monotonic() - self.started
        self.timings["register_round_trips_to_verdict"] = self.round_trips
        expires = response.header("Expires") or "?"
        self.recorder.line(sig_step, f"Registered for {expires} s")
        if signed:
            self.recorder.finish(sig_step, StepStatus.PASS, "200 OK, signature verified")
        else:
            self.recorder.finish(sig_step, StepStatus.WARN,
                                 "200 OK without a signature (SIPE accepts this)")
        self.server["scheme"] = outcome.scheme_label
        dereg_step = self.recorder.start(StepId.DEREGISTER, "Sign out again", attempt)
        try:
            await self._deregister(conn, parser, outcome.dialog, auth, dereg_step)
            self.recorder.finish(dereg_step, StepStatus.PASS, "signed out")
        except _Stop:
            dereg_step.status = StepStatus.WARN
        transport = conn.transport.value.upper()
        summary = (f"Signed in as {self.account.signin.address} via {candidate.host}:"
                   f"{candidate.port} ({transport}, {outcome.scheme_label})")
        warn = next((s.advice for s in self.recorder.steps
                     if s.status is StepStatus.WARN and s.advice), None)
        return self.result(Verdict.SIGNED_IN, summary, warn)

    async def _deregister(self, conn: SipConnection, parser: SipStreamParser,
                          dialog: RegisterDialog, auth: SipAuthenticator,
                          step: StepResult) -> None:
        attempt = dialog.next_register(deregister=True)
        response = await self._exchange(conn, parser, attempt, auth.sign_request(attempt.request),
                                        step)
        if response.status != 200:
            self.recorder.line(step, f"Sign-out answered {response.status}; harmless.")


async def run_check(account: AccountSettings, password: Secret | None,
                    options: CheckOptions | None = None, *, on_event: EventSink | None = None,
                    ask_trust: TrustDecider | None = None) -> CheckResult:
    """Run a check; on cancellation returns the cancelled result instead of raising."""
    run = CheckRun(account, password, options, on_event=on_event, ask_trust=ask_trust)
    try:
        return await run.execute()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        return run.cancelled_result()

