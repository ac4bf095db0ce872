"""TLS-DSK pinned to real SIPE 1.25.0 (``tests/golden/captures/tlsdsk-signin.*``).

SIPE's debug log prints its pre-master and master secret, key block and both signing keys; the
keys file holds the test server's RSA key. Every value is re-derived here from the wire. The only
secret never logged is SIPE's own client key, so the full-replay tests stand in a stub for the
raw RSA signature — after checking that it is asked to sign exactly what SIPE signed.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sipe_setup.core.auth.challenge import (
    AuthChallenge,
    ChallengeScheme,
    find_challenge,
    parse_challenges,
)
from sipe_setup.core.auth.errors import ServerSignatureError
from sipe_setup.core.auth.signature import fields_from_message
from sipe_setup.core.auth.tls_dsk import (
    TlsDskFailure,
    TlsDskHandshake,
    TlsDskHandshakeError,
    TlsDskSipAuthenticator,
    tls10,
)
from sipe_setup.core.auth.tls_dsk.records import ContentType, HandshakeType, iter_records
from sipe_setup.core.auth.tls_dsk.tls10 import (
    CIPHER_SUITES,
    finished_verify_data,
    handshake_digests,
    key_block,
    master_secret,
    pkcs1_type1_block,
    prf,
    protect_record,
    tls_dsk_keys,
    unprotect_record,
)
from sipe_setup.core.sip.message import (
    SipMessage,
    SipRequest,
    SipResponse,
    parse_auth_params,
    parse_message,
)

CAPTURES = Path(__file__).resolve().parents[3] / "golden" / "captures"
SIGNIN = "tlsdsk-signin"
AES128_SHA = CIPHER_SUITES[0x002F]
CLIENT_HELLO_HEX = ("16030100350100003103016b0c6e609d3e21bc0dfa4108730a2e81cb2e3201295aa1a4de7d7"
                    "4f6f49a7a7600000a00040005002f003500030100")
REGISTER_STRING = (
    "<TLS-DSK><50c40d7a><1><SIP Communications Service><server.example.test>"
    "<1B80gACBFaD148i6E96mCC65t83DDbCAD8xEB96x><6><REGISTER><sip:alice@example.test>"
    "<471172399><sip:alice@example.test><><><><>")
OK_STRING = (
    "<TLS-DSK><F8E766F2><1><SIP Communications Service><server.example.test>"
    "<1B80gACBFaD148i6E96mCC65t83DDbCAD8xEB96x><6><REGISTER><sip:alice@example.test>"
    "<471172399><sip:alice@example.test><43CB1187DF596519DD6CB5295EFE7D0B><><><7200><200>")
_SECTION = re.compile(rb"^===== (\d\d:\d\d:\d\d) ([^=\r\n]+?) =====\r?\n", re.MULTILINE)


# --- reading the capture ------------------------------------------------------------------------


def sip_messages(name: str) -> list[SipMessage]:
    """The SIP messages of a ``../shared``-style capture (``SIP IN``/``SIP OUT`` sections)."""
    raw = (CAPTURES / name).read_bytes()
    marks = list(_SECTION.finditer(raw))
    out = []
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(raw)
        body = raw[mark.end():end]
        if mark.group(2).startswith(b"SIP "):
            out.append(parse_message(body.removesuffix(b"\r\n")))
    return out


def register_request(name: str, cseq: int) -> SipRequest:
    return next(m for m in sip_messages(name)
                if isinstance(m, SipRequest) and m.cseq == (cseq, "REGISTER"))


def register_response(name: str, cseq: int) -> SipResponse:
    return next(m for m in sip_messages(name)
                if isinstance(m, SipResponse) and m.cseq == (cseq, "REGISTER"))


def tls_dsk_challenge(name: str, cseq: int) -> AuthChallenge:
    challenge = find_challenge(parse_challenges(register_response(name, cseq)),
                               ChallengeScheme.TLS_DSK)
    assert challenge is not None
    return challenge


def without_authorization(request: SipRequest) -> SipRequest:
    headers = tuple((n, v) for n, v in request.headers if n.lower() != "authorization")
    return SipRequest(headers=headers, body=request.body, method=request.method, uri=request.uri)


def client_token(cseq: int) -> bytes:
    request = register_request(f"{SIGNIN}.wire.txt", cseq)
    value = request.header("Authorization")
    assert value is not None
    data = parse_auth_params(value).get("gssapi-data")
    assert data is not None
    return base64.b64decode(data)


def server_token(name: str, cseq: int) -> bytes:
    return tls_dsk_challenge(name, cseq).gssapi_token()


@cache
def logged(label: str) -> bytes:
    """A secret SIPE printed, e.g. ``master secret``."""
    text = (CAPTURES / f"{SIGNIN}.sipe-debug.txt").read_text("utf-8")
    found = re.search(r": " + re.escape(label) + r"\s*\(\s*\d+\) = ([0-9A-F]+)", text)
    assert found is not None, label
    return bytes.fromhex(found.group(1))


def server_keys() -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """The test server's certificate and key (the CA certificate comes first in the file)."""
    pem = (CAPTURES / f"{SIGNIN}.test-keys.txt").read_bytes()
    certificates = x509.load_pem_x509_certificates(pem)
    start = pem.index(b"-----BEGIN PRIVATE KEY-----")
    key = serialization.load_pem_private_key(pem[start:], password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return certificates[1], key


def handshake_messages(record_fragment: bytes) -> Iterator[tuple[int, bytes]]:
    pos = 0
    while pos < len(record_fragment):
        length = int.from_bytes(record_fragment[pos + 1:pos + 4], "big")
        yield record_fragment[pos], record_fragment[pos:pos + 4 + length]
        pos += 4 + length


class Capture:
    """The TLS values of the sign-in, taken apart."""

    def __init__(self) -> None:
        self.client_hello = client_token(4)
        self.server_flight = server_token(f"{SIGNIN}.wire.txt", 4)
        self.client_flight = client_token(5)
        self.server_final = server_token(f"{SIGNIN}.wire.txt", 5)
        self.client_random = self.client_hello[11:43]
        (server_record,) = iter_records(self.server_flight)
        self.server_payload = server_record.fragment
        self.server_random = self.server_payload[6:38]
        hs_record, ccs, self.finished_record = iter_records(self.client_flight)
        assert ccs.content_type == ContentType.CHANGE_CIPHER_SPEC
        self.client_messages = dict(handshake_messages(hs_record.fragment))
        certificate = self.client_messages[HandshakeType.CERTIFICATE]
        self.client_certificate_der = certificate[10:]
        self.encrypted_pre_master = self.client_messages[HandshakeType.CLIENT_KEY_EXCHANGE][6:]
        self.signature = self.client_messages[HandshakeType.CERTIFICATE_VERIFY][6:]

    def transcript_before_verify(self) -> bytes:
        return (self.client_hello[5:] + self.server_payload
                + self.client_messages[HandshakeType.CERTIFICATE]
                + self.client_messages[HandshakeType.CLIENT_KEY_EXCHANGE])

    def transcript_before_finished(self) -> bytes:
        return self.transcript_before_verify() + self.client_messages[
            HandshakeType.CERTIFICATE_VERIFY]

    def padded_pre_master(self) -> bytes:
        """ClientKeyExchange decrypted without unpadding (raw RSA with the server key)."""
        _, key = server_keys()
        numbers = key.private_numbers()
        value = pow(int.from_bytes(self.encrypted_pre_master, "big"), numbers.d,
                    numbers.public_numbers.n)
        return value.to_bytes(256, "big")


@pytest.fixture(scope="module")
def capture() -> Capture:
    return Capture()


# --- the pure functions against SIPE's logged values --------------------------------------------


def test_client_hello_record_is_sipes(capture: Capture) -> None:
    assert capture.client_hello.hex() == CLIENT_HELLO_HEX
    assert tls10.record(ContentType.HANDSHAKE, tls10.client_hello_message(
        capture.client_random)) == capture.client_hello


def test_master_secret_and_key_block_from_logged_pre_master(capture: Capture) -> None:
    master = master_secret(logged("pre-master secret"), capture.client_random,
                           capture.server_random)
    assert master == logged("master secret")
    block = key_block(master, capture.client_random, capture.server_random, AES128_SHA)
    joined = (block.client_mac + block.server_mac + block.client_key + block.server_key
              + block.client_iv + block.server_iv)
    assert len(joined) == AES128_SHA.key_block_length == 104
    assert joined == logged("key block")
    assert "961443" not in repr(block).upper()


def test_prf_output_is_a_prefix_of_a_longer_one(capture: Capture) -> None:
    long = prf(logged("master secret"), b"key expansion",
               capture.server_random + capture.client_random, 104)
    assert prf(logged("master secret"), b"key expansion",
               capture.server_random + capture.client_random, 21) == long[:21]


def test_signing_keys_are_the_third_and_fourth_32_bytes(capture: Capture) -> None:
    keys = tls_dsk_keys(logged("master secret"), capture.client_random, capture.server_random)
    assert keys.client == logged("TLS-DSK client key")
    assert keys.server == logged("TLS-DSK server key")
    assert "B89F6C" not in repr(keys).upper()


def test_client_key_exchange_holds_the_logged_pre_master(capture: Capture) -> None:
    block = capture.padded_pre_master()
    assert block[:2] == b"\x00\x02" and block[-49] == 0
    assert 0 not in block[2:-49]
    assert block[-48:] == logged("pre-master secret")
    _, key = server_keys()
    assert key.decrypt(capture.encrypted_pre_master, padding.PKCS1v15()) == block[-48:]


def test_certificate_verify_is_raw_md5_sha1_without_digestinfo(capture: Capture) -> None:
    public = x509.load_der_x509_certificate(capture.client_certificate_der).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    numbers = public.public_numbers()
    opened = pow(int.from_bytes(capture.signature, "big"), numbers.e, numbers.n)
    expected = pkcs1_type1_block(handshake_digests(capture.transcript_before_verify()), 256)
    assert opened.to_bytes(256, "big") == expected


def test_client_finished_record_byte_for_byte(capture: Capture) -> None:
    master = logged("master secret")
    block = key_block(master, capture.client_random, capture.server_random, AES128_SHA)
    finished = bytes([HandshakeType.FINISHED, 0, 0, 12]) + finished_verify_data(
        master, b"client finished", capture.transcript_before_finished())
    record = protect_record(AES128_SHA, block.client_mac, block.client_key, block.client_iv, 0,
                            ContentType.HANDSHAKE, finished)
    assert record == capture.finished_record.content_type.to_bytes(1, "big") + bytes.fromhex(
        "03010030") + capture.finished_record.fragment
    assert record.hex().startswith("1603010030bfdbb192da379a91974695f119f1b6")


def test_server_finished_checks_out(capture: Capture) -> None:
    master = logged("master secret")
    block = key_block(master, capture.client_random, capture.server_random, AES128_SHA)
    ccs, server_finished = iter_records(capture.server_final)
    assert ccs.content_type == ContentType.CHANGE_CIPHER_SPEC
    plain = unprotect_record(AES128_SHA, block.server_mac, block.server_key, block.server_iv,
                             0, server_finished)
    client_finished = bytes([HandshakeType.FINISHED, 0, 0, 12]) + finished_verify_data(
        master, b"client finished", capture.transcript_before_finished())
    expected = finished_verify_data(master, b"server finished",
                                    capture.transcript_before_finished() + client_finished)
    assert plain == bytes([HandshakeType.FINISHED, 0, 0, 12]) + expected
    assert unprotect_record(AES128_SHA, block.client_mac, block.server_key, block.server_iv, 0,
                            server_finished) is None


# --- the whole client replayed ------------------------------------------------------------------


def sipe_randomness(capture: Capture) -> tuple[Callable[[], float], Callable[[int], bytes]]:
    """SIPE's clock and random bytes, recovered from the capture, in the order they are drawn."""
    queue = [capture.client_random[4:], logged("pre-master secret")[2:],
             capture.padded_pre_master()[2:-49]]

    def random_bytes(count: int) -> bytes:
        data = queue.pop(0)
        assert len(data) == count
        return data

    seconds = int.from_bytes(capture.client_random[:4], "big")
    return (lambda: seconds + 0.9), random_bytes


@pytest.fixture
def as_sipe(monkeypatch: pytest.MonkeyPatch, capture: Capture) -> rsa.RSAPrivateKey:
    """Stand in SIPE's signature for the raw RSA operation with SIPE's (unlogged) key.

    The stub insists on being asked to sign exactly what SIPE signed. Returns the key to pass
    (any RSA key: the certificate/key match check is bypassed for SIPE's certificate only).
    """
    expected = handshake_digests(capture.transcript_before_verify())
    sipe_certificate = x509.load_der_x509_certificate(capture.client_certificate_der)

    def sign(key: rsa.RSAPrivateKey, digests: bytes) -> bytes:
        assert digests == expected
        return capture.signature

    real_loader = tls10._load_client_certificate

    def load(der: bytes, key: rsa.RSAPrivateKey) -> x509.Certificate:
        if der == capture.client_certificate_der:
            return sipe_certificate
        return real_loader(der, key)

    monkeypatch.setattr(tls10, "sign_handshake_digests", sign)
    monkeypatch.setattr(tls10, "_load_client_certificate", load)
    _, stand_in = server_keys()
    return stand_in


def test_handshake_replays_sipe_byte_for_byte(capture: Capture,
                                              as_sipe: rsa.RSAPrivateKey) -> None:
    clock, random_bytes = sipe_randomness(capture)
    hs = TlsDskHandshake(capture.client_certificate_der, as_sipe, random_bytes=random_bytes,
                         unix_time=clock)
    assert hs.client_hello() == capture.client_hello
    client_flight = hs.receive_server_flight(capture.server_flight)
    assert len(client_flight) == 1341
    assert client_flight == capture.client_flight
    assert not hs.is_complete
    hs.receive_server_final(capture.server_final)
    assert hs.is_complete
    assert hs.server_finished_verified is True
    assert hs.client_signing_key == logged("TLS-DSK client key")
    assert hs.server_signing_key == logged("TLS-DSK server key")
    assert hs.cipher_suite == AES128_SHA and hs.signature_algorithm == "HMAC-SHA1"
    assert hs.server_version == 0x0301 and hs.certificate_requested
    server_certificate, _ = server_keys()
    assert hs.server_certificate_der == server_certificate.public_bytes(
        serialization.Encoding.DER)


def test_sipe_ignores_a_bad_server_finished_and_so_do_we(capture: Capture,
                                                         as_sipe: rsa.RSAPrivateKey) -> None:
    clock, random_bytes = sipe_randomness(capture)
    hs = TlsDskHandshake(capture.client_certificate_der, as_sipe, random_bytes=random_bytes,
                         unix_time=clock)
    hs.client_hello()
    hs.receive_server_flight(capture.server_flight)
    tampered = bytearray(capture.server_final)
    tampered[-1] ^= 1
    hs.receive_server_final(bytes(tampered))
    assert hs.is_complete and hs.server_finished_verified is False
    assert hs.client_signing_key == logged("TLS-DSK client key")


def test_authenticator_replays_the_register_headers(capture: Capture,
                                                     as_sipe: rsa.RSAPrivateKey) -> None:
    wire = f"{SIGNIN}.wire.txt"
    clock, random_bytes = sipe_randomness(capture)
    crands = [0x50C40D7A, 0xF33DB6D6]
    auth = TlsDskSipAuthenticator(capture.client_certificate_der, as_sipe,
                                  getrandbits=lambda bits: crands.pop(0),
                                  random_bytes=random_bytes, unix_time=clock)
    requests = {n: register_request(wire, n) for n in (4, 5, 6)}
    sent = {n: without_authorization(r) for n, r in requests.items()}

    assert auth.start(tls_dsk_challenge(wire, 3), sent[4]) == requests[4].header("Authorization")
    assert auth.step(tls_dsk_challenge(wire, 4), sent[5]) == requests[5].header("Authorization")
    assert not auth.is_complete
    assert auth.step(tls_dsk_challenge(wire, 5), sent[6]) == requests[6].header("Authorization")
    assert auth.is_complete and auth.cnum == 1
    assert auth.verify_response(register_response(wire, 6)) is True
    assert auth.expires_in(datetime(2026, 11, 29, 18, 26, 40, 907431, tzinfo=UTC)) == 28799

    subscribe = next(m for m in sip_messages(wire) if isinstance(m, SipRequest)
                     and m.method == "SUBSCRIBE")
    assert auth.sign_request(without_authorization(subscribe)) == subscribe.header(
        "Authorization")
    answer = next(m for m in sip_messages(wire) if isinstance(m, SipResponse)
                  and m.cseq == (1, "SUBSCRIBE"))
    assert auth.verify_response(answer) is True
    assert "B89F" not in repr(auth).upper()


def test_signature_strings_of_the_capture(capture: Capture,
                                          as_sipe: rsa.RSAPrivateKey) -> None:
    wire = f"{SIGNIN}.wire.txt"
    request = without_authorization(register_request(wire, 6))
    fields = fields_from_message(request, scheme="TLS-DSK", rand="50c40d7a", num="1",
                                 realm="SIP Communications Service",
                                 target_name="server.example.test")
    assert fields.to_string(4) == REGISTER_STRING
    auth = completed(capture, as_sipe)
    assert auth._sign_text(REGISTER_STRING) == "76D5402577A7EBFABDAD8D188C20B3DD0C576F59"
    assert auth._verify_text(OK_STRING, "66f3798b6c1ac5d1f2a332817d02d2153ef31317")
    assert auth._verify_text(OK_STRING, "66F3798B6C1AC5D1F2A332817D02D2153EF31317")
    assert not auth._verify_text(OK_STRING, "66f3798b6c1ac5d1f2a332817d02d2153ef31316")
    assert not auth._verify_text(OK_STRING, "66f3798b")
    assert not auth._verify_text(OK_STRING, "not hex")


def test_a_forged_rspauth_is_fatal(capture: Capture, as_sipe: rsa.RSAPrivateKey) -> None:
    auth = completed(capture, as_sipe)
    ok = register_response(f"{SIGNIN}.wire.txt", 6)
    headers = tuple((n, v.replace("66f3798b", "66f3798c")) for n, v in ok.headers)
    with pytest.raises(ServerSignatureError):
        auth.verify_response(SipResponse(headers=headers, status=200, reason="OK"))


def completed(capture: Capture, key: rsa.RSAPrivateKey) -> TlsDskSipAuthenticator:
    wire = f"{SIGNIN}.wire.txt"
    clock, random_bytes = sipe_randomness(capture)
    auth = TlsDskSipAuthenticator(capture.client_certificate_der, key,
                                  getrandbits=lambda bits: 0x50C40D7A,
                                  random_bytes=random_bytes, unix_time=clock)
    for n in (3, 4, 5):
        request = without_authorization(register_request(wire, n + 1))
        (auth.start if n == 3 else auth.step)(tls_dsk_challenge(wire, n), request)
    assert auth.is_complete
    return auth


# --- the server flight SIPE failed on -----------------------------------------------------------


def test_the_uncoalesced_flight_sipe_failed_on_is_split_flight() -> None:
    flight = server_token("tlsdsk-nocoalesce.wire.txt", 4)
    assert [r.content_type for r in iter_records(flight)] == [22, 22, 22, 22]
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    hs = TlsDskHandshake(self_signed(key), key)
    hs.client_hello()
    with pytest.raises(TlsDskHandshakeError) as caught:
        hs.receive_server_flight(flight)
    assert caught.value.failure is TlsDskFailure.SPLIT_FLIGHT
    assert hs.has_failed


def self_signed(key: rsa.RSAPrivateKey) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sip:alice@example.test")])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(1)
                   .not_valid_before(now).not_valid_after(now.replace(year=now.year + 1))
                   .sign(key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.DER)
