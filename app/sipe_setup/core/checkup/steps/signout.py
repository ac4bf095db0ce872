"""Sign out again, so the test sign-in leaves no registration behind."""

from __future__ import annotations

from sipe_setup.core.auth.mechanism import AuthMechanism
from sipe_setup.core.checkup.context import CheckContext
from sipe_setup.core.checkup.flow import Step, StepFailed, StepLog, StepOutcome
from sipe_setup.core.checkup.session import SipSession
from sipe_setup.core.sip.register import RegisterDialog
from sipe_setup.core.steps import StepId

__all__ = ["SignOutStep", "deregister"]


async def deregister(session: SipSession, dialog: RegisterDialog, mechanism: AuthMechanism,
                     log: StepLog) -> None:
    """A signed REGISTER with Expires: 0; any answer but 200 is noted, not fatal."""
    attempt = dialog.next_register(deregister=True)
    response = await session.exchange(attempt, mechanism.sign(attempt.request), log)
    if response.status != 200:
        log(f"Sign-out answered {response.status}; harmless.")


class SignOutStep(Step):
    """De-REGISTER; a failure here only warns (the sign-in itself was proven)."""

    id = StepId.DEREGISTER

    def title(self, ctx: CheckContext) -> str:
        return "Sign out again"

    async def run(self, ctx: CheckContext, log: StepLog) -> StepOutcome:
        current = ctx.current
        assert current.session is not None and current.handshake is not None
        outcome = current.handshake
        try:
            await deregister(current.session, outcome.dialog, outcome.mechanism, log)
        except StepFailed as failed:
            return StepOutcome.warned(f"sign-out failed: {failed.summary}", None)
        return StepOutcome.passed("signed out")
