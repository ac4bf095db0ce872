"""The results a check produces: steps with a status, evidence and advice.

The pipeline (:mod:`sipe_setup.core.checkup`) emits :class:`StepEvent` values live while it
works and returns a :class:`CheckResult` at the end; the CLI, the reports and the GUI all render
these same objects, so what a user sees on screen and what IT reads in a saved report agree.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sipe_setup.core.advice import RenderedAdvice

if TYPE_CHECKING:
    from sipe_setup.core.discovery.model import Candidate
    from sipe_setup.core.transport import CertificateInfo

__all__ = [
    "MAX_LINES_PER_STEP",
    "MAX_LINES_TOTAL",
    "MAX_LINE_CHARS",
    "CheckResult",
    "EventSink",
    "SelectedServer",
    "ServerFacts",
    "StepEvent",
    "StepId",
    "StepRecorder",
    "StepResult",
    "StepStatus",
    "Verdict",
    "omitted_line",
]


MAX_LINES_PER_STEP = 200
"""Detail lines a step keeps; a chatty server's further lines are only counted."""
MAX_LINES_TOTAL = 1500
"""Detail lines a whole check keeps (over all steps)."""
MAX_LINE_CHARS = 2000
"""Characters of one detail line; the rest is cut off (with "…")."""


def omitted_line(count: int) -> str:
    """The line that stands for ``count`` detail lines that were not kept."""
    return f"… {count} more line{'s' if count != 1 else ''} not shown"


class StepStatus(enum.StrEnum):
    """How a step ended (RUNNING only while it runs)."""

    RUNNING = "running"
    PASS = "pass"  # noqa: S105 - a status, not a password
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


class StepId(enum.StrEnum):
    """The steps of a check, in the order they run."""

    VALIDATE = "validate"
    DISCOVER = "discover"
    CONNECT = "connect"
    TLS = "tls"
    REGISTER = "register"
    CREDENTIALS = "credentials"  # TLS-DSK: web ticket + sign-in certificate over HTTPS
    AUTHENTICATE = "authenticate"
    SIGNED_OK = "signed-ok"
    DEREGISTER = "deregister"


class Verdict(enum.StrEnum):
    """The outcome of a whole check."""

    SIGNED_IN = "signed-in"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class StepEvent:
    """Something that happened in a step, delivered live to the front end.

    ``kind`` is "started", "progress" (a detail line appeared) or "finished".
    """

    step: StepId
    kind: str
    title: str
    status: StepStatus
    line: str = ""
    advice: RenderedAdvice | None = None
    attempt: int = 0  # which candidate server (0-based) the step belongs to


EventSink = Callable[[StepEvent], None]


@dataclass(slots=True)
class StepResult:
    """A finished (or running) step: a title, a status and what was seen."""

    step: StepId
    title: str
    status: StepStatus = StepStatus.RUNNING
    summary: str = ""
    lines: list[str] = field(default_factory=list)
    advice: RenderedAdvice | None = None
    attempt: int = 0
    started_at: float = field(default_factory=time.monotonic)
    elapsed: float = 0.0
    omitted: int = 0  # detail lines beyond the limits: counted, not kept

    def detail(self) -> list[str]:
        """The detail lines, ending with "… N more lines not shown" when some were dropped."""
        return [*self.lines, omitted_line(self.omitted)] if self.omitted else list(self.lines)

    def to_json(self) -> dict[str, object]:
        """DESIGN §3 ``steps[]``: id, title, status, detail, advice."""
        return {
            "id": self.step.value,
            "title": self.title,
            "status": self.status.value,
            "summary": self.summary,
            "detail": self.detail(),
            "advice": self.advice.to_json() if self.advice else None,
            "attempt": self.attempt,
            "elapsed_ms": round(self.elapsed * 1000),
        }


class StepRecorder:
    """Keeps the list of steps and forwards each change to the front end's sink.

    What it keeps is bounded whatever a server sends: at most ``max_lines_per_step`` detail
    lines per step and ``max_lines_total`` over the check, each cut to :data:`MAX_LINE_CHARS`.
    Lines beyond that are counted (:attr:`StepResult.omitted`), not kept and not sent to the
    front end; the step's detail then ends with "… N more lines not shown".
    """

    def __init__(self, sink: EventSink | None = None, *,
                 max_lines_per_step: int = MAX_LINES_PER_STEP,
                 max_lines_total: int = MAX_LINES_TOTAL) -> None:
        self.steps: list[StepResult] = []
        self._sink = sink
        self._max_per_step = max_lines_per_step
        self._max_total = max_lines_total
        self._kept = 0

    def _emit(self, result: StepResult, kind: str, line: str = "") -> None:
        if self._sink is not None:
            self._sink(StepEvent(result.step, kind, result.title, result.status, line,
                                 result.advice, result.attempt))

    def start(self, step: StepId, title: str, attempt: int = 0) -> StepResult:
        """Open a step and tell the front end."""
        result = StepResult(step, title, attempt=attempt)
        self.steps.append(result)
        self._emit(result, "started")
        return result

    def line(self, result: StepResult, text: str) -> None:
        """Add one detail line (a DNS answer, a REGISTER round trip...), within the limits."""
        if len(result.lines) >= self._max_per_step or self._kept >= self._max_total:
            result.omitted += 1
            return
        if len(text) > MAX_LINE_CHARS:
            text = text[:MAX_LINE_CHARS - 1] + "…"
        result.lines.append(text)
        self._kept += 1
        self._emit(result, "progress", text)

    def finish(self, result: StepResult, status: StepStatus, summary: str,
               advice: RenderedAdvice | None = None) -> StepResult:
        """Close a step with its status, a one-line summary and (for WARN/FAIL) advice."""
        result.status = status
        result.summary = summary
        result.advice = advice
        result.elapsed = time.monotonic() - result.started_at
        if result.omitted:
            self._emit(result, "progress", omitted_line(result.omitted))
        self._emit(result, "finished", summary)
        return result


@dataclass(frozen=True, slots=True)
class AcceptedCertificate:
    """A server certificate used only because the user accepted it (not CA-trusted).

    The PEM is kept so that a profile export can hand it to Pidgin (``tls_peers``); it is
    public data, but reports show only the fingerprint.
    """

    host: str
    sha256: str
    pem: str


@dataclass(frozen=True, slots=True)
class SelectedServer:
    """The server the check connected to for the sign-in (after any redirect)."""

    candidate: Candidate
    connected_address: str

    @property
    def host(self) -> str:
        return self.candidate.host

    @property
    def port(self) -> int:
        return self.candidate.port

    def to_json(self) -> dict[str, object]:
        return {**self.candidate.to_json(), "connected_address": self.connected_address}


@dataclass(slots=True)
class ServerFacts:
    """What the check learnt about the server(s) it talked to.

    Attributes:
        certificate: the SIP server's TLS certificate (TLS only).
        tls_version: the negotiated TLS version of the SIP connection.
        server_header: the ``Server`` header of the last answer that had one.
        offered_schemes: the schemes of the first 401, in header order.
        scheme: the scheme that signed in (NTLM, Kerberos, TLS-DSK).
        entry_point: where the sign-in started, before any 301 (what Pidgin must reach).
        certificate_accepted_by_user: SHA-256 of a SIP certificate the user accepted.
        webservice_hosts: the Lync web-services hosts contacted (TLS-DSK).
        sipe_cannot_do_tls_dsk: this machine's Pidgin/SIPE cannot parse XML (libxml2 probe).
        auto_fails_in_pidgin: with Auto, Pidgin would pick TLS-DSK and fail; ``scheme`` is
            what the check proved instead (and what the export pins).
    """

    certificate: CertificateInfo | None = None
    tls_version: str = ""
    server_header: str = ""
    offered_schemes: list[str] = field(default_factory=list)
    scheme: str = ""
    entry_point: Candidate | None = None
    certificate_accepted_by_user: str = ""
    webservice_hosts: list[str] = field(default_factory=list)
    sipe_cannot_do_tls_dsk: bool = False
    auto_fails_in_pidgin: bool = False
    #: Discovery asked DNS servers given for the check, not the system's: Pidgin will not
    #: find the same server on its own, so the export pins it.
    private_resolver: bool = False
    #: The SIP certificate was trusted through the extra CA file given to the check, which
    #: Pidgin does not know: the export hands the certificate to Pidgin's tls_peers.
    trusted_by_ca_file: AcceptedCertificate | None = None

    def to_json(self) -> dict[str, object]:
        """The report's ``server`` object (keys only for what is known)."""
        doc: dict[str, object] = {}
        if self.entry_point is not None:
            doc["entry_point"] = self.entry_point.to_json()
        if self.certificate is not None:
            doc["certificate"] = self.certificate.to_json()
        if self.tls_version:
            doc["tls_version"] = self.tls_version
        if self.certificate_accepted_by_user:
            doc["certificate_accepted_by_user"] = self.certificate_accepted_by_user
        if self.server_header:
            doc["server_header"] = self.server_header
        if self.offered_schemes:
            doc["offered_schemes"] = list(self.offered_schemes)
        if self.webservice_hosts:
            doc["webservice_hosts"] = list(self.webservice_hosts)
        if self.sipe_cannot_do_tls_dsk:
            doc["sipe_cannot_do_tls_dsk"] = True
        if self.auto_fails_in_pidgin:
            doc["auto_fails_in_pidgin"] = True
        if self.private_resolver:
            doc["private_resolver"] = True
        if self.trusted_by_ca_file is not None:
            doc["trusted_by_ca_file"] = self.trusted_by_ca_file.sha256
        if self.scheme:
            doc["scheme"] = self.scheme
        return doc


@dataclass(slots=True)
class CheckResult:
    """Everything a check found, for the verdict page and the reports."""

    verdict: Verdict
    summary: str
    advice: RenderedAdvice | None
    steps: list[StepResult]
    account: dict[str, object]
    discovery: dict[str, object] | None = None
    selected: SelectedServer | None = None
    server: ServerFacts = field(default_factory=ServerFacts)
    timings: dict[str, float] = field(default_factory=dict)
    round_trips: int = 0
    started: str = ""  # ISO timestamp
    accepted_certificate: AcceptedCertificate | None = None
    #: Certificates of Lync web-services hosts the user accepted (Pidgin's tls_peers needs
    #: them too, or it fails where the check passed).
    accepted_webservice_certificates: tuple[AcceptedCertificate, ...] = ()
    #: Sign-ins this check caused that the server refused for the password (each counts
    #: towards an account lockout).
    failed_attempts: int = 0

    @property
    def code(self) -> str:
        """The phone code: ``SS-OK`` on success, else the advice code."""
        if self.verdict is Verdict.SIGNED_IN:
            return "SS-OK"
        return self.advice.code if self.advice else "SS-UNKNOWN"

    @property
    def ok(self) -> bool:
        """True when signed in."""
        return self.verdict is Verdict.SIGNED_IN
