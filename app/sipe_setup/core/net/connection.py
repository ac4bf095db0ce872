"""One HTTP/1.1 connection of the bounded HTTP client: write a request, read one bounded answer.

Internal to :mod:`sipe_setup.core.net`: :class:`~sipe_setup.core.net.http.BoundedHttpClient`
opens the socket (resolution, TLS, certificate trust) and drives the requests; this module owns
the h11 state of the connection and the bounds of every answer read on it (header block bytes
and lines, body bytes, informational answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from typing import Any, Final

import h11

from sipe_setup.core.transport import CertificateInfo

from .errors import HttpError, HttpProtocolError, HttpTooLarge
from .headers import HttpHeaders

__all__ = ["CLOSE_WAIT", "READ_CHUNK", "Answer", "Connection", "close_writer"]

READ_CHUNK: Final = 65536
"""Bytes asked of the socket per read (also the stream reader's buffer limit)."""
MAX_INFORMATIONAL: Final = 8
"""1xx answers accepted before the final one."""
CLOSE_WAIT: Final = 1.0
"""Seconds a close waits for the peer."""


@dataclass(slots=True)
class Answer:
    """The final (non-1xx) answer read on a connection."""

    status: int
    reason: str
    headers: HttpHeaders
    body: bytes


@dataclass(slots=True)
class Connection:
    """An open (TLS-checked) socket and its h11 state; one request at a time."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    address: str
    certificate: CertificateInfo | None
    user_accepted: bool
    url: str
    max_header_bytes: int
    max_headers: int
    h11: h11.Connection = field(init=False)

    def __post_init__(self) -> None:
        self.h11 = h11.Connection(h11.CLIENT,
                                  max_incomplete_event_size=self.max_header_bytes)

    @property
    def reusable(self) -> bool:
        return self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE

    def _error(self, cls: type[HttpError], message: str) -> HttpError:
        return cls(message, url=self.url, address=self.address)

    async def exchange(self, method: str, target: str, headers: list[tuple[str, str]],
                       body: bytes | None, max_body: int) -> Answer:
        if self.h11.our_state is h11.DONE:
            self.h11.start_next_cycle()
        try:
            data = self.h11.send(h11.Request(method=method, target=target, headers=headers))
            if body:
                data = (data or b"") + (self.h11.send(h11.Data(data=body)) or b"")
            data = (data or b"") + (self.h11.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError as exc:
            raise self._error(HttpProtocolError,
                              f"the request could not be written ({exc})") from None
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            raise self._error(HttpProtocolError,
                              f"the server closed the connection while the request was "
                              f"sent ({exc.strerror or type(exc).__name__})") from None
        return await self._read_answer(max_body)

    async def _next_event(self) -> Any:
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                if exc.error_status_hint == 431:
                    raise HttpTooLarge(f"the server's header block is larger than "
                                       f"{self.max_header_bytes} bytes", url=self.url,
                                       address=self.address) from None
                if "peer closed connection" in str(exc):
                    raise self._error(HttpProtocolError, "the server closed the connection in "
                                      "the middle of the answer") from None
                raise self._error(HttpProtocolError,
                                  f"the answer is not valid HTTP/1.1 ({exc})") from None
            if event is not h11.NEED_DATA:
                return event
            try:
                chunk = await self.reader.read(READ_CHUNK)
            except (ConnectionError, OSError, ssl.SSLError) as exc:
                raise self._error(HttpProtocolError, f"the connection broke while reading the "
                                  f"answer ({type(exc).__name__})") from None
            self.h11.receive_data(chunk)

    async def _read_answer(self, max_body: int) -> Answer:
        informational = 0
        while True:
            event = await self._next_event()
            if isinstance(event, h11.InformationalResponse):
                informational += 1
                if informational > MAX_INFORMATIONAL:
                    raise self._error(HttpProtocolError,
                                      "the server sent too many 1xx answers")
                continue
            if isinstance(event, h11.Response):
                break
            if isinstance(event, h11.ConnectionClosed):
                raise self._error(HttpProtocolError,
                                  "the server closed the connection without answering")
            raise self._error(HttpProtocolError,
                              f"unexpected HTTP event {type(event).__name__}")
        raw = event.headers.raw_items()
        # h11 bounds a header block that arrives in pieces; one that arrives in one read is
        # measured here.
        if sum(len(n) + len(v) + 4 for n, v in raw) > self.max_header_bytes:
            raise HttpTooLarge(f"the server's header block is larger than "
                               f"{self.max_header_bytes} bytes", url=self.url,
                               address=self.address)
        if len(raw) > self.max_headers:
            raise self._error(HttpProtocolError, f"the answer has {len(raw)} header lines (at "
                              f"most {self.max_headers} are accepted)")
        headers = HttpHeaders((bytes(n).decode("latin-1"), bytes(v).decode("latin-1"))
                              for n, v in raw)
        status = int(event.status_code)
        reason = bytes(event.reason).decode("latin-1", "replace")[:200]
        chunks: list[bytes] = []
        size = 0
        while True:
            part = await self._next_event()
            if isinstance(part, h11.Data):
                size += len(part.data)
                if size > max_body:
                    raise HttpTooLarge(f"the answer's body is larger than {max_body} bytes",
                                       url=self.url, address=self.address, status=status,
                                       headers=headers)
                chunks.append(bytes(part.data))
            elif isinstance(part, h11.EndOfMessage):
                break
            else:
                raise self._error(HttpProtocolError, "the server closed the connection in "
                                  "the middle of the answer")
        return Answer(status, reason, headers, b"".join(chunks))

    async def close(self) -> None:
        await close_writer(self.writer)


async def close_writer(writer: asyncio.StreamWriter) -> None:
    """Close ``writer``, waiting at most :data:`CLOSE_WAIT` seconds for the peer."""
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), CLOSE_WAIT)
