"""The interface every MS-SIPAE scheme implements, and SIPE's choice among them.

An :class:`AuthMechanism` answers a server's challenges for one sign-in:

1. ``unavailable()`` — why this machine cannot run it at all (None when it can).
2. ``await prepare(challenge, request)`` — the only place with I/O: a Kerberos ticket (in a
   thread), a TLS-DSK web ticket and certificate (HTTPS). Raises :class:`MechanismFailed`.
3. ``initial_token`` / ``next_token`` — sans-I/O: the Authorization value for each REGISTER of
   the handshake, until ``is_complete``.
4. ``sign`` / ``verify`` — the signed form of later messages and the server's ``rspauth``.
5. ``rejection(final)`` — typed facts about a refused handshake; never advice (the check's
   diagnosis turns facts into words).

The REGISTER loop that drives them is generic (``checkup.handshake``); adding a scheme means
one module here and one line in :mod:`.registry`.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from sipe_setup.core.account import AuthScheme
from sipe_setup.core.auth.authenticator import MessageSigningAuthenticator, SipAuthenticator
from sipe_setup.core.auth.challenge import AuthChallenge, ChallengeScheme, find_challenge
from sipe_setup.core.auth.errors import AuthError
from sipe_setup.core.sip.message import SipMessage, SipRequest, SipResponse

__all__ = [
    "AUTO_ORDER",
    "AuthMechanism",
    "MechanismFailed",
    "Rejection",
    "RejectionKind",
    "offered_in_order",
]

#: SIPE's preference with Authentication scheme Auto, whatever the header order.
AUTO_ORDER = (ChallengeScheme.TLS_DSK, ChallengeScheme.KERBEROS, ChallengeScheme.NTLM)
_EXPLICIT = {
    AuthScheme.NTLM: ChallengeScheme.NTLM,
    AuthScheme.KERBEROS: ChallengeScheme.KERBEROS,
    AuthScheme.TLS_DSK: ChallengeScheme.TLS_DSK,
}


class RejectionKind(enum.StrEnum):
    """Why a mechanism did not sign in."""

    UNAVAILABLE = "unavailable"  # this machine lacks what the scheme needs
    NO_CREDENTIALS = "no-credentials"  # Single Sign-On without a ticket
    CONTEXT_FAILED = "context-failed"  # no security context (KDC said no, unreachable…)
    TIMEOUT = "timeout"  # a KDC or web service did not answer in time
    PREPARATION_FAILED = "preparation-failed"  # TLS-DSK web ticket / certificate step
    BAD_CHALLENGE = "bad-challenge"  # the server's challenge is unusable
    REJECTED = "rejected"  # 401 after our last handshake message


@dataclass(frozen=True, slots=True)
class Rejection:
    """Facts about a failed handshake.

    Attributes:
        scheme: the scheme that failed.
        kind: why.
        detail: plain words (never secrets).
        handshake_completed: our side finished the handshake before the refusal.
        signed_by_server: the refusal carries a valid server signature — the server derived
            the session key, so it accepted the password (NTLM).
        cause: the typed error behind it, for the diagnosis (e.g. a provisioning error).
        password_refused: the password was checked and refused — one failed sign-in on the
            account (Active Directory counts these towards a lockout).
    """

    scheme: ChallengeScheme
    kind: RejectionKind
    detail: str = ""
    handshake_completed: bool = False
    signed_by_server: bool = False
    cause: Exception | None = None
    password_refused: bool = False


class MechanismFailed(Exception):
    """A mechanism gave up; :attr:`rejection` says why."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.detail or rejection.kind.value)
        self.rejection = rejection


class AuthMechanism(abc.ABC):
    """One scheme for one sign-in (see the module docstring for the protocol)."""

    scheme: ClassVar[ChallengeScheme]
    label: ClassVar[str]
    #: SIPE holds the REGISTER that met the challenge while ``prepare`` runs, then starts
    #: over with a fresh unauthenticated REGISTER (TLS-DSK, reference tls-dsk §1.2).
    restarts_after_prepare: ClassVar[bool] = False

    @classmethod
    def unavailable(cls) -> str | None:
        """Why this machine cannot run the scheme (None: it can)."""
        return None

    @property
    @abc.abstractmethod
    def authenticator(self) -> SipAuthenticator:
        """The sans-I/O state machine that answers and signs."""

    def intro(self, challenge: AuthChallenge) -> str:
        """One line for the live view: what is about to be tried, as whom."""
        return f"{self.label} (version {challenge.version or 'none'})"

    async def prepare(self, challenge: AuthChallenge, request: SipRequest) -> None:  # noqa: B027
        """I/O needed before the first token (default: none)."""

    def initial_token(self, challenge: AuthChallenge, request: SipRequest) -> str:
        """The Authorization for the first authenticated REGISTER."""
        return self._guarded(lambda: self.authenticator.start(challenge, request))

    def next_token(self, challenge: AuthChallenge, request: SipRequest) -> str:
        """The Authorization answering a further challenge of the handshake."""
        return self._guarded(lambda: self.authenticator.step(challenge, request))

    @property
    def is_complete(self) -> bool:
        return self.authenticator.is_complete

    @property
    def signing_expected(self) -> bool:
        """The server announced a version (3 or later) in which it signs its answers."""
        auth = self.authenticator
        return isinstance(auth, MessageSigningAuthenticator) and auth.version >= 3

    #: A 401 after the last handshake message means the password was refused (NTLM); for a
    #: ticket or a certificate it means the account was (Kerberos, TLS-DSK).
    refusal_means_wrong_password: ClassVar[bool] = False

    def sign(self, request: SipRequest) -> str:
        """The signed-form Authorization for a message after the handshake."""
        return self.authenticator.sign_request(request)

    def verify(self, message: SipMessage) -> bool:
        """True: valid ``rspauth``; False: none. Raises ServerSignatureError when wrong."""
        return self.authenticator.verify_response(message)

    def rejection(self, final: SipResponse) -> Rejection:
        """Facts about a 401 that ended the handshake."""
        signed = False
        if self.is_complete:
            try:
                signed = self.verify(final)
            except AuthError:
                signed = False
        return Rejection(self.scheme, RejectionKind.REJECTED,
                         f"{final.status} {final.reason}", handshake_completed=self.is_complete,
                         signed_by_server=signed,
                         password_refused=self.refusal_means_wrong_password and not signed)

    def _guarded(self, produce: Callable[[], str]) -> str:
        try:
            return produce()
        except AuthError as exc:
            raise MechanismFailed(Rejection(self.scheme, RejectionKind.BAD_CHALLENGE,
                                            str(exc), cause=exc)) from None


def offered_in_order(challenges: Sequence[AuthChallenge], wanted: AuthScheme) -> list[
        AuthChallenge]:
    """The offered challenges in the order SIPE would use them (Auto: TLS-DSK → Kerberos →
    NTLM; an explicit scheme: only its own)."""
    order = list(AUTO_ORDER) if wanted is AuthScheme.AUTO else [_EXPLICIT[wanted]]
    found = (find_challenge(challenges, scheme) for scheme in order)
    return [c for c in found if c is not None]
