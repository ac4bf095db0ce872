"""The discovery engine: every lookup of SIPE's plan at once, results in SIPE's order.

SIPE walks its plan one step after another (reference §1); that costs one round trip per name,
and one full resolver timeout per name that never answers. Here every lookup starts at once;
the result is re-ordered by SIPE's priority, so it names the same server SIPE would use, in
about one round trip (or one timeout).

Invariants:
- ``selected`` is settled as soon as every higher-priority step has finished; the run then
  waits at most ``settle_grace`` for the remaining lookups (to complete the report) and
  abandons the rest (outcome ``not-waited``).
- The whole run ends by ``deadline``; lookups still running then end as ``timeout``.
- Cancelling the task running :func:`discover` cancels every lookup and HTTP request and
  closes their sockets before the cancellation propagates.
- ``on_event`` is called on the event loop's thread, in the order things happen; it must not
  block (a GUI bridge posts the event to its own thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any, Final

import dns.asyncresolver

from sipe_setup.core.account import AccountSettings, Secret, Transport

from .autodiscover import AutodiscoverClient, AutodiscoverCredentials, AutodiscoverSettings
from .dns import (
    ResolverSettings,
    format_chance,
    list_some,
    make_resolver,
    resolver_description,
    run_query,
)
from .model import (
    AutodiscoverAttempt,
    AutodiscoverOutcome,
    AutodiscoverServer,
    Candidate,
    CandidateSource,
    DiscoveryMode,
    DiscoveryResult,
    DiscoveryWarning,
    DnsQueryResult,
    QueryOutcome,
    QueryPurpose,
    RecordType,
    WarningCode,
)
from .plan import (
    LIBPURPLE_SRV_ANSWER_BYTES,
    AddressLookup,
    AutodiscoverStart,
    DiscoveryPlan,
    SrvLookup,
    build_plan,
    connect_transport,
    is_inside_domain,
    sipe_connect_port,
)

__all__ = [
    "AutodiscoverFinished",
    "CandidateFound",
    "DiscoveryEvent",
    "DiscoveryOptions",
    "EventCallback",
    "QueryFinished",
    "QueryStarted",
    "ServerSelected",
    "discover",
]

_MAX_SRV_TARGETS_RESOLVED: Final = 8


# --- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueryStarted:
    """A DNS query was sent."""

    name: str
    record_type: RecordType
    purpose: QueryPurpose


@dataclass(frozen=True, slots=True)
class QueryFinished:
    """A DNS query ended (answer, NXDOMAIN, no answer, SERVFAIL, timeout …)."""

    result: DnsQueryResult


@dataclass(frozen=True, slots=True)
class AutodiscoverFinished:
    """One autodiscover HTTP request ended."""

    attempt: AutodiscoverAttempt


@dataclass(frozen=True, slots=True)
class CandidateFound:
    """A discovery step produced a server (not necessarily the one SIPE uses first)."""

    candidate: Candidate


@dataclass(frozen=True, slots=True)
class ServerSelected:
    """Selection is settled: the server SIPE would connect to first (None: there is none).

    Sent once, possibly before :func:`discover` returns (the run may still be completing
    lower-priority lookups for the report): a checkup can start connecting right away.
    """

    candidate: Candidate | None
    after_ms: float


DiscoveryEvent = (QueryStarted | QueryFinished | AutodiscoverFinished | CandidateFound
                  | ServerSelected)
EventCallback = Callable[[DiscoveryEvent], None]


# --- options ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DiscoveryOptions:
    """How a discovery run behaves.

    Attributes:
        resolver: nameservers, per-try timeout and attempts (see :class:`ResolverSettings`).
        deadline: seconds the whole run may take.
        settle_grace: once the selected server is known, how long to keep waiting for the
            remaining (lower-priority) lookups before abandoning them.
        autodiscover: run Lync autodiscover (SIPE always does).
        http: autodiscover HTTP settings (ports, CA file, bounds, User-Agent override).
    """

    resolver: ResolverSettings = field(default_factory=ResolverSettings)
    deadline: float = 15.0
    settle_grace: float = 0.25
    autodiscover: bool = True
    http: AutodiscoverSettings = field(default_factory=AutodiscoverSettings)


# --- bookkeeping --------------------------------------------------------------------------------


@dataclass(slots=True)
class _QueryEntry:
    name: str
    record_type: RecordType
    purpose: QueryPurpose
    started: float
    result: DnsQueryResult | None = None


class _Run:
    """State of one discovery run (one event loop, no locking needed)."""

    def __init__(self, plan: DiscoveryPlan, resolver: dns.asyncresolver.Resolver,
                 on_event: EventCallback | None) -> None:
        self.plan = plan
        self.resolver = resolver
        self._on_event = on_event
        self.queries: list[_QueryEntry] = []
        self.attempts: list[tuple[int, int, AutodiscoverAttempt]] = []
        self.host_tasks: dict[str, asyncio.Task[tuple[str, ...]]] = {}
        self.warnings: list[DiscoveryWarning] = []

    def emit(self, event: DiscoveryEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)

    async def query(self, name: str, record_type: RecordType,
                    purpose: QueryPurpose) -> DnsQueryResult:
        entry = _QueryEntry(name.lower(), record_type, purpose, time.monotonic())
        self.queries.append(entry)
        self.emit(QueryStarted(entry.name, record_type, purpose))
        result = await run_query(self.resolver, name, record_type, purpose)
        entry.result = result
        self.emit(QueryFinished(result))
        return result

    def start_host_lookup(self, name: str, purpose: QueryPurpose) -> asyncio.Task[tuple[str, ...]]:
        """Start (once per run) the A and AAAA lookups of ``name``."""
        key = name.lower().rstrip(".")
        task = self.host_tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(self._resolve_host(key, purpose))
            self.host_tasks[key] = task
        return task

    def resolve_host(self, name: str, purpose: QueryPurpose) -> asyncio.Future[tuple[str, ...]]:
        """The addresses of ``name``, shared by every step that needs it."""
        # Shielded: one waiter being abandoned must not cancel the lookup for the others.
        return asyncio.shield(self.start_host_lookup(name, purpose))

    async def _resolve_host(self, name: str, purpose: QueryPurpose) -> tuple[str, ...]:
        a_result, aaaa_result = await asyncio.gather(
            self.query(name, RecordType.A, purpose), self.query(name, RecordType.AAAA, purpose))
        return a_result.addresses + aaaa_result.addresses

    def record_attempt(self, chain_index: int, attempt: AutodiscoverAttempt) -> None:
        self.attempts.append((chain_index, len(self.attempts), attempt))
        self.emit(AutodiscoverFinished(attempt))

    def query_results(self, abandoned: QueryOutcome, detail: str) -> tuple[DnsQueryResult, ...]:
        now = time.monotonic()
        out = []
        for entry in self.queries:
            if entry.result is not None:
                out.append(entry.result)
            else:
                out.append(DnsQueryResult(name=entry.name, record_type=entry.record_type,
                                          purpose=entry.purpose, outcome=abandoned,
                                          detail=detail,
                                          elapsed_ms=(now - entry.started) * 1000))
        return tuple(out)

    def attempt_results(self, abandoned: AutodiscoverOutcome,
                        detail: str) -> tuple[AutodiscoverAttempt, ...]:
        ordered = sorted(self.attempts, key=lambda item: (item[0], item[1]))
        return tuple(
            replace(a, outcome=abandoned, detail=detail)
            if a.outcome is AutodiscoverOutcome.NOT_WAITED else a
            for _, _, a in ordered)


# --- the steps (each returns its candidates, in SIPE's order) -----------------------------------


async def _autodiscover_chain(run: _Run, client: AutodiscoverClient, index: int,
                              start: AutodiscoverStart) -> list[Candidate]:
    servers = await client.run_chain(start.url, lambda a: run.record_attempt(index, a))
    return await _server_candidates(run, servers, start.url)


async def _server_candidates(run: _Run, servers: tuple[AutodiscoverServer, ...],
                             via: str) -> list[Candidate]:
    transport = connect_transport(run.plan.transport)
    futures = [run.resolve_host(s.fqdn, QueryPurpose.AUTODISCOVER_SERVER) for s in servers]
    resolved = await asyncio.gather(*futures)
    candidates = []
    for server, addresses in zip(servers, resolved, strict=True):
        candidate = Candidate(host=server.fqdn, port=server.port, transport=transport,
                              source=CandidateSource.AUTODISCOVER, via=via, addresses=addresses,
                              outside_domain=not is_inside_domain(server.fqdn,
                                                                  run.plan.sip_domain))
        candidates.append(candidate)
        run.emit(CandidateFound(candidate))
    return candidates


async def _srv_step(run: _Run, lookup: SrvLookup) -> list[Candidate]:
    result = await run.query(lookup.name, RecordType.SRV, QueryPurpose.SRV)
    if result.outcome is not QueryOutcome.ANSWER:
        return []
    # Resolve the targets (bounded) at once; only SIPE's pick becomes a candidate.
    targets = [t for t in result.srv_targets if t.target != "."][:_MAX_SRV_TARGETS_RESOLVED]
    for target in targets:
        run.start_host_lookup(target.target, QueryPurpose.SRV_TARGET)
    # SIPE's pick (the most likely one when SIPE picks at random). A target of "." reaches
    # SIPE as an empty host name: the connect fails and SIPE moves on to the next SRV name.
    chosen = result.sipe_srv_target
    if chosen is None or chosen.target == ".":
        return []
    addresses = await run.resolve_host(chosen.target, QueryPurpose.SRV_TARGET)
    candidate = Candidate(host=chosen.target,
                          port=sipe_connect_port(chosen.port, lookup.transport),
                          transport=lookup.transport,
                          source=CandidateSource.SRV, via=lookup.name, addresses=addresses,
                          outside_domain=not is_inside_domain(chosen.target,
                                                              run.plan.sip_domain))
    run.emit(CandidateFound(candidate))
    return [candidate]


async def _address_step(run: _Run, lookup: AddressLookup) -> list[Candidate]:
    purpose = (QueryPurpose.DOMAIN if lookup.source is CandidateSource.DOMAIN
               else QueryPurpose.A_FALLBACK)
    addresses = await run.resolve_host(lookup.name, purpose)
    if not addresses:
        return []
    candidate = Candidate(host=lookup.name, port=lookup.port, transport=lookup.transport,
                          source=lookup.source, via=lookup.name, addresses=addresses)
    run.emit(CandidateFound(candidate))
    return [candidate]


# --- the run ------------------------------------------------------------------------------------


def _settled(steps: list[asyncio.Task[list[Candidate]]]) -> tuple[bool, Candidate | None]:
    """(selection known?, selected) from the steps in SIPE order."""
    for task in steps:
        if not task.done():
            return False, None
        if task.cancelled() or task.exception() is not None:
            continue
        for candidate in task.result():
            if candidate.resolves:
                return True, candidate
    return True, None


def _ordered_candidates(steps: list[asyncio.Task[list[Candidate]]]) -> tuple[Candidate, ...]:
    seen: set[tuple[str, int, Transport]] = set()
    out: list[Candidate] = []
    for task in steps:
        if not task.done() or task.cancelled() or task.exception() is not None:
            continue
        for candidate in task.result():
            if candidate.source is not CandidateSource.AUTODISCOVER:
                out.append(candidate)
                continue
            key = (candidate.host, candidate.port, candidate.transport)
            if key not in seen:  # https and http autodiscover usually list the same servers
                seen.add(key)
                out.append(candidate)
    return tuple(out)


async def discover(
    account: AccountSettings,
    *,
    password: Secret | None = None,
    options: DiscoveryOptions | None = None,
    on_event: EventCallback | None = None,
) -> DiscoveryResult:
    """Find the servers SIPE would use for ``account``, in SIPE's order.

    Args:
        account: validated settings; a filled Server field skips discovery (as SIPE does).
        password: for autodiscover's authenticated User link (HTTP NTLM/Negotiate, only to
            hosts inside the SIP domain); None = don't authenticate.
        options: resolver, deadline and HTTP settings.
        on_event: live progress, see :data:`DiscoveryEvent`.

    Never raises for anything the network does; cancellation propagates after cleanup.
    """
    options = options or DiscoveryOptions()
    started_wall = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    started = time.monotonic()
    plan = build_plan(account)

    def elapsed_ms() -> float:
        return (time.monotonic() - started) * 1000

    if plan.manual is not None:
        manual = plan.manual
        warnings = _manual_warnings(manual, plan.sip_domain)
        if on_event is not None:
            on_event(CandidateFound(manual))
            on_event(ServerSelected(manual, elapsed_ms()))
        return DiscoveryResult(sip_domain=plan.sip_domain, transport=account.transport,
                               mode=DiscoveryMode.MANUAL, candidates=(manual,), selected=manual,
                               warnings=warnings, started_at=started_wall,
                               elapsed_ms=elapsed_ms(), selected_after_ms=elapsed_ms())

    resolver = make_resolver(options.resolver)
    run = _Run(plan, resolver, on_event)
    credentials = (AutodiscoverCredentials(account.login.ntlm, password)
                   if password and not account.sso else None)
    http_settings = options.http
    if not http_settings.user_agent and account.user_agent:
        http_settings = replace(http_settings, user_agent=account.user_agent)
    client = AutodiscoverClient(plan.sip_domain, http_settings,
                                lambda host: run.resolve_host(host, QueryPurpose.AUTODISCOVER_HOST),
                                credentials)

    step_coroutines: list[Coroutine[Any, Any, list[Candidate]]] = []
    if options.autodiscover:
        step_coroutines += [_autodiscover_chain(run, client, i, start)
                            for i, start in enumerate(plan.autodiscover)]
    step_coroutines += [_srv_step(run, lookup) for lookup in plan.srv]
    step_coroutines += [_address_step(run, lookup) for lookup in plan.addresses]
    steps = [asyncio.ensure_future(c) for c in step_coroutines]

    deadline_at = started + options.deadline
    wait_until = deadline_at
    selected: Candidate | None = None
    selected_after: float | None = None
    try:
        pending: set[asyncio.Future[Any]] = set(steps)
        while pending:
            remaining = wait_until - time.monotonic()
            if remaining <= 0:
                break
            _, pending = await asyncio.wait(pending, timeout=remaining,
                                            return_when=asyncio.FIRST_COMPLETED)
            if selected_after is None:
                known, selected = _settled(steps)
                if known:
                    selected_after = elapsed_ms()
                    run.emit(ServerSelected(selected, selected_after))
                    wait_until = min(deadline_at, time.monotonic() + options.settle_grace)
        hit_deadline = bool(pending) and selected_after is None
    finally:
        # Normal end, deadline, or our own cancellation: stop everything and wait for the
        # cancellations to land, so no socket or task outlives the run.
        leftovers = [t for t in [*steps, *run.host_tasks.values()] if not t.done()]
        for task in leftovers:
            task.cancel()
        if leftovers:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*leftovers, return_exceptions=True)

    if hit_deadline:
        query_outcome, attempt_outcome = QueryOutcome.TIMEOUT, AutodiscoverOutcome.TIMEOUT
        abandon_detail = f"stopped at the discovery deadline ({options.deadline:g} s)"
        run.warnings.append(DiscoveryWarning(
            WarningCode.DEADLINE, f"Discovery stopped at its deadline of {options.deadline:g} s "
            "with lookups still unanswered; the result may be incomplete."))
    else:
        query_outcome, attempt_outcome = QueryOutcome.NOT_WAITED, AutodiscoverOutcome.NOT_WAITED
        abandon_detail = "not waited for: a higher-priority server was already found"
    if selected_after is None:
        _, selected = _settled(steps)  # steps that did finish still count
        if selected is not None:
            selected_after = elapsed_ms()

    queries = run.query_results(query_outcome, abandon_detail)
    attempts = run.attempt_results(attempt_outcome, abandon_detail)
    candidates = _ordered_candidates(steps)
    warnings = tuple(run.warnings) + _warnings(plan, queries, attempts, candidates, selected)
    return DiscoveryResult(
        sip_domain=plan.sip_domain, transport=account.transport, mode=DiscoveryMode.AUTOMATIC,
        queries=queries, autodiscover=attempts, candidates=candidates, selected=selected,
        warnings=warnings, started_at=started_wall, elapsed_ms=elapsed_ms(),
        selected_after_ms=selected_after, nameservers=resolver_description(resolver),
    )


# --- warnings -----------------------------------------------------------------------------------


def _strict_naming_warning(candidate: Candidate, domain: str) -> DiscoveryWarning:
    return DiscoveryWarning(
        WarningCode.OUTSIDE_DOMAIN,
        f"{candidate.host} (from {candidate.via}) is outside the SIP domain {domain}. "
        f"Office Communicator and Lync use a server only if its name is {domain} or ends in "
        f".{domain} (strict DNS naming; other domains need the TrustModelData registry "
        "setting), so those clients ignore it. SIPE does not check this and would connect "
        "anyway; the server's certificate must then be valid for this name.",
        candidate.host)


def _manual_warnings(manual: Candidate, domain: str) -> tuple[DiscoveryWarning, ...]:
    out = []
    if manual.outside_domain:
        out.append(_strict_naming_warning(manual, domain))
    if manual.transport is Transport.TCP:
        out.append(DiscoveryWarning(WarningCode.TCP_UNENCRYPTED,
                                    "The connection type is TCP: unencrypted.", manual.host))
    return tuple(out)


def _srv_order_warning(query: DnsQueryResult) -> DiscoveryWarning | None:
    """SS-DISC-SRV-ORDER: what SIPE does with an answer of several records, when that is not
    simply "the first record as returned" (libpurple sorts by priority, then picks by weight).
    """
    choices = query.sipe_srv_choices
    first = next((t for t in query.srv_targets if t.position == 0), None)
    unread = sum(not t.sipe_reads for t in query.srv_targets)
    if first is None or not choices or (len(choices) == 1 and choices[0] is first
                                          and not unread):
        return None
    pick = choices[0]
    if len(choices) > 1:
        likely = ("the most likely" if pick.sipe_chance > choices[1].sipe_chance
                  else "one of the most likely")
        listed = list_some(f"{t.target}:{t.port} (weight {t.weight}, "
                           f"{format_chance(t.sipe_chance)})" for t in choices)
        what = (f"SIPE sorts SRV records by priority and picks one of the {len(choices)} of "
                f"priority {pick.priority} at random by weight, anew at each sign-in: one of "
                f"{listed}. The check tries {pick.target}, {likely}; make sure each of them "
                "works.")
    else:
        tied = [t for t in query.srv_targets if t.sipe_reads and t.priority == pick.priority]
        if pick is first:  # said only because some records are never read (below)
            what = f"SIPE uses {pick.target}:{pick.port}, the first record as returned."
        elif len(tied) > 1 and any(t.weight for t in tied):
            what = (f"The server returned {first.target}:{first.port} first, but SIPE sorts "
                    f"SRV records by priority and uses {pick.target}:{pick.port}, the only "
                    f"record of priority {pick.priority} with a weight above 0 (libpurple "
                    "never picks a weight-0 record beside weighted ones).")
        elif len(tied) > 1:
            what = (f"The server returned {first.target}:{first.port} first, but SIPE uses "
                    f"{pick.target}:{pick.port}: its priority {pick.priority} records all have "
                    "weight 0, and libpurple's sort then puts the last of them as returned "
                    "first. DNS servers that rotate equal records make SIPE's choice change "
                    f"between sign-ins (one of {list_some(t.target for t in tied)}); give them "
                    "weights or different priorities.")
        else:
            what = (f"The server returned {first.target}:{first.port} (priority "
                    f"{first.priority}) first, but SIPE sorts SRV records by priority, as Lync "
                    f"does, and uses {pick.target}:{pick.port} (priority {pick.priority}).")
    what += (" SIPE never tries another record of the same name: if its pick fails, it moves "
             "on to the next SRV name.")
    if unread:
        what += (f" libpurple reads only the first {LIBPURPLE_SRV_ANSWER_BYTES} bytes of the "
                 f"answer: SIPE does not see {unread} of its {len(query.srv_targets)} "
                 "records.")
    return DiscoveryWarning(WarningCode.SRV_ORDER, f"{query.name}: {what}", pick.target)


def _warnings(plan: DiscoveryPlan, queries: tuple[DnsQueryResult, ...],
              attempts: tuple[AutodiscoverAttempt, ...], candidates: tuple[Candidate, ...],
              selected: Candidate | None) -> tuple[DiscoveryWarning, ...]:
    out: list[DiscoveryWarning] = []
    domain = plan.sip_domain
    for candidate in candidates:
        if candidate.outside_domain:
            out.append(_strict_naming_warning(candidate, domain))
        if not candidate.resolves:
            out.append(DiscoveryWarning(
                WarningCode.SRV_TARGET_UNRESOLVED,
                f"{candidate.host} (from {candidate.via}) does not resolve; SIPE would try "
                "it, fail to connect and move on to the next step.", candidate.host))
    for query in queries:
        if query.purpose is QueryPurpose.SRV and query.outcome is QueryOutcome.ANSWER:
            order = _srv_order_warning(query)
            if order is not None:
                out.append(order)
            if any(t.target == "." for t in query.sipe_srv_choices):
                out.append(DiscoveryWarning(
                    WarningCode.SRV_NOT_AVAILABLE,
                    f"{query.name} points at “.”: the service is declared not available. "
                    "SIPE tries an empty host name there, fails and moves on to the next SRV "
                    "name.", query.name))
    failed = [q for q in queries if q.purpose is QueryPurpose.SRV and q.outcome in (
        QueryOutcome.SERVFAIL, QueryOutcome.REFUSED, QueryOutcome.TIMEOUT, QueryOutcome.ERROR)]
    if failed:
        listed = "; ".join(f"{q.name}: {q.outcome.value} ({q.detail})" for q in failed)
        out.append(DiscoveryWarning(
            WarningCode.DNS_UNRELIABLE,
            f"SRV lookups failed instead of answering: {listed}. SIPE treats a failure like "
            "a missing record and moves on; Office Communicator falls back to A records only "
            "when SRV records do not exist at all. Ask the DNS administrator to fix it.",
            failed[0].name))
    for attempt in attempts:
        if attempt.outcome is AutodiscoverOutcome.NEEDS_WEB_TICKET:
            out.append(DiscoveryWarning(
                WarningCode.AUTODISCOVER_WEB_TICKET,
                f"Autodiscover at {attempt.url} needs a web ticket, and getting one failed "
                f"({attempt.detail or 'no detail'}). SIPE would continue with DNS SRV records.",
                attempt.url))
            break
    if selected is not None and selected.transport is Transport.TCP:
        out.append(DiscoveryWarning(
            WarningCode.TCP_UNENCRYPTED,
            f"{selected} uses plain TCP: messages and the sign-in travel unencrypted.",
            selected.host))
    return tuple(out)
