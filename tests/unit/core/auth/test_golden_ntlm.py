"""Replay real pidgin-sipe 1.25.0 captures byte for byte (reference §6 "Capture").

Account ``alice@example.test``, login ``EXAMPLE\\alice``, password ``Passw0rd!``, host ``vm``,
local IP 127.0.0.1. The random values SIPE drew (Call-ID, tags, branches, client challenge,
crand) are read back from the capture; the exported session key — which never appears in
clear — is recovered from the password by the test registrar's acceptor.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest

from sipe_setup.core.account import NtlmIdentity, Secret, Transport, parse_account
from sipe_setup.core.auth.authenticator import NtlmSipAuthenticator
from sipe_setup.core.auth.challenge import ChallengeScheme, find_challenge, parse_challenges
from sipe_setup.core.auth.errors import ServerSignatureError
from sipe_setup.core.auth.ntlm import AvId, parse_authenticate, parse_challenge
from sipe_setup.core.auth.signature import fields_from_message
from sipe_setup.core.sip.message import SipRequest, SipResponse, parse_auth_params
from sipe_setup.core.sip.register import RegisterDialog
from tests.golden.capture import messages, raw_messages, requests, responses
from tests.servers.ntlm_acceptor import NtlmAcceptor, NtlmServerSession

PASSWORD = "Passw0rd!"
USERS = {("EXAMPLE", "alice"): PASSWORD}
SIGNATURE_STRING = (
    "<NTLM><0cf923ad><1><SIP Communications Service><server.example.test>"
    "<9DABg3696aFF01iAB85mF6BFt7E26bC9AFx8A52x><3><REGISTER><sip:alice@example.test>"
    "<2438760589><sip:alice@example.test><><><><>")


def without_authorization(request: SipRequest) -> SipRequest:
    headers = tuple((n, v) for n, v in request.headers if n.lower() != "authorization")
    return SipRequest(headers=headers, body=request.body, method=request.method,
                      uri=request.uri)


def auth_param(request: SipRequest, name: str) -> str | None:
    value = request.header("Authorization")
    assert value is not None
    return parse_auth_params(value).get(name)


@dataclass
class NtlmExchange:
    """The NTLM tokens of a capture and the session the acceptor recovers from them."""

    type2: bytes
    type3: bytes
    session: NtlmServerSession


def recover(name: str) -> NtlmExchange:
    reqs = [r for r in requests(name) if r.method == "REGISTER"]
    resps = responses(name)
    type2 = base64.b64decode(parse_challenges(resps[1])[0].gssapi_data or "")
    gssapi = auth_param(reqs[2], "gssapi-data")
    assert gssapi is not None
    type3 = base64.b64decode(gssapi)
    handshake = NtlmAcceptor(USERS).new_handshake(parse_challenge(type2).server_challenge)
    result = handshake.accept(type3)
    assert result.ok, result.detail
    assert result.session is not None
    return NtlmExchange(type2, type3, result.session)


def replay(name: str, transport: Transport) -> tuple[list[bytes], NtlmSipAuthenticator]:
    """Rebuild SIPE's three REGISTERs from our code; return their bytes and the authenticator."""
    captured = [r for r in requests(name) if r.method == "REGISTER"][:3]
    resps = responses(name)
    exchange = recover(name)
    type3 = parse_authenticate(exchange.type3)
    client_challenge = type3.lm_response[16:24]
    esk = exchange.session.keys.exported_session_key
    crand = auth_param(captured[2], "crand")
    randbytes = [client_challenge, esk]
    randbits = [int(crand, 16)] if crand else []
    account = parse_account("alice@example.test", "EXAMPLE\\alice")
    via = captured[0].header("Via") or ""
    local_port = int(via.split(" ", 1)[1].split(";", 1)[0].rsplit(":", 1)[1])
    dialog = RegisterDialog(signin=account.signin, transport=transport, local_ip="127.0.0.1",
                            local_port=local_port, hostname="vm",
                            call_id=captured[0].call_id)
    auth = NtlmSipAuthenticator(account.login.ntlm, Secret(PASSWORD), "vm",
                                getrandbits=lambda _k: randbits.pop(0),
                                getrandbytes=lambda _n: randbytes.pop(0))

    def attempt_for(i: int) -> SipRequest:
        frm = captured[i].header("From") or ""
        tag = frm.split(";tag=", 1)[1].split(";", 1)[0]
        branch = (captured[i].header("Via") or "").split("branch=", 1)[1]
        return dialog.next_register(tag=tag, branch=branch).request

    out = []
    req = attempt_for(0)
    out.append(req.to_bytes())
    req = attempt_for(1)
    ch1 = find_challenge(parse_challenges(resps[0]), ChallengeScheme.NTLM)
    assert ch1 is not None
    out.append(req.with_header("Authorization", auth.start(ch1, req)).to_bytes())
    req = attempt_for(2)
    ch2 = find_challenge(parse_challenges(resps[1]), ChallengeScheme.NTLM)
    assert ch2 is not None
    out.append(req.with_header("Authorization", auth.step(ch2, req)).to_bytes())
    return out, auth


@pytest.mark.parametrize(("name", "transport"), [
    ("ntlm-tcp.wire.txt", Transport.TCP),
    ("ntlm-tcp-v3.wire.txt", Transport.TCP),
    ("ntlm-tcp-nover.wire.txt", Transport.TCP),
    ("ntlm-tls.wire.txt", Transport.TLS),
    ("ntlm-tcp-signin.wire.txt", Transport.TCP),
])
def test_three_registers_rebuilt_byte_for_byte(name: str, transport: Transport) -> None:
    rebuilt, auth = replay(name, transport)
    captured = [data for who, data in raw_messages(name) if who == "client"][:3]
    for ours, theirs in zip(rebuilt, captured, strict=True):
        assert ours.decode() == theirs.decode()
    assert auth.is_complete


def test_capture_signature_recomputes_from_the_password() -> None:
    exchange = recover("ntlm-tcp.wire.txt")
    reg3 = [r for r in requests("ntlm-tcp.wire.txt") if r.method == "REGISTER"][2]
    fields = fields_from_message(without_authorization(reg3), scheme="NTLM", rand="0cf923ad",
                                 num="1", realm="SIP Communications Service",
                                 target_name="server.example.test")
    assert fields.to_string(4) == SIGNATURE_STRING
    assert exchange.session.keys.signer(client_to_server=True).sign_hex(SIGNATURE_STRING) == \
        "01000000AD859B5F23F53A1264000000"
    assert exchange.session.verify_request(reg3, version=4)


def test_acceptor_rebuilds_the_captured_challenge() -> None:
    exchange = recover("ntlm-tcp.wire.txt")
    ch = parse_challenge(exchange.type2)
    assert ch.flags == 0xE2998275
    assert ch.target_name == "EXAMPLE"
    assert ch.av_text(AvId.DNS_COMPUTER_NAME) == "server.example.test"
    assert ch.timestamp is not None
    acceptor = NtlmAcceptor(USERS)
    assert acceptor.encode_challenge(ch.server_challenge, ch.timestamp) == exchange.type2


def test_type3_fields_match_sipe() -> None:
    type3 = parse_authenticate(recover("ntlm-tcp.wire.txt").type3)
    assert (type3.domain, type3.user, type3.workstation) == ("EXAMPLE", "alice", "VM")
    assert type3.flags == 0x62988255
    assert str(type3.version) == "5.1.2600 rev 15"


def test_v3_type3_register_is_not_signed_and_nover_omits_version() -> None:
    v3 = [r for r in requests("ntlm-tcp-v3.wire.txt") if r.method == "REGISTER"]
    assert auth_param(v3[2], "crand") is None
    assert auth_param(v3[2], "version") == "3"
    nover = [r for r in requests("ntlm-tcp-nover.wire.txt") if r.method == "REGISTER"]
    assert auth_param(nover[1], "version") is None
    assert auth_param(nover[2], "crand") is None


def test_signin_subscribes_are_signed_like_sipe_and_200_is_unsigned() -> None:
    name = "ntlm-tcp-signin.wire.txt"
    _, auth = replay(name, Transport.TCP)
    subscribes = [r for r in requests(name) if r.method == "SUBSCRIBE"]
    assert len(subscribes) == 2
    for sub in subscribes:
        crand = auth_param(sub, "crand")
        assert crand is not None
        auth._randbits = lambda _k, c=crand: int(c, 16)  # replay SIPE's crand
        assert auth.sign_request(without_authorization(sub)) == sub.header("Authorization")
    assert auth.cnum == 3
    ok = next(m for who, m in messages(name) if isinstance(m, SipResponse) and m.status == 200)
    assert auth.verify_response(ok) is False  # the capture's registrar did not sign


def test_server_signature_on_the_captured_200_verifies_and_tampering_is_detected() -> None:
    name = "ntlm-tcp-signin.wire.txt"
    _, auth = replay(name, Transport.TCP)
    session = recover(name).session
    ok = next(m for who, m in messages(name) if isinstance(m, SipResponse) and m.status == 200)
    info = session.authentication_info(ok, srand="9616454F", snum=1, opaque="0A1B2C3D",
                                       realm="SIP Communications Service",
                                       target_name="server.example.test", version=4)
    signed = ok.with_header("Authentication-Info", info)
    assert auth.verify_response(signed) is True
    tampered_sig = SipResponse(
        headers=tuple((n, v.replace('rspauth="01000000', 'rspauth="01000001'))
                      for n, v in signed.headers),
        body=signed.body, status=signed.status, reason=signed.reason)
    with pytest.raises(ServerSignatureError, match="Invalid message signature"):
        auth.verify_response(tampered_sig)
    # A changed Expires is a changed message: the signature no longer covers it.
    altered = SipResponse(
        headers=tuple((n, "3600" if n == "Expires" else v) for n, v in signed.headers),
        body=signed.body, status=signed.status, reason=signed.reason)
    with pytest.raises(ServerSignatureError):
        auth.verify_response(altered)


def test_wrong_password_is_rejected_for_the_captured_type3() -> None:
    exchange = recover("ntlm-tcp.wire.txt")
    acceptor = NtlmAcceptor({("EXAMPLE", "alice"): "wrong"})
    result = acceptor.new_handshake(parse_challenge(exchange.type2).server_challenge) \
        .accept(exchange.type3)
    assert not result.ok
    assert result.reason is not None and result.reason.value == "wrong-password"
    assert result.user == "alice"


def test_ntlm_identity_of_the_capture_login() -> None:
    account = parse_account("alice@example.test", "EXAMPLE\\alice")
    assert account.login.ntlm == NtlmIdentity("alice", "EXAMPLE")
