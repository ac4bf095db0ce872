"""Find the servers SIPE would try, in SIPE's order (or take the one the user typed)."""

from __future__ import annotations

from sipe_setup.core.advice import advice
from sipe_setup.core.checkup.context import CheckContext
from sipe_setup.core.checkup.flow import Step, StepFailed, StepLog, StepOutcome
from sipe_setup.core.discovery import (
    DiscoveryEvent,
    DiscoveryResult,
    QueryFinished,
    QueryOutcome,
    discover,
)
from sipe_setup.core.discovery.engine import AutodiscoverFinished
from sipe_setup.core.steps import StepId

_DNS_TROUBLE = {QueryOutcome.TIMEOUT, QueryOutcome.SERVFAIL, QueryOutcome.ERROR}


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


def _nothing_found(ctx: CheckContext, result: DiscoveryResult) -> StepFailed:
    domain = ctx.account.sip_domain
    outcomes = {q.outcome for q in result.queries}
    if outcomes and outcomes <= _DNS_TROUBLE:
        adv = advice("discovery-dns-failed", domain=domain,
                     detail=", ".join(sorted(o.value for o in outcomes)))
    else:
        adv = advice("discovery-none", domain=domain)
    return StepFailed(adv, "no server found")


class DiscoverStep(Step):
    """Discovery as SIPE does it; the candidates go into the context."""

    id = StepId.DISCOVER

    def title(self, ctx: CheckContext) -> str:
        if ctx.account.server is not None:
            return "Use the server you entered"
        return f"Find the server for {ctx.account.sip_domain}"

    async def run(self, ctx: CheckContext, log: StepLog) -> StepOutcome:
        def on_discovery(event: DiscoveryEvent) -> None:
            line = _event_line(event)
            if line is not None:
                log(line)

        started = ctx.since_start()
        result = await discover(ctx.account, password=ctx.password,
                                options=ctx.options.discovery, on_event=on_discovery)
        ctx.discovery = result
        ctx.timings["discovery"] = ctx.since_start() - started
        candidates = [c for c in result.candidates if c.resolves]
        for index, cand in enumerate(candidates):
            note = " ← SIPE tries this first" if index == 0 else ""
            log(f"candidate {index + 1}: {cand} from {cand.via}{note}")
        if not candidates:
            raise _nothing_found(ctx, result)
        ctx.candidates = candidates
        domain = ctx.account.sip_domain
        outside = [c for c in candidates if c.outside_domain]
        if outside:
            first = outside[0]
            return StepOutcome.warned(
                f"{len(candidates)} server(s) found; {first.host} is outside {domain}",
                advice("discovery-outside-domain", host=first.host, domain=domain))
        if ctx.account.server is not None:
            return StepOutcome.passed(f"using {candidates[0]}")
        return StepOutcome.passed(f"{len(candidates)} server(s) found; first: {candidates[0]}")
