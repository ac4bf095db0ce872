"""The verdict after the server signed us in: what Pidgin will do with these settings here.

A signed 200 OK proves the account and the server. It is Pidgin's verdict too unless Pidgin
would take another road: under Auto it picks TLS-DSK and stops where TLS-DSK fails (the check
proved another scheme, which the export pins), or this machine's SIPE cannot parse the XML that
TLS-DSK needs at all.
"""

from __future__ import annotations

from sipe_setup.core.advice import RenderedAdvice, advice
from sipe_setup.core.checkup.context import CheckContext
from sipe_setup.core.steps import StepResult, StepStatus, Verdict

__all__ = ["signed_in_verdict"]


def signed_in_verdict(ctx: CheckContext, steps: list[StepResult]
                      ) -> tuple[Verdict, str, RenderedAdvice | None]:
    """(verdict, summary, advice) once the sign-in itself succeeded."""
    current = ctx.current
    assert current.connection is not None
    candidate = current.candidate
    transport = current.connection.transport.value.upper()
    scheme = ctx.facts.scheme
    how = (f"as {ctx.account.signin.address} via {candidate.host}:{candidate.port} "
           f"({transport}, {scheme})")
    summary = f"Signed in {how}"
    warning = next((s.advice for s in steps if s.status is StepStatus.WARN and s.advice), None)
    if scheme == "TLS-DSK" and ctx.facts.sipe_cannot_do_tls_dsk:
        adv = next((s.advice for s in steps if s.advice and s.advice.id == "dsk-libxml"),
                   None) or advice("dsk-libxml", detail="", fix="")
        return (Verdict.FAILED, f"The server signs you in with TLS-DSK ({how}), but Pidgin's "
                "SIPE on this computer cannot do TLS-DSK", adv)
    if current.tls_dsk_excluded is not None:
        why = current.tls_dsk_excluded
        ctx.facts.auto_fails_in_pidgin = True
        adv = advice("dsk-auto-fails", detail=why.title, working=scheme, why_code=why.code)
        return (Verdict.SIGNED_IN, f"{summary} — Pidgin with Authentication scheme Auto would "
                f"fail ({why.code}); the export pins {scheme}", adv)
    if warning is not None and warning.id == "unsigned-ok":
        summary += " — but the server did not prove that it checked your password"
    return Verdict.SIGNED_IN, summary, warning
