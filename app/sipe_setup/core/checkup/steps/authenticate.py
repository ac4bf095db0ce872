"""Authenticate with the scheme SIPE would choose, falling back where SIPE falls back."""

from __future__ import annotations

from sipe_setup.core.account import AuthScheme
from sipe_setup.core.advice import advice
from sipe_setup.core.auth.challenge import AuthChallenge, ChallengeScheme, parse_challenges
from sipe_setup.core.auth.mechanism import (
    AuthMechanism,
    MechanismFailed,
    Rejection,
    RejectionKind,
    offered_in_order,
)
from sipe_setup.core.auth.mechanisms.ntlm import NtlmMechanism
from sipe_setup.core.auth.registry import create_mechanism, supported_schemes
from sipe_setup.core.checkup.context import CheckContext
from sipe_setup.core.checkup.diagnose import rejection_advice, rejection_summary, status_advice
from sipe_setup.core.checkup.flow import Step, StepFailed, StepLog, StepOutcome
from sipe_setup.core.checkup.handshake import HandshakeOutcome, run_handshake
from sipe_setup.core.checkup.session import SipSession
from sipe_setup.core.checkup.steps.login_forms import find_working_login
from sipe_setup.core.sip.message import SipResponse
from sipe_setup.core.sip.register import RegisterDialog
from sipe_setup.core.steps import StepId

__all__ = ["AuthenticateStep"]

_LABELS = {AuthScheme.KERBEROS: "Kerberos", AuthScheme.NTLM: "NTLM",
           AuthScheme.TLS_DSK: "TLS-DSK"}


def _sipe_falls_back(wanted: AuthScheme, rejection: Rejection,
                     remaining: list[AuthChallenge]) -> bool:
    """SIPE's Auto moves on after Kerberos fails (reference §3.8), and after a TLS-DSK
    handshake that completed but was refused (tls-dsk §1.10)."""
    if wanted is not AuthScheme.AUTO or not remaining:
        return False
    if rejection.scheme is ChallengeScheme.KERBEROS:
        return any(c.scheme is ChallengeScheme.NTLM for c in remaining)
    return (rejection.scheme is ChallengeScheme.TLS_DSK
            and rejection.kind is RejectionKind.REJECTED and rejection.handshake_completed)


def _pidgin_stops(wanted: AuthScheme, rejection: Rejection,
                  remaining: list[AuthChallenge]) -> bool:
    """TLS-DSK failed where SIPE gives up: the check goes on only to find what to pin."""
    return (wanted is AuthScheme.AUTO and rejection.scheme is ChallengeScheme.TLS_DSK
            and bool(remaining))


class AuthenticateStep(Step):
    """Pick the scheme(s), drive each handshake, diagnose a refusal."""

    id = StepId.AUTHENTICATE

    def title(self, ctx: CheckContext) -> str:
        return "Authenticate"

    async def run(self, ctx: CheckContext, log: StepLog) -> StepOutcome:
        current = ctx.current
        assert current.session is not None and current.dialog is not None
        challenges = current.challenges
        wanted = ctx.account.auth
        excluded = {ChallengeScheme.TLS_DSK} if current.tls_dsk_excluded else set()
        queue = [c for c in offered_in_order(challenges, wanted)
                 if c.scheme in supported_schemes() and c.scheme not in excluded]
        if not queue:
            label = _LABELS.get(wanted, wanted.value)
            names = ", ".join(sorted({c.scheme_token for c in challenges}))
            raise StepFailed(advice("auth-incompatible", chosen=label, offered=names),
                             f"{label} is not offered")
        return await self._authenticate(ctx, current.session, queue, log)

    async def _authenticate(self, ctx: CheckContext, session: SipSession,
                            queue: list[AuthChallenge], log: StepLog) -> StepOutcome:
        dialog = ctx.current.dialog
        assert dialog is not None
        setup = ctx.mechanism_setup()
        while True:
            challenge = queue.pop(0)
            mechanism = create_mechanism(challenge.scheme, setup)
            assert mechanism is not None  # the queue holds supported schemes only
            log(mechanism.intro(challenge))
            final: SipResponse | None = None
            try:
                final = await run_handshake(session, dialog, mechanism, challenge, log)
            except MechanismFailed as failed:
                rejection = failed.rejection
            else:
                if final.status not in (401, 407):
                    return self._answered(ctx, mechanism, final, dialog, session)
                rejection = mechanism.rejection(final)
            if rejection.password_refused:
                ctx.failed_attempts += 1
            wanted = ctx.account.auth
            if queue and not ctx.may_risk_another_failure():
                log(f"Not trying {queue[0].scheme_token}: this check already caused one failed "
                    "sign-in, and more could lock the account.")
                raise await self._refused(ctx, session, mechanism, rejection, challenge, log,
                                          final=final)
            if _sipe_falls_back(wanted, rejection, queue):
                log(f"{mechanism.label} did not work; SIPE falls back to {queue[0].scheme_token}, "
                    "and so do we.")
            elif _pidgin_stops(wanted, rejection, queue):
                stopped = await self._refused(ctx, session, mechanism, rejection, challenge, log,
                                              final=final)
                ctx.current.tls_dsk_excluded = stopped.advice
                log(f"Pidgin stops here: SIPE does not fall back from TLS-DSK. Checking "
                    f"{queue[0].scheme_token} to see what the export can pin.")
            else:
                raise await self._refused(ctx, session, mechanism, rejection, challenge, log,
                                          final=final)
            dialog = session.new_dialog()
            fresh = await session.exchange(dialog.next_register(), None, log)
            renewed = parse_challenges(fresh)
            if renewed:
                queue = [c for c in offered_in_order(renewed, ctx.account.auth)
                         if c.scheme in {q.scheme for q in queue}]

    @staticmethod
    def _answered(ctx: CheckContext, mechanism: AuthMechanism, response: SipResponse,
                  dialog: RegisterDialog, session: SipSession) -> StepOutcome:
        if not mechanism.is_complete:
            raise StepFailed(status_advice(response, session.connection.host, ctx.account),
                             f"{response.status} {response.reason} instead of a challenge")
        ctx.current.handshake = HandshakeOutcome(mechanism, response, dialog)
        return StepOutcome.passed(f"{mechanism.label} handshake completed")

    async def _refused(self, ctx: CheckContext, session: SipSession, mechanism: AuthMechanism,
                       rejection: Rejection, challenge: AuthChallenge, log: StepLog, *,
                       final: SipResponse | None) -> StepFailed:
        adv = rejection_advice(ctx.account, rejection, challenge.target_name or "?",
                               ctx.clock_skew, final=final)
        if rejection.signed_by_server:
            log("The rejection is signed with the session key: the server accepted the "
                "password.")
        summary = rejection_summary(rejection)
        if (adv.id == "auth-failed" and ctx.options.try_other_logins
                and isinstance(mechanism, NtlmMechanism) and ctx.password is not None
                and rejection.kind is RejectionKind.REJECTED):
            working = await find_working_login(ctx, session, mechanism.nb_domain, log)
            if working is not None:
                login = ctx.account.login.text or ctx.account.signin.address
                adv = advice("auth-login-form", login=login, working_login=working)
                summary = f"the password works with Login {working}"
        return StepFailed(adv, summary)
