"""Real server answers (tests/golden/servers/, each with its source) replayed through the
diagnosis: parsed by our SIP parser, judged by core/checkup/diagnose.py, the advice asserted."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from sipe_setup.core.account import Field, parse_account
from sipe_setup.core.advice import RenderedAdvice, advice
from sipe_setup.core.auth.challenge import ChallengeScheme, parse_challenges
from sipe_setup.core.checkup.diagnose import (
    KNOWN_DIAGNOSTICS,
    not_lync_advice,
    ok_warning,
    status_advice,
)
from sipe_setup.core.sip.diagnostics import diagnostics_of, parse_warning
from sipe_setup.core.sip.message import SipRequest, SipResponse, parse_message

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "servers"
ACCOUNT = parse_account("alice@example.test", login="EXAMPLE\\alice",
                        server="sip.example.test:5061", transport="tls")
_LYNC = {ChallengeScheme.NTLM, ChallengeScheme.KERBEROS, ChallengeScheme.TLS_DSK}


def _golden(name: str) -> tuple[str, list[str]]:
    """(the data without its comment lines, the source URLs)."""
    lines = (GOLDEN / name).read_text(encoding="utf-8").splitlines()
    sources = [line.split(":", 1)[1].strip() for line in lines if line.startswith("# source:")]
    body = [line for line in lines if not line.startswith("#")]
    return "\n".join(body), sources


def load_message(name: str) -> SipResponse:
    text, _ = _golden(name)
    wire = text.replace("\n", "\r\n") + "\r\n\r\n"
    message = parse_message(wire.encode("utf-8"))
    assert isinstance(message, SipResponse)
    return message


def load_headers(name: str) -> tuple[tuple[str, str], ...]:
    text, _ = _golden(name)
    headers = []
    for line in text.splitlines():
        header, _, value = line.partition(":")
        headers.append((header.strip(), value.strip()))
    return tuple(headers)


def diagnose_first_answer(response: SipResponse) -> RenderedAdvice:
    """What the check says about an answer to its first REGISTER (as the register step)."""
    if response.status in (401, 407):
        challenges = parse_challenges(response)
        assert not any(c.scheme in _LYNC for c in challenges), "a Lync challenge: no failure"
        return not_lync_advice(challenges, response, "sip.example.test")
    return status_advice(response, "sip.example.test", ACCOUNT)


def test_every_golden_file_names_its_public_source() -> None:
    files = sorted(p.name for p in GOLDEN.iterdir() if p.suffix in (".sip", ".headers"))
    assert files
    for name in files:
        _, sources = _golden(name)
        assert sources and all(s.startswith(("https://", "http://")) for s in sources), name
    assert {name for name, *_ in MESSAGES} | set(HEADER_FILES) == set(files)


@dataclass(frozen=True)
class Expect:
    advice_id: str
    code: str
    field: Field | None
    words: tuple[str, ...] = ()  # must appear in the explanation
    server_reason: str | None = None


MESSAGES = [
    ("msiprege-4.3.6-200-allow-dynamic-url.sip", "ok",
     Expect("client-version-advised", "SS-SIP-UPGRADE", Field.USER_AGENT, ("Warning 312",),
            "https://fabrikam.com/Client /update.aspx?folder=OCv3.1")),
    ("openvoip-pbx-401-digest.sip", "first",
     Expect("not-lync", "SS-SIP-NOTLYNC", Field.SERVER, ("Digest", "OpenVoip PBX"))),
    ("voipswitch-401-digest.sip", "first",
     Expect("not-lync", "SS-SIP-NOTLYNC", Field.SERVER, ("DIGEST", "unknown"))),
    ("siphon-405-register.sip", "first",
     Expect("not-lync", "SS-SIP-NOTLYNC", Field.SERVER, ("405 Method Not Allowed",))),
    ("flexisip-407-proxy-digest.sip", "first",
     Expect("proxy-digest", "SS-SIP-PROXY", Field.SERVER, ("sip.linphone.org", "Flexisip/2.0.4"))),
    ("twilio-407-register.sip", "first",
     Expect("proxy-digest", "SS-SIP-PROXY", Field.SERVER, ("sip.twilio.com",))),
    ("twilio-403-bad-credentials.sip", "first",
     Expect("forbidden", "SS-SIP-403", None, ("no reason given",), "")),
]


@pytest.mark.parametrize(("name", "when", "expect"), MESSAGES, ids=[m[0] for m in MESSAGES])
def test_real_answers_get_their_advice(name: str, when: str, expect: Expect) -> None:
    response = load_message(name)
    adv = ok_warning(response, ACCOUNT) if when == "ok" else diagnose_first_answer(response)
    assert adv is not None
    assert (adv.id, adv.code, adv.field) == (expect.advice_id, expect.code, expect.field)
    for words in expect.words:
        assert words in adv.explanation, (words, adv.explanation)
    if expect.server_reason is not None:
        assert adv.server_reason == expect.server_reason


# [MS-SIPREGE] §3.4.2.5 shows only the Warning header of each answer: the status is the
# section's (403 blocks, 200 allows).
HEADER_FILES = {
    "msiprege-3.4.2.5.3-warning-310.headers": 403,
    "msiprege-3.4.2.5.5-warning-313.headers": 200,
    "msiprege-3.4.2.5.6-warning-314.headers": 403,
    "msiprege-3.4.2.5.8-warning-312.headers": 403,
    "sipe-notify-4141-user-disabled.headers": 0,
    "lync-client-log-federation-1027-1034.headers": 0,
}


@pytest.mark.parametrize("name", [n for n, s in HEADER_FILES.items() if s])
def test_the_client_version_filter_as_specified(name: str) -> None:
    headers = load_headers(name)
    (warning,) = parse_warning(headers[0][1])
    response = SipResponse(status=HEADER_FILES[name], reason="", headers=headers)
    if response.status == 200:
        adv = ok_warning(response, ACCOUNT)
        assert adv is not None and adv.code == "SS-SIP-UPGRADE"
    else:
        adv = status_advice(response, "sip.example.test", ACCOUNT)
        assert adv.code == "SS-SIP-17002"
    assert adv.field is Field.USER_AGENT
    assert adv.server_reason == warning.text
    assert f"Warning {warning.code}" in adv.explanation
    assert "UCCAPI/" in adv.fix  # a suggested User Agent


def test_a_registration_notify_that_disables_the_user() -> None:
    notify = SipRequest(method="NOTIFY", uri="sip:alice@example.test",
                        headers=load_headers("sipe-notify-4141-user-disabled.headers"))
    (entry,) = diagnostics_of(notify)
    assert (entry.code, entry.reason, entry.public) == (4141, "User disabled", True)
    adv = advice(KNOWN_DIAGNOSTICS[entry.code], server_reason=entry.reason)
    assert adv.code == "SS-SIP-4141" and adv.server_reason == "User disabled"


def test_a_lync_client_log_parses_verbatim() -> None:
    response = SipResponse(status=403, headers=load_headers(
        "lync-client-log-federation-1027-1034.headers"))
    entries = diagnostics_of(response)
    assert [(e.code, e.reason) for e in entries] == [
        (1027, "Cannot route this type of SIP request to or from federated partners"),
        (1034, "Previous hop federated peer did not report diagnostic information")]
    adv = status_advice(response, "sip.example.test", ACCOUNT)  # no documented sign-in code
    assert adv.code == "SS-SIP-403"
    assert adv.server_reason == entries[0].reason
