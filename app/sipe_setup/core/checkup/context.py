"""The facts a check gathers as it goes, shared by its steps (typed, no loose dicts)."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sipe_setup.core.account import AccountSettings, Secret
from sipe_setup.core.advice import RenderedAdvice
from sipe_setup.core.auth.challenge import AuthChallenge
from sipe_setup.core.checkup.options import CheckOptions
from sipe_setup.core.checkup.trust import TrustDecider
from sipe_setup.core.discovery import Candidate, DiscoveryResult
from sipe_setup.core.steps import AcceptedCertificate, SelectedServer, ServerFacts
from sipe_setup.core.transport import CertificateInfo, ConnectFailed, SipConnection, TlsContexts

if TYPE_CHECKING:
    import asyncio

    from sipe_setup.core.auth.mechanisms.tls_dsk import SigninCertificate
    from sipe_setup.core.auth.registry import MechanismSetup
    from sipe_setup.core.checkup.handshake import HandshakeOutcome
    from sipe_setup.core.checkup.session import SipSession
    from sipe_setup.core.checkup.steps.connect import ConnectProbe
    from sipe_setup.core.discovery import DiscoveryRun
    from sipe_setup.core.sip.register import RegisterDialog

__all__ = ["CheckContext", "ServerAttempt"]


@dataclass(slots=True)
class ServerAttempt:
    """One candidate server, from connect to sign-out.

    Attributes:
        number: 0-based attempt number (shown as "server N" in the live view).
        candidate: the server tried.
        connection: the open connection once connected.
        rejected_certificate: a certificate the TLS layer refused (the certificate step asks).
        tls_failure: the TLS handshake failed after the TCP connect.
        address: the IP address dialled.
        session: REGISTER exchanges on the connection.
        dialog: the REGISTER sequence the sign-in continues.
        challenges: the first 401's challenges.
        handshake: the authentication that got an answer other than a challenge.
        signin_certificate: TLS-DSK's certificate from the web services.
        tls_dsk_excluded: why TLS-DSK, which Pidgin would use, is not used by the check
            (Pidgin would fail there; the check proves another scheme to pin).
        probe: the connect already under way for this server (started by the dialer while
            higher-priority servers were still being tried); None = connect when its turn
            comes.
    """

    number: int
    candidate: Candidate
    connection: SipConnection | None = None
    rejected_certificate: CertificateInfo | None = None
    tls_failure: ConnectFailed | None = None
    address: str = ""
    session: SipSession | None = None
    dialog: RegisterDialog | None = None
    challenges: list[AuthChallenge] = field(default_factory=list)
    handshake: HandshakeOutcome | None = None
    signin_certificate: SigninCertificate | None = None
    tls_dsk_excluded: RenderedAdvice | None = None
    probe: asyncio.Future[ConnectProbe] | None = None


@dataclass(slots=True)
class CheckContext:
    """Everything the steps of one check read and write."""

    account: AccountSettings
    password: Secret | None
    options: CheckOptions
    hostname: str
    ask_trust: TrustDecider | None
    facts: ServerFacts = field(default_factory=ServerFacts)
    discovery: DiscoveryResult | None = None
    candidates: list[Candidate] = field(default_factory=list)
    selected: SelectedServer | None = None
    accepted_certificate: AcceptedCertificate | None = None
    accepted_webservice_certificates: list[AcceptedCertificate] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    round_trips: int = 0
    clock_skew: dt.timedelta | None = None
    failed_attempts: int = 0  # sign-ins refused for the password (lockout counter)
    started: float = field(default_factory=time.monotonic)
    connections: list[SipConnection] = field(default_factory=list)
    attempt: ServerAttempt | None = None
    discovery_run: DiscoveryRun | None = None  # discovery still running (SIPE's next servers)
    tls: TlsContexts | None = None  # the check's SSL contexts, built once
    #: the system resolver's lookups (getaddrinfo) of connect hosts, by name
    system_lookups: dict[str, asyncio.Task[tuple[tuple[str, ...], str]]] = field(
        default_factory=dict)

    def tls_contexts(self) -> TlsContexts:
        """The SSL contexts every connection of this check reuses."""
        if self.tls is None:
            self.tls = TlsContexts(self.options.ca_file)
        return self.tls

    def mechanism_setup(self) -> MechanismSetup:
        """What an authentication mechanism of this check is built with (the registrar's
        and a SIP proxy's alike); a TLS-DSK certificate once the current server gave one."""
        from sipe_setup.core.auth.registry import MechanismSetup

        certificate = self.attempt.signin_certificate if self.attempt else None
        return MechanismSetup(self.account, self.password, self.hostname,
                              self.options.connect_timeout * 2, signin_certificate=certificate)

    def may_risk_another_failure(self) -> bool:
        """At most one failed sign-in per check, unless the user agreed to more."""
        return self.failed_attempts == 0 or self.options.try_other_logins

    def since_start(self) -> float:
        """Seconds since the check started."""
        return time.monotonic() - self.started

    @property
    def current(self) -> ServerAttempt:
        """The server being tried (only valid inside the candidate loop)."""
        assert self.attempt is not None, "no server attempt in progress"
        return self.attempt
