"""The discovery engine: every lookup of SIPE's plan at once, results in SIPE's order.

SIPE walks its plan one step after another (reference §1); that costs one round trip per name,
and one full resolver timeout per name that never answers. Here every lookup starts at once;
the result is re-ordered by SIPE's priority, so it names the same server SIPE would use, in
about one round trip (or one timeout).

Invariants:
- ``selected`` is settled as soon as every higher-priority step has answered or failed — no
  grace period. A check uses :class:`DiscoveryRun`: it connects at once while the
  lower-priority lookups go on, so that SIPE's next servers are known if the first fails.
  :func:`discover` (a report, nothing connects) gives the lower-priority lookups as long again
  as the selection took (or ``settle_grace``) and abandons the rest (outcome ``not-waited``).
- The whole run ends by ``deadline``; lookups still running then end as ``timeout``.
- Cancelling the task running :func:`discover` (or closing a :class:`DiscoveryRun`) cancels
  every lookup and HTTP request and closes their sockets before it returns.
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

from sipe_setup.core.account import AccountSettings, Secret, Transport

from .autodiscover import AutodiscoverClient, AutodiscoverCredentials, AutodiscoverSettings
from .dns import (
    AppliedResolverSettings,
    Resolver,
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
    "DiscoveryRun",
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
        settle_grace: once the selected server is known, at least how long :func:`discover`
            keeps waiting for the remaining (lower-priority) lookups, to complete its report
            (it waits as long again as the selection took anyway). A check never waits.
        autodiscover: run Lync autodiscover (SIPE always does).
        http: autodiscover HTTP settings (ports, CA file, bounds, User-Agent override).
    """

    resolver: ResolverSettings = field(default_factory=ResolverSettings)
    deadline: float = 15.0
    settle_grace: float = 0.0
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

    def __init__(self, plan: DiscoveryPlan, resolver: Resolver,
                 on_event: EventCallback | None) -> None:
        self.plan = plan
        self.resolver = resolver
        self._on_event = on_event
        self.queries: list[_QueryEntry] = []
        self.expired = False  # the deadline stopped what was still running
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

    def expire(self, detail: str) -> None:
        """The deadline: what is still unanswered ends as a timeout."""
        self.expired = True
        now = time.monotonic()
        for entry in self.queries:
            if entry.result is None:
                entry.result = DnsQueryResult(
                    name=entry.name, record_type=entry.record_type, purpose=entry.purpose,
                    outcome=QueryOutcome.TIMEOUT, detail=detail,
                    elapsed_ms=(now - entry.started) * 1000)

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


def _usable(task: asyncio.Task[list[Candidate]]) -> bool:
    return task.done() and not task.cancelled() and task.exception() is None


def _settled(steps: list[asyncio.Task[list[Candidate]]]) -> tuple[bool, Candidate | None]:
    """(selection known?, selected) from the steps in SIPE order."""
    for task in steps:
        if not task.done():
            return False, None
        if not _usable(task):
            continue
        for candidate in task.result():
            if candidate.resolves:
                return True, candidate
    return True, None


def _ordered_candidates(steps: list[asyncio.Task[list[Candidate]]], *,
                        prefix: bool = False) -> tuple[Candidate, ...]:
    """The candidates of the finished steps in SIPE order (``prefix``: only those of the steps
    before the first unfinished one, whose place in the order is final)."""
    seen: set[tuple[str, int, Transport]] = set()
    out: list[Candidate] = []
    for task in steps:
        if prefix and not task.done():
            break
        if not _usable(task):
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


class DiscoveryRun:
    """One discovery that a check can use while it is still running.

    :meth:`selection` returns as soon as SIPE's first server is known; the lower-priority
    lookups go on, and :meth:`candidate` hands out SIPE's next servers in order as their
    lookups end. :meth:`close` stops what is left and returns the whole result. Use it as an
    async context manager, or call :meth:`close` in a ``finally``.
    """

    def __init__(self, account: AccountSettings, *, password: Secret | None = None,
                 options: DiscoveryOptions | None = None,
                 on_event: EventCallback | None = None) -> None:
        self.account = account
        self.options = options or DiscoveryOptions()
        self.plan = build_plan(account)
        self._password = password
        self._on_event = on_event
        self._started_wall = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        self._started = time.monotonic()
        self._deadline_at = self._started + self.options.deadline
        self._steps: list[asyncio.Task[list[Candidate]]] = []
        self._run: _Run | None = None
        self._resolver: Resolver | None = None
        self._selected: Candidate | None = None
        self._selected_after: float | None = None
        self._settled_in_time = False  # known before the deadline
        self._closing = False
        self._deadline_handle: asyncio.TimerHandle | None = None
        self._result: DiscoveryResult | None = None
        self._started_steps = False

    # --- running ------------------------------------------------------------------------------

    @property
    def resolver(self) -> AppliedResolverSettings | None:
        """The resolver settings in force (None before :meth:`start`, or for a typed server)."""
        return self._resolver.settings if self._resolver is not None else None

    def resolver_text(self) -> str:
        """The resolver settings in force, in one sentence, with the deadline's cap."""
        applied = self.resolver
        if applied is None:
            return ""
        text = applied.describe()
        if applied.lifetime > self.options.deadline:
            text += f"; capped by the discovery deadline of {self.options.deadline:g} s"
        return text

    def _elapsed_ms(self) -> float:
        return (time.monotonic() - self._started) * 1000

    def start(self) -> None:
        """Send every lookup of the plan (idempotent; needs a running event loop)."""
        if self._started_steps:
            return
        self._started_steps = True
        plan, options = self.plan, self.options
        if plan.manual is not None:
            if self._on_event is not None:
                self._on_event(CandidateFound(plan.manual))
            self._selected_after = self._elapsed_ms()
            self._selected = plan.manual
            if self._on_event is not None:
                self._on_event(ServerSelected(plan.manual, self._selected_after))
            return
        self._resolver = resolver = make_resolver(options.resolver)
        run = self._run = _Run(plan, resolver, self._on_event)
        account = self.account
        credentials = (AutodiscoverCredentials(account.login.ntlm, self._password)
                       if self._password and not account.sso else None)
        http_settings = options.http
        if not http_settings.user_agent and account.user_agent:
            http_settings = replace(http_settings, user_agent=account.user_agent)
        client = AutodiscoverClient(
            plan.sip_domain, http_settings,
            lambda host: run.resolve_host(host, QueryPurpose.AUTODISCOVER_HOST), credentials)
        coroutines: list[Coroutine[Any, Any, list[Candidate]]] = []
        if options.autodiscover:
            coroutines += [_autodiscover_chain(run, client, i, start)
                           for i, start in enumerate(plan.autodiscover)]
        coroutines += [_srv_step(run, lookup) for lookup in plan.srv]
        coroutines += [_address_step(run, lookup) for lookup in plan.addresses]
        self._steps = [asyncio.ensure_future(c) for c in coroutines]
        for task in self._steps:
            task.add_done_callback(lambda _task: self._settle())
        loop = asyncio.get_running_loop()
        self._deadline_handle = loop.call_at(
            loop.time() + max(0.0, self._deadline_at - time.monotonic()), self._expire)

    def _settle(self) -> None:
        """After each step: once the selection is certain (before the deadline), say so."""
        run = self._run
        if self._settled_in_time or self._closing or run is None or run.expired:
            return
        known, selected = _settled(self._steps)
        if known:
            self._settled_in_time = True
            self._selected, self._selected_after = selected, self._elapsed_ms()
            run.emit(ServerSelected(selected, self._selected_after))

    def _expire(self) -> None:
        """The deadline: stop every lookup still running (they end as timeouts)."""
        if self._run is None:
            return
        self._run.expire(f"stopped at the discovery deadline ({self.options.deadline:g} s)")
        for task in [*self._steps, *self._run.host_tasks.values()]:
            if not task.done():
                task.cancel()

    async def _wait_for(self, needed: list[asyncio.Task[list[Candidate]]]) -> None:
        """Until one of ``needed`` ends (the deadline cancels them all)."""
        pending = [t for t in needed if not t.done()]
        if pending:
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)

    async def selection(self) -> Candidate | None:
        """The server SIPE would use first, as soon as that is certain (None: there is none,
        or the deadline came first)."""
        self.start()
        while self._selected_after is None and not all(t.done() for t in self._steps):
            await self._wait_for(self._steps)
        self._settle()
        if self._selected_after is None:  # the deadline: the steps that did finish count
            _, self._selected = _settled(self._steps)
            if self._selected is not None:
                self._selected_after = self._elapsed_ms()
        return self._selected

    def known_candidates(self) -> tuple[Candidate, ...]:
        """The resolving candidates whose place in SIPE's order is already final."""
        if self.plan.manual is not None:
            return (self.plan.manual,)
        return tuple(c for c in _ordered_candidates(self._steps, prefix=True) if c.resolves)

    async def candidate(self, index: int) -> Candidate | None:
        """SIPE's ``index``-th server that resolves (0: the selected one), waiting for the
        lookups that decide it; None when there is no such server."""
        self.start()
        while True:
            known = self.known_candidates()
            if index < len(known):
                return known[index]
            if self.plan.manual is not None or all(t.done() for t in self._steps):
                return None
            await self._wait_for(self._steps)

    async def complete(self, timeout: float) -> None:
        """Wait up to ``timeout`` more for the lookups still running (for a fuller report)."""
        pending = [t for t in self._steps if not t.done()]
        remaining = min(timeout, self._deadline_at - time.monotonic())
        if pending and remaining > 0:
            await asyncio.wait(pending, timeout=remaining)

    # --- results ------------------------------------------------------------------------------

    def snapshot(self) -> DiscoveryResult:
        """The result so far; lookups still running are shown as not waited for."""
        return self._build(QueryOutcome.NOT_WAITED, AutodiscoverOutcome.NOT_WAITED,
                           "still running when the server was chosen", ())

    async def close(self) -> DiscoveryResult:
        """Stop every lookup still running (closing their sockets) and return the result.

        Idempotent; after a cancellation it still cleans up before returning.
        """
        if self._result is not None:
            return self._result
        self._settle()  # before the lookups are cancelled (a cancelled one is not an answer)
        self._closing = True
        if self._deadline_handle is not None:
            self._deadline_handle.cancel()
        run = self._run
        if run is not None:
            leftovers = [t for t in [*self._steps, *run.host_tasks.values()] if not t.done()]
            for task in leftovers:
                task.cancel()
            if leftovers:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(*leftovers, return_exceptions=True)
        options = self.options
        hit_deadline = run is not None and run.expired and not self._settled_in_time
        warnings: tuple[DiscoveryWarning, ...] = ()
        if hit_deadline:
            query_outcome, attempt_outcome = QueryOutcome.TIMEOUT, AutodiscoverOutcome.TIMEOUT
            detail = f"stopped at the discovery deadline ({options.deadline:g} s)"
            warnings = (DiscoveryWarning(
                WarningCode.DEADLINE, f"Discovery stopped at its deadline of "
                f"{options.deadline:g} s with lookups still unanswered; the result may be "
                "incomplete."),)
        else:
            query_outcome, attempt_outcome = (QueryOutcome.NOT_WAITED,
                                              AutodiscoverOutcome.NOT_WAITED)
            detail = "not waited for: a higher-priority server was already found"
        if self._selected_after is None:
            _, self._selected = _settled(self._steps)  # steps that did finish still count
            if self._selected is not None:
                self._selected_after = self._elapsed_ms()
        self._result = self._build(query_outcome, attempt_outcome, detail, warnings)
        return self._result

    def _build(self, query_outcome: QueryOutcome, attempt_outcome: AutodiscoverOutcome,
               detail: str, extra: tuple[DiscoveryWarning, ...]) -> DiscoveryResult:
        plan = self.plan
        applied = self._resolver.settings if self._resolver is not None else None
        if plan.manual is not None:
            return DiscoveryResult(
                sip_domain=plan.sip_domain, transport=self.account.transport,
                mode=DiscoveryMode.MANUAL, candidates=(plan.manual,), selected=plan.manual,
                warnings=_manual_warnings(plan.manual, plan.sip_domain),
                started_at=self._started_wall, elapsed_ms=self._elapsed_ms(),
                selected_after_ms=self._selected_after)
        run = self._run
        assert run is not None and applied is not None
        queries = run.query_results(query_outcome, detail)
        attempts = run.attempt_results(attempt_outcome, detail)
        candidates = _ordered_candidates(self._steps)
        selected = self._selected
        warnings = (tuple(run.warnings) + extra
                    + _warnings(plan, queries, attempts, candidates, selected))
        return DiscoveryResult(
            sip_domain=plan.sip_domain, transport=self.account.transport,
            mode=DiscoveryMode.AUTOMATIC, queries=queries, autodiscover=attempts,
            candidates=candidates, selected=selected, warnings=warnings,
            started_at=self._started_wall, elapsed_ms=self._elapsed_ms(),
            selected_after_ms=self._selected_after,
            nameservers=resolver_description(self._resolver) if self._resolver else (),
            resolver=self.resolver_text())

    async def __aenter__(self) -> DiscoveryRun:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


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

    Returns once the selection is known and the lower-priority lookups have had as long
    again as the selection took (or ``settle_grace``, when longer) to complete the report.
    Never raises for anything the network does; cancellation propagates after cleanup.
    """
    options = options or DiscoveryOptions()
    run = DiscoveryRun(account, password=password, options=options, on_event=on_event)
    try:
        started = time.monotonic()
        await run.selection()
        # For the report only (a check connects without it, see DiscoveryRun): the lookups
        # of lower priority were sent at the same time; those that take at most as long again
        # as the selection took are waited for, the rest are not ("not-waited").
        await run.complete(max(options.settle_grace, time.monotonic() - started))
    finally:
        result = await run.close()
    return result


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
