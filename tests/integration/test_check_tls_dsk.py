"""TLS-DSK checks against the registrar's web services and TLS-DSK acceptor: the sign-in
works as SIPE does it, every SIPE quirk and failure gets its own code, and Auto's verdict says
what Pidgin will do."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from sipe_setup.core.account import Field, Secret, parse_account
from sipe_setup.core.checkup import CheckOptions, TrustKind, TrustQuestion, run_check
from sipe_setup.core.profiles import Validation
from sipe_setup.core.report import report_json, report_text
from sipe_setup.core.steps import CheckResult, StepId, StepStatus, Verdict
from tests.servers.registrar import Registrar, RegistrarConfig
from tests.servers.webservices import WebServicesOptions, WebTicketFailure

PASSWORD = "Passw0rd!"
USERS = [("EXAMPLE", "alice", PASSWORD)]


@dataclass
class Run:
    result: CheckResult
    registrar: Registrar
    questions: list[TrustQuestion]


def check(scenario: str = "tls-dsk", *, auth: str = "tls-dsk", password: str = PASSWORD,
          sipe_reads_xml: bool | None = True, trust: bool = True,
          webservices: WebServicesOptions | None = None, ca: bool = True) -> Run:
    """One check against a fresh registrar running ``scenario``."""
    questions: list[TrustQuestion] = []

    async def ask(question: TrustQuestion) -> bool:
        questions.append(question)
        return trust

    async def go() -> Run:
        registrar = Registrar(RegistrarConfig(users=USERS, scenario=scenario,
                                              webservices=webservices))
        port = await registrar.start()
        try:
            ws = registrar.webservices
            account = parse_account("alice@example.test", login="EXAMPLE\\alice",
                                    server=f"127.0.0.1:{port}", transport="tcp", auth=auth)
            options = CheckOptions(ca_file=str(ws.ca_cert_path) if ws and ca else None,
                                   response_timeout=5, deadline=30,
                                   sipe_reads_xml=sipe_reads_xml)
            result = await run_check(account, Secret(password), options, ask_trust=ask)
        finally:
            await registrar.stop()
        return Run(result, registrar, questions)

    return asyncio.run(go())


def test_tls_dsk_signs_in_as_sipe_does() -> None:
    run = check()
    result, stats = run.result, run.registrar.stats
    assert result.verdict is Verdict.SIGNED_IN, report_text(result)
    assert "(TCP, TLS-DSK)" in result.summary
    # SIPE: REGISTER CSeq 1, 3, 4, 5, 6 (2 is built but never sent), then our sign-out.
    assert result.round_trips == 6 and stats.registers == 6
    assert stats.tls_dsk_handshakes == 1
    assert stats.client_signature_failures == 0 and stats.client_signatures_verified >= 2
    # SIPE's 6 HTTP requests: 2 mex, 3 NTLM legs of the RST, 1 GetAndPublishCert.
    assert stats.http_requests == 6
    assert result.timings["http_requests"] == 6
    credentials = next(s for s in result.steps if s.step is StepId.CREDENTIALS)
    assert credentials.status is StepStatus.PASS
    assert sum(line.startswith(("GET ", "POST ")) for line in credentials.lines) == 4
    text = report_text(result)
    assert "→ REGISTER CSeq 2" not in text and "→ REGISTER CSeq 3" in text
    assert run.questions == []  # the web services are on the host the user typed


def test_the_private_key_and_password_never_reach_the_report() -> None:
    result = check().result
    rendered = report_text(result) + report_json(result) + repr(result)
    assert PASSWORD not in rendered
    assert "PRIVATE KEY" not in rendered


def test_auto_uses_tls_dsk_like_pidgin_when_it_works() -> None:
    result = check("tls-dsk+ntlm", auth="auto").result
    assert result.verdict is Verdict.SIGNED_IN, report_text(result)
    assert "TLS-DSK" in result.summary
    assert not result.server.auto_fails_in_pidgin


def test_auto_when_tls_dsk_fails_says_pidgin_fails_and_pins_the_scheme_that_works() -> None:
    fault = WebServicesOptions(webticket_failure=WebTicketFailure.FAULT)
    run = check("tls-dsk+ntlm", auth="auto", webservices=fault)
    result = run.result
    assert result.verdict is Verdict.SIGNED_IN, report_text(result)
    assert result.advice is not None and result.advice.code == "SS-DSK-AUTO"
    assert "Auto would fail" in result.summary and "NTLM" in result.summary
    assert result.server.scheme == "NTLM" and result.server.auto_fails_in_pidgin
    credentials = next(s for s in result.steps if s.step is StepId.CREDENTIALS)
    assert credentials.status is StepStatus.WARN
    assert credentials.advice is not None and credentials.advice.code == "SS-DSK-TICKET"
    account = parse_account("alice@example.test", login="EXAMPLE\\alice", auth="auto")
    assert Validation.from_check(account, result).scheme == "NTLM"  # the export pins NTLM


def test_auto_with_a_wrong_password_stops_at_the_web_ticket_like_sipe() -> None:
    """One failed sign-in per check: NTLM is not tried with a password the web ticket
    service already refused (SIPE does not fall back either)."""
    run = check("tls-dsk+ntlm", auth="auto", password="Wrong-password-1")
    assert run.result.code == "SS-DSK-401", report_text(run.result)
    assert run.result.advice is not None and run.result.advice.field is Field.PASSWORD
    assert run.registrar.stats.registers == 1  # no NTLM attempt


def test_auto_when_this_pidgin_cannot_parse_xml_proves_and_pins_ntlm() -> None:
    run = check("tls-dsk+ntlm", auth="auto", sipe_reads_xml=False)
    result = run.result
    assert result.verdict is Verdict.SIGNED_IN, report_text(result)
    assert result.server.scheme == "NTLM" and result.server.sipe_cannot_do_tls_dsk
    assert result.advice is not None and result.advice.code == "SS-DSK-AUTO"
    assert run.registrar.stats.http_requests == 0  # nothing fetched for a scheme not used


def test_explicit_tls_dsk_on_a_pidgin_that_cannot_parse_xml_fails_like_pidgin() -> None:
    """The server side is proven (and said so), but the verdict is Pidgin's on this machine."""
    run = check(sipe_reads_xml=False)
    result = run.result
    assert result.verdict is Verdict.FAILED, report_text(result)
    assert result.advice is not None and result.advice.code == "SS-DSK-LIBXML"
    assert "The server signs you in with TLS-DSK" in result.summary
    assert run.registrar.stats.tls_dsk_handshakes == 1


def test_version_3_completes_unsigned_like_sipe() -> None:
    run = check("tls-dsk-v3")
    assert run.result.verdict is Verdict.SIGNED_IN, report_text(run.result)


def test_untrusted_web_services_certificate_is_asked_and_goes_to_pidgin() -> None:
    run = check("tls-dsk-untrusted-sts")
    result = run.result
    assert result.verdict is Verdict.SIGNED_IN, report_text(result)
    assert [q.kind for q in run.questions] == [TrustKind.CERTIFICATE]
    [accepted] = result.accepted_webservice_certificates
    assert accepted.host == "127.0.0.1" and "BEGIN CERTIFICATE" in accepted.pem
    account = parse_account("alice@example.test", login="EXAMPLE\\alice",
                            server="127.0.0.1:5061", auth="tls-dsk")
    validation = Validation.from_check(account, result)
    assert [c.host for c in validation.accepted_certificates] == ["127.0.0.1"]


def test_untrusted_web_services_certificate_refused() -> None:
    run = check("tls-dsk-untrusted-sts", trust=False)
    assert run.result.code == "SS-DSK-CA", report_text(run.result)


FAILURES = [
    ("tls-dsk-no-sts", "SS-DSK-NOSTS"),
    ("tls-dsk-webticket-401", "SS-DSK-401"),
    ("tls-dsk-webticket-fault", "SS-DSK-TICKET"),
    ("tls-dsk-webticket-fault-500", "SS-DSK-TICKET"),
    ("tls-dsk-mex-no-policy", "SS-DSK-MEX"),
    ("tls-dsk-certprov-500", "SS-DSK-CERT"),
    ("tls-dsk-short-cert", "SS-DSK-SHORT"),
    ("tls-dsk-split-flight", "SS-DSK-FRAME"),
    ("tls-dsk-tls12-only", "SS-DSK-TLS10"),
    ("tls-dsk-unpublished", "SS-DSK-REJECT"),
    ("tls-dsk-bad-rspauth", "SS-AUTH-SIG"),
    # SIPE digests its raw Timestamp; a WCF-like server checks exc-c14n, so a Lifetime that
    # is not canonical makes the certificate request fail — for SIPE and for the check.
    ("tls-dsk-noncanonical-lifetime", "SS-DSK-CERT"),
]


@pytest.mark.parametrize(("scenario", "code"), FAILURES, ids=[f[0] for f in FAILURES])
def test_each_tls_dsk_failure_gets_its_own_code(scenario: str, code: str) -> None:
    result = check(scenario).result
    assert result.verdict is Verdict.FAILED, report_text(result)
    assert result.code == code, report_text(result)
    failed = [s for s in result.steps if s.status is StepStatus.FAIL]
    assert len(failed) == 1 and failed[0].advice == result.advice


@pytest.mark.parametrize("scenario", ["tls-dsk-negotiate", "tls-dsk-ecdsa-https"])
def test_tls_dsk_variants_real_sipe_accepts_sign_in(scenario: str) -> None:
    result = check(scenario).result
    assert result.verdict is Verdict.SIGNED_IN, report_text(result)


def test_rc4_md5_signs_in_with_hmac_md5_and_warns() -> None:
    result = check("tls-dsk-rc4-md5").result
    assert result.verdict is Verdict.SIGNED_IN, report_text(result)
    assert result.advice is not None and result.advice.code == "SS-DSK-RC4"
    assert "HMAC-MD5" in report_text(result)


def test_web_services_unreachable() -> None:
    result = check("tls-dsk-only").result
    assert result.code == "SS-DSK-NET", report_text(result)


def test_hiding_hosts_hides_the_web_services_host_too() -> None:
    from sipe_setup.core.report import Redaction

    run = check()
    account = parse_account("alice@example.test", login="EXAMPLE\\alice",
                            server="server.example.test:5060", auth="tls-dsk")
    result = run.result
    result.server.webservice_hosts = ["lyncweb.contoso.net"]
    result.steps[0].lines.append("GET https://lyncweb.contoso.net/CertProv/mex → 200 OK")
    text = report_text(result, Redaction.for_check(account, result, None, hosts=True))
    assert "lyncweb.contoso.net" not in text
