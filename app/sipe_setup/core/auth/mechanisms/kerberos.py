"""Kerberos as an :class:`AuthMechanism`: the ticket is fetched in a thread in ``prepare``."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from sipe_setup.core.account import KerberosPrincipal, Secret
from sipe_setup.core.auth.challenge import AuthChallenge, ChallengeScheme
from sipe_setup.core.auth.kerberos import (
    KerberosError,
    KerberosFailure,
    KerberosSipAuthenticator,
    KerberosUnavailable,
    kerberos_available,
    kerberos_unavailable_reason,
)
from sipe_setup.core.auth.mechanism import (
    AuthMechanism,
    MechanismFailed,
    Rejection,
    RejectionKind,
)
from sipe_setup.core.sip.message import SipRequest

__all__ = ["KerberosMechanism"]


class KerberosMechanism(AuthMechanism):
    """SIPE's Kerberos: the AP-REQ goes in the first authenticated REGISTER."""

    scheme: ClassVar[ChallengeScheme] = ChallengeScheme.KERBEROS
    label: ClassVar[str] = "Kerberos"

    def __init__(self, principal: KerberosPrincipal, password: Secret | None, *, sso: bool,
                 timeout: float) -> None:
        self._authenticator = KerberosSipAuthenticator(principal, password, sso=sso)
        self._sso = sso
        self._timeout = timeout
        self._token: str | None = None

    @classmethod
    def unavailable(cls) -> str | None:
        if kerberos_available():
            return None
        return kerberos_unavailable_reason()

    @property
    def authenticator(self) -> KerberosSipAuthenticator:
        return self._authenticator

    @property
    def principal_text(self) -> str:
        return self._authenticator.principal_text

    def intro(self, challenge: AuthChallenge) -> str:
        return f"Kerberos: ticket for {challenge.target_name} as {self.principal_text}"

    def _failed(self, kind: RejectionKind, detail: str, exc: Exception) -> MechanismFailed:
        # A KDC that refused the password counted one failed sign-in (AD lockout policy).
        refused = isinstance(exc, KerberosError) and exc.failure is KerberosFailure.WRONG_PASSWORD
        return MechanismFailed(Rejection(self.scheme, kind, detail, cause=exc,
                                         password_refused=refused))

    async def prepare(self, challenge: AuthChallenge, request: SipRequest) -> None:
        missing = self.unavailable()
        if missing is not None:
            raise MechanismFailed(Rejection(self.scheme, RejectionKind.UNAVAILABLE, missing))
        try:
            self._token = await asyncio.wait_for(
                asyncio.to_thread(self._authenticator.start, challenge, request), self._timeout)
        except KerberosUnavailable as exc:
            raise self._failed(RejectionKind.UNAVAILABLE, str(exc), exc) from None
        except KerberosError as exc:  # the typed failure travels as the Rejection's cause
            kind = (RejectionKind.NO_CREDENTIALS if exc.failure is KerberosFailure.NO_TICKET
                    else RejectionKind.CONTEXT_FAILED)
            raise self._failed(kind, str(exc), exc) from None
        except TimeoutError as exc:
            raise self._failed(RejectionKind.TIMEOUT, "the KDC did not answer in time",
                               exc) from None

    def initial_token(self, challenge: AuthChallenge, request: SipRequest) -> str:
        assert self._token is not None, "prepare() computes the Kerberos token"
        return self._token
