"""SIPE's servers for the check, in SIPE's order, each dialled before its turn comes.

SIPE tries its servers one after the other, and a server whose SYN is never answered holds it
for the kernel's give-up time (about 2 minutes on Linux) before the next is even looked at.
:class:`ServerQueue` hands the runner the same servers in the same order, but the connect of
each one (:func:`~sipe_setup.core.checkup.steps.connect.probe_server`: addresses, TCP, TLS)
is already under way: a :class:`~sipe_setup.core.net.dialer.StaggeredDialer` starts the next
server's probe ``connect_stagger`` seconds after the previous one started, or as soon as it
failed. The runner still walks the queue in order and only goes on with a server once every
server before it failed, so it never sends a REGISTER to a lower-priority server while a
higher one may still connect; N dead servers cost one connect timeout instead of N.

The candidates come from the discovery still running (:meth:`DiscoveryRun.candidate`): a
server whose lookup has not finished yet is waited for when its turn comes, as SIPE would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from sipe_setup.core.checkup.context import CheckContext
from sipe_setup.core.checkup.steps.connect import ConnectProbe, probe_server
from sipe_setup.core.discovery import Candidate
from sipe_setup.core.net.dialer import StaggeredDialer

__all__ = ["ServerQueue"]

CandidateAt = Callable[[int], Awaitable[Candidate | None]]


class ServerQueue:
    """The servers to try, one :meth:`next` at a time, each with its probe under way."""

    def __init__(self, ctx: CheckContext, candidate_at: CandidateAt, *,
                 predial: bool = True) -> None:
        self._ctx = ctx
        self._candidate_at = candidate_at
        self._index = -1
        self._probes: list[asyncio.Task[ConnectProbe]] = []
        self._closing: asyncio.Task[None] | None = None
        self._dialer: StaggeredDialer[Candidate, ConnectProbe] | None = None
        if predial:
            self._dialer = StaggeredDialer(
                candidate_at, lambda candidate: probe_server(ctx, candidate),
                stagger=ctx.options.connect_stagger, succeeded=lambda probe: probe.reached,
                discard=self._discard)
            self._dialer.start()

    @classmethod
    def discovered(cls, ctx: CheckContext) -> ServerQueue:
        """SIPE's servers from discovery (still running for the lower-priority ones)."""
        run = ctx.discovery_run
        if run is not None:
            return cls(ctx, run.candidate)
        known = list(ctx.candidates)

        async def listed(index: int) -> Candidate | None:
            return known[index] if index < len(known) else None

        return cls(ctx, listed)

    @classmethod
    def single(cls, ctx: CheckContext, candidate: Candidate) -> ServerQueue:
        """One server (a redirect's target), connected when its turn comes."""
        async def only(index: int) -> Candidate | None:
            return candidate if index == 0 else None

        return cls(ctx, only, predial=False)

    async def _discard(self, probe: ConnectProbe) -> None:
        if probe.connection is not None and probe.connection not in self._ctx.connections:
            await probe.close()

    async def _candidate(self, index: int) -> Candidate | None:
        if self._dialer is not None:
            return await self._dialer.target(index)
        return await self._candidate_at(index)

    async def next(self) -> Candidate | None:
        """SIPE's next server (waiting for discovery to name it), or None: no more."""
        self._index += 1
        return await self._candidate(self._index)

    async def peek(self) -> Candidate | None:
        """The server after the current one, without moving on."""
        return await self._candidate(self._index + 1)

    def probe(self) -> asyncio.Future[ConnectProbe] | None:
        """The connect of the current server, under way (None: connect when it runs)."""
        dialer = self._dialer
        if dialer is None:
            return None
        index = self._index

        async def outcome() -> ConnectProbe:
            probe = await dialer.result(index)
            assert probe is not None  # next() returned this index's candidate
            return probe

        task = asyncio.ensure_future(outcome())
        self._probes.append(task)
        return task

    def release(self) -> None:
        """The current server is the one: stop the other probes and close their connections
        in the background (the sign-in does not wait for that); :meth:`aclose` awaits it."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())

    async def _close(self) -> None:
        for task in self._probes:
            if not task.done():
                task.cancel()
        if self._probes:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*self._probes, return_exceptions=True)
        if self._dialer is not None:
            await self._dialer.aclose()

    async def aclose(self) -> None:
        """Stop every probe still running; close every connection the check did not take."""
        self.release()
        assert self._closing is not None
        await asyncio.shield(self._closing)
