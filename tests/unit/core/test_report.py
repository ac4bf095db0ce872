"""Reports: phone code first, same content in text/JSON/HTML, secrets never leak."""

from __future__ import annotations

import json

from sipe_setup.core.account import Secret
from sipe_setup.core.advice import advice
from sipe_setup.core.report import Redaction, report_html, report_json, report_text
from sipe_setup.core.steps import CheckResult, StepId, StepRecorder, StepStatus, Verdict

PASSWORD = "Sentinel-Pw-4711!"


def _failed_result() -> CheckResult:
    recorder = StepRecorder()
    step = recorder.start(StepId.CONNECT, "Connect to pool.example.test:5061")
    recorder.line(step, "pool.example.test resolved to 192.0.2.10")
    # A careless server echoing the password must not get it into a report either.
    recorder.line(step, f"server said: {PASSWORD}")
    recorder.finish(step, StepStatus.FAIL, "refused",
                    advice("connect-refused", host="pool.example.test", port=5061,
                           transport="TLS"))
    return CheckResult(
        verdict=Verdict.FAILED,
        summary="Could not connect to pool.example.test:5061",
        advice=step.advice,
        steps=recorder.steps,
        account={"signin": "alice@example.test", "login": "EXAMPLE\\alice"},
        round_trips=0,
    )


def test_text_report_starts_with_the_phone_code() -> None:
    text = report_text(_failed_result())
    assert text.splitlines()[0] == "Code: SS-NET-REFUSED"
    assert "[FAIL] Connect to pool.example.test:5061: refused" in text
    assert "What to change:" in text


def test_json_report_schema() -> None:
    doc = json.loads(report_json(_failed_result()))
    assert doc["schema"] == "sipe-setup/check"
    assert doc["schema_version"] == 1
    assert doc["verdict"] == "failed"
    assert doc["code"] == "SS-NET-REFUSED"
    step = doc["steps"][0]
    assert {"id", "title", "status", "detail", "advice"} <= step.keys()
    assert step["status"] == "fail"
    assert step["advice"]["code"] == "SS-NET-REFUSED"


def test_password_never_appears_in_any_rendering() -> None:
    redaction = Redaction(secret=Secret(PASSWORD))
    for render in (report_text, report_json, report_html):
        assert PASSWORD not in render(_failed_result(), redaction)


def test_user_and_host_redaction() -> None:
    redaction = Redaction(users=("alice", "EXAMPLE\\alice"),
                          hosts=("example.test", "pool.example.test"))
    text = report_json(_failed_result(), redaction)
    for secret_ish in ("alice", "example.test", "192.0.2.10"):
        assert secret_ish not in text
    assert "<host-1>" in text and "<user>" in text and "<ip>" in text
    assert json.loads(text)["redacted"] == {"user": True, "hosts": True}


def test_html_escapes_server_text() -> None:
    result = _failed_result()
    result.steps[0].lines.append("<script>alert(1)</script>")
    assert "<script>" not in report_html(result)


def test_user_names_are_hidden_as_whole_tokens_only() -> None:
    """“Hide user names” must keep reports readable: a user “ed” does not turn
    “Unauthorized” into “Unauthoriz<user>”, and a domain EXAMPLE does not turn
    sip.example.test into sip.<user>.test."""
    redaction = Redaction(users=("ed", "EXAMPLE\\ed", "EXAMPLE"))
    text = redaction.apply("401 Unauthorized from sip.example.test for EXAMPLE\\ed "
                           "(sip:ed@example.test; NTLM domain EXAMPLE, user ed)")
    assert text == ("401 Unauthorized from sip.example.test for <user> "
                    "(sip:<user>@example.test; NTLM domain <user>, user <user>)")
    assert Redaction(users=("pool",)).apply("pool.example.test pool") == "pool.example.test <user>"


def test_hosts_are_hidden_as_whole_names() -> None:
    redaction = Redaction(hosts=("example.test", "pool.example.test"))
    assert redaction.apply("pool.example.test, sip.example.test, notexample.test") == \
        "<host-1>, sip.<domain>, notexample.test"
