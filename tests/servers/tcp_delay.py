"""A TCP proxy that delays every chunk each way: a slow network hop on loopback (tests and
benchmarks)."""

from __future__ import annotations

import asyncio
import time

__all__ = ["TcpDelayProxy"]


class TcpDelayProxy:
    """Forwards TCP to ``upstream``, delaying every chunk by ``delay`` s each way.

    The TCP handshake itself is not delayed (the proxy accepts at once), so a connect costs no
    hop; every byte of the conversation does.
    """

    def __init__(self, upstream_port: int, delay: float, *,
                 upstream_host: str = "127.0.0.1") -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.delay = delay
        self.server: asyncio.Server | None = None

    async def start(self, port: int, host: str = "127.0.0.1") -> int:
        self.server = await asyncio.start_server(self._on_client, host, port)
        return int(self.server.sockets[0].getsockname()[1])

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    writer.close()
                    return
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                data = await reader.read(65536)
                await queue.put((time.monotonic() + self.delay, data))
                if not data:
                    break
            await sender
        except (ConnectionError, OSError):
            sender.cancel()

    async def _on_client(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.upstream_host,
                                                             self.upstream_port)
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer),
                             return_exceptions=True)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
