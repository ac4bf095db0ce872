"""A 301 to REGISTER: where the server sends the sign-in (the home pool)."""

from __future__ import annotations

from sipe_setup.core.account import Transport
from sipe_setup.core.advice import advice
from sipe_setup.core.checkup.context import CheckContext
from sipe_setup.core.checkup.flow import Redirected, StepFailed, StepLog
from sipe_setup.core.checkup.steps.connect import resolve_address
from sipe_setup.core.discovery import Candidate, CandidateSource
from sipe_setup.core.sip.message import SipResponse
from sipe_setup.core.sip.register import parse_redirect_contact

__all__ = ["redirect"]


async def redirect(ctx: CheckContext, response: SipResponse, log: StepLog) -> Redirected:
    """The :class:`Redirected` signal for a 301 (raise it).

    Raises:
        StepFailed: the 301 names no usable target.
    """
    target = parse_redirect_contact(response)
    if target is None:
        raise StepFailed(advice("unexpected-status", status=301, reason_phrase=response.reason,
                                server_reason="301 without a usable Contact"),
                         "redirect without a target")
    port = target.port or (5061 if target.transport is Transport.TLS else 5060)
    address = await resolve_address(ctx, target.host)
    candidate = Candidate(host=target.host, port=port, transport=target.transport,
                          source=CandidateSource.MANUAL, via="301 redirect",
                          addresses=(address,) if address else ())
    log(f"Redirected to {candidate} (your home pool); SIPE follows this too.")
    return Redirected(candidate, f"redirected to {candidate}")
