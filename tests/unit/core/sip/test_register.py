"""SIPE identifiers and REGISTER shape (reference §3.1, §3.2, §1.6)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from sipe_setup.core.account import Transport, parse_account
from sipe_setup.core.sip.message import SipResponse, SipUsageError, parse_message
from sipe_setup.core.sip.register import (
    DEFAULT_USER_AGENT,
    RegisterDialog,
    epid,
    new_branch,
    new_call_id,
    new_tag,
    parse_redirect_contact,
    sip_instance,
)

SIGNIN = parse_account("alice@example.test").signin


def test_epid_and_instance_of_the_capture() -> None:
    assert epid("sip:alice@example.test", "vm", "127.0.0.1") == "b34afb6ebb23"
    assert sip_instance("b34afb6ebb23") == "085e0bd8-031c-5a0d-8d9a-f149aae6954a"


@pytest.mark.parametrize(("epid_value", "instance"), [
    ("8248ca9ebb", "4233FD41-093B-5FD6-B5D2-651ED55969E6"),
    ("c8ca638a15", "34D859DB-6585-5F91-A3B4-DE853C15347D"),
])
def test_instance_examples_from_ms_sipae_and_oc(epid_value: str, instance: str) -> None:
    assert sip_instance(epid_value) == instance.lower()


def test_instance_partial_ms_sipae_example() -> None:
    value = sip_instance("2ebb6f264f")
    assert value.startswith("124841e4-") and value.endswith("-d22aa8cdc316")


def fixed(values: list[int]) -> Callable[[int], int]:
    it = iter(values)
    return lambda _bits: next(it)


def test_random_formats() -> None:
    assert new_call_id(fixed([0x9DAB, 0x3696, 0xFF01, 0xAB85, 0x6BF, 0x7E26, 0xC9AF, 0x8A52])) \
        == "9DABg3696aFF01iAB85m06BFt7E26bC9AFx8A52x"
    assert new_tag(fixed([21687, 50342])) == "2168750342"
    assert new_tag(fixed([3, 7])) == "00030007"
    assert new_branch(fixed([0xFB53, 0xF624, 0x4FA0, 0x563, 0xD19A])) == \
        "z9hG4bKFB53F6244FA00563D19A"
    assert re.fullmatch(r"z9hG4bK[0-9A-F]{20}", new_branch())
    assert re.fullmatch(r"\d{8,10}", new_tag())


def test_dialog_sequence_same_call_id_new_tag_and_branch() -> None:
    dialog = RegisterDialog(signin=SIGNIN, transport=Transport.TLS, local_ip="10.0.0.5",
                            local_port=50000, hostname="vm")
    first, second = dialog.next_register(), dialog.next_register(deregister=True)
    assert (first.cseq, second.cseq) == (1, 2)
    assert first.request.call_id == second.request.call_id == dialog.call_id
    assert first.tag != second.tag and first.branch != second.branch
    assert first.request.header("Expires") is None
    names = [n for n, _ in second.request.headers]
    assert names[-2:] == ["Expires", "Content-Length"]
    assert second.request.header("Expires") == "0"
    assert first.request.header("User-Agent") == DEFAULT_USER_AGENT
    assert "SIP/2.0/tls 10.0.0.5:50000;" in (first.request.header("Via") or "")
    wire = first.authorized("NTLM x").to_bytes()
    assert wire.endswith(b"Content-Length: 0\r\nAuthorization: NTLM x\r\n\r\n")
    assert first.authorized(None) is first.request


def test_ipv6_brackets_and_transport_checks() -> None:
    dialog = RegisterDialog(signin=SIGNIN, transport=Transport.TCP, local_ip="2001:db8::1",
                            local_port=5060, hostname="vm", user_agent="UCCAPI/16.0")
    req = dialog.next_register().request
    assert (req.header("Via") or "").startswith("SIP/2.0/tcp [2001:db8::1]:5060;")
    assert "<sip:[2001:db8::1]:5060;transport=tcp;" in (req.header("Contact") or "")
    assert dialog.epid == epid("sip:alice@example.test", "vm", "2001:db8::1")
    assert req.header("User-Agent") == "UCCAPI/16.0"
    with pytest.raises(SipUsageError):
        RegisterDialog(signin=SIGNIN, transport=Transport.AUTO, local_ip="::1",
                       local_port=1, hostname="vm")
    with pytest.raises(SipUsageError):
        RegisterDialog(signin=SIGNIN, transport=Transport.TCP, local_ip="localhost",
                       local_port=1, hostname="vm")


def test_is_response_to() -> None:
    dialog = RegisterDialog(signin=SIGNIN, transport=Transport.TCP, local_ip="127.0.0.1",
                            local_port=5555, hostname="vm")
    att = dialog.next_register()
    resp = SipResponse(status=401, reason="Unauthorized", headers=(
        ("Via", att.request.header("Via") or ""), ("Call-ID", dialog.call_id),
        ("CSeq", "1 REGISTER")))
    assert att.is_response_to(resp)
    other = SipResponse(status=401, reason="Unauthorized", headers=(
        ("Via", att.request.header("Via") or ""), ("Call-ID", dialog.call_id),
        ("CSeq", "2 REGISTER")))
    assert not att.is_response_to(other)


@pytest.mark.parametrize(("contact", "host", "port", "transport"), [
    ("<sip:pool.contoso.com:5061;transport=tls>", "pool.contoso.com", 5061, Transport.TLS),
    ("<sip:pool.contoso.com;transport=tcp>", "pool.contoso.com", None, Transport.TCP),
    ("<sip:[2001:db8::2]:443>", "2001:db8::2", 443, Transport.TLS),
    ("sip:edge.contoso.com:443", "edge.contoso.com", 443, Transport.TLS),
])
def test_redirect_contact(contact: str, host: str, port: int | None,
                          transport: Transport) -> None:
    resp = parse_message(f"SIP/2.0 301 Moved\r\nContact: {contact}\r\n\r\n".encode())
    assert isinstance(resp, SipResponse)
    target = parse_redirect_contact(resp)
    assert target is not None
    assert (target.host, target.port, target.transport) == (host, port, transport)


def test_redirect_without_usable_contact() -> None:
    assert parse_redirect_contact(SipResponse(status=301)) is None
    bad = SipResponse(status=301, headers=(("Contact", "<sip:host:99999>"),))
    assert parse_redirect_contact(bad) is None
