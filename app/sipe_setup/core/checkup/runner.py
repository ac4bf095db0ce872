"""The trial sign-in: validate → discover → per server: connect → certificate → REGISTER →
authenticate → verify the answer → sign out.

:class:`CheckRun` is the only writer of step status: a step returns how it ended or raises
(:mod:`.flow`), and the runner records it, so the live view and the report agree. The CLI and
the GUI drive this same code.

Behaviour follows SIPE (reference §1.5, §1.6, §3.8) where a user would otherwise be surprised
by a difference between this check and Pidgin:
- servers are tried in SIPE's order; their connects run ahead, staggered (:mod:`.dialer`),
  but a server is used only once every server before it failed;
- a connect or TLS failure moves on to the next candidate, and says so; once connected, errors
  are final (SIPE does not try another server then);
- a 301 to REGISTER moves to the home pool it names;
- 480/500 and silence are answered with a timeout instead of SIPE's endless wait.

The verdict is known once the signed 200 OK is verified: ``on_verdict`` gets it then, and the
sign-out (still a step of the result) follows; a deadline or a cancel during the sign-out
leaves the verdict as it was.

Safety (DESIGN §6): credentials go only to servers in the SIP domain unless the front end's
``ask_trust`` allows another one; an untrusted certificate is used only if the user accepted
that exact fingerprint. Cancelling the task closes every connection.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from collections.abc import Callable

from sipe_setup.core.account import AccountSettings, Secret
from sipe_setup.core.advice import RenderedAdvice, advice
from sipe_setup.core.checkup.context import CheckContext, ServerAttempt
from sipe_setup.core.checkup.dialer import ServerQueue
from sipe_setup.core.checkup.flow import Redirected, Step, StepFailed, TryNextServer
from sipe_setup.core.checkup.options import CheckOptions
from sipe_setup.core.checkup.results import build_result
from sipe_setup.core.checkup.session import SipSession
from sipe_setup.core.checkup.steps.authenticate import AuthenticateStep
from sipe_setup.core.checkup.steps.certificate import CertificateStep
from sipe_setup.core.checkup.steps.connect import ConnectStep, cancel_prefetches
from sipe_setup.core.checkup.steps.credentials import CredentialsStep
from sipe_setup.core.checkup.steps.discover import DiscoverStep
from sipe_setup.core.checkup.steps.redirect import (
    allowed_outside,
    redirect_refusal,
    via_home_pool,
)
from sipe_setup.core.checkup.steps.register import RegisterStep
from sipe_setup.core.checkup.steps.signout import SignOutStep
from sipe_setup.core.checkup.steps.validate import ValidateStep
from sipe_setup.core.checkup.steps.verify import VerifyStep
from sipe_setup.core.checkup.trust import TrustDecider
from sipe_setup.core.checkup.verdict import signed_in_verdict
from sipe_setup.core.discovery import Candidate
from sipe_setup.core.steps import (
    CheckResult,
    EventSink,
    StepId,
    StepRecorder,
    StepResult,
    StepStatus,
    Verdict,
)

__all__ = ["CheckRun", "VerdictSink", "run_check"]

VerdictSink = Callable[[CheckResult], None]
"""Gets the result the moment the verdict is known (before the sign-out step)."""


class CheckRun:
    """One check. ``await execute()`` runs it; :attr:`recorder` holds the steps so far."""

    def __init__(self, account: AccountSettings, password: Secret | None,
                 options: CheckOptions | None = None, *, on_event: EventSink | None = None,
                 ask_trust: TrustDecider | None = None,
                 on_verdict: VerdictSink | None = None) -> None:
        options = options or CheckOptions()
        hostname = options.hostname or socket.gethostname() or "localhost"
        self.ctx = CheckContext(account, password, options, hostname, ask_trust)
        self.recorder = StepRecorder(on_event)
        self.started_wall = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self._on_verdict = on_verdict
        #: (verdict, summary, advice) once the signed 200 OK was verified
        self.verdict: tuple[Verdict, str, RenderedAdvice | None] | None = None
        self._wrapping_up: asyncio.Task[None] | None = None

    # --- recording --------------------------------------------------------------------------

    async def _step(self, step: Step) -> None:
        if not step.applies(self.ctx):
            return
        attempt = self.ctx.attempt.number if self.ctx.attempt else 0
        record = self.recorder.start(step.id, step.title(self.ctx), attempt)
        try:
            outcome = await step.run(self.ctx, lambda text: self.recorder.line(record, text))
        except StepFailed as failed:
            self.recorder.finish(record, StepStatus.FAIL, failed.summary, failed.advice)
            raise
        except Redirected as redirected:
            self.recorder.finish(record, StepStatus.PASS, redirected.summary)
            raise
        self.recorder.finish(record, outcome.status, outcome.summary, outcome.advice)

    def _record(self, step: StepId, title: str, status: StepStatus, summary: str,
                advice_value: RenderedAdvice | None = None) -> StepResult:
        number = self.ctx.attempt.number if self.ctx.attempt else 0
        record = self.recorder.start(step, title, number)
        return self.recorder.finish(record, status, summary, advice_value)

    def _close_running(self, status: StepStatus, summary: str,
                       advice_value: RenderedAdvice | None = None) -> None:
        for step in self.recorder.steps:
            if step.status is StepStatus.RUNNING:
                self.recorder.finish(step, status, summary, advice_value)

    # --- results ----------------------------------------------------------------------------

    def result(self, verdict: Verdict, summary: str,
               advice_value: RenderedAdvice | None) -> CheckResult:
        """Assemble the result from what was recorded."""
        return build_result(self.ctx, self.recorder.steps, self.started_wall, verdict,
                            summary, advice_value)

    def cancelled_result(self) -> CheckResult:
        """What to show after the user cancelled (the verdict, if it was already known)."""
        self._close_running(StepStatus.SKIP, "cancelled")
        if self.verdict is not None:
            return self.result(*self.verdict)
        return self.result(Verdict.CANCELLED, "The check was cancelled.", advice("cancelled"))

    def _announce(self, verdict: Verdict, summary: str,
                  advice_value: RenderedAdvice | None) -> None:
        self.verdict = (verdict, summary, advice_value)
        if self._on_verdict is not None:
            self._on_verdict(self.result(verdict, summary, advice_value))

    def _settle(self, queue: ServerQueue) -> None:
        """The current server is the one: the other probes and the lookups still running are
        stopped beside the sign-in (closing their sockets must not delay the REGISTER)."""
        queue.release()
        if self._wrapping_up is None:
            self._wrapping_up = asyncio.ensure_future(self._finish_discovery())

    async def _finish_discovery(self) -> None:
        """No more servers are needed: stop the lookups still running; the report gets the
        whole discovery."""
        run, self.ctx.discovery_run = self.ctx.discovery_run, None
        if run is not None:
            self.ctx.discovery = await run.close()

    # --- the run ----------------------------------------------------------------------------

    async def execute(self) -> CheckResult:
        """Run the whole check within ``options.deadline``.

        Raises:
            asyncio.CancelledError: when cancelled (connections are closed first); use
                :meth:`cancelled_result` for what to show.
        """
        deadline = self.ctx.options.deadline
        try:
            return await asyncio.wait_for(self._run(), deadline)
        except TimeoutError:
            await self._finish_discovery()
            if self.verdict is not None:  # only the sign-out was left
                self._close_running(StepStatus.WARN, "not finished: the check took too long")
                return self.result(*self.verdict)
            where = next((s.title for s in reversed(self.recorder.steps)
                          if s.status is StepStatus.RUNNING), "the last step")
            adv = advice("deadline", timeout=f"{deadline:g}", detail=where)
            self._close_running(StepStatus.FAIL, "stopped: the check took too long", adv)
            return self.result(Verdict.FAILED, adv.title, adv)
        finally:
            if self._wrapping_up is not None:
                await asyncio.shield(self._wrapping_up)
            await self._finish_discovery()
            cancel_prefetches(self.ctx)
            for conn in self.ctx.connections:
                await conn.close()
            self.ctx.connections.clear()

    async def _run(self) -> CheckResult:
        try:
            await self._step(ValidateStep())
            await self._step(DiscoverStep())
            return await self._try_candidates(ServerQueue.discovered(self.ctx))
        except StepFailed as failed:
            await self._finish_discovery()
            return self.result(Verdict.FAILED, failed.advice.title, failed.advice)

    async def _try_candidates(self, queue: ServerQueue) -> CheckResult:
        first_failure: StepFailed | None = None
        redirects = number = 0
        home_pool: Candidate | None = None
        try:
            while (candidate := await queue.next()) is not None:
                self.ctx.attempt = ServerAttempt(number, candidate, probe=queue.probe())
                number += 1
                try:
                    return await self._sign_in(candidate, redirects, queue)
                except TryNextServer as failed:
                    first_failure = first_failure or via_home_pool(failed, home_pool)
                    following = await queue.peek()
                    if following is not None:
                        self.recorder.line(self.recorder.steps[-1],
                                           f"SIPE would now try the next server: {following}")
                except Redirected as redirected:
                    redirects += 1
                    await self._may_follow(redirected, redirects)
                    await queue.aclose()
                    queue = ServerQueue.single(self.ctx, redirected.candidate)
                    home_pool = redirected.candidate
                finally:
                    if self.ctx.current.connection is not None:
                        await self.ctx.current.connection.close()
        finally:
            await queue.aclose()
        await self._finish_discovery()
        assert first_failure is not None
        return self.result(Verdict.FAILED, first_failure.advice.title, first_failure.advice)

    async def _may_follow(self, redirected: Redirected, redirects: int) -> None:
        """Raises StepFailed (recorded) when the redirect must not be followed."""
        title = f"Follow the redirect to {redirected.candidate}"
        if redirects > self.ctx.options.max_redirects:
            adv = advice("redirect-loop", detail=f"{redirects} redirects")
            self._record(StepId.REGISTER, title, StepStatus.FAIL, "too many redirects", adv)
            raise StepFailed(adv, "too many redirects")
        conn = self.ctx.current.connection
        assert conn is not None
        refusal = await redirect_refusal(self.ctx, redirected, conn.transport)
        if refusal is not None:
            self._record(StepId.REGISTER, title, StepStatus.FAIL, "not followed", refusal)
            raise StepFailed(refusal, "redirect not followed")

    async def _sign_in(self, candidate: Candidate, redirects: int,
                       queue: ServerQueue) -> CheckResult:
        ctx = self.ctx
        if redirects == 0 and candidate.outside_domain and not await allowed_outside(
                ctx, candidate):  # a redirect target was ruled on when it was followed
            self._record(StepId.CONNECT, f"Connect to {candidate}", StepStatus.SKIP,
                         "not used: outside your SIP domain and not allowed")
            raise TryNextServer(advice("discovery-outside-domain", host=candidate.host,
                                       domain=ctx.account.sip_domain), "not allowed")
        await self._step(ConnectStep())
        current = ctx.current
        if current.connection is None or current.connection.certificate is not None:
            await self._step(CertificateStep())
        assert current.connection is not None
        self._settle(queue)
        if redirects == 0:
            ctx.facts.entry_point = candidate  # what Pidgin must reach on its own
        current.session = SipSession(ctx, current.connection)
        for step in (RegisterStep(), CredentialsStep(), AuthenticateStep(), VerifyStep()):
            await self._step(step)
        self._announce(*signed_in_verdict(ctx, self.recorder.steps))
        await self._step(SignOutStep())
        assert self._wrapping_up is not None
        await asyncio.shield(self._wrapping_up)
        assert self.verdict is not None
        return self.result(*self.verdict)


async def run_check(account: AccountSettings, password: Secret | None,
                    options: CheckOptions | None = None, *, on_event: EventSink | None = None,
                    ask_trust: TrustDecider | None = None,
                    on_verdict: VerdictSink | None = None) -> CheckResult:
    """Run a check; on cancellation returns the cancelled result instead of raising."""
    run = CheckRun(account, password, options, on_event=on_event, ask_trust=ask_trust,
                   on_verdict=on_verdict)
    try:
        return await run.execute()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        return run.cancelled_result()
