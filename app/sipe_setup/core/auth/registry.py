"""Which :class:`AuthMechanism` answers which scheme, and how each is built.

Adding a scheme: a module under :mod:`.mechanisms` and one entry in :data:`_FACTORIES`.
Each mechanism's module is imported when a mechanism of it is built (TLS-DSK brings
``cryptography``; Kerberos, pyspnego): a check imports what its scheme needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sipe_setup.core.account import AccountSettings, Secret
from sipe_setup.core.auth.challenge import ChallengeScheme
from sipe_setup.core.auth.mechanism import AuthMechanism

if TYPE_CHECKING:
    from sipe_setup.core.auth.mechanisms.tls_dsk import SigninCertificate

__all__ = ["MechanismSetup", "create_mechanism", "supported_schemes"]


@dataclass(frozen=True, slots=True)
class MechanismSetup:
    """What a mechanism may need to be built.

    Attributes:
        account: the settings checked (Login forms, Single Sign-On, sign-in address).
        password: the password, or None with Single Sign-On.
        hostname: this machine's name (NTLM workstation).
        timeout: for I/O in ``prepare`` (a KDC, a web service).
        signin_certificate: TLS-DSK's certificate, fetched beforehand from the web services.
    """

    account: AccountSettings
    password: Secret | None
    hostname: str
    timeout: float
    signin_certificate: SigninCertificate | None = None


def _ntlm(setup: MechanismSetup) -> AuthMechanism:
    from sipe_setup.core.auth.mechanisms.ntlm import NtlmMechanism

    password = None if setup.account.sso else setup.password
    return NtlmMechanism(setup.account.login.ntlm, password, setup.hostname)


def _kerberos(setup: MechanismSetup) -> AuthMechanism:
    from sipe_setup.core.auth.mechanisms.kerberos import KerberosMechanism

    return KerberosMechanism(setup.account.login.kerberos, setup.password,
                             sso=setup.account.sso, timeout=setup.timeout)


def _tls_dsk(setup: MechanismSetup) -> AuthMechanism:
    from sipe_setup.core.auth.mechanisms.tls_dsk import TlsDskMechanism

    return TlsDskMechanism(setup.signin_certificate)


_FACTORIES: dict[ChallengeScheme, Callable[[MechanismSetup], AuthMechanism]] = {
    ChallengeScheme.TLS_DSK: _tls_dsk,
    ChallengeScheme.KERBEROS: _kerberos,
    ChallengeScheme.NTLM: _ntlm,
}


def supported_schemes() -> frozenset[ChallengeScheme]:
    """The schemes sipe-setup can try."""
    return frozenset(_FACTORIES)


def create_mechanism(scheme: ChallengeScheme, setup: MechanismSetup) -> AuthMechanism | None:
    """A new mechanism for ``scheme`` (None when sipe-setup has none for it)."""
    factory = _FACTORIES.get(scheme)
    return factory(setup) if factory else None
