"""Our NTLM client against the test registrar's acceptor, over whole REGISTER exchanges."""

from __future__ import annotations

import base64
import itertools

import pytest

from sipe_setup.core.account import NtlmIdentity, Secret, Transport, parse_account
from sipe_setup.core.auth.authenticator import NtlmSipAuthenticator
from sipe_setup.core.auth.challenge import ChallengeScheme, find_challenge, parse_challenges
from sipe_setup.core.auth.errors import (
    AuthProtocolError,
    AuthUsageError,
    ServerSignatureError,
    UnsupportedChallengeError,
)
from sipe_setup.core.auth.ntlm import NtlmFlags
from sipe_setup.core.sip.message import SipRequest, SipResponse, parse_message
from sipe_setup.core.sip.register import RegisterDialog
from tests.servers.ntlm_acceptor import (
    DEFAULT_CHALLENGE_FLAGS,
    NtlmAcceptor,
    NtlmRejectReason,
    NtlmServerSession,
)

REALM = "SIP Communications Service"
TARGET = "server.example.test"
USERS = {("EXAMPLE", "alice"): "Passw0rd!", ("", "bob@example.test"): "s3cr3t"}


def version_param(version: int) -> str:
    return f", version={version}" if version else ""


class MiniRegistrar:
    """Just enough of a registrar to drive the client: 401, 401 + CHALLENGE, 200 signed."""

    def __init__(self, acceptor: NtlmAcceptor, version: int) -> None:
        self.acceptor = acceptor
        self.version = version
        self.handshake = acceptor.new_handshake()
        self.session: NtlmServerSession | None = None
        self.last_reason: NtlmRejectReason | None = None
        self.snum = itertools.count(1)

    def answer(self, request: SipRequest) -> SipResponse:
        wire = request.to_bytes()
        request = parse_message(wire)  # what the server sees is what went on the wire
        assert isinstance(request, SipRequest)
        base = tuple((n, request.header(n) or "") for n in ("Via", "From", "Call-ID", "CSeq"))
        auth = request.header("Authorization")
        if auth is None:
            return SipResponse(status=401, reason="Unauthorized", headers=(*base, (
                "WWW-Authenticate",
                f'NTLM realm="{REALM}", targetname="{TARGET}"{version_param(self.version)}')))
        gssapi = auth.split('gssapi-data="', 1)[1].split('"', 1)[0] if "gssapi-data" in auth \
            else None
        if gssapi == "":
            token = base64.b64encode(self.handshake.challenge).decode()
            return SipResponse(status=401, reason="Unauthorized", headers=(*base, (
                "WWW-Authenticate",
                f'NTLM opaque="0A1B2C3D", gssapi-data="{token}", realm="{REALM}", '
                f'targetname="{TARGET}"{version_param(self.version)}')))
        if gssapi is not None:
            result = self.handshake.accept(base64.b64decode(gssapi))
            self.last_reason = result.reason
            if not result.ok:
                return SipResponse(status=403, reason="Forbidden", headers=base)
            self.session = result.session
        assert self.session is not None
        signed_request = "crand=" in auth
        if signed_request:
            assert self.session.verify_request(request, version=self.version)
        ok = SipResponse(status=200, reason="OK",
                         headers=(*base, ("To", "<sip:alice@example.test>;tag=5E61"),
                                  ("Expires", "7200")))
        info = self.session.authentication_info(
            ok, srand=f"{next(self.snum) * 0x1234567:08X}", snum=1, opaque="0A1B2C3D",
            realm=REALM, target_name=TARGET, version=self.version)
        return ok.with_header("Authentication-Info", info)


def sign_in(identity: NtlmIdentity, password: str, version: int,
            acceptor: NtlmAcceptor | None = None,
            ) -> tuple[NtlmSipAuthenticator, MiniRegistrar, RegisterDialog, list[SipResponse]]:
    acceptor = acceptor or NtlmAcceptor(USERS)
    registrar = MiniRegistrar(acceptor, version)
    dialog = RegisterDialog(signin=parse_account("alice@example.test").signin,
                            transport=Transport.TLS, local_ip="192.0.2.7", local_port=40000,
                            hostname="laptop")
    auth = NtlmSipAuthenticator(identity, Secret(password), "laptop")
    replies = []
    att = dialog.next_register()
    replies.append(registrar.answer(att.request))
    ch = find_challenge(parse_challenges(replies[-1]), ChallengeScheme.NTLM)
    assert ch is not None
    att = dialog.next_register()
    replies.append(registrar.answer(att.authorized(auth.start(ch, att.request))))
    ch = find_challenge(parse_challenges(replies[-1]), ChallengeScheme.NTLM)
    assert ch is not None and ch.gssapi_data
    att = dialog.next_register()
    replies.append(registrar.answer(att.authorized(auth.step(ch, att.request))))
    return auth, registrar, dialog, replies


@pytest.mark.parametrize("version", [4, 3, 0])
def test_right_password_keys_agree_and_signatures_verify_both_ways(version: int) -> None:
    auth, registrar, dialog, replies = sign_in(NtlmIdentity("alice", "EXAMPLE"), "Passw0rd!",
                                               version)
    assert replies[-1].status == 200
    assert registrar.session is not None
    assert auth.session_keys == registrar.session.keys
    assert auth.verify_response(replies[-1]) is True
    assert auth.cnum == (1 if version > 3 else 0)
    # De-register: signed form, verified by the server, and its 200 verified by us.
    att = dialog.next_register(deregister=True)
    header = auth.sign_request(att.request)
    assert "version=" not in header and "gssapi-data" not in header
    assert f'cnum="{auth.cnum}"' in header
    reply = registrar.answer(att.authorized(header))
    assert auth.verify_response(reply) is True


def test_upn_login_with_empty_domain() -> None:
    auth, registrar, _, replies = sign_in(NtlmIdentity("bob@example.test", ""), "s3cr3t", 4)
    assert replies[-1].status == 200 and auth.is_complete
    assert registrar.session is not None and registrar.session.user == "bob@example.test"


@pytest.mark.parametrize(("identity", "password", "reason"), [
    (NtlmIdentity("alice", "EXAMPLE"), "Passw0rd?", NtlmRejectReason.WRONG_PASSWORD),
    (NtlmIdentity("mallory", "EXAMPLE"), "Passw0rd!", NtlmRejectReason.UNKNOWN_USER),
    (NtlmIdentity("alice", "OTHER"), "Passw0rd!", NtlmRejectReason.UNKNOWN_USER),
])
def test_rejections_say_why(identity: NtlmIdentity, password: str,
                            reason: NtlmRejectReason) -> None:
    _, registrar, _, replies = sign_in(identity, password, 4)
    assert replies[-1].status == 403
    assert registrar.last_reason is reason


def test_acceptor_reports_malformed_and_non_v2_tokens() -> None:
    hs = NtlmAcceptor(USERS).new_handshake()
    assert hs.accept(b"garbage").reason is NtlmRejectReason.MALFORMED
    assert "garbage" not in repr(hs.accept(b"garbage").session)


def test_tampered_rspauth_is_a_distinct_error() -> None:
    auth, _, _, replies = sign_in(NtlmIdentity("alice", "EXAMPLE"), "Passw0rd!", 4)
    ok = replies[-1]
    forged = SipResponse(status=ok.status, reason=ok.reason, headers=tuple(
        (n, v.replace("rspauth=\"0100", "rspauth=\"0200")) for n, v in ok.headers))
    with pytest.raises(ServerSignatureError):
        auth.verify_response(forged)
    unsigned = SipResponse(status=200, headers=tuple(
        (n, v) for n, v in ok.headers if n != "Authentication-Info"))
    assert auth.verify_response(unsigned) is False


def test_challenge_missing_a_flag_is_refused() -> None:
    acceptor = NtlmAcceptor(USERS, flags=DEFAULT_CHALLENGE_FLAGS & ~NtlmFlags.DATAGRAM)
    with pytest.raises(UnsupportedChallengeError, match="DATAGRAM"):
        sign_in(NtlmIdentity("alice", "EXAMPLE"), "Passw0rd!", 4, acceptor)


def test_challenge_without_timestamp_uses_the_clock() -> None:
    acceptor = NtlmAcceptor(USERS, include_timestamp=False)
    auth, _, _, replies = sign_in(NtlmIdentity("alice", "EXAMPLE"), "Passw0rd!", 4, acceptor)
    assert replies[-1].status == 200 and auth.is_complete


def test_state_errors_and_secret_hygiene() -> None:
    auth = NtlmSipAuthenticator(NtlmIdentity("alice", "EXAMPLE"), Secret("Passw0rd!"), "vm")
    req = SipRequest(uri="sip:example.test")
    with pytest.raises(AuthUsageError):
        auth.sign_request(req)
    with pytest.raises(AuthUsageError):
        auth.verify_response(SipResponse())
    first = parse_challenges(SipResponse(headers=(
        ("WWW-Authenticate", f'NTLM realm="{REALM}", targetname="{TARGET}", version=4'),)))[0]
    with pytest.raises(AuthUsageError):
        auth.step(first, req)
    assert auth.start(first, req) == (
        f'NTLM qop="auth", realm="{REALM}", targetname="{TARGET}", gssapi-data="", version=4')
    no_opaque = parse_challenges(SipResponse(headers=(
        ("WWW-Authenticate", f'NTLM gssapi-data="TlRMTVNTUAA=", realm="{REALM}", '
                             f'targetname="{TARGET}"'),)))[0]
    with pytest.raises(AuthProtocolError, match="opaque"):
        auth.step(no_opaque, req)
    krb = parse_challenges(SipResponse(headers=(
        ("WWW-Authenticate", f'Kerberos realm="{REALM}", targetname="sip/{TARGET}"'),)))[0]
    with pytest.raises(AuthUsageError):
        auth.start(krb, req)
    no_realm = parse_challenges(SipResponse(headers=(("WWW-Authenticate", "NTLM version=4"),)))
    with pytest.raises(AuthProtocolError, match="realm"):
        auth.start(no_realm[0], req)
    assert "Passw0rd" not in repr(auth)
    truncated = parse_challenges(SipResponse(headers=(
        ("WWW-Authenticate", f'NTLM opaque="1", gssapi-data="TlRMTVNTUAACAAAA", '
                             f'realm="{REALM}", targetname="{TARGET}"'),)))[0]
    auth.start(first, req)
    with pytest.raises(AuthProtocolError) as info:
        auth.step(truncated, req)
    assert "Passw0rd" not in str(info.value)
