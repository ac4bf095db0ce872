"""The real pidgin-sipe signs in to our test registrar.

This is what makes the registrar worth testing against: SIPE 1.25.0 (Debian pidgin-sipe, run
headless through finch) completes the MS-SIPAE handshake, checks the registrar's signed answers
with its own code ("Invalid message signature received" would be fatal), and goes on to send
signed SUBSCRIBEs that the registrar verifies in turn.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.servers.finch import FinchRun, run_finch, write_accounts_xml
from tests.servers.kdc import MitKdc
from tests.servers.registrar import RegistrarConfig, RegistrarThread, tls_context
from tests.servers.testca import TestCA

PASSWORD = "Passw0rd!"
USERS = [("EXAMPLE", "alice", PASSWORD)]


def _sipe_settings(port: int, transport: str, auth: str) -> dict[str, tuple[str, str]]:
    return {
        "server": ("string", f"127.0.0.1:{port}"),
        "transport": ("string", transport),
        "authentication": ("string", auth),
        "sso": ("bool", "0"),
    }


def _assert_signed_in(run: FinchRun, registrar: RegistrarThread) -> None:
    stats = registrar.registrar.stats
    detail = f"\nregistrar: {stats}\nfinch log tail:\n{run.tail()}"
    assert run.handshake_completed, "SIPE did not complete the handshake" + detail
    assert not run.bad_signature, "SIPE rejected the registrar's signature" + detail
    assert run.errors == [], detail
    # SIPE dropped none of our answers as unsigned, and its own signatures verify.
    assert run.unsigned_ignored == 0, detail
    assert stats.client_signature_failures == 0, detail
    assert stats.requests_by_method.get("SUBSCRIBE", 0) >= 1, detail
    assert stats.client_signatures_verified >= 2, detail


@pytest.mark.parametrize("ntlm_version", [4, 3, None], ids=["v4", "v3", "no-version"])
def test_sipe_signs_in_over_tcp_with_ntlm(finch: None, tmp_path: Path,
                                          ntlm_version: int | None) -> None:
    config = RegistrarConfig(users=USERS, ntlm_version=ntlm_version)
    with RegistrarThread(config) as registrar:
        write_accounts_xml(tmp_path, name="alice@example.test,EXAMPLE\\alice", password=PASSWORD,
                           settings=_sipe_settings(registrar.port, "tcp", "ntlm"))
        run = run_finch(tmp_path)
        _assert_signed_in(run, registrar)
        assert registrar.registrar.stats.last_principal == "EXAMPLE\\alice"


def test_sipe_signs_in_over_tls_with_ntlm(finch: None, tmp_path: Path) -> None:
    ca = TestCA.create(tmp_path / "ca")
    leaf = ca.issue(["server.example.test"], ip_addresses=["127.0.0.1"])
    # libpurple trusts a certificate stored for the host it connects to (reference §2).
    peers = tmp_path / "purple" / "certificates" / "x509" / "tls_peers"
    peers.mkdir(parents=True)
    (peers / "127.0.0.1").write_bytes(leaf.cert_path.read_bytes())
    config = RegistrarConfig(users=USERS)
    with RegistrarThread(config, tls=tls_context(leaf.cert_path, leaf.key_path)) as registrar:
        write_accounts_xml(tmp_path / "purple", name="alice@example.test,EXAMPLE\\alice",
                           password=PASSWORD,
                           settings=_sipe_settings(registrar.port, "tls", "ntlm"))
        run = run_finch(tmp_path / "purple")
        _assert_signed_in(run, registrar)


def test_sipe_is_refused_with_a_wrong_password(finch: None, tmp_path: Path) -> None:
    with RegistrarThread(RegistrarConfig(users=USERS)) as registrar:
        write_accounts_xml(tmp_path, name="alice@example.test,EXAMPLE\\alice",
                           password="not-the-password",
                           settings=_sipe_settings(registrar.port, "tcp", "ntlm"))
        run = run_finch(tmp_path, until="Authentication failed")
        assert not run.handshake_completed
        assert "Authentication failed" in run.errors, run.tail()
        assert registrar.registrar.stats.last_reject == "wrong-password"


def test_sipe_signs_in_with_kerberos_against_a_real_kdc(finch: None, tmp_path: Path) -> None:
    require_tool("krb5kdc")
    with MitKdc.start(tmp_path / "kdc") as kdc:
        kdc.add_user("alice", PASSWORD)
        keytab = kdc.add_service("sip/server.example.test")
        config = RegistrarConfig(users=USERS, keytab=keytab, scenario="kerberos-only")
        with RegistrarThread(config) as registrar:
            write_accounts_xml(tmp_path / "purple", name="alice@example.test,alice@EXAMPLE.TEST",
                               password=PASSWORD,
                               settings=_sipe_settings(registrar.port, "tcp", "krb5"))
            env = kdc.client_env(ccache=f"FILE:{tmp_path / 'finch-ccache'}")
            run = run_finch(tmp_path / "purple", env=env)
            _assert_signed_in(run, registrar)
            assert registrar.registrar.stats.last_principal == "alice@EXAMPLE.TEST"
    assert not os.environ.get("KRB5_CONFIG", "").startswith(str(tmp_path))
