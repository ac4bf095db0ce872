"""Find the servers SIPE would try, in SIPE's order (or take the one the user typed).

The step ends as soon as SIPE's first server is certain — every higher-priority lookup has
answered or failed — and the check connects at once. The lower-priority lookups go on in
the background (``ctx.discovery_run``): if that server cannot be reached, SIPE's next ones are
known by the time the check needs them; the runner closes the run when it no longer needs
more servers, and the report gets the whole discovery then.
"""

from __future__ import annotations

from sipe_setup.core.advice import advice
from sipe_setup.core.checkup.context import CheckContext
from sipe_setup.core.checkup.diagnose import discovery_failure_advice
from sipe_setup.core.checkup.flow import Step, StepFailed, StepLog, StepOutcome
from sipe_setup.core.checkup.steps.connect import prefetch_addresses
from sipe_setup.core.discovery import (
    Candidate,
    DiscoveryEvent,
    DiscoveryResult,
    DiscoveryRun,
    QueryFinished,
)
from sipe_setup.core.discovery.engine import AutodiscoverFinished
from sipe_setup.core.steps import StepId


def _event_line(event: DiscoveryEvent) -> str | None:
    if isinstance(event, QueryFinished):
        r = event.result
        records = ", ".join(r.records) if r.records else r.detail
        return (f"{r.name} {r.record_type.value.upper()}: {r.outcome.value}"
                f"{' — ' + records if records else ''}")
    if isinstance(event, AutodiscoverFinished):
        att = event.attempt
        return (f"autodiscover {att.url}: {att.outcome.value}"
                f"{' — ' + att.detail if att.detail else ''}")
    return None


def _servers(count: int) -> str:
    return "1 server" if count == 1 else f"{count} servers"


def _first_note(result: DiscoveryResult, first: Candidate) -> str:
    """SIPE's first server — or, for an SRV name with a weighted random pick, the likeliest."""
    srv = next((q for q in result.queries if q.name == first.via and q.sipe_srv_random), None)
    if srv is None:
        return " ← SIPE tries this first"
    return (f" ← SIPE picks one of {len(srv.sipe_srv_choices)} records of {first.via} at "
            "random (by weight); this is one of them")


class DiscoverStep(Step):
    """Discovery as SIPE does it; the candidates go into the context."""

    id = StepId.DISCOVER

    def title(self, ctx: CheckContext) -> str:
        if ctx.account.server is not None:
            return "Use the server you entered"
        return f"Find the server for {ctx.account.sip_domain}"

    async def run(self, ctx: CheckContext, log: StepLog) -> StepOutcome:
        running = True  # lookups that end after the step are in the report, not in its lines

        def on_discovery(event: DiscoveryEvent) -> None:
            if isinstance(event, QueryFinished):
                target = event.result.sipe_srv_target
                if target is not None:  # Pidgin looks up the host SIPE picks from an SRV
                    prefetch_addresses(ctx, target.target)
            line = _event_line(event) if running else None
            if line is not None:
                log(line)

        started = ctx.since_start()
        run = DiscoveryRun(ctx.account, password=ctx.password, options=ctx.options.discovery,
                           on_event=on_discovery)
        ctx.discovery_run = run
        run.start()
        if run.resolver is not None:
            log(f"DNS: {run.resolver_text()}")
        await run.selection()
        ctx.facts.private_resolver = bool(ctx.options.discovery.resolver.nameservers)
        ctx.timings["discovery"] = ctx.since_start() - started
        candidates = list(run.known_candidates())
        running = False
        if not candidates:
            ctx.discovery_run = None
            ctx.discovery = await run.close()
            raise StepFailed(discovery_failure_advice(ctx.discovery), "no server found")
        result = ctx.discovery = run.snapshot()
        for index, cand in enumerate(candidates):
            note = _first_note(result, cand) if index == 0 else ""
            log(f"candidate {index + 1}: {cand} from {cand.via}{note}")
        ctx.candidates = candidates
        domain = ctx.account.sip_domain
        outside = [c for c in candidates if c.outside_domain]
        if outside:
            first = outside[0]
            return StepOutcome.warned(
                f"{_servers(len(candidates))} found; {first.host} is outside {domain}",
                advice("discovery-outside-domain", host=first.host, domain=domain))
        if ctx.account.server is not None:
            return StepOutcome.passed(f"using {candidates[0]}")
        return StepOutcome.passed(f"{_servers(len(candidates))} found; first: {candidates[0]}")
