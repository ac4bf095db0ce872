"""One REGISTER out, its final answer back: the SIP exchange every step uses.

Provisional answers and stray messages are skipped — a bounded number of them: a server that
keeps sending ``100 Trying`` (or anything but the final answer) is treated as one that gives no
final answer. The clock and the ``Server`` header are noted as facts; a silent, closing or
non-SIP peer ends the step with its own advice.
"""

from __future__ import annotations

import time

from sipe_setup.core.advice import advice
from sipe_setup.core.checkup.context import CheckContext
from sipe_setup.core.checkup.diagnose import clock_offset
from sipe_setup.core.checkup.flow import StepFailed, StepLog
from sipe_setup.core.checkup.proxy_auth import ProxyAuthentication
from sipe_setup.core.sip.message import (
    SipProtocolError,
    SipRequest,
    SipResponse,
    SipStreamParser,
)
from sipe_setup.core.sip.register import RegisterAttempt, RegisterDialog
from sipe_setup.core.transport import ConnectionClosed, SipConnection

__all__ = ["MAX_PROVISIONAL_ANSWERS", "MAX_STRAY_MESSAGES", "SipSession"]

MAX_PROVISIONAL_ANSWERS = 10
"""1xx answers waited through for one request; Lync sends at most one ``100 Trying``."""
MAX_STRAY_MESSAGES = 50
"""Messages that answer nothing we sent, skipped per request before giving up."""


class _NoFinalAnswer(Exception):
    """Internal: the server keeps talking without giving the final answer."""


class SipSession:
    """REGISTER exchanges on one connection."""

    def __init__(self, ctx: CheckContext, connection: SipConnection) -> None:
        self._ctx = ctx
        self.connection = connection
        self._parser = SipStreamParser()
        self._proxy = ProxyAuthentication(ctx)

    def new_dialog(self) -> RegisterDialog:
        """A fresh REGISTER sequence (new Call-ID), as SIPE starts one per sign-in."""
        conn = self.connection
        account = self._ctx.account
        return RegisterDialog(signin=account.signin, transport=conn.transport,
                              local_ip=conn.local_ip, local_port=conn.local_port,
                              hostname=self._ctx.hostname, user_agent=account.user_agent)

    async def exchange(self, attempt: RegisterAttempt, authorization: str | None,
                       log: StepLog) -> SipResponse:
        """Send one REGISTER and return its final answer; a 407 from a SIP proxy is answered
        on the same request, as SIPE does (:mod:`.proxy_auth`).

        Raises:
            StepFailed: no answer in time, the connection closed, not SIP, or a proxy that
                cannot be answered.
        """
        proxy_authorization: str | None = None
        while True:
            request = attempt.authorized(authorization)
            if proxy_authorization is not None:
                request = request.with_header("Proxy-Authorization", proxy_authorization)
            response = await self._transaction(attempt, request, log)
            if response.status != 407:
                return response
            proxy_authorization = await self._proxy.answer(
                response, attempt.request, self.connection.host, log)

    async def _transaction(self, attempt: RegisterAttempt, request: SipRequest,
                           log: StepLog) -> SipResponse:
        self._ctx.round_trips += 1
        label = "REGISTER" + (" (Expires: 0)" if request.header("Expires") == "0" else "")
        schemes = [f"{value.split(' ', 1)[0]} {name}" for name, value in request.headers
                   if name in ("Authorization", "Proxy-Authorization")]
        log(f"→ {label} CSeq {attempt.cseq}" + (f" with {' and '.join(schemes)}" if schemes
                                                else ""))
        timeout = self._ctx.options.response_timeout
        host = self.connection.host
        try:
            await self.connection.send(request.to_bytes(), timeout)
            return await self._final_answer(attempt, time.monotonic() + timeout, log)
        except SipProtocolError as exc:
            raise StepFailed(advice("garbage", host=host, detail=str(exc)),
                             "not a SIP answer") from None
        except _NoFinalAnswer as exc:
            raise StepFailed(advice("no-final-answer", host=host, detail=str(exc)),
                             f"no final answer after {exc}") from None
        except ConnectionClosed as exc:
            if exc.kind == "timeout":
                raise StepFailed(advice("no-response", host=host, timeout=f"{timeout:g}"),
                                 f"no answer within {timeout:g} s") from None
            raise StepFailed(advice("server-closed", host=host, detail=str(exc)),
                             "the server closed the connection") from None

    async def _final_answer(self, attempt: RegisterAttempt, deadline: float,
                            log: StepLog) -> SipResponse:
        provisional = stray = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ConnectionClosed("no answer", "timeout")
            data = await self.connection.receive(remaining)
            for message in self._parser.feed(data):
                if not (isinstance(message, SipResponse) and attempt.is_response_to(message)):
                    stray += 1
                    if stray > MAX_STRAY_MESSAGES:
                        raise _NoFinalAnswer(f"{stray} messages that answer nothing we sent")
                    continue
                if message.status < 200:
                    provisional += 1
                    if provisional > MAX_PROVISIONAL_ANSWERS:
                        raise _NoFinalAnswer(f"{provisional} provisional answers "
                                             f"({message.status} {message.reason[:80]})")
                    log(f"← {message.status} {message.reason}")
                    continue
                log(f"← {message.status} {message.reason}")
                self._note(message)
                return message

    def _note(self, response: SipResponse) -> None:
        server_header = response.header("Server")
        if server_header:
            self._ctx.facts.server_header = server_header
        skew = clock_offset(response)
        if skew is not None:
            self._ctx.clock_skew = skew
