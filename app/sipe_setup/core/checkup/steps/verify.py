"""The server's final answer: a signed 200 OK proves it checked the password."""

from __future__ import annotations

from sipe_setup.core.advice import advice
from sipe_setup.core.auth.errors import AuthError
from sipe_setup.core.checkup.context import CheckContext
from sipe_setup.core.checkup.diagnose import status_advice
from sipe_setup.core.checkup.flow import Step, StepFailed, StepLog, StepOutcome
from sipe_setup.core.checkup.steps.redirect import redirect
from sipe_setup.core.steps import StepId

__all__ = ["VerifyStep"]


class VerifyStep(Step):
    """Check ``rspauth``; follow a post-handshake 301; anything but 200 fails."""

    id = StepId.SIGNED_OK

    def title(self, ctx: CheckContext) -> str:
        return "Check the server's answer and signature"

    async def run(self, ctx: CheckContext, log: StepLog) -> StepOutcome:
        current = ctx.current
        assert current.handshake is not None and current.session is not None
        response, mechanism = current.handshake.final, current.handshake.mechanism
        try:
            signed = mechanism.verify(response)
        except AuthError as exc:  # ServerSignatureError, or a malformed Authentication-Info
            raise StepFailed(advice("auth-bad-signature"), str(exc)) from None
        log("rspauth verified: the answer really comes from the server that checked your "
            "password" if signed else "The answer carries no signature (rspauth).")
        if response.status == 301:
            raise await redirect(ctx, response, log)
        if response.status != 200:
            raise StepFailed(status_advice(response, current.session.connection.host,
                                           ctx.account),
                             f"{response.status} {response.reason}")
        ctx.timings["verdict"] = ctx.since_start()
        ctx.timings["register_round_trips_to_verdict"] = ctx.round_trips
        log(f"Registered for {response.header('Expires') or '?'} s")
        ctx.facts.scheme = mechanism.label
        if signed:
            return StepOutcome.passed("200 OK, signature verified")
        return StepOutcome.warned("200 OK without a signature (SIPE accepts this)", None)
