"""How a step ends, and the interface every step implements.

A step never writes its own status: it returns a :class:`StepOutcome` (passed or warned) or
raises one of the exceptions below, and the runner records the result. That keeps the live
view and the report in agreement.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sipe_setup.core.advice import RenderedAdvice
from sipe_setup.core.discovery import Candidate
from sipe_setup.core.steps import StepId, StepStatus

if TYPE_CHECKING:
    from sipe_setup.core.checkup.context import CheckContext

__all__ = ["Redirected", "Step", "StepFailed", "StepLog", "StepOutcome", "TryNextServer"]


class StepFailed(Exception):
    """The step failed; the check ends with this advice."""

    def __init__(self, advice_value: RenderedAdvice, summary: str) -> None:
        super().__init__(summary)
        self.advice = advice_value
        self.summary = summary


class TryNextServer(StepFailed):
    """The step failed before anything was said to the server: SIPE moves to the next one."""


class Redirected(Exception):
    """The server sent us elsewhere (301); the step itself passed.

    ``vouched``: the 301 came after the handshake, signed by a server that proved it knows the
    password, so its target is trusted like that server (real home-pool redirects).
    """

    def __init__(self, candidate: Candidate, summary: str, *, vouched: bool) -> None:
        super().__init__(summary)
        self.candidate = candidate
        self.summary = summary
        self.vouched = vouched


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """How a step that did not fail ended."""

    status: StepStatus
    summary: str
    advice: RenderedAdvice | None = None

    @classmethod
    def passed(cls, summary: str) -> StepOutcome:
        return cls(StepStatus.PASS, summary)

    @classmethod
    def warned(cls, summary: str, advice_value: RenderedAdvice | None) -> StepOutcome:
        return cls(StepStatus.WARN, summary, advice_value)


StepLog = Callable[[str], None]
"""Adds one detail line to the running step (a DNS answer, a REGISTER round trip…)."""


class Step(abc.ABC):
    """One stage of the check."""

    id: StepId

    def applies(self, ctx: CheckContext) -> bool:
        """False when the step has nothing to do in this check (it is then not shown)."""
        return True

    @abc.abstractmethod
    def title(self, ctx: CheckContext) -> str:
        """What the step does, in words (shown while it runs)."""

    @abc.abstractmethod
    async def run(self, ctx: CheckContext, log: StepLog) -> StepOutcome:
        """Do the work.

        Raises:
            StepFailed: the check ends here (TryNextServer: SIPE would move on).
            Redirected: follow a 301.
        """
