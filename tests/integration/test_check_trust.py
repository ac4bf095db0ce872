"""What the check trusts: redirects and the credentials (what may be followed without asking,
what is the user's decision, what an unreachable home pool is called), and a 200 OK that
carries no proof that the server checked the password."""

from __future__ import annotations

import asyncio
import socket

import pytest

from sipe_setup.core.account import Secret, parse_account
from sipe_setup.core.checkup import CheckOptions, TrustKind, TrustQuestion, run_check
from sipe_setup.core.report import report_text
from sipe_setup.core.steps import CheckResult, Verdict
from tests.servers.registrar import Registrar, RegistrarConfig, tls_context
from tests.servers.testca import TestCA

PASSWORD = "Passw0rd!"
USERS = [("EXAMPLE", "alice", PASSWORD)]
FAST = CheckOptions(response_timeout=2.0, connect_timeout=2.0, deadline=30.0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redirected(scenario: str, *, target: str | None = None, answer: bool | None = None,
               director_tls: tuple[object, object] | None = None, options: CheckOptions = FAST,
               ) -> tuple[CheckResult, Registrar, list[TrustQuestion]]:
    """A director with ``scenario`` in front of a working home pool (or ``target``)."""
    questions: list[TrustQuestion] = []

    async def ask(question: TrustQuestion) -> bool:
        questions.append(question)
        assert answer is not None, f"unexpected question: {question.message}"
        return answer

    async def go() -> tuple[CheckResult, Registrar]:
        home = Registrar(RegistrarConfig(users=USERS))
        home_port = await home.start()
        redirect_to = target or f"127.0.0.1:{home_port};transport=tcp"
        director = Registrar(RegistrarConfig(users=USERS, scenario=scenario,
                                             redirect_to=redirect_to))
        tls = tls_context(*director_tls) if director_tls else None  # type: ignore[arg-type]
        director_port = await director.start(tls=tls)
        try:
            account = parse_account("alice@example.test", login="EXAMPLE\\alice",
                                    server=f"127.0.0.1:{director_port}",
                                    transport="tls" if director_tls else "tcp")
            result = await run_check(account, Secret(PASSWORD), options,
                                     ask_trust=ask if answer is not None else None)
        finally:
            await director.stop()
            await home.stop()
        return result, home

    result, home = asyncio.run(go())
    return result, home, questions


def test_a_signed_redirect_after_the_handshake_is_followed_to_an_ip() -> None:
    result, home, questions = redirected("redirect")
    assert result.verdict is Verdict.SIGNED_IN, report_text(result)
    assert questions == []
    assert home.stats.authenticated == 1
    assert result.selected is not None and result.selected.connected_address == "127.0.0.1"


@pytest.mark.parametrize("scenario", ["redirect-early", "redirect-unsigned"])
def test_an_early_or_unsigned_redirect_to_an_ip_is_asked_before_any_credential(
        scenario: str) -> None:
    refused, home, questions = redirected(scenario, answer=False)
    assert refused.code == "SS-SIP-301HOST", report_text(refused)
    assert [q.kind for q in questions] == [TrustKind.OUTSIDE_DOMAIN]
    assert home.stats.registers == 0  # nothing, credentials least of all, went there
    allowed, home, _ = redirected(scenario, answer=True)
    assert allowed.verdict is Verdict.SIGNED_IN, report_text(allowed)
    assert home.stats.authenticated == 1


def test_without_anyone_to_ask_an_early_redirect_is_refused() -> None:
    result, home, _ = redirected("redirect-early")
    assert result.code == "SS-SIP-301HOST"
    assert home.stats.registers == 0


def test_a_redirect_from_tls_to_tcp_is_always_asked(tmp_path: object) -> None:
    from pathlib import Path

    ca = TestCA.create(Path(str(tmp_path)) / "ca")
    leaf = ca.issue(["server.example.test"], ip_addresses=["127.0.0.1"])
    options = CheckOptions(ca_file=str(ca.ca_path), response_timeout=2, deadline=30)
    result, home, questions = redirected("redirect", answer=False, director_tls=leaf,
                                         options=options)
    assert result.code == "SS-SIP-301TCP", report_text(result)
    assert [q.kind for q in questions] == [TrustKind.DOWNGRADE]
    assert home.stats.registers == 0


def test_an_unreachable_home_pool_is_named_in_the_verdict() -> None:
    result, _, _ = redirected("redirect", target=f"127.0.0.1:{_free_port()};transport=tcp")
    assert result.code == "SS-NET-HOMEPOOL", report_text(result)
    assert "home pool" in result.summary
    assert result.advice is not None and "VPN" in result.advice.fix


@pytest.mark.parametrize("contact", [
    "pool..example.test", "a" * 64 + ".example.test", ("x" * 60 + ".") * 5 + "test",
    "a\x01b.example.test", "-bad-.example.test", "",
])
def test_a_redirect_to_a_name_that_is_no_name_is_reported_not_raised(contact: str) -> None:
    result, home, _ = redirected("redirect", target=f"{contact}:5061")
    assert result.verdict is Verdict.FAILED, report_text(result)
    assert result.code == "SS-SIP-301", report_text(result)
    assert home.stats.registers == 0


def test_an_unsigned_200_from_a_server_that_promised_signatures_is_said_in_the_verdict() -> None:
    async def go() -> CheckResult:
        registrar = Registrar(RegistrarConfig(users=USERS, scenario="unsigned-ok"))
        port = await registrar.start()
        try:
            account = parse_account("alice@example.test", login="EXAMPLE\\alice",
                                    server=f"127.0.0.1:{port}", transport="tcp")
            return await run_check(account, Secret(PASSWORD), FAST)
        finally:
            await registrar.stop()

    result = asyncio.run(go())
    assert result.verdict is Verdict.SIGNED_IN and result.code == "SS-OK"  # as SIPE accepts it
    assert result.advice is not None and result.advice.code == "SS-AUTH-UNSIGNED"
    assert "did not prove" in result.summary


# --- one failed sign-in per check (account lockout) ------------------------------------------


def _sign_in(config: RegistrarConfig, *, login: str, password: str,
             options: CheckOptions = FAST) -> tuple[CheckResult, Registrar]:
    async def go() -> tuple[CheckResult, Registrar]:
        registrar = Registrar(config)
        port = await registrar.start()
        try:
            account = parse_account("alice@example.test", login=login,
                                    server=f"127.0.0.1:{port}", transport="tcp")
            return await run_check(account, Secret(password), options), registrar
        finally:
            await registrar.stop()

    return asyncio.run(go())


def test_a_wrong_password_costs_one_failed_sign_in_and_no_login_forms_by_default() -> None:
    config = RegistrarConfig(users=USERS, scenario="wrong-login-form")
    result, registrar = _sign_in(config, login="alice@example.test", password=PASSWORD)
    assert result.code == "SS-AUTH-401", report_text(result)
    assert result.failed_attempts == 1
    assert registrar.stats.register_auth_schemes.count("NTLM") == 2  # one handshake only
    assert "Failed sign-ins this check caused: 1" in report_text(result)


def test_kerberos_refused_password_is_not_tried_again_with_ntlm(
        tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from tests.conftest import require_tool
    from tests.servers.kdc import MitKdc

    require_tool("krb5kdc")
    with MitKdc.start(Path(str(tmp_path)) / "kdc") as kdc:
        kdc.add_user("alice", PASSWORD)
        keytab = kdc.add_service("sip/server.example.test")
        for key, value in kdc.client_env(f"FILE:{tmp_path}/ccache").items():
            monkeypatch.setenv(key, value)
        config = RegistrarConfig(users=USERS, keytab=keytab)
        result, registrar = _sign_in(config, login="alice@EXAMPLE.TEST",
                                     password="Wrong-password-1")
    assert result.code == "SS-KRB-PASSWORD", report_text(result)
    assert result.failed_attempts == 1
    assert "NTLM" not in registrar.stats.register_auth_schemes  # SIPE would, we don't
    assert "could lock the account" in report_text(result)


# --- a SIP proxy in front (407) ----------------------------------------------------------------


def test_a_proxy_asking_for_ntlm_is_answered_on_the_same_request_as_sipe_does() -> None:
    config = RegistrarConfig(users=USERS, scenario="proxy-407-ntlm")
    result, registrar = _sign_in(config, login="EXAMPLE\\alice", password=PASSWORD)
    assert result.verdict is Verdict.SIGNED_IN, report_text(result)
    assert registrar.stats.proxy_authenticated == 1
    text = report_text(result)
    assert "NTLM Proxy-Authorization" in text
    # SIPE resends the request that met the 407: CSeq 1 goes out three times.
    assert text.count("→ REGISTER CSeq 1") == 3, text


def test_a_proxy_refusing_the_password_is_one_failed_sign_in() -> None:
    config = RegistrarConfig(users=USERS, scenario="proxy-407-ntlm")
    result, registrar = _sign_in(config, login="EXAMPLE\\alice", password="Wrong-password-1")
    assert result.code == "SS-AUTH-401", report_text(result)
    assert "SIP proxy" in result.advice.explanation  # type: ignore[union-attr]
    assert result.failed_attempts == 1
    assert registrar.stats.proxy_authenticated == 0


# --- what the check relied on reaches Pidgin ----------------------------------------------------


def test_a_private_nameserver_and_an_extra_ca_reach_the_export(tmp_path: object) -> None:
    """Found through a DNS server Pidgin does not ask, trusted through a CA file Pidgin does
    not know: the export pins the server and hands the certificate to tls_peers."""
    from pathlib import Path

    from sipe_setup.core.discovery import DiscoveryOptions, Nameserver, ResolverSettings
    from sipe_setup.core.profiles import Validation
    from tests.conftest import require_tool
    from tests.servers.dnsmasq import Dnsmasq, DnsZone

    binary = require_tool("dnsmasq")
    ca = TestCA.create(Path(str(tmp_path)) / "ca")
    leaf = ca.issue(["sip.example.test"])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    zone = (DnsZone("example.test").srv("_sipinternaltls._tcp", "sip.example.test", port)
            .host("sip.example.test", "127.0.0.1"))
    with Dnsmasq(zone, binary=binary) as dns:
        async def go() -> CheckResult:
            registrar = Registrar(RegistrarConfig(users=USERS))
            await registrar.start(port=port, tls=tls_context(*leaf))
            try:
                account = parse_account("alice@example.test", login="EXAMPLE\\alice")
                options = CheckOptions(
                    discovery=DiscoveryOptions(resolver=ResolverSettings(
                        (Nameserver("127.0.0.1", dns.port),), timeout=1.0, attempts=1),
                        deadline=5.0, autodiscover=False),
                    ca_file=str(ca.ca_path), response_timeout=2, deadline=30)
                return await run_check(account, Secret(PASSWORD), options)
            finally:
                await registrar.stop()

        result = asyncio.run(go())
    assert result.verdict is Verdict.SIGNED_IN, report_text(result)
    assert result.server.private_resolver
    validation = Validation.from_check(parse_account("alice@example.test"), result)
    assert validation.pin_server and validation.entry_host == "sip.example.test"
    assert validation.certificate is not None
    assert validation.certificate.host == "sip.example.test"
    assert "BEGIN CERTIFICATE" in (validation.certificate.pem or "")
