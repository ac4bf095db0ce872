"""SIP from the network: any bytes give messages or SipProtocolError — nothing else — in
bounded time and memory, and what parses re-serialises to the same message."""

from __future__ import annotations

import itertools

from hypothesis import event, example, given
from hypothesis import strategies as st

from sipe_setup.core.account import parse_account
from sipe_setup.core.auth.challenge import parse_challenges
from sipe_setup.core.auth.signature import authentication_info, incoming_signature_fields
from sipe_setup.core.sip.diagnostics import (
    parse_ms_diagnostics,
    parse_warning,
    server_words,
)
from sipe_setup.core.sip.message import (
    MAX_BODY_BYTES,
    MAX_HEADER_BYTES,
    MAX_LINE_BYTES,
    SipMessage,
    SipProtocolError,
    SipResponse,
    SipStreamParser,
    parse_message,
)

from .support import budget, mutated, never_raises_but, sip_seeds, sip_server_seeds, within

SIP_TOKENS = (
    b"SIP/2.0 ", b"SIP/2.0 100 Trying\r\n", b"HTTP/1.1 ", b"\x16\x03\x01", b"REGISTER ",
    b"Content-Length: ", b"l: ", b"Content-Length: 99999999999\r\n", b"Content-Length: 5\r\n",
    b"\r\n\r\n", b"\r\n ", b"\r\n\t", b"WWW-Authenticate: NTLM ", b'gssapi-data="',
    b"Authentication-Info: ", b'rspauth="', b"CSeq: 1 REGISTER\r\n", b"Call-ID: x\r\n",
    b"Via: SIP/2.0/TCP h;branch=z9hG4bK1\r\n", b"Date: ", b"ms-diagnostics: 1000;reason=\"",
)
sip_bytes = mutated(sip_seeds(), SIP_TOKENS, max_size=16 * 1024)


def exercise(message: SipMessage) -> None:
    """What the check does with an answer: headers, CSeq, challenges, Authentication-Info."""
    message.header("CSeq")
    message.header_values("WWW-Authenticate")
    _ = message.cseq, message.call_id
    for challenge in parse_challenges(message):  # documented: never raises
        assert challenge.scheme_token is not None
    never_raises_but(SipProtocolError, lambda: authentication_info(message))
    never_raises_but(SipProtocolError, lambda: incoming_signature_fields(message))
    # What was accepted can be written again and reads back the same.
    again = parse_message(message.to_bytes())
    assert again == message


@budget(2000)
@given(data=sip_bytes)
@example(data=b"REGISTER \tip:example.test SIP/2.0\r\n\r\n")  # was accepted, not writable
def test_parse_message_raises_only_sip_protocol_error(data: bytes) -> None:
    message = never_raises_but(SipProtocolError, lambda: parse_message(data))
    event("parsed" if message is not None else "refused")
    if message is not None:
        assert isinstance(message, SipMessage)
        exercise(message)


@budget(800)
@given(first=sip_bytes, second=st.sampled_from(sip_seeds()),
       cuts=st.lists(st.integers(0, 8192), max_size=8), keepalives=st.integers(0, 3))
def test_stream_parser_any_split(first: bytes, second: bytes, cuts: list[int],
                                 keepalives: int) -> None:
    stream = first + b"\r\n\r\n" * keepalives + second
    points = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    parser = SipStreamParser()
    try:
        for start, end in itertools.pairwise(points):
            for message in parser.feed(stream[start:end]):
                exercise(message)
            assert parser.buffered <= MAX_HEADER_BYTES + MAX_BODY_BYTES
        parser.close()
    except SipProtocolError as exc:
        assert str(exc)
        # A broken stream stays broken, with the same error.
        try:
            parser.feed(b"SIP/2.0 200 OK\r\n\r\n")
        except SipProtocolError as again:
            assert again is exc
        else:
            raise AssertionError("a failed stream parser accepted more bytes") from None


@budget(300)
@given(reason=st.text(max_size=200), value=st.text(max_size=200))
def test_any_text_in_reason_or_header_is_protocol_error_or_kept(reason: str, value: str) -> None:
    data = (f"SIP/2.0 403 {reason}\r\nServer: {value}\r\nContent-Length: 0\r\n\r\n"
            ).encode("utf-8", "surrogatepass")
    message = never_raises_but(SipProtocolError, lambda: parse_message(data))
    if isinstance(message, SipResponse):
        assert message.reason == reason.strip()
        exercise(message)


DIAGNOSTIC_TOKENS = (
    b"ms-diagnostics: ", b"ms-diagnostics-public: ", b"Warning: ", b"1000", b"4005.1",
    b";reason=\"", b"\\\"", b";source=", b", ", b"399 lcs.microsoft.com \"", b"Date: ",
    b"Mon, 01 Jan 0001 00:00:00 +2359", b"Fri, 31 Dec 9999 23:59:59 -2359", b"GMT",
    b"Server: ", b"SIP/2.0 403 ", b"SIP/2.0 404 ", b"SIP/2.0 480 ", b"SIP/2.0 503 ",
    b"SIP/2.0 699 ", b"SIP/2.0 200 ", b"SIP/2.0 301 ", b"Contact: <sip:",
)
ACCOUNT = parse_account("alice@example.test", login="EXAMPLE\\alice")


@budget(600)
@given(data=mutated(sip_server_seeds(), DIAGNOSTIC_TOKENS, max_size=8192))
def test_server_answers_are_explained_without_raising(data: bytes) -> None:
    """What the check reads from a final answer: the server's own words, its clock and the
    advice. None of it may raise on peer input (the check would crash)."""
    from sipe_setup.core.checkup.diagnose import clock_offset, server_diagnostics, status_advice

    message = never_raises_but(SipProtocolError, lambda: parse_message(data))
    if not isinstance(message, SipResponse):
        return
    server_words(message)
    server_diagnostics(message)
    clock_offset(message)
    if message.status >= 300:
        status_advice(message, "sip.example.test", ACCOUNT)


@budget(600)
@given(value=mutated([b'1000;reason="Final handshake failed";source="s.example.test"',
                      b'399 lcs.microsoft.com "Remote access is not allowed", 310 x "y"'],
                     DIAGNOSTIC_TOKENS, max_size=4096).map(lambda b: b.decode("utf-8", "replace")))
def test_diagnostic_headers_never_raise(value: str) -> None:
    parse_ms_diagnostics(value)
    parse_warning(value)


# --- pathological inputs: bounded time, bounded buffer --------------------------------------------


def test_a_dribbled_maximal_line_is_refused_quickly() -> None:
    parser = SipStreamParser()
    head = b"SIP/2.0 200 OK\r\nServer: "
    with within(5.0):
        for byte in head + b"A" * (MAX_LINE_BYTES + 10):
            try:
                parser.feed(bytes([byte]))
            except SipProtocolError:
                break
        else:
            raise AssertionError("an over-long line was accepted")
    assert parser.buffered == 0


def test_a_dribbled_maximal_header_block_is_bounded() -> None:
    parser = SipStreamParser()
    line = b"X-Filler: " + b"b" * 1000 + b"\r\n"
    with within(5.0):
        try:
            parser.feed(b"SIP/2.0 200 OK\r\n")
            for _ in range(MAX_HEADER_BYTES // len(line) + 2):
                for index in range(0, len(line), 7):
                    parser.feed(line[index:index + 7])
        except SipProtocolError:
            pass
        else:
            raise AssertionError("an over-large header block was accepted")


def test_endless_keepalives_and_huge_content_length() -> None:
    parser = SipStreamParser()
    with within(2.0):
        for _ in range(2000):
            assert parser.feed(b"\r\n\r\n" * 64) == []
    assert parser.buffered == 0
    with within(1.0):
        try:
            parser.feed(b"SIP/2.0 200 OK\r\nContent-Length: 4294967296\r\n\r\n")
        except SipProtocolError as exc:
            assert "Content-Length" in str(exc)
        else:
            raise AssertionError("a 4 GiB body was announced and accepted")


def test_many_folded_lines_parse_in_linear_time() -> None:
    data = (b"SIP/2.0 200 OK\r\nX-Long: a\r\n" + b" b\r\n" * 12000 + b"\r\n")
    with within(2.0):
        never_raises_but(SipProtocolError, lambda: parse_message(data))
