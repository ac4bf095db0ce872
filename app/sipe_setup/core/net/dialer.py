"""Concurrent connection attempts that keep a strict priority order (RFC 8305 §5 style).

SIPE (libpurple) dials its servers — and the addresses of one server — one after the other,
and libpurple has no connect timeout of its own: every server whose SYN is never answered
costs what the kernel allows a connection attempt (about 2 minutes on Linux) before the next
one is even tried. :class:`StaggeredDialer` starts the attempts in priority order, each one
``stagger`` seconds after the previous one started or as soon as it failed, whichever comes
first, and stops starting new ones once one succeeded. The answers are still *used* in
priority order: :meth:`StaggeredDialer.result` of attempt *i* waits for attempt *i*, so a
lower-priority attempt that succeeds first is only held (and closed if a higher one wins).
N dead servers therefore cost one timeout instead of N, and the server chosen is the one SIPE
would reach.

Nothing here knows SIP: targets and results are whatever the caller's ``attempt`` takes and
returns. Cancelling or closing the dialer cancels every attempt and discards (closes) every
result nobody took.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final, Generic, TypeVar

__all__ = ["DEFAULT_STAGGER", "StaggeredDialer", "kernel_connect_give_up", "seconds_text"]

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_STAGGER: Final = 0.25
"""RFC 8305's recommended "Connection Attempt Delay" (250 ms)."""
MAX_IN_FLIGHT: Final = 8
"""Attempts running at the same time, at most."""

_TCP_SYN_RETRIES = Path("/proc/sys/net/ipv4/tcp_syn_retries")


def kernel_connect_give_up() -> float:
    """How long the system lets a connection attempt whose SYN is never answered last.

    Linux: ``tcp_syn_retries`` retransmissions with a timeout doubling from 1 s, so
    2^(retries + 1) − 1 seconds (127 s with the default 6). Windows (2 retransmissions from
    3 s): 21 s. macOS: 75 s.
    """
    if sys.platform == "win32":
        return 21.0
    if sys.platform == "darwin":
        return 75.0
    try:
        retries = int(_TCP_SYN_RETRIES.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        retries = 6
    return float(2 ** (max(0, min(retries, 30)) + 1) - 1)


def seconds_text(seconds: float) -> str:
    """``2 min 7 s``, ``45 s``, ``0.3 s``."""
    if seconds < 10:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    whole = round(seconds)
    minutes, rest = divmod(whole, 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


class StaggeredDialer(Generic[T, R]):
    """Attempts over ``targets`` in priority order, staggered, results used in that order.

    Args:
        targets: the ``index``-th target, or None when there is no such target (it may wait:
            discovery may still be looking the next server up).
        attempt: dials one target; returns a result or raises (a failure).
        stagger: seconds after an attempt started before the next one starts anyway.
        succeeded: whether a returned result counts as a success (it stops further starts);
            by default every returned result does.
        discard: closes a result nobody took (at :meth:`aclose`).
    """

    def __init__(self, targets: Callable[[int], Awaitable[T | None]],
                 attempt: Callable[[T], Awaitable[R]], *, stagger: float = DEFAULT_STAGGER,
                 succeeded: Callable[[R], bool] | None = None,
                 discard: Callable[[R], Awaitable[None]] | None = None,
                 max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self._targets = targets
        self._attempt = attempt
        self._stagger = stagger
        self._succeeded = succeeded or (lambda _result: True)
        self._discard = discard
        self._max_in_flight = max(1, max_in_flight)
        self._known: dict[int, T | None] = {}
        self._tasks: dict[int, asyncio.Task[R]] = {}
        self._started_at: dict[int, float] = {}
        self._taken: set[int] = set()
        self._driver: asyncio.Task[None] | None = None
        self._closed = False

    # --- driving ------------------------------------------------------------------------------

    def start(self) -> None:
        """Begin dialling (idempotent; needs a running event loop)."""
        if self._driver is None and not self._closed:
            self._driver = asyncio.ensure_future(self._drive())

    async def target(self, index: int) -> T | None:
        """The ``index``-th target (None: there is none)."""
        if index not in self._known:
            self._known[index] = await self._targets(index)
        return self._known[index]

    def _launch(self, index: int, target: T) -> asyncio.Task[R]:
        task = self._tasks.get(index)
        if task is None:
            task = asyncio.ensure_future(self._attempt(target))
            self._tasks[index] = task
            self._started_at[index] = time.monotonic()
        return task

    def _won(self, task: asyncio.Task[R]) -> bool:
        return (task.done() and not task.cancelled() and task.exception() is None
                and self._succeeded(task.result()))

    async def _drive(self) -> None:
        index = 0
        while not self._closed:
            if any(self._won(task) for task in self._tasks.values()):
                return  # one succeeded: the ones before it are still running or failed
            target = await self.target(index)
            if target is None:
                return
            self._launch(index, target)
            await self._next_may_start(index)
            index += 1

    async def _next_may_start(self, last: int) -> None:
        """Until the next attempt may start: an attempt ended (a failure starts the next one
        at once; a success stops the driver), or the stagger since ``last`` started passed."""
        running = [task for task in self._tasks.values() if not task.done()]
        if not running:
            return
        if len(running) >= self._max_in_flight:
            await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            return
        remaining = self._stagger - (time.monotonic() - self._started_at[last])
        if remaining > 0:
            await asyncio.wait(running, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)

    # --- using the results --------------------------------------------------------------------

    async def result(self, index: int) -> R | None:
        """The outcome of attempt ``index`` (started now if it was not yet): its result, or
        the exception it raised; None when there is no ``index``-th target."""
        self.start()
        target = await self.target(index)
        if target is None:
            return None
        task = self._launch(index, target)
        return await asyncio.shield(task)

    def started(self, index: int) -> float | None:
        """When attempt ``index`` started (``time.monotonic()``), None if it did not."""
        return self._started_at.get(index)

    def take(self, index: int) -> None:
        """The caller keeps the result of attempt ``index``: it is not discarded."""
        self._taken.add(index)

    async def aclose(self) -> None:
        """Stop: cancel the driver and every running attempt, discard untaken results."""
        self._closed = True
        tasks = [t for t in (self._driver, *self._tasks.values()) if t is not None]
        for task in tasks:
            if not task.done():
                task.cancel()
        if tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)
        if self._discard is None:
            return
        for index, task in self._tasks.items():
            if index in self._taken or task.cancelled() or task.exception() is not None:
                continue
            with contextlib.suppress(Exception):
                await self._discard(task.result())
