"""The values server discovery produces: queries, their outcomes, candidates, the result.

Everything here is a frozen dataclass or an enum so that results can cross threads (GUI worker
→ GUI thread) and be rendered by the CLI, the report and the GUI alike.

Invariants:
- Every DNS query the engine sends ends as exactly one :class:`DnsQueryResult`, including the
  ones that were abandoned (deadline, a higher-priority server already found).
- ``DiscoveryResult.candidates`` is in the order SIPE would try them (reference §1.2–1.4).
- ``DiscoveryResult.selected`` is the first candidate whose host name resolves: the server
  SIPE would end up connecting to first (an unresolvable candidate makes SIPE move on).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Final

from sipe_setup.core.account import Transport

__all__ = [
    "JSON_SCHEMA_VERSION",
    "AutodiscoverAttempt",
    "AutodiscoverOutcome",
    "AutodiscoverServer",
    "Candidate",
    "CandidateSource",
    "DiscoveryMode",
    "DiscoveryResult",
    "DiscoveryWarning",
    "DnsQueryResult",
    "QueryOutcome",
    "QueryPurpose",
    "RecordType",
    "SrvTarget",
    "WarningCode",
]

JSON_SCHEMA_VERSION: Final = 1


class RecordType(enum.StrEnum):
    """The DNS record types discovery asks for."""

    SRV = "SRV"
    A = "A"
    AAAA = "AAAA"


class QueryOutcome(enum.StrEnum):
    """How one DNS query ended. These stay distinct all the way to the report."""

    ANSWER = "answer"  # records of the asked type
    NXDOMAIN = "nxdomain"  # the name does not exist at all
    NO_ANSWER = "no-answer"  # the name exists, but has no record of this type (NODATA)
    SERVFAIL = "servfail"  # the server failed to answer (e.g. broken delegation, DNSSEC)
    REFUSED = "refused"  # the server refused to answer this query
    TIMEOUT = "timeout"  # no answer within the resolver's timeout (or the run's deadline)
    ERROR = "error"  # anything else: network error, malformed answer, other rcode
    NOT_WAITED = "not-waited"  # abandoned: a higher-priority server was already found

    @property
    def is_definitive(self) -> bool:
        """True when the server gave a real answer (records, NXDOMAIN or NODATA)."""
        return self in (QueryOutcome.ANSWER, QueryOutcome.NXDOMAIN, QueryOutcome.NO_ANSWER)


class QueryPurpose(enum.StrEnum):
    """Why a name was looked up (which step of SIPE's discovery it belongs to)."""

    AUTODISCOVER_HOST = "autodiscover-host"  # LyncDiscover[Internal].<domain> or a link host
    SRV = "srv"  # _sipinternaltls._tcp.<domain> etc.
    SRV_TARGET = "srv-target"  # the host an SRV record points at
    A_FALLBACK = "a-fallback"  # sipinternal./sipexternal./sip.<domain>
    DOMAIN = "domain"  # the bare SIP domain, SIPE's last resort
    AUTODISCOVER_SERVER = "autodiscover-server"  # a SIP server named by autodiscover
    CONNECT_HOST = "connect-host"  # a typed server or a 301 target, resolved to connect


@dataclass(frozen=True, slots=True)
class SrvTarget:
    """One SRV record.

    Attributes:
        sipe_chance: how likely SIPE is to use this record (0–1). SIPE uses one record per
            SRV name, the first after libpurple's sort: the lowest priority, and among several
            of that priority a weighted random pick (reference §1.3,
            :func:`~sipe_setup.core.discovery.plan.sipe_srv_chances`). It never tries a second
            record of the same name: a failure moves on to the next SRV name.
        sipe_uses: the record the check treats as SIPE's: SIPE's only possible pick, or the
            most likely one when SIPE picks at random (then see ``sipe_chance``).
        sipe_reads: False for a record libpurple never sees (past its 1024-byte buffer).
        position: where the record was in the answer as the server returned it (0 = first).
    """

    priority: int
    weight: int
    port: int
    target: str
    sipe_uses: bool = False
    sipe_chance: float = 0.0
    sipe_reads: bool = True
    position: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"priority": self.priority, "weight": self.weight, "port": self.port,
                "target": self.target, "sipe_uses": self.sipe_uses}

    def __str__(self) -> str:
        return f"{self.priority} {self.weight} {self.port} {self.target}"


@dataclass(frozen=True, slots=True)
class DnsQueryResult:
    """One DNS query and how it ended.

    Attributes:
        name: the queried name, lower case, without the trailing dot.
        record_type: SRV, A or AAAA.
        purpose: which discovery step asked.
        outcome: see :class:`QueryOutcome`.
        srv_targets: for SRV answers, the records by priority, then by SIPE's chance of using
            them, then weight, then as returned; see :class:`SrvTarget` for SIPE's pick.
        addresses: for A/AAAA answers, the addresses as returned.
        detail: a sentence for the report (e.g. which rcode, how long we waited).
        elapsed_ms: from sending the query to its outcome.
    """

    name: str
    record_type: RecordType
    purpose: QueryPurpose
    outcome: QueryOutcome
    srv_targets: tuple[SrvTarget, ...] = ()
    addresses: tuple[str, ...] = ()
    detail: str = ""
    elapsed_ms: float = 0.0

    @property
    def records(self) -> tuple[str, ...]:
        """The records in presentation form (``prio weight port target`` or an address)."""
        if self.record_type is RecordType.SRV:
            return tuple(str(t) for t in self.srv_targets)
        return self.addresses

    @property
    def sipe_srv_target(self) -> SrvTarget | None:
        """The SRV record the check treats as SIPE's (see :attr:`SrvTarget.sipe_uses`)."""
        return next((t for t in self.srv_targets if t.sipe_uses), None)

    @property
    def sipe_srv_choices(self) -> tuple[SrvTarget, ...]:
        """Every record SIPE may use (chance above 0), the most likely first."""
        return tuple(sorted((t for t in self.srv_targets if t.sipe_chance > 0),
                            key=lambda t: (-t.sipe_chance, t.position)))

    @property
    def sipe_srv_random(self) -> bool:
        """True when SIPE picks one of several records at random (say "one of these")."""
        return len(self.sipe_srv_choices) > 1

    def to_json(self) -> dict[str, Any]:
        records: list[Any] = ([t.to_json() for t in self.srv_targets]
                              if self.record_type is RecordType.SRV else list(self.addresses))
        out: dict[str, Any] = {"name": self.name, "type": self.record_type.value,
                               "purpose": self.purpose.value, "outcome": self.outcome.value,
                               "records": records, "detail": self.detail,
                               "elapsed_ms": round(self.elapsed_ms, 1)}
        if self.record_type is RecordType.SRV:
            out["sipe_choices"] = [
                {"target": t.target, "port": t.port, "priority": t.priority,
                 "weight": t.weight, "chance": round(t.sipe_chance, 4)}
                for t in self.sipe_srv_choices]
        return out


class CandidateSource(enum.StrEnum):
    """Where a candidate server came from, in SIPE's order of preference."""

    MANUAL = "manual"  # the Server field; SIPE skips discovery entirely
    AUTODISCOVER = "autodiscover"  # Lync autodiscover User document
    SRV = "srv"  # DNS SRV record
    A_RECORD = "a-record"  # sipinternal./sipexternal./sip.<domain>
    DOMAIN = "domain"  # the bare SIP domain


@dataclass(frozen=True, slots=True)
class Candidate:
    """A server SIPE would try, with how it was found.

    Attributes:
        host: the name SIPE connects to (also the TLS host name it checks).
        port: TCP port.
        transport: TLS or TCP (never AUTO).
        source: the discovery step that produced it.
        via: what produced it: the SRV name, the autodiscover URL, the A name, the domain.
        addresses: what ``host`` resolved to through our resolver; empty when it does not
            resolve (SIPE would try it, fail, and move on) or for a manual server (not
            resolved, SIPE connects as given).
        outside_domain: the host is neither the SIP domain nor inside it (strict naming).
    """

    host: str
    port: int
    transport: Transport
    source: CandidateSource
    via: str
    addresses: tuple[str, ...] = ()
    outside_domain: bool = False

    @property
    def resolves(self) -> bool:
        return bool(self.addresses) or self.source is CandidateSource.MANUAL

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "transport": self.transport.value,
                "source": self.source.value, "via": self.via,
                "addresses": list(self.addresses), "resolves": self.resolves,
                "outside_domain": self.outside_domain}

    def __str__(self) -> str:
        return f"{self.host}:{self.port} ({self.transport.value.upper()})"


class AutodiscoverOutcome(enum.StrEnum):
    """How one Lync autodiscover HTTP request ended."""

    SERVERS = "servers"  # a User document listing SIP servers
    REDIRECT = "redirect"  # a Redirect link, followed
    USER_LINK = "user-link"  # a Root document whose User link was followed
    NOT_RESOLVED = "not-resolved"  # the host name does not resolve
    CONNECT_FAILED = "connect-failed"  # TCP connect or TLS handshake failed
    TLS_FAILED = "tls-failed"  # the certificate was not accepted
    HTTP_STATUS = "http-status"  # not 200 (3xx are reported, never followed)
    WRONG_CONTENT_TYPE = "wrong-content-type"  # 200 but not autodiscover XML: skipped
    AUTH_FAILED = "auth-failed"  # 401 even with the account's credentials
    NEEDS_WEB_TICKET = "needs-web-ticket"  # 401 + X-MS-WebTicketURL (O365 / OAuth)
    BAD_DOCUMENT = "bad-document"  # garbage XML, DTD/entities, nothing usable
    TOO_LARGE = "too-large"  # body over the size bound
    TOO_MANY_REDIRECTS = "too-many-redirects"  # hop bound reached
    REDIRECT_LOOP = "redirect-loop"  # a link pointed back at an URL already fetched
    TIMEOUT = "timeout"
    NOT_WAITED = "not-waited"  # abandoned: deadline or a higher-priority result was known


@dataclass(frozen=True, slots=True)
class AutodiscoverServer:
    """A SIP server from ``SipClientInternalAccess`` / ``SipClientExternalAccess``."""

    fqdn: str
    port: int
    internal: bool

    def to_json(self) -> dict[str, Any]:
        return {"fqdn": self.fqdn, "port": self.port,
                "access": "internal" if self.internal else "external"}


@dataclass(frozen=True, slots=True)
class AutodiscoverAttempt:
    """One HTTP GET of Lync autodiscover (each hop of a Redirect/User chain is one attempt).

    Attributes:
        url: the URL as SIPE would request it.
        chain: which start URL this hop belongs to (``https://LyncDiscoverInternal…``).
        address: the IP connected to (resolved through the discovery resolver), or "".
        status: HTTP status, 0 when there was no HTTP response.
        authenticated: the request was retried with HTTP NTLM/Negotiate.
        servers: the SIP servers listed by a User document, internal first.
        next_url: the Redirect/User link followed from this document, if any.
    """

    url: str
    chain: str
    outcome: AutodiscoverOutcome
    address: str = ""
    status: int = 0
    content_type: str = ""
    authenticated: bool = False
    servers: tuple[AutodiscoverServer, ...] = ()
    next_url: str = ""
    detail: str = ""
    elapsed_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "chain": self.chain, "outcome": self.outcome.value,
                "address": self.address, "status": self.status,
                "content_type": self.content_type, "authenticated": self.authenticated,
                "servers": [s.to_json() for s in self.servers], "next_url": self.next_url,
                "detail": self.detail, "elapsed_ms": round(self.elapsed_ms, 1)}


class WarningCode(enum.StrEnum):
    """Phone-friendly codes of discovery warnings."""

    OUTSIDE_DOMAIN = "SS-DISC-STRICT-NAMING"
    SRV_ORDER = "SS-DISC-SRV-ORDER"
    SRV_TARGET_UNRESOLVED = "SS-DISC-SRV-TARGET"
    SRV_NOT_AVAILABLE = "SS-DISC-SRV-DOT"
    DNS_UNRELIABLE = "SS-DISC-DNS-FAIL"
    AUTODISCOVER_WEB_TICKET = "SS-DISC-WEBTICKET"
    DEADLINE = "SS-DISC-DEADLINE"
    TCP_UNENCRYPTED = "SS-DISC-TCP"


@dataclass(frozen=True, slots=True)
class DiscoveryWarning:
    """Something the user or the IT department should know; never blocks SIPE."""

    code: WarningCode
    message: str
    host: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code.value, "message": self.message, "host": self.host}


class DiscoveryMode(enum.StrEnum):
    MANUAL = "manual"  # Server field filled: no discovery (as SIPE)
    AUTOMATIC = "automatic"


@dataclass(frozen=True, slots=True)
class DiscoveryResult:
    """Everything discovery found, in SIPE's order.

    Attributes:
        sip_domain: the domain of the sign-in address.
        transport: the user's connection type (AUTO, TLS or TCP) as discovery used it.
        mode: manual server or automatic discovery.
        queries: every DNS query, in the order it was sent.
        autodiscover: every autodiscover HTTP attempt, internal before external,
            https before http.
        candidates: servers in the order SIPE would try them.
        selected: first resolving candidate, or None when there is none.
        warnings: see :class:`DiscoveryWarning`.
        started_at: ISO 8601 UTC time the run started.
        elapsed_ms: total wall time of the run.
        selected_after_ms: when ``selected`` was known (None if never).
        nameservers: the resolvers used (``ip:port``), for the report.
        resolver: the resolver settings that applied (servers, timeout, attempts, rotate)
            and where they came from, in one sentence.
    """

    sip_domain: str
    transport: Transport
    mode: DiscoveryMode
    queries: tuple[DnsQueryResult, ...] = ()
    autodiscover: tuple[AutodiscoverAttempt, ...] = ()
    candidates: tuple[Candidate, ...] = ()
    selected: Candidate | None = None
    warnings: tuple[DiscoveryWarning, ...] = ()
    started_at: str = ""
    elapsed_ms: float = 0.0
    selected_after_ms: float | None = None
    nameservers: tuple[str, ...] = field(default=())
    resolver: str = ""

    @property
    def found(self) -> bool:
        return self.selected is not None

    def to_json(self) -> dict[str, Any]:
        """The ``discovery`` part of the JSON report (schema in README, "JSON output")."""
        return {
            "schema_version": JSON_SCHEMA_VERSION,
            "discovery": {
                "sip_domain": self.sip_domain,
                "transport": self.transport.value,
                "mode": self.mode.value,
                "nameservers": list(self.nameservers),
                "resolver": self.resolver,
                "queries": [q.to_json() for q in self.queries],
                "autodiscover": [a.to_json() for a in self.autodiscover],
                "candidates": [c.to_json() for c in self.candidates],
            },
            "selected": self.selected.to_json() if self.selected else None,
            "warnings": [w.to_json() for w in self.warnings],
            "timings": {
                "started_at": self.started_at,
                "total_ms": round(self.elapsed_ms, 1),
                "selected_after_ms": (None if self.selected_after_ms is None
                                      else round(self.selected_after_ms, 1)),
            },
        }
