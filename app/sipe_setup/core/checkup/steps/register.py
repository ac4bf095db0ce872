"""The first REGISTER: the server's challenge says which schemes it offers."""

from __future__ import annotations

from sipe_setup.core.auth.challenge import ChallengeScheme, parse_challenges
from sipe_setup.core.checkup.context import CheckContext
from sipe_setup.core.checkup.diagnose import not_lync_advice, status_advice
from sipe_setup.core.checkup.flow import Step, StepFailed, StepLog, StepOutcome
from sipe_setup.core.checkup.steps.redirect import redirect
from sipe_setup.core.steps import StepId

__all__ = ["RegisterStep"]

_LYNC_SCHEMES = {ChallengeScheme.NTLM, ChallengeScheme.KERBEROS, ChallengeScheme.TLS_DSK}


class RegisterStep(Step):
    """An unauthenticated REGISTER; a 401 with a Lync scheme passes."""

    id = StepId.REGISTER

    def title(self, ctx: CheckContext) -> str:
        return f"Sign-in request to {ctx.current.candidate.host}"

    async def run(self, ctx: CheckContext, log: StepLog) -> StepOutcome:
        session = ctx.current.session
        assert session is not None
        host = session.connection.host
        started = ctx.since_start()
        dialog = ctx.current.dialog = session.new_dialog()
        response = await session.exchange(dialog.next_register(), None, log)
        ctx.timings["first_register"] = ctx.since_start() - started
        if response.status == 301:
            raise await redirect(ctx, response, log, vouched=False)
        if response.status not in (401, 407):
            if response.status == 200:
                raise StepFailed(not_lync_advice([], response, host),
                                 "signed in without any authentication")
            raise StepFailed(status_advice(response, host, ctx.account),
                             f"{response.status} {response.reason}")
        challenges = parse_challenges(response)
        offered = [c.scheme_token for c in challenges]
        ctx.facts.offered_schemes = offered
        log(f"Server offers: {', '.join(offered) or 'nothing'}")
        if not any(c.scheme in _LYNC_SCHEMES for c in challenges):
            raise StepFailed(not_lync_advice(challenges, response, host),
                             f"offers {', '.join(offered) or 'no'} authentication; not Lync")
        ctx.current.challenges = challenges
        return StepOutcome.passed(f"the server asks for authentication: {', '.join(offered)}")
