"""NTLM as an :class:`AuthMechanism`: no I/O, two round trips (reference §3.4)."""

from __future__ import annotations

from typing import ClassVar

from sipe_setup.core.account import NtlmIdentity, Secret
from sipe_setup.core.auth.authenticator import NtlmSipAuthenticator
from sipe_setup.core.auth.challenge import AuthChallenge, ChallengeScheme
from sipe_setup.core.auth.errors import AuthError
from sipe_setup.core.auth.mechanism import (
    AuthMechanism,
    MechanismFailed,
    Rejection,
    RejectionKind,
)
from sipe_setup.core.auth.ntlm import AvId, NtlmProtocolError, parse_challenge
from sipe_setup.core.sip.message import SipRequest

__all__ = ["NtlmMechanism"]


class NtlmMechanism(AuthMechanism):
    """SIPE's connectionless NTLM; remembers the server's NetBIOS domain for Login advice."""

    scheme: ClassVar[ChallengeScheme] = ChallengeScheme.NTLM
    label: ClassVar[str] = "NTLM"
    refusal_means_wrong_password: ClassVar[bool] = True

    def __init__(self, identity: NtlmIdentity, password: Secret | None, hostname: str) -> None:
        self.identity = identity
        self._authenticator = (NtlmSipAuthenticator(identity, password, hostname)
                               if password else None)
        self.nb_domain = ""

    @property
    def authenticator(self) -> NtlmSipAuthenticator:
        assert self._authenticator is not None, "prepare() refuses NTLM without a password"
        return self._authenticator

    def intro(self, challenge: AuthChallenge) -> str:
        identity = self.identity
        shown = f"{identity.domain}\\{identity.user}" if identity.domain else identity.user
        return f"NTLM as {shown} (version {challenge.version or 'none'})"

    async def prepare(self, challenge: AuthChallenge, request: SipRequest) -> None:
        if self._authenticator is None:
            raise MechanismFailed(Rejection(
                self.scheme, RejectionKind.NO_CREDENTIALS,
                "Single Sign-On on Linux needs Kerberos; the server only accepted NTLM here"))

    def next_token(self, challenge: AuthChallenge, request: SipRequest) -> str:
        if challenge.gssapi_data:
            try:
                parsed = parse_challenge(challenge.gssapi_token())
                self.nb_domain = parsed.av_text(AvId.NB_DOMAIN_NAME) or ""
            except (NtlmProtocolError, AuthError, ValueError):
                pass  # the authenticator reports the unusable challenge
        return super().next_token(challenge, request)
