"""A small UDP DNS proxy in front of a real DNS server, to make latency and failure.

- every answer is delayed by ``delay_ms`` (queries are handled concurrently, so N queries
  still take one delay, like a real far-away server);
- queries for ``drop_names`` are silently dropped (a name that never answers);
- queries for ``servfail_names`` are answered SERVFAIL, ``refused_names`` REFUSED.

It runs its own asyncio loop in a daemon thread so that synchronous tests and the code under
test (on another loop) can share it. Loopback only.

Usage::

    with DnsProxy(upstream_port=dnsmasq.port, delay_ms=100, drop_names={"x.example.test"}) as p:
        p.port
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import cast

import dns.exception
import dns.message
import dns.rcode

__all__ = ["DnsProxy"]

_UPSTREAM_TIMEOUT = 5.0


def _normalize(names: Iterable[str]) -> frozenset[str]:
    return frozenset(n.lower().rstrip(".") for n in names)


class _UpstreamProtocol(asyncio.DatagramProtocol):
    def __init__(self, answer: asyncio.Future[bytes]) -> None:
        self.answer = answer

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if not self.answer.done():
            self.answer.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


class _ProxyProtocol(asyncio.DatagramProtocol):
    def __init__(self, proxy: DnsProxy) -> None:
        self.proxy = proxy
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        task = asyncio.get_running_loop().create_task(self._handle(data, addr))
        self.proxy._tasks.add(task)
        task.add_done_callback(self.proxy._tasks.discard)

    async def _handle(self, data: bytes, addr: tuple[str | object, int]) -> None:
        proxy = self.proxy
        try:
            query = dns.message.from_wire(data)
            name = query.question[0].name.to_text(omit_final_dot=True).lower()
        except (dns.exception.DNSException, IndexError, ValueError):
            return
        proxy.seen.append(name)
        if name in proxy.drop_names:
            return
        await asyncio.sleep(proxy.delay_ms / 1000)
        rcode = (dns.rcode.SERVFAIL if name in proxy.servfail_names
                 else dns.rcode.REFUSED if name in proxy.refused_names else None)
        if rcode is not None:
            response = dns.message.make_response(query)
            response.set_rcode(rcode)
            reply = response.to_wire()
        else:
            reply_or_none = await self._forward(data)
            if reply_or_none is None:
                return
            reply = reply_or_none
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)

    async def _forward(self, data: bytes) -> bytes | None:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bytes] = loop.create_future()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UpstreamProtocol(answer),
            remote_addr=(self.proxy.upstream_host, self.proxy.upstream_port))
        try:
            transport.sendto(data)
            return await asyncio.wait_for(answer, _UPSTREAM_TIMEOUT)
        except (TimeoutError, OSError):
            return None
        finally:
            transport.close()


class DnsProxy:
    """Delaying / dropping / failing UDP proxy on 127.0.0.1:<free port>."""

    def __init__(self, upstream_port: int, *, upstream_host: str = "127.0.0.1",
                 delay_ms: float = 0.0, drop_names: Iterable[str] = (),
                 servfail_names: Iterable[str] = (), refused_names: Iterable[str] = (),
                 listen_port: int = 0) -> None:
        self.upstream_host = upstream_host
        self.listen_port = listen_port  # 0: a free port (53 inside a private namespace)
        self.upstream_port = upstream_port
        self.delay_ms = delay_ms
        self.drop_names = _normalize(drop_names)
        self.servfail_names = _normalize(servfail_names)
        self.refused_names = _normalize(refused_names)
        self.port = 0
        self.seen: list[str] = []  # query names in arrival order (for assertions)
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> DnsProxy:
        ready = threading.Event()
        errors: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                transport, _ = loop.run_until_complete(loop.create_datagram_endpoint(
                    lambda: _ProxyProtocol(self), local_addr=("127.0.0.1", self.listen_port)))
                self._transport = transport
                self.port = int(transport.get_extra_info("sockname")[1])
            except BaseException as exc:  # reported to the starting thread
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                for task in list(self._tasks):
                    task.cancel()
                with contextlib.suppress(BaseException):
                    loop.run_until_complete(asyncio.gather(*self._tasks,
                                                           return_exceptions=True))
                transport.close()
                loop.run_until_complete(asyncio.sleep(0))
                loop.close()

        self._thread = threading.Thread(target=serve, name="dns-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    def __enter__(self) -> DnsProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
