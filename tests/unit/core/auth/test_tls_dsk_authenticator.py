"""TlsDskSipAuthenticator through a fake registrar whose TLS side is pyOpenSSL.

The registrar answers as the loopback test server of tls-dsk.md §4 did: 401 with the TLS-DSK
challenge, 401s carrying the (coalesced) server flights, then a check of the client's signature
with the keys OpenSSL exports and a 200 OK signed with the server key.
"""

from __future__ import annotations

import base64
import hmac
import re
from datetime import timedelta

import pytest

from sipe_setup.core.auth.challenge import (
    AuthChallenge,
    ChallengeScheme,
    find_challenge,
    parse_challenges,
)
from sipe_setup.core.auth.errors import AuthProtocolError, AuthUsageError
from sipe_setup.core.auth.signature import fields_from_message
from sipe_setup.core.auth.tls_dsk import (
    TlsDskFailure,
    TlsDskHandshakeError,
    TlsDskSipAuthenticator,
    TlsDskUsageError,
)
from sipe_setup.core.sip.message import SipRequest, SipResponse, parse_auth_params
from tests.unit.core.auth.test_tls_dsk_handshake import OpenSslServer, coalesce, pki

REALM = "SIP Communications Service"
TARGET = "server.example.test"
STS = "https://127.0.0.1:4443/CertProv/CertProvisioningService.svc"
B64 = r"[A-Za-z0-9+/]+=*"


def register(cseq: int, method: str = "REGISTER") -> SipRequest:
    return SipRequest(method=method, uri="sip:example.test", headers=(
        ("Via", "SIP/2.0/tcp 127.0.0.1:50452;branch=z9hG4bKA95276B7074D9386B4AE"),
        ("From", "<sip:alice@example.test>;tag=255151732;epid=b34afb6ebb23"),
        ("To", "<sip:alice@example.test>"),
        ("CSeq", f"{cseq} {method}"),
        ("Call-ID", "1B80gACBFaD148i6E96mCC65t83DDbCAD8xEB96x"),
        ("Content-Length", "0"),
    ))


class FakeRegistrar:
    """Just the TLS-DSK part of a Lync registrar."""

    def __init__(self, version: int = 4, server: OpenSslServer | None = None) -> None:
        self.version = version
        self.tls = server or OpenSslServer()
        self.flights = 0
        self.snum = 0
        self.verified: list[int] = []

    def reply(self, request: SipRequest, status: int, reason: str,
              *extra: tuple[str, str]) -> SipResponse:
        keep = tuple((n, v) for n, v in request.headers
                     if n in ("Via", "From", "Call-ID", "CSeq"))
        return SipResponse(status=status, reason=reason, headers=(
            *keep, ("To", "<sip:alice@example.test>;tag=43CB1187DF596519DD6CB5295EFE7D0B"),
            *extra, ("Content-Length", "0")))

    def answer(self, request: SipRequest) -> SipResponse:
        value = request.header("Authorization")
        if value is None:
            return self.reply(request, 401, "Unauthorized", ("WWW-Authenticate", (
                f'TLS-DSK realm="{REALM}", targetname="{TARGET}", version={self.version}, '
                f'sts-uri="{STS}"')))
        params = parse_auth_params(value)
        data = params.get("gssapi-data")
        if data is not None:
            out = self.tls.feed(base64.b64decode(data))
            self.flights += 1
            if self.flights == 1:
                out = coalesce(out)
            token = base64.b64encode(out).decode()
            return self.reply(request, 401, "Unauthorized", ("WWW-Authenticate", (
                f'TLS-DSK opaque="BA311D0B", gssapi-data="{token}", targetname="{TARGET}", '
                f'realm="{REALM}", version={self.version}')))
        client_key, server_key = self.tls.eap_keys()
        if params.get("response") is not None:
            fields = fields_from_message(request, scheme="TLS-DSK", rand=params.get("crand") or "",
                                         num=params.get("cnum") or "", realm=REALM,
                                         target_name=TARGET)
            expected = hmac.digest(client_key, fields.to_string(self.version).encode(), "sha1")
            assert params.get("response") == expected.hex().upper()
            self.verified.append(int(params.get("cnum") or 0))
        ok = self.reply(request, 200, "OK", ("Expires", "7200"))
        self.snum += 1
        srand = f"{0xF8E766F2 + self.snum:08X}"
        fields = fields_from_message(ok, scheme="TLS-DSK", rand=srand, num=str(self.snum),
                                     realm=REALM, target_name=TARGET)
        rspauth = hmac.digest(server_key, fields.to_string(self.version).encode(), "sha1").hex()
        return ok.with_header("Authentication-Info", (
            f'TLS-DSK qop="auth", opaque="BA311D0B", srand="{srand}", snum="{self.snum}", '
            f'rspauth="{rspauth}", targetname="{TARGET}", realm="{REALM}", '
            f"version={self.version}"))


def challenge_of(response: SipResponse) -> AuthChallenge:
    challenge = find_challenge(parse_challenges(response), ChallengeScheme.TLS_DSK)
    assert challenge is not None
    return challenge


def sign_in(auth: TlsDskSipAuthenticator, registrar: FakeRegistrar) -> tuple[list[str],
                                                                             SipResponse]:
    """REGISTER without auth, then the three TLS-DSK REGISTERs; the headers and last answer."""
    response = registrar.answer(register(1))
    headers = []
    for cseq in (2, 3, 4):
        request = register(cseq)
        call = auth.start if cseq == 2 else auth.step
        header = call(challenge_of(response), request)
        headers.append(header)
        response = registrar.answer(request.with_header("Authorization", header))
    return headers, response


def test_sign_in_against_the_registrar() -> None:
    auth = TlsDskSipAuthenticator(pki().client_der, pki().client_key)
    registrar = FakeRegistrar()
    (hello, flight, final), ok = sign_in(auth, registrar)
    assert re.fullmatch(f'TLS-DSK qop="auth", realm="{REALM}", targetname="{TARGET}", '
                        f'gssapi-data="{B64}", version=4', hello)
    assert re.fullmatch(f'TLS-DSK qop="auth", opaque="BA311D0B", realm="{REALM}", '
                        f'targetname="{TARGET}", gssapi-data="{B64}", version=4', flight)
    assert re.fullmatch(f'TLS-DSK qop="auth", opaque="BA311D0B", realm="{REALM}", '
                        f'targetname="{TARGET}", version=4, crand="[0-9a-f]{{8}}", cnum="1", '
                        'response="[0-9A-F]{40}"', final)
    assert ok.status == 200 and registrar.verified == [1]
    assert auth.is_complete and auth.verify_response(ok) is True
    assert auth.server_finished_verified is True
    assert auth.cipher_suite is not None and auth.cipher_suite.name == "AES128-SHA"
    assert auth.signature_algorithm == "HMAC-SHA1"
    assert auth.handshake.server_version == 0x0301

    subscribe = register(5, "SUBSCRIBE")
    header = auth.sign_request(subscribe)
    assert header.startswith('TLS-DSK qop="auth", opaque="BA311D0B", realm=')
    assert "version" not in header and "gssapi-data" not in header
    answer = registrar.answer(subscribe.with_header("Authorization", header))
    assert registrar.verified == [1, 2] and auth.verify_response(answer) is True


def test_version_3_leaves_the_last_register_unsigned() -> None:
    auth = TlsDskSipAuthenticator(pki().client_der, pki().client_key)
    registrar = FakeRegistrar(version=3)
    (_, _, final), ok = sign_in(auth, registrar)
    assert final == (f'TLS-DSK qop="auth", opaque="BA311D0B", realm="{REALM}", '
                     f'targetname="{TARGET}", version=3')
    assert registrar.verified == [] and auth.cnum == 0
    assert auth.verify_response(ok) is True


def test_deterministic_headers_with_injected_randomness() -> None:
    def build() -> list[str]:
        auth = TlsDskSipAuthenticator(pki().client_der, pki().client_key,
                                      getrandbits=lambda bits: 0x50C40D7A,
                                      random_bytes=lambda n: bytes([9]) * n,
                                      unix_time=lambda: 1795976800.0)
        response = FakeRegistrar().answer(register(1))
        return [auth.start(challenge_of(response), register(2))]

    assert build() == build()
    assert base64.b64decode(build()[0].split('gssapi-data="')[1].split('"')[0])[11:15] == \
        (1795976800).to_bytes(4, "big")


def test_a_server_refusing_tls_1_0_fails_the_step() -> None:
    from OpenSSL import SSL

    registrar = FakeRegistrar(server=OpenSslServer(minimum=SSL.TLS1_2_VERSION, maximum=0,
                                                   ciphers=b"DEFAULT"))
    auth = TlsDskSipAuthenticator(pki().client_der, pki().client_key)
    first = registrar.answer(register(1))
    request = register(2)
    second = registrar.answer(request.with_header("Authorization",
                                                  auth.start(challenge_of(first), request)))
    with pytest.raises(TlsDskHandshakeError) as caught:
        auth.step(challenge_of(second), register(3))
    assert caught.value.failure is TlsDskFailure.SERVER_ALERT
    assert isinstance(caught.value, AuthProtocolError)
    with pytest.raises(AuthUsageError):
        auth.step(challenge_of(second), register(3))


def test_misuse_and_missing_tokens() -> None:
    auth = TlsDskSipAuthenticator(pki().client_der, pki().client_key)
    registrar = FakeRegistrar()
    first = challenge_of(registrar.answer(register(1)))
    with pytest.raises(AuthUsageError):
        auth.step(first, register(2))
    with pytest.raises(AuthUsageError):
        auth.sign_request(register(2))
    auth.start(first, register(2))
    with pytest.raises(AuthProtocolError):
        auth.step(first, register(3))  # a 401 without gssapi-data
    with pytest.raises(TlsDskUsageError):
        TlsDskSipAuthenticator(pki().client_der, pki().server_key)


def test_restart_begins_a_new_handshake_and_cnum_keeps_counting() -> None:
    auth = TlsDskSipAuthenticator(pki().client_der, pki().client_key)
    sign_in(auth, FakeRegistrar())
    assert auth.cnum == 1
    first_keys = auth.handshake.client_signing_key
    auth.restart()
    assert not auth.is_complete
    sign_in(auth, FakeRegistrar())
    assert auth.cnum == 2 and auth.handshake.client_signing_key != first_keys


def test_expiry_follows_the_certificate() -> None:
    auth = TlsDskSipAuthenticator(pki().client_der, pki().client_key)
    not_after = auth.certificate_not_after
    assert not_after == pki().client.not_valid_after_utc
    assert auth.expires_in(not_after - timedelta(seconds=100, microseconds=500)) == 100
    assert auth.expires_in(not_after + timedelta(seconds=1)) == 0
    assert auth.reauthenticate_in(not_after - timedelta(hours=10)) == 8 * 3600 - 300
    assert auth.reauthenticate_in(not_after - timedelta(hours=1)) == 3600 - 300
    assert 0 < auth.expires_in() <= 8 * 3600


def test_keys_stay_out_of_repr() -> None:
    auth = TlsDskSipAuthenticator(pki().client_der, pki().client_key)
    sign_in(auth, FakeRegistrar())
    text = repr(auth) + repr(auth.handshake)
    assert "AES128-SHA" in text
    assert auth.handshake.client_signing_key.hex() not in text.lower()
    assert auth.handshake.server_signing_key.hex() not in text.lower()
    assert str(pki().client_key.private_numbers().d)[:12] not in text
