"""The server's final answer: a signed 200 OK proves it checked the password."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from sipe_setup.core.advice import advice
from sipe_setup.core.auth.errors import AuthError
from sipe_setup.core.checkup.context import CheckContext
from sipe_setup.core.checkup.diagnose import ok_warning, status_advice
from sipe_setup.core.checkup.flow import Step, StepFailed, StepLog, StepOutcome
from sipe_setup.core.checkup.steps.redirect import redirect
from sipe_setup.core.steps import StepId

if TYPE_CHECKING:
    from sipe_setup.core.auth.mechanisms.tls_dsk import TlsDskMechanism

__all__ = ["VerifyStep"]

_TLS_DSK_MODULE = "sipe_setup.core.auth.mechanisms.tls_dsk"


def _as_tls_dsk(mechanism: object) -> TlsDskMechanism | None:
    """The mechanism as TLS-DSK's, or None. Its module is loaded only when TLS-DSK was used:
    a check that never imported it cannot hold a TLS-DSK mechanism (and the verdict is not
    delayed by importing it)."""
    module = sys.modules.get(_TLS_DSK_MODULE)
    if module is None or not isinstance(mechanism, module.TlsDskMechanism):
        return None
    tls_dsk: TlsDskMechanism = mechanism
    return tls_dsk


class VerifyStep(Step):
    """Check ``rspauth``; follow a post-handshake 301; anything but 200 fails."""

    id = StepId.SIGNED_OK

    def title(self, ctx: CheckContext) -> str:
        return "Check the server's answer and signature"

    async def run(self, ctx: CheckContext, log: StepLog) -> StepOutcome:
        current = ctx.current
        assert current.handshake is not None and current.session is not None
        response, mechanism = current.handshake.final, current.handshake.mechanism
        try:
            signed = mechanism.verify(response)
        except AuthError as exc:  # ServerSignatureError, or a malformed Authentication-Info
            raise StepFailed(advice("auth-bad-signature"), str(exc)) from None
        log("rspauth verified: the answer really comes from the server that checked your "
            "password" if signed else "The answer carries no signature (rspauth).")
        if response.status == 301:
            raise await redirect(ctx, response, log, vouched=signed)
        if response.status != 200:
            raise StepFailed(status_advice(response, current.session.connection.host,
                                           ctx.account),
                             f"{response.status} {response.reason}")
        ctx.timings["verdict"] = ctx.since_start()
        ctx.timings["register_round_trips_to_verdict"] = ctx.round_trips
        log(f"Registered for {response.header('Expires') or '?'} s")
        ctx.facts.scheme = mechanism.label
        tls_dsk = _as_tls_dsk(mechanism)
        if tls_dsk is not None:
            noted = _tls_dsk_notes(ctx, tls_dsk, log)
            if noted is not None:
                return noted
        if signed:
            upgrade = ok_warning(response, ctx.account)
            if upgrade is not None:
                return StepOutcome.warned("200 OK, signature verified; the server advises a "
                                          "newer client", upgrade)
            return StepOutcome.passed("200 OK, signature verified")
        if mechanism.signing_expected:
            return StepOutcome.warned("200 OK without the signature the server promised",
                                      advice("unsigned-ok", scheme=mechanism.label))
        return StepOutcome.warned("200 OK without a signature (SIPE accepts this)", None)


def _tls_dsk_notes(ctx: CheckContext, mechanism: TlsDskMechanism,
                   log: StepLog) -> StepOutcome | None:
    """What a TLS-DSK success still means for Pidgin: an old cipher, or a SIPE that cannot."""
    auth = mechanism.authenticator
    suite = auth.cipher_suite
    log(f"TLS-DSK: {suite}, signatures {auth.signature_algorithm}; certificate valid "
        f"{auth.expires_in() // 60} more minutes")
    if auth.server_finished_verified is False:
        log("The server's TLS Finished does not verify (SIPE does not check it).")
    if ctx.facts.sipe_cannot_do_tls_dsk:
        adv = advice("dsk-libxml", detail="The server accepts TLS-DSK, but this computer's "
                     "libxml2 no longer calls the XML callbacks Pidgin's SIPE 1.25 uses.",
                     fix="Choose NTLM or Kerberos if IT enables one.")
        return StepOutcome.warned("200 OK, but Pidgin here cannot do TLS-DSK", adv)
    if auth.signature_algorithm == "HMAC-MD5":
        adv = advice("dsk-rc4", suite=str(suite), algorithm="HMAC-MD5")
        return StepOutcome.warned("200 OK, signature verified; the server chose RC4", adv)
    return None
