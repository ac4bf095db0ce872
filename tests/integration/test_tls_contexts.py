"""One check builds its SSL contexts once (the CA store is read once), however many TLS
connections it makes: here a certificate the user accepts (verified, then unverified, then the
accepted connection) against the test registrar on 127.0.0.1."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sipe_setup.core import transport
from sipe_setup.core.account import Secret, parse_account
from sipe_setup.core.checkup import CheckOptions, TrustQuestion, run_check
from sipe_setup.core.report import report_text
from sipe_setup.core.steps import CheckResult, Verdict
from tests.servers.registrar import Registrar, RegistrarConfig, tls_context
from tests.servers.testca import TestCA

PASSWORD = "Passw0rd!"
USERS = [("EXAMPLE", "alice", PASSWORD)]


@pytest.mark.parametrize(("trust_ca", "contexts"), [
    (True, [True]),  # name mismatch: 2 TLS connections (refused, then accepted)
    (False, [False, True]),  # unknown issuer: 4 (verified, shown, verified, accepted)
], ids=["name-mismatch", "unknown-ca"])
def test_an_accepted_certificate_builds_each_context_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trust_ca: bool,
        contexts: list[bool]) -> None:
    ca = TestCA.create(tmp_path / "ca")
    leaf = ca.issue(["other.example.test"])  # not the connect host: the user is asked
    built: list[bool] = []
    original = transport._tls_context

    def counting(*, verify: bool, ca_file: str | None) -> object:
        built.append(verify)
        return original(verify=verify, ca_file=ca_file)

    monkeypatch.setattr(transport, "_tls_context", counting)

    async def accept(question: TrustQuestion) -> bool:
        return True

    async def go() -> CheckResult:
        registrar = Registrar(RegistrarConfig(users=USERS))
        port = await registrar.start(tls=tls_context(*leaf))
        try:
            account = parse_account("alice@example.test", login="EXAMPLE\\alice",
                                    server=f"127.0.0.1:{port}", transport="tls")
            return await run_check(account, Secret(PASSWORD),
                                   CheckOptions(ca_file=str(ca.ca_path) if trust_ca else None,
                                                response_timeout=5, deadline=30),
                                   ask_trust=accept)
        finally:
            await registrar.stop()

    result = asyncio.run(go())
    assert result.verdict is Verdict.SIGNED_IN, report_text(result)
    assert result.accepted_certificate is not None
    assert sorted(built) == contexts


def test_the_contexts_are_built_on_first_use_and_kept() -> None:
    contexts = transport.TlsContexts()
    assert contexts.verifying() is contexts.verifying()
    assert contexts.unverified() is contexts.unverified()
    assert contexts.verifying() is not contexts.unverified()
