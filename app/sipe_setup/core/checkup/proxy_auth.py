"""407 Proxy Authentication Required, answered the way SIPE does it (sip-transport.c,
``process_input_message``): the *same* request (same CSeq and branch) is sent again with a
``Proxy-Authorization`` for the **first** ``Proxy-Authenticate`` header, from a proxy security
context of its own; NTLM and Kerberos go on until the proxy lets the request through, at most
30 rounds. A Digest proxy is answered by SIPE with Login and password — sipe-setup does not send
a password by Digest and says so instead.
"""

from __future__ import annotations

from typing import Final

from sipe_setup.core.advice import advice
from sipe_setup.core.auth.challenge import (
    AuthChallenge,
    ChallengeScheme,
    parse_challenge_header,
)
from sipe_setup.core.auth.mechanism import AuthMechanism, MechanismFailed
from sipe_setup.core.auth.registry import create_mechanism
from sipe_setup.core.checkup.context import CheckContext
from sipe_setup.core.checkup.diagnose import not_lync_advice, rejection_advice
from sipe_setup.core.checkup.flow import StepFailed, StepLog
from sipe_setup.core.sip.message import SipRequest, SipResponse

__all__ = ["MAX_PROXY_ROUNDS", "ProxyAuthentication"]

MAX_PROXY_ROUNDS: Final = 30  # SIPE: transport->proxy.retries++ <= 30
_SCHEMES: Final = (ChallengeScheme.NTLM, ChallengeScheme.KERBEROS)


class ProxyAuthentication:
    """The proxy security context of one connection."""

    def __init__(self, ctx: CheckContext) -> None:
        self._ctx = ctx
        self._mechanism: AuthMechanism | None = None
        self.rounds = 0

    async def answer(self, response: SipResponse, request: SipRequest, host: str,
                     log: StepLog) -> str:
        """The ``Proxy-Authorization`` for ``request`` after the 407 ``response``.

        Raises:
            StepFailed: no usable challenge, a Digest proxy, too many rounds, or refused.
        """
        self.rounds += 1
        header = response.header("Proxy-Authenticate")
        if header is None or self.rounds > MAX_PROXY_ROUNDS:
            why = "without Proxy-Authenticate" if header is None else "again and again"
            raise StepFailed(advice("unexpected-status", status=407,
                                    reason_phrase=response.reason, server_reason=""),
                             f"407 {why}")
        challenge = parse_challenge_header(header, "Proxy-Authenticate")
        if challenge.scheme not in _SCHEMES:
            raise StepFailed(not_lync_advice([challenge], response, host),
                             f"the proxy asks for {challenge.scheme_token} (407)")
        try:
            return await self._token(challenge, request, log)
        except MechanismFailed as failed:
            raise StepFailed(rejection_advice(self._ctx.account, failed.rejection,
                                              challenge.target_name or host,
                                              self._ctx.clock_skew),
                             f"proxy authentication: {failed.rejection.detail}") from None

    async def _token(self, challenge: AuthChallenge, request: SipRequest, log: StepLog) -> str:
        mechanism = self._mechanism
        if mechanism is not None and mechanism.is_complete:
            self._ctx.failed_attempts += mechanism.refusal_means_wrong_password
            raise StepFailed(advice("auth-failed", login=self._ctx.account.login.text
                                    or self._ctx.account.signin.address,
                                    scheme=f"{challenge.scheme_token}, by the SIP proxy"),
                             "the SIP proxy refused the Login or password")
        if mechanism is None or not challenge.gssapi_data:
            mechanism = create_mechanism(challenge.scheme, self._ctx.mechanism_setup())
            assert mechanism is not None
            self._mechanism = mechanism
            log(f"A SIP proxy asks for {challenge.scheme_token} (407): answering with "
                "Proxy-Authorization on the same request, as SIPE does.")
            await mechanism.prepare(challenge, request)
            return mechanism.initial_token(challenge, request)
        return mechanism.next_token(challenge, request)
