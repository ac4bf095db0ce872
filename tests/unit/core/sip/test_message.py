"""SIP codec: parsing rules, limits, stream framing, building (reference §3, DESIGN §2)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipe_setup.core.sip.message import (
    MAX_BODY_BYTES,
    MAX_HEADERS,
    MAX_LINE_BYTES,
    SipProtocolError,
    SipRequest,
    SipResponse,
    SipStreamParser,
    SipUsageError,
    parse_auth_params,
    parse_message,
)
from tests.golden.capture import raw_messages

CHALLENGE_401 = (
    b"SIP/2.0 401 Unauthorized\r\n"
    b"v: SIP/2.0/tcp 127.0.0.1:5060;branch=z9hG4bK1\r\n"
    b"i: abc\r\n"
    b"CSeq: 1 REGISTER\r\n"
    b"WWW-Authenticate: Kerberos realm=\"SIP Communications Service\",\r\n"
    b" targetname=\"sip/ocs.contoso.com\", version=4\r\n"
    b"www-authenticate: NTLM realm=\"SIP Communications Service\", "
    b"targetname=\"ocs.contoso.com\", version=4\r\n"
    b"l: 5\r\n"
    b"\r\n"
    b"hello")


def test_case_insensitive_compact_folded_and_repeated_headers() -> None:
    msg = parse_message(CHALLENGE_401)
    assert isinstance(msg, SipResponse)
    assert (msg.status, msg.reason) == (401, "Unauthorized")
    assert msg.call_id == "abc"
    assert msg.header("VIA") == "SIP/2.0/tcp 127.0.0.1:5060;branch=z9hG4bK1"
    assert msg.cseq == (1, "REGISTER")
    values = msg.header_values("WWW-AUTHENTICATE")
    assert len(values) == 2
    assert values[0] == ('Kerberos realm="SIP Communications Service", '
                         'targetname="sip/ocs.contoso.com", version=4')
    assert msg.body == b"hello"
    assert msg.header("Content-Length") == "5"


def test_auth_params_quoted_escaped_and_tokens() -> None:
    p = parse_auth_params('NTLM realm="SIP \\"Comm\\", Service", targetname="a.b", '
                          'version=4 ,cnum="1", gssapi-data=""')
    assert p.scheme == "NTLM"
    assert p.get("REALM") == 'SIP "Comm", Service'
    assert p.get("version") == "4"
    assert p.get("cnum") == "1"
    assert p.get("gssapi-data") == ""
    assert p.get("missing") is None
    assert p.names() == ["realm", "targetname", "version", "cnum", "gssapi-data"]


@pytest.mark.parametrize("value", ['', '"x"', 'NTLM realm="open', "NTLM realm",
                                   'NTLM realm="a" junk', "NTLM =x"])
def test_bad_auth_params(value: str) -> None:
    with pytest.raises(SipProtocolError):
        parse_auth_params(value)


@pytest.mark.parametrize(("data", "message"), [
    (b"HTTP/1.1 400 Bad Request\r\n\r\n", "HTTP"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc", "TLS handshake"),
    (b"\x00\x01\x02garbage\r\n\r\n", "not a SIP message"),
    (b"SIP/2.0 099 Low\r\n\r\n", "status out of range"),
    (b"SIP/2.0 abc Bad\r\n\r\n", "3-digit"),
    (b"REGISTER sip:x SIP/3.0\r\n\r\n", "not a SIP/2.0"),
    (b"SIP/2.0 200 OK\r\nNo colon here\r\n\r\n", "malformed header"),
    (b"SIP/2.0 200 OK\r\n continuation\r\n\r\n", "continuation line"),
    (b"SIP/2.0 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
    (b"SIP/2.0 200 OK\r\nContent-Length: 1\r\nl: 2\r\n\r\nx", "conflicting"),
    (b"SIP/2.0 200 OK\r\nContent-Length: 3\r\n\r\nx", "body has 1 bytes"),
    (b"SIP/2.0 200 OK\r\nX: \xff\r\n\r\n", "UTF-8"),
    (b"SIP/2.0 200 OK\r\nX: a\rb\r\n\r\n", "bare CR"),
    (b"SIP/2.0 200 OK\r\n", "ends before the blank line"),
])
def test_peer_errors(data: bytes, message: str) -> None:
    with pytest.raises(SipProtocolError, match=message):
        parse_message(data)


def test_limits() -> None:
    many = b"SIP/2.0 200 OK\r\n" + b"X: y\r\n" * (MAX_HEADERS + 1) + b"\r\n"
    with pytest.raises(SipProtocolError, match="more than"):
        parse_message(many)
    long_line = b"SIP/2.0 200 OK\r\nX: " + b"a" * MAX_LINE_BYTES + b"\r\n\r\n"
    with pytest.raises(SipProtocolError, match="longer than"):
        parse_message(long_line)
    big = f"SIP/2.0 200 OK\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()
    with pytest.raises(SipProtocolError, match="exceeds"):
        SipStreamParser().feed(big)


def test_stream_framing_keepalives_and_byte_by_byte() -> None:
    wire = b"\r\n\r\n" + CHALLENGE_401 + b"\r\n\r\n" + CHALLENGE_401
    parser = SipStreamParser()
    out = []
    for i in range(len(wire)):
        out += parser.feed(wire[i:i + 1])
    assert [m.body for m in out] == [b"hello", b"hello"]
    assert parser.keepalives >= 2
    assert parser.buffered == 0
    parser.close()


def test_stream_rejects_garbage_and_stays_failed() -> None:
    parser = SipStreamParser()
    with pytest.raises(SipProtocolError, match="HTTP"):
        parser.feed(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(SipProtocolError, match="HTTP"):
        parser.feed(b"SIP/2.0 200 OK\r\n\r\n")


def test_stream_bounded_without_line_breaks() -> None:
    parser = SipStreamParser()
    with pytest.raises(SipProtocolError, match="longer than"):
        for _ in range(MAX_LINE_BYTES // 1000 + 2):
            parser.feed(b"SIP/2.0 200 OK" if parser.buffered == 0 else b"a" * 1000)
    assert parser.buffered == 0


def test_stream_close_mid_message() -> None:
    parser = SipStreamParser()
    assert parser.feed(b"SIP/2.0 200 OK\r\nContent-Length: 4\r\n\r\nab") == []
    with pytest.raises(SipProtocolError, match="closed in the middle"):
        parser.close()


def test_every_capture_message_round_trips_exactly_and_streams() -> None:
    for name in ("ntlm-tcp.wire.txt", "ntlm-tcp-signin.wire.txt", "krb5-tcp.wire.txt"):
        raws = [data for _, data in raw_messages(name)]
        for raw in raws:
            assert parse_message(raw).to_bytes() == raw
        parser = SipStreamParser()
        joined = b"".join(raws)
        got = []
        for i in range(0, len(joined), 37):
            got += parser.feed(joined[i:i + 37])
        assert [m.to_bytes() for m in got] == raws


def test_build_preserves_order_and_checks_our_own_mistakes() -> None:
    req = SipRequest(method="REGISTER", uri="sip:example.test",
                     headers=(("Via", "v"), ("Content-Length", "0")))
    req = req.with_header("Authorization", "NTLM x")
    assert req.to_bytes() == (b"REGISTER sip:example.test SIP/2.0\r\nVia: v\r\n"
                              b"Content-Length: 0\r\nAuthorization: NTLM x\r\n\r\n")
    with pytest.raises(SipUsageError, match="line break"):
        SipRequest(uri="sip:x", headers=(("X", "a\r\nInjected: 1"),)).to_bytes()
    with pytest.raises(SipUsageError, match="Content-Length"):
        SipRequest(uri="sip:x", headers=(("Content-Length", "0"),), body=b"x").to_bytes()
    with pytest.raises(SipUsageError, match="needs a Content-Length"):
        SipRequest(uri="sip:x", body=b"x").to_bytes()
    with pytest.raises(SipUsageError, match="token"):
        SipRequest(uri="sip:x", headers=(("Bad Name", "v"),)).to_bytes()
    with pytest.raises(SipUsageError, match="100-699"):
        SipResponse(status=42).to_bytes()


@settings(max_examples=300)
@given(st.binary(max_size=600))
def test_random_bytes_raise_only_sip_protocol_error(data: bytes) -> None:
    with contextlib.suppress(SipProtocolError):
        parse_message(data)
    parser = SipStreamParser()
    try:
        parser.feed(data)
        parser.close()
    except SipProtocolError:
        pass


@settings(max_examples=300)
@given(st.integers(0, len(CHALLENGE_401)), st.binary(max_size=40))
def test_mutated_messages_raise_only_sip_protocol_error(pos: int, junk: bytes) -> None:
    data = CHALLENGE_401[:pos] + junk + CHALLENGE_401[pos:]
    try:
        msg = parse_message(data)
        for value in msg.header_values("WWW-Authenticate"):
            parse_auth_params(value)
    except SipProtocolError:
        pass


@given(st.text(max_size=200))
def test_auth_param_parser_raises_only_sip_protocol_error(text: str) -> None:
    with contextlib.suppress(SipProtocolError):
        parse_auth_params(text)
