"""Facts → advice: the server's answers as the documented tables describe them, Kerberos by the
KDC's error code, and discovery failures."""

from __future__ import annotations

import pytest

from sipe_setup.core.account import Field, Transport, parse_account
from sipe_setup.core.auth.challenge import ChallengeScheme, parse_challenges
from sipe_setup.core.auth.kerberos import (
    KRB5_ERROR_BASE,
    KerberosError,
    KerberosFailure,
    classify_krb5_error,
    krb5_error_number,
)
from sipe_setup.core.auth.mechanism import Rejection, RejectionKind
from sipe_setup.core.checkup.diagnose import (
    discovery_failure_advice,
    not_lync_advice,
    ok_warning,
    rejection_advice,
    server_diagnostics,
    status_advice,
)
from sipe_setup.core.discovery import DiscoveryResult, QueryOutcome
from sipe_setup.core.discovery.model import (
    DiscoveryMode,
    DnsQueryResult,
    QueryPurpose,
    RecordType,
)
from sipe_setup.core.sip.message import SipResponse

ACCOUNT = parse_account("alice@example.test", login="EXAMPLE\\alice",
                        server="sip.example.test:5061", transport="tls")
HOST = "sip.example.test"


def response(status: int, reason: str = "", *headers: tuple[str, str]) -> SipResponse:
    return SipResponse(status=status, reason=reason, headers=headers)


# (status, headers, code, field, the server's words)
STATUS_TABLE = [
    (403, [("ms-diagnostics-public", '4003;reason="From URI not enabled for remote access"')],
     "SS-SIP-4003", None, "From URI not enabled for remote access"),
    (403, [("ms-diagnostics-public", "4004;reason=\"Credentials provided are not authorized "
                                     'to act as specified from URI"')],
     "SS-AUTH-4004", Field.LOGIN,
     "Credentials provided are not authorized to act as specified from URI"),
    (404, [("ms-diagnostics", '4005;reason="Destination URI either not enabled for SIP or '
                              'does not exist";source="pool.example.test"')],
     "SS-SIP-404", Field.SIGNIN, "Destination URI either not enabled for SIP or does not exist"),
    (404, [("ms-diagnostics", '4006;reason="User not found in pool"')],
     "SS-SIP-4006", Field.SERVER, "User not found in pool"),
    (403, [("ms-diagnostics-public", '4141;reason="User disabled"')],
     "SS-SIP-4141", None, "User disabled"),
    (504, [("ms-diagnostics", '1008;reason="Unable to resolve DNS SRV record"')],
     "SS-SIP-1008", None, "Unable to resolve DNS SRV record"),
    (504, [("ms-diagnostics", '1009;reason="Conflicting SRV and host domains in DNS"')],
     "SS-SIP-1009", None, "Conflicting SRV and host domains in DNS"),
    (504, [("ms-diagnostics", '1010;reason="Certificate trust with next-hop server could not '
                              'be established"')],
     "SS-SIP-1010", None, "Certificate trust with next-hop server could not be established"),
    (401, [("ms-diagnostics", '1013;reason="Significant time skew detected during '
                              'authentication"')],
     "SS-SIP-1013", None, "Significant time skew detected during authentication"),
    (504, [], "SS-SIP-504", None, ""),
    (503, [("ms-diagnostics", '17000;reason="Server overloaded"')],
     "SS-SIP-503", None, "Server overloaded"),
    (403, [("ms-diagnostics", '17002;reason="Invalid protocol client version"')],
     "SS-SIP-17002", Field.USER_AGENT, "Invalid protocol client version"),
    (403, [("Warning", '314 lcs.microsoft.com "Check Microsoft Update for the newest '
                       'version."')],
     "SS-SIP-17002", Field.USER_AGENT, "Check Microsoft Update for the newest version."),
    (403, [("Warning", '399 lcs.microsoft.com "The SIP URI is already used by another '
                       'user"')],
     "SS-SIP-URIUSED", None, "The SIP URI is already used by another user"),
    (403, [], "SS-SIP-403", None, ""),
    (486, [], "SS-SIP-486", None, ""),
    (405, [("Server", "Asterisk PBX 18")], "SS-SIP-NOTLYNC", Field.SERVER, ""),
    (501, [], "SS-SIP-NOTLYNC", Field.SERVER, ""),
    (403, [("User-Agent", "FreeSWITCH-mod_sofia/1.10.9")], "SS-SIP-NOTLYNC", Field.SERVER, ""),
    # a Lync server names itself RTC/…; an SBC product name with Lync's words stays Lync
    (403, [("Server", "RTC/6.0")], "SS-SIP-403", None, ""),
    (404, [("Server", "Cisco-SIPGateway"), ("ms-diagnostics", '4005;reason="x"')],
     "SS-SIP-404", Field.SIGNIN, "x"),
]


@pytest.mark.parametrize(("status", "headers", "code", "field", "said"), STATUS_TABLE)
def test_status_advice_table(status: int, headers: list[tuple[str, str]], code: str,
                             field: Field | None, said: str) -> None:
    adv = status_advice(response(status, "Reason", *headers), HOST, ACCOUNT)
    assert (adv.code, adv.field) == (code, field), adv
    assert adv.server_reason == said
    if said:
        assert said in adv.explanation
    elif "{server_reason}" in adv.explanation:
        pytest.fail("the entry takes a reason")


def test_a_known_code_wins_over_an_unknown_one_in_any_order() -> None:
    answer = response(403, "Forbidden",
                      ("ms-diagnostics", '1034;reason="Previous hop federated peer did not '
                                         'report diagnostic information"'),
                      ("ms-diagnostics-public", '4003;reason="From URI not enabled for remote '
                                                'access"'))
    assert status_advice(answer, HOST, ACCOUNT).code == "SS-SIP-4003"
    assert server_diagnostics(answer) == ("4003", "From URI not enabled for remote access")


def test_a_200_with_the_version_filters_warning_is_a_warning() -> None:
    ok = response(200, "OK", ("Warning", "313 lcs.microsoft.com http://fabrikam.com"))
    adv = ok_warning(ok, ACCOUNT)
    assert adv is not None and adv.code == "SS-SIP-UPGRADE" and adv.field is Field.USER_AGENT
    assert adv.server_reason == "http://fabrikam.com"
    assert ok_warning(response(200, "OK"), ACCOUNT) is None
    assert ok_warning(response(200, "OK", ("Warning", '399 x "other"')), ACCOUNT) is None
    assert ok_warning(response(403, "Forbidden", ok.headers[0]), ACCOUNT) is None


def test_not_lync_says_how_it_answered() -> None:
    digest = response(401, "Unauthorized", ("WWW-Authenticate", 'Digest realm="pbx"'),
                      ("Server", "Asterisk PBX 18"))
    adv = not_lync_advice(parse_challenges(digest), digest, HOST)
    assert "asks for Digest authentication" in adv.explanation and "Asterisk" in adv.explanation
    ok = not_lync_advice([], response(200, "OK"), HOST)
    assert "without any authentication" in ok.explanation and "unknown" in ok.explanation


def test_a_digest_407_is_a_proxy_in_front() -> None:
    proxy = response(407, "Proxy Authentication Required",
                     ("Proxy-Authenticate", 'Digest realm="corp.example.test", nonce="n"'))
    challenges = parse_challenges(proxy)
    assert challenges[0].scheme is ChallengeScheme.DIGEST
    adv = not_lync_advice(challenges, proxy, HOST)
    assert adv.code == "SS-SIP-PROXY" and "corp.example.test" in adv.explanation
    # a Digest *401* is a VoIP registrar, not a proxy
    registrar = response(401, "Unauthorized", ("WWW-Authenticate", 'Digest realm="x"'))
    assert not_lync_advice(parse_challenges(registrar), registrar, HOST).code == \
        "SS-SIP-NOTLYNC"


# --- Kerberos by KDC error --------------------------------------------------------------------


class FakeKrb5Error(Exception):
    """Like krb5.Krb5Error: a signed com_err code in ``err_code``."""

    def __init__(self, number: int) -> None:
        super().__init__(f"krb5 error {number}")
        self.err_code = KRB5_ERROR_BASE + number


class FakeGssError(Exception):
    """Like gssapi's GSSError: the mechanism's code, unsigned, in ``min_code``."""

    def __init__(self, number: int) -> None:
        super().__init__("GSS failure")
        self.maj_code = 851968
        self.min_code = (KRB5_ERROR_BASE + number) & 0xFFFFFFFF


class FakeSpnegoError(Exception):
    """Like spnego's SpnegoError: the GSSError in ``base_error``."""

    def __init__(self, base: Exception) -> None:
        super().__init__("SpnegoError (4294967295)")
        self.base_error = base


def test_the_krb5_number_is_found_through_the_wrapping() -> None:
    assert krb5_error_number(FakeKrb5Error(24)) == 24
    assert krb5_error_number(FakeSpnegoError(FakeGssError(7))) == 7
    chained = RuntimeError("outer")
    chained.__cause__ = FakeGssError(156)
    assert krb5_error_number(chained) == 156
    assert krb5_error_number(RuntimeError("Preauthentication failed")) is None  # no sniffing
    other = FakeGssError(0)
    other.min_code = 2  # a code of another table
    assert krb5_error_number(other) is None


KDC_ERRORS = [
    (6, KerberosFailure.CLIENT_UNKNOWN, "SS-KRB-PRINCIPAL", Field.LOGIN),
    (7, KerberosFailure.SERVICE_UNKNOWN, "SS-KRB-SPN", Field.SERVER),
    (18, KerberosFailure.CLIENT_REVOKED, "SS-KRB-LOCKED", None),
    (23, KerberosFailure.PASSWORD_EXPIRED, "SS-KRB-EXPIRED", Field.PASSWORD),
    (24, KerberosFailure.WRONG_PASSWORD, "SS-KRB-PASSWORD", Field.PASSWORD),
    (31, KerberosFailure.WRONG_PASSWORD, "SS-KRB-PASSWORD", Field.PASSWORD),
    (37, KerberosFailure.CLOCK_SKEW, "SS-KRB-CLOCK", None),
    (148, KerberosFailure.CLOCK_SKEW, "SS-KRB-CLOCK", None),
    (154, KerberosFailure.KDC_UNREACHABLE, "SS-KRB-KDC", None),
    (156, KerberosFailure.KDC_UNREACHABLE, "SS-KRB-KDC", None),
    (60, KerberosFailure.OTHER, "SS-KRB-FAIL", Field.LOGIN),  # KRB_ERR_GENERIC
]


@pytest.mark.parametrize(("number", "failure", "code", "field"), KDC_ERRORS)
def test_each_kdc_error_has_its_advice(number: int, failure: KerberosFailure, code: str,
                                       field: Field | None) -> None:
    assert classify_krb5_error(number) is failure
    error = KerberosError("words", failure, number)
    rejection = Rejection(ChallengeScheme.KERBEROS, RejectionKind.CONTEXT_FAILED, str(error),
                          cause=error)
    adv = rejection_advice(ACCOUNT, rejection, "sip/pool.example.test", None)
    assert (adv.code, adv.field) == (code, field)
    assert "?" not in adv.title


def test_no_ticket_and_no_password() -> None:
    sso = Rejection(ChallengeScheme.KERBEROS, RejectionKind.NO_CREDENTIALS, "no ticket")
    assert rejection_advice(ACCOUNT, sso, "sip/x", None).code == "SS-KRB-TICKET"
    ntlm = Rejection(ChallengeScheme.NTLM, RejectionKind.NO_CREDENTIALS, "no password")
    assert rejection_advice(ACCOUNT, ntlm, "x", None).code == "SS-AUTH-NOPW"


# --- discovery ----------------------------------------------------------------------------------


def _result(*outcomes: QueryOutcome) -> DiscoveryResult:
    queries = tuple(DnsQueryResult(name=f"q{i}.example.test", record_type=RecordType.SRV,
                                   purpose=QueryPurpose.SRV, outcome=o)
                    for i, o in enumerate(outcomes))
    return DiscoveryResult(sip_domain="example.test", transport=Transport.AUTO,
                           mode=DiscoveryMode.AUTOMATIC, queries=queries)


def test_a_dns_server_that_never_answers_is_named() -> None:
    silent = discovery_failure_advice(_result(QueryOutcome.TIMEOUT, QueryOutcome.NOT_WAITED))
    assert silent.code == "SS-DISC-DNS" and "timeout" in silent.explanation
    assert discovery_failure_advice(_result(QueryOutcome.NXDOMAIN, QueryOutcome.TIMEOUT)
                                    ).code == "SS-DISC-NONE"
    assert discovery_failure_advice(_result()).code == "SS-DISC-NONE"
