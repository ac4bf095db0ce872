"""A tiny scripted HTTP/1.1 server on 127.0.0.1 (asyncio, stdlib), for the HTTP client's tests.

Each connection gets a :class:`Conn` (its own state, e.g. an NTLM acceptor); the test's
``handler`` turns each parsed :class:`Request` into raw response bytes, or into a coroutine
that writes them itself (to dribble, stall or hang up).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Conn", "LoopbackServer", "Request", "response"]

_ids = itertools.count(1)


@dataclass
class Request:
    conn: int
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str:
        return next((v for n, v in self.headers if n.lower() == name.lower()), "")


@dataclass
class Conn:
    id: int
    writer: asyncio.StreamWriter
    state: dict[str, Any] = field(default_factory=dict)
    bytes_received: int = 0


Handler = Callable[[Request, Conn], "bytes | Awaitable[None]"]


def response(status: int = 200, body: bytes = b"", *, reason: str = "X",
             headers: tuple[tuple[str, str], ...] = (), close: bool = False) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{n}: {v}" for n, v in headers]
    lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class LoopbackServer:
    """``async with LoopbackServer(handler, ssl_context=...) as server: server.port``."""

    def __init__(self, handler: Handler, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.requests: list[Request] = []
        self.connections: list[Conn] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> LoopbackServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0,
                                                  ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = Conn(next(_ids), writer)
        self.connections.append(conn)
        try:
            while True:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = await reader.read(1)
                    if not chunk:
                        return
                    conn.bytes_received += 1
                    head += chunk
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = [tuple(line.split(": ", 1)) for line in lines[1:] if line]
                request = Request(conn.id, method, target, [(h[0], h[1]) for h in headers], b"")
                length = int(request.header("Content-Length") or 0)
                if length:
                    request.body = await reader.readexactly(length)
                    conn.bytes_received += length
                self.requests.append(request)
                answer = self.handler(request, conn)
                if isinstance(answer, bytes):
                    writer.write(answer)
                    await writer.drain()
                    if b"\r\nConnection: close\r\n" in answer.split(b"\r\n\r\n", 1)[0] + b"\r\n":
                        return
                else:
                    await answer
                    if writer.is_closing():
                        return
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ssl.SSLError):
            return
        except asyncio.CancelledError:
            return
        finally:
            self._tasks.discard(task)
            writer.close()
