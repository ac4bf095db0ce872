"""ms-diagnostics(-public) and Warning by the SIP grammar: vectors, and hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipe_setup.core.sip.diagnostics import (
    DiagnosticEntry,
    parse_ms_diagnostics,
    parse_warning,
    primary_diagnostic,
    server_words,
)
from sipe_setup.core.sip.message import SipResponse

# (header value, [(code, sub_code, reason, source)])
DIAGNOSTIC_VECTORS = [
    ('4003;reason="From URI not enabled for remote access"',
     [(4003, None, "From URI not enabled for remote access", "")]),
    # white space around ';' and '=' (RFC 3261 SEMI / EQUAL)
    ('4004 ; reason = "Credentials provided are not authorized to act as specified from URI" '
     '; source = "pool.example.test"',
     [(4004, None, "Credentials provided are not authorized to act as specified from URI",
       "pool.example.test")]),
    # escaped quote and backslash inside the quoted reason
    (r'1000;reason="Final \"handshake\" failed \\ here"',
     [(1000, None, 'Final "handshake" failed \\ here', "")]),
    # several entries, a comma inside a quoted string
    ('1034;reason="a, b";source="x", 10003;source="y";reason="Proxy returned a SIP failure code"',
     [(1034, None, "a, b", "x"), (10003, None, "Proxy returned a SIP failure code", "y")]),
    # a sub error code, an unquoted value, a parameter without a value
    ("17002.1;reason=Invalid;appName=ClientVersionFilter;flag",
     [(17002, 1, "Invalid", "")]),
    # trailing ';' and leading blanks, as a Lync client log shows them
    (' 1034;reason="Previous hop federated peer did not report diagnostic information";',
     [(1034, None, "Previous hop federated peer did not report diagnostic information", "")]),
    # no reason at all
    ("4006", [(4006, None, "", "")]),
    # junk entries are skipped, good ones kept
    ('garbage, 4005;reason="Destination URI either not enabled for SIP or does not exist"',
     [(4005, None, "Destination URI either not enabled for SIP or does not exist", "")]),
    ('4003 junk;reason="x", 4141;reason="User disabled"', [(4141, None, "User disabled", "")]),
    ('4003;reason="never closed', []),
    ("", []),
    (",,,", []),
]


@pytest.mark.parametrize(("value", "expected"), DIAGNOSTIC_VECTORS)
def test_ms_diagnostics_vectors(value: str, expected: list[tuple[int, int | None, str, str]]
                                ) -> None:
    entries = parse_ms_diagnostics(value)
    assert [(e.code, e.sub_code, e.reason, e.source) for e in entries] == expected


def test_parameters_keep_their_order_and_names() -> None:
    (entry,) = parse_ms_diagnostics('17002;reason="Invalid Request";source="DB19";'
                                    'appName="ClientVersionFilter"', "ms-diagnostics-public")
    assert entry.params == (("reason", "Invalid Request"), ("source", "DB19"),
                            ("appName", "ClientVersionFilter"))
    assert entry.param("APPNAME") == "ClientVersionFilter" and entry.public


# (header value, [(code, agent, text)])
WARNING_VECTORS = [
    ('310 lcs.microsoft.com "You are currently not using the recommended version of the '
     'client"',
     [(310, "lcs.microsoft.com",
       "You are currently not using the recommended version of the client")]),
    # [MS-SIPREGE] §3.4.2.5.5's own example does not quote the text
    ("313 lcs.microsoft.com http://fabrikam.com",
     [(313, "lcs.microsoft.com", "http://fabrikam.com")]),
    # two values, an escaped quote
    ('399 pool.example.test "a \\"b\\"", 314 lcs.microsoft.com "Check Microsoft Update"',
     [(399, "pool.example.test", 'a "b"'), (314, "lcs.microsoft.com", "Check Microsoft Update")]),
    # an unterminated quote (the §3.4.2.5.8 example): the rest is the text
    ('312 lcs.microsoft.com "https://fabrikam.com/update.aspx?folder=OCv3.1',
     [(312, "lcs.microsoft.com", "https://fabrikam.com/update.aspx?folder=OCv3.1")]),
    ("not a warning", []),
    ("31 short.agent \"x\"", []),
]


@pytest.mark.parametrize(("value", "expected"), WARNING_VECTORS)
def test_warning_vectors(value: str, expected: list[tuple[int, str, str]]) -> None:
    assert [(w.code, w.agent, w.text) for w in parse_warning(value)] == expected


def test_the_entry_with_a_known_code_is_preferred() -> None:
    entries = [DiagnosticEntry(1034, params=(("reason", "hop"),)),
               DiagnosticEntry(4003, params=(("reason", "remote"),),
                               header="ms-diagnostics-public")]
    assert primary_diagnostic(entries, {4003}) is entries[1]
    assert primary_diagnostic(entries) is entries[0]
    assert primary_diagnostic([DiagnosticEntry(1)]).code == 1  # type: ignore[union-attr]
    assert primary_diagnostic([]) is None


def test_server_words_read_every_header_line_in_order() -> None:
    response = SipResponse(status=403, reason="Forbidden", headers=(
        ("ms-diagnostics", '1034;reason="no diagnostics from the previous hop"'),
        ("MS-Diagnostics-Public", '4003;reason="From URI not enabled for remote access"'),
        ("Warning", '310 lcs.microsoft.com "old client"')))
    words = server_words(response, {4003})
    assert [d.code for d in words.diagnostics] == [1034, 4003]
    assert words.code == 4003 and words.reason == "From URI not enabled for remote access"
    assert words.lcs_warning(range(310, 315)) is not None
    assert words.codes_in(1000, 1999) is words.diagnostics[0]
    plain = server_words(SipResponse(status=403, headers=(("Warning", '399 x "said"'),)))
    assert plain.code is None and plain.reason == "said"


@given(st.text(max_size=300))
def test_parsers_never_raise(value: str) -> None:
    for entry in parse_ms_diagnostics(value):
        assert entry.code >= 0
    for warning in parse_warning(value):
        assert 100 <= warning.code <= 999
