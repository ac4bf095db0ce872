"""The check, run off the GUI thread.

:class:`CheckWorker` is a ``QThread`` that owns its own asyncio loop and runs
:class:`sipe_setup.core.checkup.CheckRun` on it. Everything the check reports crosses to the GUI
thread as a queued Qt signal; the worker never touches a widget. A trust question is emitted as
a signal and the worker's coroutine waits on an asyncio future that the GUI resolves with
:meth:`CheckWorker.answer_trust` (through ``call_soon_threadsafe``). :meth:`CheckWorker.cancel`
cancels the task from any thread; the run then closes its connections, the loop is shut down
and the thread ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from PySide6.QtCore import QObject, QThread, Signal

from sipe_setup.core.account import AccountSettings, Secret
from sipe_setup.core.advice import advice
from sipe_setup.core.checkup import CheckOptions, CheckRun, TrustQuestion
from sipe_setup.core.discovery import AutodiscoverSettings, DiscoveryOptions, ResolverSettings
from sipe_setup.core.steps import CheckResult, StepEvent, Verdict

from .state import CheckEnvironment

__all__ = ["CheckWorker", "check_options"]


def check_options(account: AccountSettings, environment: CheckEnvironment,
                  trusted: frozenset[str], *, try_other_logins: bool = False) -> CheckOptions:
    """The core's options for one run, the way ``sipe-setup check`` builds them."""
    return CheckOptions(
        discovery=DiscoveryOptions(
            resolver=ResolverSettings(nameservers=environment.nameservers),
            deadline=min(environment.discovery_deadline, environment.deadline),
            http=AutodiscoverSettings(user_agent=account.user_agent,
                                      ca_file=environment.ca_file)),
        ca_file=environment.ca_file,
        trusted_fingerprints=trusted,
        deadline=environment.deadline,
        connect_timeout=environment.connect_timeout,
        response_timeout=environment.response_timeout,
        try_other_logins=try_other_logins,
    )


class CheckWorker(QThread):
    """One check in a thread of its own.

    Signals (all delivered queued, on the GUI thread):
        step_event(StepEvent): a step started, printed a detail line, or finished.
        trust_asked(TrustQuestion): answer it with :meth:`answer_trust`.
        verdict(CheckResult): the verdict, the moment the server's signed 200 OK is verified;
            the sign-out still follows (its step, and ``check_done``, come after).
        check_done(CheckResult): the final result (also after a cancel or an internal error).
    """

    step_event = Signal(object)
    trust_asked = Signal(object)
    verdict = Signal(object)
    check_done = Signal(object)

    def __init__(self, account: AccountSettings, password: Secret | None,
                 options: CheckOptions, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sipe-setup check")
        self._run = CheckRun(account, password, options, on_event=self._forward_event,
                             ask_trust=self._ask_trust, on_verdict=self.verdict.emit)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[CheckResult] | None = None
        self._pending: asyncio.Future[bool] | None = None
        self._cancel_requested = False
        #: The final result, set on the worker thread just before ``check_done`` is emitted.
        self.result: CheckResult | None = None

    # --- called from the GUI thread -----------------------------------------------------------

    def cancel(self) -> None:
        """Stop the check as soon as possible (safe from any thread, idempotent)."""
        with self._lock:
            self._cancel_requested = True
            loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed: nothing to stop
                loop.call_soon_threadsafe(task.cancel)

    def answer_trust(self, accepted: bool) -> None:
        """Deliver the user's answer to the pending trust question."""
        with self._lock:
            loop, future = self._loop, self._pending
        if loop is None or future is None:
            return

        def resolve() -> None:
            if not future.done():
                future.set_result(accepted)

        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(resolve)

    # --- the worker thread --------------------------------------------------------------------

    def _forward_event(self, event: StepEvent) -> None:
        self.step_event.emit(event)

    async def _ask_trust(self, question: TrustQuestion) -> bool:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        with self._lock:
            self._pending = future
        try:
            self.trust_asked.emit(question)
            return await future
        finally:
            with self._lock:
                self._pending = None

    def run(self) -> None:
        """Thread body: a fresh event loop, the check, then a clean shutdown of the loop."""
        loop = asyncio.new_event_loop()
        result: CheckResult
        try:
            task = loop.create_task(self._run.execute())
            with self._lock:
                self._loop, self._task = loop, task
                if self._cancel_requested:
                    task.cancel()
            try:
                result = loop.run_until_complete(task)
            except asyncio.CancelledError:
                result = self._run.cancelled_result()
            except Exception as exc:  # a bug must not kill the thread silently
                adv = advice("internal-error", detail=f"{type(exc).__name__}: {exc}")
                result = self._run.result(Verdict.FAILED, adv.title, adv)
        finally:
            with self._lock:
                self._loop = self._task = None
            try:
                _cancel_leftover_tasks(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()
        self.result = result
        self.check_done.emit(result)


def _cancel_leftover_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel and await whatever the run left behind (as ``asyncio.run`` does)."""
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
