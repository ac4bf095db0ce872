"""TLS-DSK as an :class:`AuthMechanism` (reference tls-dsk.md §1.2, §1.5).

The sign-in certificate is fetched before this mechanism runs (the check's "Get a sign-in
certificate" step, over the Lync web services) and handed in; like SIPE, the REGISTER that met
the first challenge is held while that happens and a fresh unauthenticated one starts the
handshake (``restarts_after_prepare``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from cryptography.hazmat.primitives.asymmetric import rsa

from sipe_setup.core.auth.challenge import AuthChallenge, ChallengeScheme
from sipe_setup.core.auth.mechanism import (
    AuthMechanism,
    MechanismFailed,
    Rejection,
    RejectionKind,
)
from sipe_setup.core.auth.tls_dsk import TlsDskSipAuthenticator
from sipe_setup.core.sip.message import SipRequest

__all__ = ["SigninCertificate", "TlsDskMechanism"]


@dataclass(frozen=True, slots=True)
class SigninCertificate:
    """A TLS-DSK client certificate and its key (the key never shows in a repr)."""

    certificate_der: bytes = field(repr=False)
    private_key: rsa.RSAPrivateKey = field(repr=False)
    not_after: datetime


class TlsDskMechanism(AuthMechanism):
    """SIPE's TLS-DSK: TLS 1.0 inside REGISTER, HMAC signatures from the EAP key block."""

    scheme: ClassVar[ChallengeScheme] = ChallengeScheme.TLS_DSK
    label: ClassVar[str] = "TLS-DSK"
    restarts_after_prepare: ClassVar[bool] = True

    def __init__(self, certificate: SigninCertificate | None) -> None:
        self._certificate = certificate
        self._authenticator = (
            TlsDskSipAuthenticator(certificate.certificate_der, certificate.private_key)
            if certificate is not None else None)

    def __repr__(self) -> str:
        return f"TlsDskMechanism(complete={self._authenticator is not None and self.is_complete})"

    @property
    def authenticator(self) -> TlsDskSipAuthenticator:
        assert self._authenticator is not None, "prepare() refuses to run without a certificate"
        return self._authenticator

    async def prepare(self, challenge: AuthChallenge, request: SipRequest) -> None:
        if self._authenticator is None:
            raise MechanismFailed(Rejection(self.scheme, RejectionKind.PREPARATION_FAILED,
                                            "no sign-in certificate"))
