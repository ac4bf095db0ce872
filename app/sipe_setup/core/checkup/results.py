"""The :class:`~sipe_setup.core.steps.CheckResult` of a check, assembled from its context."""

from __future__ import annotations

from sipe_setup.core.advice import RenderedAdvice
from sipe_setup.core.checkup.context import CheckContext
from sipe_setup.core.steps import CheckResult, StepResult, Verdict

__all__ = ["build_result"]


def build_result(ctx: CheckContext, steps: list[StepResult], started_wall: str,
                 verdict: Verdict, summary: str,
                 advice_value: RenderedAdvice | None) -> CheckResult:
    """Everything the check found, as the front ends and the reports take it."""
    ctx.timings["total"] = ctx.since_start()
    discovery = None
    if ctx.discovery is not None:
        doc = ctx.discovery.to_json()
        discovery = {**doc["discovery"], "sipe_would_use": doc["selected"],
                     "warnings": doc["warnings"], "timings": doc["timings"]}
    return CheckResult(
        verdict=verdict, summary=summary, advice=advice_value, steps=list(steps),
        account=_account_summary(ctx), discovery=discovery, selected=ctx.selected,
        server=ctx.facts, timings=dict(ctx.timings), round_trips=ctx.round_trips,
        started=started_wall, accepted_certificate=ctx.accepted_certificate,
        accepted_webservice_certificates=tuple(ctx.accepted_webservice_certificates),
        failed_attempts=ctx.failed_attempts)


def _account_summary(ctx: CheckContext) -> dict[str, object]:
    """The settings as checked (never the password)."""
    a = ctx.account
    return {"signin": a.signin.address, "login": a.login.text,
            "server": str(a.server) if a.server else "", "transport": a.transport.value,
            "auth": a.auth.value, "sso": a.sso, "user_agent": a.user_agent,
            "password_given": bool(ctx.password)}
