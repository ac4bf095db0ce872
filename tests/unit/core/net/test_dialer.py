"""The staggered dialer: attempts start in priority order, staggered; results are used in that
order; nothing is left running or open (no network: attempts are coroutines with delays)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from sipe_setup.core.net.dialer import StaggeredDialer, kernel_connect_give_up, seconds_text

STAGGER = 0.05


class Failed(Exception):
    pass


def targets(count: int) -> Callable[[int], Awaitable[int | None]]:
    async def at(index: int) -> int | None:
        return index if index < count else None

    return at


class Log:
    """Records when each attempt started and ended, and what was discarded."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.started: dict[int, float] = {}
        self.discarded: list[str] = []
        self.cancelled: list[int] = []

    def attempt(self, plan: dict[int, tuple[float, bool]]) -> Callable[[int], Awaitable[str]]:
        """``plan``: target → (seconds it takes, succeeds?); unlisted targets never end."""
        async def run(target: int) -> str:
            self.started[target] = time.monotonic() - self.t0
            delay, ok = plan.get(target, (3600.0, False))
            try:
                await asyncio.sleep(delay)
            except asyncio.CancelledError:
                self.cancelled.append(target)
                raise
            if not ok:
                raise Failed(f"target {target} failed")
            return f"conn-{target}"

        return run

    async def discard(self, result: str) -> None:
        self.discarded.append(result)


def test_a_silent_first_target_costs_the_stagger_not_its_timeout() -> None:
    """Target 0 never answers in time (its own timeout, 0.3 s); target 1 answers at once:
    1 is dialled after one stagger, but its result is used only after 0 failed."""
    async def go() -> tuple[Log, str | None, float, str | None]:
        log = Log()
        dialer = StaggeredDialer(targets(3), log.attempt({0: (0.3, False), 1: (0.0, True)}),
                                 stagger=STAGGER, discard=log.discard)
        dialer.start()
        with pytest.raises(Failed):
            await dialer.result(0)
        failed_at = time.monotonic() - log.t0
        second = await dialer.result(1)
        dialer.take(1)
        await dialer.aclose()
        return log, second, failed_at, None

    log, second, failed_at, _ = asyncio.run(go())
    assert second == "conn-1"
    assert STAGGER * 0.8 <= log.started[1] < 0.2  # staggered, not after 0's timeout
    assert 2 not in log.started  # 1 succeeded: no further start
    assert failed_at >= 0.29
    assert log.discarded == []  # the caller took conn-1


def test_a_higher_priority_success_wins_over_an_earlier_lower_one() -> None:
    """1 connects first, 0 a little later: 0 is the one used; 1 is discarded on close."""
    async def go() -> tuple[Log, str | None]:
        log = Log()
        dialer = StaggeredDialer(targets(2), log.attempt({0: (0.15, True), 1: (0.0, True)}),
                                 stagger=STAGGER, discard=log.discard)
        dialer.start()
        first = await dialer.result(0)
        dialer.take(0)
        await dialer.aclose()
        return log, first

    log, first = asyncio.run(go())
    assert first == "conn-0"
    assert log.discarded == ["conn-1"]


def test_a_failure_starts_the_next_attempt_at_once() -> None:
    async def go() -> Log:
        log = Log()
        dialer = StaggeredDialer(targets(3), log.attempt({0: (0.0, False), 1: (0.0, False),
                                                          2: (0.0, True)}), stagger=10.0)
        dialer.start()
        for index in (0, 1):
            with pytest.raises(Failed):
                await dialer.result(index)
        assert await dialer.result(2) == "conn-2"
        await dialer.aclose()
        return log

    log = asyncio.run(go())
    assert log.started[2] < 0.5  # not 2 × the 10 s stagger


def test_n_silent_targets_cost_one_timeout() -> None:
    """Five targets that each take 0.3 s to fail, then one that works: about one timeout
    (plus the staggers), not five."""
    async def go() -> float:
        log = Log()
        plan = {i: (0.3, False) for i in range(5)} | {5: (0.0, True)}
        dialer = StaggeredDialer(targets(6), log.attempt(plan), stagger=STAGGER)
        dialer.start()
        started = time.monotonic()
        for index in range(5):
            with pytest.raises(Failed):
                await dialer.result(index)
        assert await dialer.result(5) == "conn-5"
        await dialer.aclose()
        return time.monotonic() - started

    assert asyncio.run(go()) < 0.3 + 5 * STAGGER + 0.25


def test_results_are_asked_for_in_order_even_past_the_driver() -> None:
    """A target the driver did not start yet (stopped after a success) starts on demand."""
    async def go() -> list[str | None]:
        log = Log()
        dialer = StaggeredDialer(targets(2), log.attempt({0: (0.0, True), 1: (0.0, True)}),
                                 stagger=10.0)
        dialer.start()
        out = [await dialer.result(0), await dialer.result(1), await dialer.result(2)]
        await dialer.aclose()
        return out

    assert asyncio.run(go()) == ["conn-0", "conn-1", None]


def test_close_cancels_what_runs_and_discards_what_nobody_took() -> None:
    async def go() -> Log:
        log = Log()
        dialer = StaggeredDialer(targets(3), log.attempt({1: (0.0, True)}), stagger=0.01,
                                 discard=log.discard)
        dialer.start()
        await asyncio.sleep(0.1)
        await dialer.aclose()
        return log

    log = asyncio.run(go())
    assert log.cancelled == [0]
    assert log.discarded == ["conn-1"]
    assert 2 not in log.started


def test_at_most_max_in_flight_run_at_once() -> None:
    async def go() -> Log:
        log = Log()
        dialer = StaggeredDialer(targets(10), log.attempt({}), stagger=0.0, max_in_flight=3)
        dialer.start()
        await asyncio.sleep(0.1)
        await dialer.aclose()
        return log

    assert sorted(asyncio.run(go()).started) == [0, 1, 2]


def test_what_the_kernel_gives_an_unanswered_syn() -> None:
    assert kernel_connect_give_up() >= 21
    assert seconds_text(127) == "2 min 7 s"
    assert seconds_text(635) == "10 min 35 s"
    assert seconds_text(45) == "45 s"
    assert seconds_text(0.25) == "0.2 s" or seconds_text(0.25) == "0.3 s"
