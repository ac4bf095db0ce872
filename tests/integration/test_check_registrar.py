"""The trial sign-in against the Lync-like registrar: every supported combination signs in,
every failure scenario ends on its own phone code and advice."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipe_setup.core.account import Field, Secret, parse_account
from sipe_setup.core.checkup import CheckOptions, TrustKind, TrustQuestion, run_check
from sipe_setup.core.discovery import DiscoveryOptions, Nameserver, ResolverSettings
from sipe_setup.core.report import Redaction, report_html, report_json, report_text
from sipe_setup.core.steps import CheckResult, StepEvent, StepId, StepStatus, Verdict
from tests.conftest import require_tool
from tests.servers.dnsmasq import Dnsmasq, DnsZone
from tests.servers.kdc import MitKdc
from tests.servers.registrar import Registrar, RegistrarConfig, tls_context
from tests.servers.testca import TestCA, self_signed

PASSWORD = "Passw0rd!"
USERS = [("EXAMPLE", "alice", PASSWORD)]
FAST = CheckOptions(response_timeout=2.0, connect_timeout=2.0, deadline=30.0)


def check(scenario: str = "success", *, login: str = "EXAMPLE\\alice", password: str = PASSWORD,
          transport: str = "tcp", auth: str = "auto", user_agent: str = "",
          ntlm_version: int | None = 4, options: CheckOptions = FAST,
          config: RegistrarConfig | None = None, tls_files: tuple[Path, Path] | None = None,
          events: list[StepEvent] | None = None, ask_trust: object = None,
          server_host: str = "127.0.0.1", sso: bool = False) -> tuple[CheckResult, Registrar]:
    """Start a registrar, run one check against it, stop it."""
    cfg = config or RegistrarConfig(users=USERS, scenario=scenario, ntlm_version=ntlm_version)

    async def go() -> tuple[CheckResult, Registrar]:
        registrar = Registrar(cfg)
        tls = tls_context(*tls_files) if tls_files else None
        port = await registrar.start(tls=tls)
        try:
            account = parse_account("alice@example.test", login=login,
                                    server=f"{server_host}:{port}", transport=transport,
                                    auth=auth, user_agent=user_agent, sso=sso)
            result = await run_check(account, None if sso else Secret(password), options,
                                     on_event=events.append if events is not None else None,
                                     ask_trust=ask_trust)  # type: ignore[arg-type]
        finally:
            await registrar.stop()
        return result, registrar

    return asyncio.run(go())


@pytest.mark.parametrize("ntlm_version", [4, 3, None], ids=["v4", "v3", "no-version"])
def test_ntlm_sign_in_over_tcp(ntlm_version: int | None) -> None:
    events: list[StepEvent] = []
    result, registrar = check(ntlm_version=ntlm_version, events=events)
    assert result.verdict is Verdict.SIGNED_IN, report_text(result)
    assert result.code == "SS-OK"
    # SIPE's 3 REGISTERs for NTLM, plus our sign-out.
    assert result.round_trips == 4
    assert registrar.stats.registers == 4
    assert registrar.stats.client_signature_failures == 0
    signed = next(s for s in result.steps if s.step is StepId.SIGNED_OK)
    assert signed.status is StepStatus.PASS
    assert "Signed in as alice@example.test via 127.0.0.1" in result.summary
    # Live events arrive in order: each step starts before it finishes.
    kinds = [(e.step, e.kind) for e in events]
    assert kinds[0] == (StepId.VALIDATE, "started")
    assert (StepId.DEREGISTER, "finished") in kinds


SCENARIO_CODES = [
    ("forbidden-17002", "SS-SIP-17002", Field.USER_AGENT),
    ("forbidden", "SS-SIP-403", None),
    ("not-found-4005", "SS-SIP-404", Field.SIGNIN),
    ("not-in-pool-4006", "SS-SIP-4006", Field.SERVER),
    ("unavailable-480", "SS-SIP-480", None),
    ("error-500", "SS-SIP-5XX", None),
    ("unavailable-503", "SS-SIP-503", None),
    ("silent", "SS-SIP-SILENT", Field.SERVER),
    ("garbage", "SS-SIP-GARBAGE", Field.SERVER),
    ("close", "SS-SIP-CLOSED", Field.TRANSPORT),
    ("voip-digest", "SS-SIP-NOTLYNC", Field.SERVER),
    ("bad-signature", "SS-AUTH-SIG", None),
    ("auth-loop", "SS-AUTH-LOOP", Field.PASSWORD),
    ("tls-dsk-only", "SS-DSK-NET", Field.AUTH),
    ("clock-skew", "SS-AUTH-CLOCK", None),
    ("remote-access-4003", "SS-SIP-4003", None),
    ("timeout-504", "SS-SIP-504", None),
    ("dns-srv-1008", "SS-SIP-1008", None),
    ("proxy-digest-407", "SS-SIP-PROXY", Field.SERVER),
]


@pytest.mark.parametrize(("scenario", "code", "field"), SCENARIO_CODES,
                         ids=[s[0] for s in SCENARIO_CODES])
def test_failure_scenarios_get_their_own_code(scenario: str, code: str,
                                              field: Field | None) -> None:
    result, _ = check(scenario)
    assert result.verdict is Verdict.FAILED, report_text(result)
    assert result.code == code, report_text(result)
    assert result.advice is not None and result.advice.field is field
    failed = [s for s in result.steps if s.status is StepStatus.FAIL]
    assert len(failed) == 1 and failed[0].advice == result.advice


def test_codes_are_distinct_per_scenario() -> None:
    codes = [code for _, code, _ in SCENARIO_CODES]
    assert len(codes) == len(set(codes))


def test_client_version_filter_passes_with_a_microsoft_user_agent() -> None:
    result, _ = check("forbidden-17002", user_agent="UCCAPI/16.0.4849.1000 OC/16.0.4849.1000 "
                                                    "(Skype for Business)")
    assert result.verdict is Verdict.SIGNED_IN, report_text(result)
    blocked, _ = check("forbidden-17002")
    assert "UCCAPI/16.0.4849.1000" in blocked.advice.fix  # type: ignore[union-attr]


# What the server said, verbatim, for the scenarios that send a reason ([MS-SIPREGE] §3.4.2.5,
# [MS-OCER] §8.5).
SERVER_WORDS = {
    "client-version-310": "You are currently not using the recommended version of the client",
    "client-version-312": "https://server.example.test/AutoUpdate/Int/Handler/"
                          "update.aspx?folder=OCv3.1",
    "client-version-314": "Check Microsoft Update for the newest version.",
    "forbidden-17002": "Invalid protocol client version",
}


@pytest.mark.parametrize("scenario", list(SERVER_WORDS))
def test_client_version_filter_as_real_servers_send_it(scenario: str) -> None:
    result, _ = check(scenario)
    assert result.code == "SS-SIP-17002", report_text(result)
    adv = result.advice
    assert adv is not None and adv.field is Field.USER_AGENT
    assert adv.server_reason == SERVER_WORDS[scenario]
    assert SERVER_WORDS[scenario] in adv.explanation
    assert "UCCAPI/16.0.4849.1000" in adv.fix
    allowed, _ = check(scenario, user_agent="UCCAPI/16.0.4849.1000 OC/16.0.4849.1000 "
                                            "(Skype for Business)")
    assert allowed.verdict is Verdict.SIGNED_IN, report_text(allowed)


def test_remote_access_refusal_shows_the_servers_words() -> None:
    result, _ = check("remote-access-4003")
    assert result.advice is not None
    assert result.advice.server_reason == "From URI not enabled for remote access"
    assert "VPN" in result.advice.fix


def test_a_forbidden_without_reason_says_so() -> None:
    result, _ = check("forbidden")
    assert result.advice is not None and result.advice.server_reason == ""
    assert "no reason given" in result.advice.explanation


def test_a_voip_server_refusing_register_is_not_lync() -> None:
    result, _ = check("voip-405")
    assert result.code == "SS-SIP-NOTLYNC", report_text(result)
    assert result.advice is not None
    assert "405 Method Not Allowed" in result.advice.explanation
    assert "Asterisk" in result.advice.explanation


def test_a_digest_proxy_is_named_and_gets_no_password() -> None:
    result, registrar = check("proxy-digest-407")
    assert result.code == "SS-SIP-PROXY", report_text(result)
    assert registrar.stats.register_auth_schemes == []  # no Digest answer, no password sent
    assert "Kamailio" in result.advice.explanation  # type: ignore[union-attr]


def test_an_upgrade_advice_on_200_is_a_warning_on_a_sign_in() -> None:
    result, _ = check("ok-with-313")
    assert result.verdict is Verdict.SIGNED_IN, report_text(result)
    assert result.advice is not None and result.advice.code == "SS-SIP-UPGRADE"
    assert result.advice.field is Field.USER_AGENT
    assert result.advice.server_reason == "http://server.example.test/ClientDownload"
    signed = next(s for s in result.steps if s.step is StepId.SIGNED_OK)
    assert signed.status is StepStatus.WARN and signed.advice == result.advice


def test_wrong_password() -> None:
    result, registrar = check(password="Wrong-password-1")
    assert result.code == "SS-AUTH-401"
    assert registrar.stats.last_reject == "wrong-password"
    assert result.advice is not None and result.advice.field is Field.PASSWORD


def test_wrong_login_form_names_the_form_that_works() -> None:
    consent = CheckOptions(response_timeout=2.0, connect_timeout=2.0, deadline=30.0,
                           try_other_logins=True)
    result, _ = check("wrong-login-form", login="alice@example.test", options=consent)
    assert result.code == "SS-AUTH-LOGIN", report_text(result)
    assert result.advice is not None
    assert "EXAMPLE\\alice" in result.advice.fix
    assert result.advice.field is Field.LOGIN


def test_explicit_scheme_not_offered() -> None:
    result, _ = check(auth="kerberos")
    assert result.code == "SS-AUTH-SCHEME"
    assert "NTLM" in result.advice.explanation  # type: ignore[union-attr]


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    account = parse_account("alice@example.test", login="EXAMPLE\\alice",
                            server=f"127.0.0.1:{port}", transport="tls")
    result = asyncio.run(run_check(account, Secret(PASSWORD), FAST))
    assert result.code == "SS-NET-REFUSED"
    assert "5061" in result.advice.fix  # type: ignore[union-attr]


def test_redirect_to_the_home_pool() -> None:
    async def go() -> CheckResult:
        home = Registrar(RegistrarConfig(users=USERS))
        home_port = await home.start()
        director = Registrar(RegistrarConfig(users=USERS, scenario="redirect",
                                             redirect_to=f"127.0.0.1:{home_port};transport=tcp"))
        director_port = await director.start()
        try:
            account = parse_account("alice@example.test", login="EXAMPLE\\alice",
                                    server=f"127.0.0.1:{director_port}", transport="tcp")
            result = await run_check(account, Secret(PASSWORD), FAST)
        finally:
            await director.stop()
            await home.stop()
        assert home.stats.authenticated == 1 and director.stats.authenticated == 1
        return result

    result = asyncio.run(go())
    assert result.verdict is Verdict.SIGNED_IN, report_text(result)
    assert "Redirected to 127.0.0.1" in report_text(result)


# --- TLS --------------------------------------------------------------------------------------


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA.create(tmp_path / "ca")


def test_tls_with_the_company_ca(ca: TestCA) -> None:
    leaf = ca.issue(["server.example.test"], ip_addresses=["127.0.0.1"])
    options = CheckOptions(ca_file=str(ca.ca_path), response_timeout=2, deadline=30)
    result, _ = check(transport="tls", tls_files=leaf, options=options)
    assert result.verdict is Verdict.SIGNED_IN, report_text(result)
    assert result.server.certificate is not None
    assert result.server.certificate.chain_trusted is True
    assert "(TLS, NTLM)" in result.summary


def test_untrusted_certificate_fails_with_its_fingerprint(ca: TestCA) -> None:
    leaf = ca.issue(["server.example.test"], ip_addresses=["127.0.0.1"])
    result, registrar = check(transport="tls", tls_files=leaf)
    assert result.code == "SS-TLS-CA"
    assert result.server.certificate is not None
    fingerprint = result.server.certificate.sha256_fingerprint
    assert fingerprint in result.advice.explanation  # type: ignore[union-attr]
    assert registrar.stats.registers == 0  # nothing was sent to an untrusted server


def test_trust_prompt_accepts_the_certificate(tmp_path: Path) -> None:
    leaf = self_signed(tmp_path / "self", ["server.example.test"], ip_addresses=["127.0.0.1"])
    questions: list[TrustQuestion] = []

    async def accept(question: TrustQuestion) -> bool:
        questions.append(question)
        return True

    result, _ = check(transport="tls", tls_files=leaf, ask_trust=accept)
    assert result.verdict is Verdict.SIGNED_IN, report_text(result)
    assert [q.kind for q in questions] == [TrustKind.CERTIFICATE]
    assert questions[0].certificate is not None and questions[0].certificate.self_signed
    tls = next(s for s in result.steps if s.step is StepId.TLS)
    assert tls.status is StepStatus.WARN


def test_trust_prompt_refused(tmp_path: Path) -> None:
    leaf = self_signed(tmp_path / "self", ["server.example.test"], ip_addresses=["127.0.0.1"])

    async def refuse(question: TrustQuestion) -> bool:
        return False

    result, registrar = check(transport="tls", tls_files=leaf, ask_trust=refuse)
    assert result.code == "SS-TLS-CA"
    assert registrar.stats.registers == 0


def test_certificate_for_another_name(ca: TestCA) -> None:
    leaf = ca.issue(["pool.example.test"])
    options = CheckOptions(ca_file=str(ca.ca_path), response_timeout=2, deadline=30)
    result, _ = check(transport="tls", tls_files=leaf, options=options)
    assert result.code == "SS-TLS-NAME"
    assert "pool.example.test" in result.advice.fix  # type: ignore[union-attr]


def test_expired_certificate(ca: TestCA) -> None:
    now = dt.datetime.now(dt.UTC)
    leaf = ca.issue(["server.example.test"], ip_addresses=["127.0.0.1"],
                    not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1))
    options = CheckOptions(ca_file=str(ca.ca_path), response_timeout=2, deadline=30)
    result, _ = check(transport="tls", tls_files=leaf, options=options)
    assert result.code == "SS-TLS-DATE"


# --- discovery-driven ---------------------------------------------------------------------------


def test_check_follows_dns_srv_and_moves_on_after_a_refused_server(tmp_path: Path) -> None:
    binary = require_tool("dnsmasq")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]

    # dnsmasq needs the registrar's port in its SRV record before the registrar listens, so
    # pick a free port first and start the registrar on it.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        live_port = sock.getsockname()[1]
    zone = (DnsZone("example.test")
            .srv("_sipinternal._tcp", "dead.example.test", dead_port)
            .srv("_sip._tcp", "server.example.test", live_port)
            .host("dead.example.test", "127.0.0.1")
            .host("server.example.test", "127.0.0.1"))
    with Dnsmasq(zone, binary=binary) as dns:
        async def start_on(port: int) -> CheckResult:
            registrar = Registrar(RegistrarConfig(users=USERS))
            await registrar.start(port=port)
            try:
                account = parse_account("alice@example.test", login="EXAMPLE\\alice",
                                        transport="tcp")
                options = CheckOptions(
                    discovery=DiscoveryOptions(resolver=ResolverSettings(
                        (Nameserver("127.0.0.1", dns.port),), timeout=1.0, attempts=1),
                        deadline=5.0, autodiscover=False),
                    response_timeout=2, deadline=30)
                return await run_check(account, Secret(PASSWORD), options)
            finally:
                await registrar.stop()

        result = asyncio.run(start_on(live_port))
    text = report_text(result)
    assert result.verdict is Verdict.SIGNED_IN, text
    assert "SIPE would now try the next server: server.example.test" in text
    assert f"via server.example.test:{live_port}" in result.summary


# --- Kerberos -----------------------------------------------------------------------------------


@pytest.fixture
def kdc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[MitKdc, Path]]:
    require_tool("krb5kdc")
    with MitKdc.start(tmp_path / "kdc") as server:
        server.add_user("alice", PASSWORD)
        keytab = server.add_service("sip/server.example.test")
        for key, value in server.client_env(f"FILE:{tmp_path / 'ccache'}").items():
            monkeypatch.setenv(key, value)
        yield server, keytab


def test_kerberos_sign_in_with_a_password(kdc: tuple[MitKdc, Path]) -> None:
    _server, keytab = kdc
    config = RegistrarConfig(users=USERS, keytab=keytab)
    result, registrar = check(login="alice@EXAMPLE.TEST", auth="kerberos", config=config)
    assert result.verdict is Verdict.SIGNED_IN, report_text(result)
    assert "Kerberos" in result.summary
    assert result.round_trips == 3  # SIPE's 2 REGISTERs for Kerberos + sign-out
    assert registrar.stats.last_principal == "alice@EXAMPLE.TEST"
    assert registrar.stats.client_signature_failures == 0


def test_kerberos_single_sign_on_uses_the_ticket_cache(kdc: tuple[MitKdc, Path]) -> None:
    server, keytab = kdc
    subprocess.run(["kinit", "alice@EXAMPLE.TEST"], input=f"{PASSWORD}\n".encode(),
                   env=dict(os.environ), check=True, capture_output=True, timeout=30)
    config = RegistrarConfig(users=USERS, keytab=keytab)
    result, _ = check(auth="kerberos", sso=True, login="", config=config)
    assert result.verdict is Verdict.SIGNED_IN, report_text(result)
    del server


def test_kerberos_wrong_password(kdc: tuple[MitKdc, Path]) -> None:
    _server, keytab = kdc
    config = RegistrarConfig(users=USERS, keytab=keytab)
    result, _ = check(login="alice@EXAMPLE.TEST", auth="kerberos", password="Wrong-1",
                      config=config)
    # Each KDC error has its own advice now (SS-KRB-FAIL is left for unknown ones).
    assert result.code == "SS-KRB-PASSWORD", report_text(result)
    assert "rejected the password" in result.advice.explanation  # type: ignore[union-attr]
    assert "Wrong-1" not in report_json(result)


# (kadmin query on the KDC, Login, code, form field): each KDC error of RFC 4120 §7.5.9 a
# sign-in meets, produced by a real MIT KDC, ends on its own advice.
KDC_REFUSALS = [
    ("", "nobody@EXAMPLE.TEST", "SS-KRB-PRINCIPAL", Field.LOGIN),  # C_PRINCIPAL_UNKNOWN (6)
    ("modprinc -pwexpire yesterday alice", "alice@EXAMPLE.TEST", "SS-KRB-EXPIRED",
     Field.PASSWORD),  # KEY_EXPIRED (23)
    ("modprinc -allow_tix alice", "alice@EXAMPLE.TEST", "SS-KRB-LOCKED", None),  # CLIENT_REVOKED
    ("modprinc +requires_preauth -allow_tix alice", "alice@EXAMPLE.TEST", "SS-KRB-LOCKED",
     None),
]


@pytest.mark.parametrize(("query", "login", "code", "field"), KDC_REFUSALS,
                         ids=["unknown-principal", "password-expired", "locked",
                              "locked-preauth"])
def test_kerberos_refusals_by_kdc_error(kdc: tuple[MitKdc, Path], query: str, login: str,
                                        code: str, field: Field | None) -> None:
    server, keytab = kdc
    if query:
        server.kadmin(query)
    config = RegistrarConfig(users=USERS, keytab=keytab)
    result, registrar = check(login=login, auth="kerberos", config=config)
    assert result.code == code, report_text(result)
    assert result.advice is not None and result.advice.field is field
    assert registrar.stats.register_auth_schemes == []  # no ticket, nothing sent


def test_kerberos_unknown_service_principal(kdc: tuple[MitKdc, Path]) -> None:
    _server, keytab = kdc  # the keytab holds sip/server.example.test, not sip/pool...
    config = RegistrarConfig(users=USERS, keytab=keytab, target="pool.example.test")
    result, _ = check(login="alice@EXAMPLE.TEST", auth="kerberos", config=config)
    assert result.code == "SS-KRB-SPN", report_text(result)
    assert "sip/pool.example.test" in result.advice.explanation  # type: ignore[union-attr]


def test_kerberos_single_sign_on_without_a_ticket(kdc: tuple[MitKdc, Path]) -> None:
    _server, keytab = kdc  # no kinit: the credential cache is empty
    config = RegistrarConfig(users=USERS, keytab=keytab)
    result, _ = check(auth="kerberos", sso=True, login="", config=config)
    assert result.code == "SS-KRB-TICKET", report_text(result)


def test_kerberos_kdc_unreachable(kdc: tuple[MitKdc, Path]) -> None:
    server, keytab = kdc
    server.stop()
    config = RegistrarConfig(users=USERS, keytab=keytab)
    result, _ = check(login="alice@EXAMPLE.TEST", auth="kerberos", config=config)
    assert result.code == "SS-KRB-KDC", report_text(result)


def test_auto_prefers_kerberos_and_falls_back_to_ntlm_without_a_kdc(
        kdc: tuple[MitKdc, Path]) -> None:
    server, keytab = kdc
    config = RegistrarConfig(users=USERS, keytab=keytab)
    result, _ = check(login="alice@EXAMPLE.TEST", config=config)
    assert result.verdict is Verdict.SIGNED_IN and "Kerberos" in result.summary
    server.stop()  # the KDC is gone: Auto must fall back to NTLM, as SIPE does
    result, _ = check(login="EXAMPLE\\alice", config=config)
    assert result.verdict is Verdict.SIGNED_IN, report_text(result)
    assert "NTLM" in result.summary
    assert "falls back to NTLM" in report_text(result)


# --- safety -------------------------------------------------------------------------------------


def test_cancel_mid_check_leaves_nothing_behind() -> None:
    async def go() -> tuple[CheckResult, int]:
        registrar = Registrar(RegistrarConfig(users=USERS, scenario="silent"))
        port = await registrar.start()
        account = parse_account("alice@example.test", login="EXAMPLE\\alice",
                                server=f"127.0.0.1:{port}", transport="tcp")
        task = asyncio.create_task(run_check(account, Secret(PASSWORD),
                                             CheckOptions(response_timeout=30, deadline=60)))
        while registrar.stats.registers == 0:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.05)
        leftover = len([t for t in asyncio.all_tasks() if t is not asyncio.current_task()
                        and not t.done() and "on_connect" not in repr(t)])
        await registrar.stop()
        return registrar.stats.connections, leftover

    connections, leftover = asyncio.run(go())
    assert connections == 1
    assert leftover == 0


def test_the_password_never_reaches_a_report() -> None:
    sentinel = "Sentinel-7f3a-Passw0rd"
    for scenario in ("success", "auth-loop", "forbidden"):
        cfg = RegistrarConfig(users=[("EXAMPLE", "alice", sentinel)], scenario=scenario)
        result, _ = check(password=sentinel, config=cfg)
        rendered = [report_text(result), report_json(result), report_html(result),
                    json.dumps(result.account), repr(result)]
        redacted = Redaction(secret=Secret(sentinel))
        rendered += [report_text(result, redacted)]
        for text in rendered:
            assert sentinel not in text
