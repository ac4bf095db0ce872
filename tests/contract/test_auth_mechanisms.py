"""One contract every authentication mechanism passes (Dangerzone's pattern for backends).

Each subclass names a mechanism and a real peer (the project's registrar, with a real KDC for
Kerberos); the tests drive the mechanism through the pipeline's one generic handshake driver
over a real TCP connection, exactly as a check does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import ClassVar, TypeVar

import pytest

from sipe_setup.core.account import AccountSettings, Secret, Transport, parse_account
from sipe_setup.core.auth.challenge import (
    AuthChallenge,
    ChallengeScheme,
    find_challenge,
    parse_challenges,
)
from sipe_setup.core.auth.errors import ServerSignatureError
from sipe_setup.core.auth.mechanism import AuthMechanism, MechanismFailed, Rejection
from sipe_setup.core.auth.mechanisms.tls_dsk import SigninCertificate
from sipe_setup.core.auth.registry import MechanismSetup, create_mechanism
from sipe_setup.core.checkup import CheckOptions
from sipe_setup.core.checkup.context import CheckContext
from sipe_setup.core.checkup.handshake import run_handshake
from sipe_setup.core.checkup.session import SipSession
from sipe_setup.core.checkup.steps.signout import deregister
from sipe_setup.core.net.http import BoundedHttpClient
from sipe_setup.core.net.http_auth import HttpCredentials
from sipe_setup.core.sip.message import SipResponse
from sipe_setup.core.transport import open_sip_connection
from sipe_setup.core.webservices.provisioning import ProvisioningError, provision_certificate
from tests.conftest import require_tool
from tests.servers.kdc import MitKdc
from tests.servers.registrar import Registrar, RegistrarConfig

PASSWORD = "Passw0rd!"
USERS = [("EXAMPLE", "alice", PASSWORD)]
T = TypeVar("T")


def _log(_line: str) -> None:
    pass


class MechanismContract:
    """What every mechanism must do; subclasses provide the peer and the account."""

    scheme: ClassVar[ChallengeScheme]
    login: ClassVar[str]

    @pytest.fixture
    def config(self) -> RegistrarConfig:
        return RegistrarConfig(users=USERS)

    def account(self) -> AccountSettings:
        return parse_account("alice@example.test", login=self.login, server="127.0.0.1:5060",
                             transport="tcp", auth=str(self.scheme).lower())

    async def mechanism_setup(self, registrar: Registrar, account: AccountSettings,
                              password: Secret, challenge: AuthChallenge,
                              instance: str) -> MechanismSetup:
        """What the mechanism is built with (TLS-DSK: a certificate fetched first)."""
        return MechanismSetup(account, password, "testhost", 10.0)

    def drive(self, config: RegistrarConfig, password: str,
              then: Callable[[SipSession, AuthMechanism, SipResponse], Awaitable[T]]
              ) -> tuple[T, Registrar]:
        """Connect, REGISTER, run the handshake, hand the outcome to ``then``."""

        async def go() -> tuple[T, Registrar]:
            registrar = Registrar(config)
            port = await registrar.start()
            conn = await open_sip_connection("127.0.0.1", port, Transport.TCP,
                                             connect_timeout=5, tls_timeout=5)
            try:
                account = self.account()
                ctx = CheckContext(account, Secret(password), CheckOptions(response_timeout=5),
                                   "testhost", None)
                session = SipSession(ctx, conn)
                dialog = session.new_dialog()
                first = await session.exchange(dialog.next_register(), None, _log)
                challenge = find_challenge(parse_challenges(first), self.scheme)
                assert challenge is not None
                setup = await self.mechanism_setup(registrar, account, Secret(password),
                                                   challenge, dialog.instance)
                mechanism = create_mechanism(self.scheme, setup)
                assert mechanism is not None and mechanism.scheme is self.scheme
                final = await run_handshake(session, dialog, mechanism, challenge, _log)
                outcome = await then(session, mechanism, final)
                if final.status == 200:
                    await deregister(session, dialog, mechanism, _log)
                return outcome, registrar
            finally:
                await conn.close()
                await registrar.stop()

        return asyncio.run(go())

    def test_signs_in_and_the_server_proves_it(self, config: RegistrarConfig) -> None:
        async def check(_s: SipSession, mechanism: AuthMechanism, final: SipResponse) -> bool:
            assert final.status == 200
            assert mechanism.is_complete
            return mechanism.verify(final)

        signed, registrar = self.drive(config, PASSWORD, check)
        assert signed is True
        # The de-REGISTER was signed by the mechanism and verified by the server.
        assert registrar.stats.client_signature_failures == 0
        assert registrar.stats.registers >= 3

    def test_a_forged_server_signature_is_refused(self, config: RegistrarConfig) -> None:
        async def check(_s: SipSession, mechanism: AuthMechanism, final: SipResponse) -> None:
            info = final.header("Authentication-Info") or ""
            rspauth = info.split('rspauth="', 1)[1].split('"', 1)[0]
            forged = "0" * len(rspauth) if rspauth != "0" * len(rspauth) else "1" * len(rspauth)
            tampered = dataclasses.replace(final, headers=tuple(
                (n, v.replace(rspauth, forged) if n.lower() == "authentication-info" else v)
                for n, v in final.headers))
            with pytest.raises(ServerSignatureError):
                mechanism.verify(tampered)

        self.drive(config, PASSWORD, check)

    def test_a_wrong_password_ends_in_typed_facts(self, config: RegistrarConfig) -> None:
        async def check(_s: SipSession, mechanism: AuthMechanism,
                        final: SipResponse) -> Rejection:
            assert final.status in (401, 407)
            return mechanism.rejection(final)

        try:
            rejection, _ = self.drive(config, "Wrong-password-1", check)
        except MechanismFailed as failed:  # e.g. the KDC refused before the server saw it
            rejection = failed.rejection
        assert isinstance(rejection, Rejection)
        assert rejection.scheme is self.scheme
        assert "Wrong-password-1" not in repr(rejection)

    def test_repr_never_shows_the_password(self, config: RegistrarConfig) -> None:
        async def check(_s: SipSession, mechanism: AuthMechanism, _f: SipResponse) -> str:
            return repr(mechanism) + repr(mechanism.authenticator)

        text, _ = self.drive(config, PASSWORD, check)
        assert PASSWORD not in text

    def test_availability_is_a_reason_or_none(self) -> None:
        mechanism_cls = type(create_mechanism(self.scheme, MechanismSetup(
            self.account(), Secret(PASSWORD), "testhost", 1.0)))
        reason = mechanism_cls.unavailable()
        assert reason is None or (isinstance(reason, str) and reason)


class TestNtlmMechanism(MechanismContract):
    scheme = ChallengeScheme.NTLM
    login = "EXAMPLE\\alice"


class TestKerberosMechanism(MechanismContract):
    scheme = ChallengeScheme.KERBEROS
    login = "alice@EXAMPLE.TEST"

    @pytest.fixture
    def config(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
               ) -> Iterator[RegistrarConfig]:
        require_tool("krb5kdc")
        with MitKdc.start(tmp_path / "kdc") as server:
            server.add_user("alice", PASSWORD)
            keytab = server.add_service("sip/server.example.test")
            for key, value in server.client_env(f"FILE:{tmp_path / 'ccache'}").items():
                monkeypatch.setenv(key, value)
            assert "KRB5_CONFIG" in os.environ
            yield RegistrarConfig(users=USERS, keytab=keytab)


class _TrustLoopback:
    async def approve_certificate(self, host: str, port: int, certificate: object) -> bool:
        return False

    async def approve_host(self, host: str, port: int, sip_domain: str) -> bool:
        return host == "127.0.0.1"


class TestTlsDskMechanism(MechanismContract):
    scheme = ChallengeScheme.TLS_DSK
    login = "EXAMPLE\\alice"

    @pytest.fixture
    def config(self) -> RegistrarConfig:
        return RegistrarConfig(users=USERS, scenario="tls-dsk")

    def account(self) -> AccountSettings:
        return parse_account("alice@example.test", login=self.login, server="127.0.0.1:5060",
                             transport="tcp", auth="tls-dsk")

    async def mechanism_setup(self, registrar: Registrar, account: AccountSettings,
                              password: Secret, challenge: AuthChallenge,
                              instance: str) -> MechanismSetup:
        """The sign-in certificate from the registrar's web services, as the check gets it;
        none when they refuse (the mechanism must then fail with typed facts)."""
        webservices = registrar.webservices
        assert webservices is not None and challenge.sts_uri
        client = BoundedHttpClient(user_agent="contract", ca_file=str(webservices.ca_cert_path))
        try:
            provisioned = await provision_certificate(
                sts_uri=challenge.sts_uri, signin=account.signin.address,
                credentials=HttpCredentials.for_account(account, password),
                user_agent="contract", instance_uuid=instance, client=client,
                trust=_TrustLoopback())
        except ProvisioningError:
            return MechanismSetup(account, password, "testhost", 10.0)
        certificate = SigninCertificate(provisioned.certificate_der, provisioned.private_key,
                                        provisioned.not_after)
        return MechanismSetup(account, password, "testhost", 10.0,
                              signin_certificate=certificate)
