"""The one REGISTER loop that drives any :class:`AuthMechanism` through its handshake."""

from __future__ import annotations

from dataclasses import dataclass

from sipe_setup.core.auth.challenge import AuthChallenge, find_challenge, parse_challenges
from sipe_setup.core.auth.mechanism import (
    AuthMechanism,
    MechanismFailed,
    Rejection,
    RejectionKind,
)
from sipe_setup.core.checkup.flow import StepLog
from sipe_setup.core.checkup.session import SipSession
from sipe_setup.core.sip.message import SipResponse
from sipe_setup.core.sip.register import RegisterDialog

__all__ = ["HandshakeOutcome", "run_handshake"]


@dataclass(frozen=True, slots=True)
class HandshakeOutcome:
    """A handshake the server answered with something other than a challenge."""

    mechanism: AuthMechanism
    final: SipResponse
    dialog: RegisterDialog


def _bad_challenge(mechanism: AuthMechanism, detail: str) -> MechanismFailed:
    return MechanismFailed(Rejection(mechanism.scheme, RejectionKind.BAD_CHALLENGE, detail))


async def _fresh_challenge(session: SipSession, dialog: RegisterDialog,
                           mechanism: AuthMechanism, log: StepLog) -> AuthChallenge:
    """SIPE never sends the REGISTER held during ``prepare`` (its CSeq is used up) and starts
    over with an unauthenticated one."""
    response = await session.exchange(dialog.next_register(), None, log)
    challenge = find_challenge(parse_challenges(response), mechanism.scheme)
    if response.status not in (401, 407) or challenge is None:
        raise _bad_challenge(mechanism, f"the server answered {response.status} "
                                        f"{response.reason} instead of a new challenge")
    return challenge


async def run_handshake(session: SipSession, dialog: RegisterDialog, mechanism: AuthMechanism,
                        challenge: AuthChallenge, log: StepLog) -> SipResponse:
    """REGISTER until the mechanism is complete or the server stops challenging.

    Returns:
        The server's last answer: a 401 after the last handshake message means refused.

    Raises:
        MechanismFailed: ``prepare`` failed, or a challenge cannot be answered.
        StepFailed: the SIP exchange failed (silence, closed, not SIP).
    """
    attempt = dialog.next_register()
    await mechanism.prepare(challenge, attempt.request)
    if mechanism.restarts_after_prepare:
        challenge = await _fresh_challenge(session, dialog, mechanism, log)
        attempt = dialog.next_register()
    token = mechanism.initial_token(challenge, attempt.request)
    response = await session.exchange(attempt, token, log)
    while response.status in (401, 407) and not mechanism.is_complete:
        following = find_challenge(parse_challenges(response), mechanism.scheme)
        if following is None or not following.gssapi_data:
            raise _bad_challenge(mechanism, f"no {mechanism.label} challenge data in the "
                                            f"server's {response.status}")
        attempt = dialog.next_register()
        response = await session.exchange(attempt, mechanism.next_token(following,
                                                                        attempt.request), log)
    return response
