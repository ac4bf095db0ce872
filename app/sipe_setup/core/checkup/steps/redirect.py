"""A 301 to REGISTER: where the server sends the sign-in (the home pool), and whether the
credentials may follow.

The rule (DESIGN §6): a 301 that arrives after the handshake, signed by a server that proved it
knows the password, is followed like that server — real home-pool redirects look like this,
often to an IP address. A 301 before authentication, or unsigned, to a host outside the SIP
domain or to an IP address is the user's decision. A TLS → TCP downgrade is always asked,
default no. All before any credential is sent.
"""

from __future__ import annotations

import ipaddress

from sipe_setup.core.account import Transport
from sipe_setup.core.advice import RenderedAdvice, advice
from sipe_setup.core.checkup.context import CheckContext
from sipe_setup.core.checkup.flow import Redirected, StepFailed, StepLog, TryNextServer
from sipe_setup.core.checkup.steps.connect import resolve_address
from sipe_setup.core.checkup.trust import TrustKind, TrustQuestion
from sipe_setup.core.discovery import Candidate, CandidateSource
from sipe_setup.core.discovery.plan import is_inside_domain
from sipe_setup.core.sip.message import SipResponse
from sipe_setup.core.sip.register import parse_redirect_contact

__all__ = ["allowed_outside", "redirect", "redirect_refusal", "via_home_pool"]


async def redirect(ctx: CheckContext, response: SipResponse, log: StepLog, *,
                   vouched: bool) -> Redirected:
    """The :class:`Redirected` signal for a 301 (raise it).

    Raises:
        StepFailed: the 301 names no usable target.
    """
    target = parse_redirect_contact(response)
    if target is None:
        raise StepFailed(advice("unexpected-status", status=301, reason_phrase=response.reason,
                                server_reason=""),
                         "redirect without a usable Contact (no valid host)")
    port = target.port or (5061 if target.transport is Transport.TLS else 5060)
    address = await resolve_address(ctx, target.host)
    candidate = Candidate(host=target.host, port=port, transport=target.transport,
                          source=CandidateSource.MANUAL, via="301 redirect",
                          addresses=(address,) if address else (),
                          outside_domain=not is_inside_domain(target.host,
                                                              ctx.account.sip_domain))
    log(f"Redirected to {candidate} (your home pool); SIPE follows this too.")
    return Redirected(candidate, f"redirected to {candidate}", vouched=vouched)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def redirect_refusal(ctx: CheckContext, redirected: Redirected,
                           from_transport: Transport) -> RenderedAdvice | None:
    """None when the redirect may be followed; else why not (the user said no, or could not
    be asked)."""
    target = redirected.candidate
    domain = ctx.account.sip_domain
    if from_transport is Transport.TLS and target.transport is Transport.TCP:
        question = TrustQuestion(
            TrustKind.DOWNGRADE, target.host, target.port, domain,
            f"The server redirects your sign-in from an encrypted (TLS) connection to plain "
            f"TCP at {target.host}:{target.port}. Your sign-in would travel unencrypted. "
            "Follow it?")
        if not await _asked(ctx, question):
            return advice("redirect-downgrade", host=target.host, port=target.port)
    if not redirected.vouched and (target.outside_domain or _is_ip(target.host)):
        where = "an IP address" if _is_ip(target.host) else f"outside your SIP domain {domain}"
        question = TrustQuestion(
            TrustKind.OUTSIDE_DOMAIN, target.host, target.port, domain,
            f"Before you signed in, the server redirects you to {target.host}, which is "
            f"{where}. Send your credentials to it?")
        if not await _asked(ctx, question):
            return advice("redirect-untrusted", host=target.host, domain=domain, where=where)
    return None


async def _asked(ctx: CheckContext, question: TrustQuestion) -> bool:
    return ctx.ask_trust is not None and await ctx.ask_trust(question)


async def allowed_outside(ctx: CheckContext, candidate: Candidate) -> bool:
    """May credentials go to a discovered server outside the SIP domain? (the user decides)"""
    if ctx.ask_trust is None:
        return False
    domain = ctx.account.sip_domain
    return await ctx.ask_trust(TrustQuestion(
        TrustKind.OUTSIDE_DOMAIN, candidate.host, candidate.port, domain,
        f"The server {candidate.host} (found via {candidate.via}) is not inside your SIP "
        f"domain {domain}. Send your credentials to it?"))


def via_home_pool(failed: TryNextServer, home_pool: Candidate | None) -> TryNextServer:
    """A home pool the redirect named but that cannot be reached: say that, not just why."""
    if home_pool is None:
        return failed
    adv = advice("home-pool-unreachable", host=home_pool.host, port=home_pool.port,
                 detail=failed.advice.title, code=failed.advice.code)
    return TryNextServer(adv, failed.summary)
