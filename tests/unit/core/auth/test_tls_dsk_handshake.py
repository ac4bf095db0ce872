"""The TLS-DSK client against an independent TLS implementation, and against hostile bytes.

- pyOpenSSL in memory-BIO server mode (TLS 1.0, ``AES128-SHA:AES256-SHA@SECLEVEL=0``, no
  tickets, client certificate required from a throw-away CA) must finish the handshake with us
  and export the same keys (``export_keying_material("client EAP encryption", 128)``). Its
  one-record-per-message flight is coalesced first, as a server must for SIPE (§0.2).
- OpenSSL has no RC4 any more: a small hand-built server on ``cryptography``'s ARC4 and RSA
  checks the RC4 suites (and HMAC-MD5 for RC4-MD5).
- Hand-built flights cover SIPE's refusals; truncated and random bytes must only ever raise
  :class:`TlsDskHandshakeError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from OpenSSL import SSL, crypto

from sipe_setup.core.auth.tls_dsk import (
    TlsDskFailure,
    TlsDskHandshake,
    TlsDskHandshakeError,
    TlsDskUsageError,
    tls10,
)
from sipe_setup.core.auth.tls_dsk.records import (
    ContentType,
    HandshakeType,
    Record,
    iter_records,
    protocol_name,
)
from sipe_setup.core.auth.tls_dsk.tls10 import CIPHER_SUITES, handshake_message

try:  # cryptography >= 43; the runtime floor (42) has ARC4 among the primitives
    from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
except ImportError:  # pragma: no cover - only on the dependency floor (make deps-floor-check)
    from cryptography.hazmat.primitives.ciphers.algorithms import ARC4  # type: ignore[no-redef]

TLS10_CIPHERS = b"AES128-SHA:AES256-SHA:@SECLEVEL=0"

# --- a throw-away PKI ---------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def issue(subject: str, public_key: object, issuer: str, issuer_key: rsa.RSAPrivateKey, *,
          ca: bool = False, client: bool = False, hours: float = 8) -> x509.Certificate:
    now = datetime.now(UTC).replace(microsecond=0)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(public_key)  # type: ignore[arg-type]
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(minutes=5))
               .not_valid_after(now + timedelta(hours=hours))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if client:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class Pki:
    ca_key: rsa.RSAPrivateKey
    ca: x509.Certificate
    server_key: rsa.RSAPrivateKey
    server: x509.Certificate
    client_key: rsa.RSAPrivateKey
    client: x509.Certificate

    @property
    def client_der(self) -> bytes:
        return der(self.client)

    def handshake(self, **kwargs: object) -> TlsDskHandshake:
        return TlsDskHandshake(self.client_der, self.client_key, **kwargs)  # type: ignore[arg-type]


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@cache
def pki() -> Pki:
    ca_key = rsa_key()
    ca = issue("sipe-setup test CA", ca_key.public_key(), "sipe-setup test CA", ca_key, ca=True)
    server_key = rsa_key()
    client_key = rsa_key()
    return Pki(ca_key, ca, server_key,
               issue("server.example.test", server_key.public_key(), "sipe-setup test CA",
                     ca_key),
               client_key,
               issue("sip:alice@example.test", client_key.public_key(), "sipe-setup test CA",
                     ca_key, client=True))


# --- the OpenSSL server -------------------------------------------------------------------------


class OpenSslServer:
    """A pyOpenSSL TLS server on memory BIOs, as the project's registrar would run one."""

    def __init__(self, *, ciphers: bytes = TLS10_CIPHERS, minimum: int = SSL.TLS1_VERSION,
                 maximum: int = SSL.TLS1_VERSION, certificate: x509.Certificate | None = None,
                 key: object = None, trust: x509.Certificate | None = None,
                 verify: int = SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT) -> None:
        p = pki()
        ctx = SSL.Context(SSL.TLS_METHOD)
        ctx.set_min_proto_version(minimum)
        ctx.set_max_proto_version(maximum)
        ctx.set_cipher_list(ciphers)
        ctx.set_options(SSL.OP_NO_TICKET)
        ctx.use_certificate(certificate or p.server)
        ctx.use_privatekey(key or p.server_key)  # type: ignore[arg-type]
        ctx.get_cert_store().add_cert(crypto.X509.from_cryptography(trust or p.ca))  # type: ignore[union-attr]
        ctx.set_verify(verify)
        self.conn = SSL.Connection(ctx, None)
        self.conn.set_accept_state()
        self.error: SSL.Error | None = None

    def feed(self, data: bytes) -> bytes:
        """Give the client's records; return what the server writes (alerts included)."""
        self.conn.bio_write(data)
        try:
            self.conn.do_handshake()
        except SSL.WantReadError:
            pass
        except SSL.Error as exc:
            self.error = exc
        out = b""
        while True:
            try:
                out += self.conn.bio_read(65536)
            except SSL.WantReadError:
                return out

    def eap_keys(self) -> tuple[bytes, bytes]:
        material = self.conn.export_keying_material(b"client EAP encryption", 128)
        return material[64:96], material[96:128]


def coalesce(flight: bytes) -> bytes:
    """One handshake record for all handshake records, as Schannel sends the flight.

    Anything else (an alert) passes unchanged.
    """
    records = list(iter_records(flight))
    if any(r.content_type != ContentType.HANDSHAKE for r in records):
        return flight
    return tls10.record(ContentType.HANDSHAKE, b"".join(r.fragment for r in records))


def run_openssl(server: OpenSslServer, hs: TlsDskHandshake) -> None:
    flight = coalesce(server.feed(hs.client_hello()))
    hs.receive_server_final(server.feed(hs.receive_server_flight(flight)))


@pytest.mark.parametrize("suite", ["AES128-SHA", "AES256-SHA"])
def test_openssl_server_agrees_on_everything(suite: str) -> None:
    server = OpenSslServer(ciphers=suite.encode() + b":@SECLEVEL=0")
    hs = pki().handshake()
    run_openssl(server, hs)
    assert server.error is None
    assert hs.is_complete and hs.server_finished_verified is True
    assert server.conn.get_cipher_name() == suite
    assert server.conn.get_protocol_version_name() == "TLSv1"
    assert hs.cipher_suite is not None and hs.cipher_suite.name == suite
    assert hs.signature_algorithm == "HMAC-SHA1"
    assert server.eap_keys() == (hs.client_signing_key, hs.server_signing_key)
    peer = server.conn.get_peer_certificate()
    assert peer is not None and der(peer.to_cryptography()) == pki().client_der
    assert hs.server_certificate_der == der(pki().server)
    assert hs.server_version == 0x0301 and hs.certificate_requested


def test_sipes_framing_with_done_after_another_message_is_fine() -> None:
    """Only a record that *starts* with ServerHelloDone fails: SH | Cert+CR+SHD is accepted."""
    server = OpenSslServer()
    hs = pki().handshake()
    hello, *rest = iter_records(server.feed(hs.client_hello()))
    flight = (tls10.record(ContentType.HANDSHAKE, hello.fragment)
              + tls10.record(ContentType.HANDSHAKE, b"".join(r.fragment for r in rest)))
    hs.receive_server_final(server.feed(hs.receive_server_flight(flight)))
    assert hs.is_complete and hs.server_finished_verified is True


def failure_of(hs: TlsDskHandshake, flight: bytes) -> TlsDskHandshakeError:
    with pytest.raises(TlsDskHandshakeError) as caught:
        hs.receive_server_flight(flight)
    assert hs.has_failed
    return caught.value


def test_openssls_own_framing_is_a_split_flight() -> None:
    server = OpenSslServer()
    hs = pki().handshake()
    flight = server.feed(hs.client_hello())
    assert len(list(iter_records(flight))) == 4
    error = failure_of(hs, flight)
    assert error.failure is TlsDskFailure.SPLIT_FLIGHT
    with pytest.raises(TlsDskUsageError):
        hs.receive_server_flight(coalesce(flight))


def test_a_server_refusing_tls_1_0_answers_with_an_alert() -> None:
    server = OpenSslServer(minimum=SSL.TLS1_2_VERSION, maximum=0,
                           ciphers=b"DEFAULT")
    hs = pki().handshake()
    error = failure_of(hs, server.feed(hs.client_hello()))
    assert error.failure is TlsDskFailure.SERVER_ALERT
    assert error.alert is not None and error.alert.description_name == "protocol_version"
    assert error.alert.level_name == "fatal"
    assert "TLS 1.0" in error.detail


def test_a_client_certificate_from_another_ca_gets_an_alert_in_the_final_flight() -> None:
    other_key = rsa_key()
    other_ca = issue("other CA", other_key.public_key(), "other CA", other_key, ca=True)
    server = OpenSslServer(trust=other_ca)
    hs = pki().handshake()
    final = server.feed(hs.receive_server_flight(coalesce(server.feed(hs.client_hello()))))
    with pytest.raises(TlsDskHandshakeError) as caught:
        hs.receive_server_final(final)
    assert caught.value.failure is TlsDskFailure.SERVER_ALERT
    assert caught.value.alert is not None
    assert caught.value.alert.description_name in ("unknown_ca", "bad_certificate",
                                                   "certificate_unknown")
    assert not hs.is_complete and hs.has_failed


def test_a_server_that_requests_no_certificate_still_gets_one_and_refuses() -> None:
    """SIPE sends its certificate whether asked or not; OpenSSL then aborts."""
    server = OpenSslServer(verify=SSL.VERIFY_NONE)
    hs = pki().handshake()
    client_flight = hs.receive_server_flight(coalesce(server.feed(hs.client_hello())))
    assert not hs.certificate_requested
    with pytest.raises(TlsDskHandshakeError) as caught:
        hs.receive_server_final(server.feed(client_flight))
    assert caught.value.alert is not None
    assert caught.value.alert.description_name == "unexpected_message"


# --- hand-built flights -------------------------------------------------------------------------


def server_hello(suite: int = 0x002F, *, version: int = 0x0301, random: bytes = b"\x5a" * 32,
                 session_id: bytes = b"\x11" * 32, tail: bytes = b"") -> bytes:
    body = (version.to_bytes(2, "big") + random + bytes([len(session_id)]) + session_id
            + suite.to_bytes(2, "big") + b"\x00" + tail)
    return handshake_message(HandshakeType.SERVER_HELLO, body)


def certificate_message(*certificates: bytes) -> bytes:
    chain = b"".join(len(c).to_bytes(3, "big") + c for c in certificates)
    return handshake_message(HandshakeType.CERTIFICATE, len(chain).to_bytes(3, "big") + chain)


CERTIFICATE_REQUEST = handshake_message(HandshakeType.CERTIFICATE_REQUEST, b"\x01\x01\x00\x00")
DONE = handshake_message(HandshakeType.SERVER_HELLO_DONE, b"")


def flight(*messages: bytes, version: int = 0x0301) -> bytes:
    payload = b"".join(messages)
    return bytes([ContentType.HANDSHAKE]) + version.to_bytes(2, "big") \
        + len(payload).to_bytes(2, "big") + payload


def good_flight(suite: int = 0x002F) -> bytes:
    return flight(server_hello(suite), certificate_message(der(pki().server), der(pki().ca)),
                  CERTIFICATE_REQUEST, DONE)


def started() -> TlsDskHandshake:
    hs = pki().handshake()
    hs.client_hello()
    return hs


@cache
def weak_rsa_certificate(bits: int) -> bytes:
    """A CA-signed certificate for a (made-up, never used) RSA modulus of ``bits`` bits."""
    modulus = (1 << (bits - 1)) | 0xC3 | 1
    public = rsa.RSAPublicNumbers(65537, modulus).public_key()
    return der(issue("weak.example.test", public, "sipe-setup test CA", pki().ca_key))


@pytest.mark.parametrize(("messages", "failure"), [
    ((server_hello(0x009C), certificate_message(b"x"), DONE), TlsDskFailure.UNSUPPORTED_SUITE),
    ((server_hello(0x0003), certificate_message(b"x"), DONE), TlsDskFailure.EXPORT_SUITE),
    ((certificate_message(b"x"), DONE), TlsDskFailure.NO_SERVER_HELLO),
    ((server_hello(), CERTIFICATE_REQUEST, DONE), TlsDskFailure.NO_SERVER_CERTIFICATE),
    ((server_hello(), handshake_message(11, b"\x00\x00\x00"), DONE),
     TlsDskFailure.NO_SERVER_CERTIFICATE),
    ((server_hello(), certificate_message(b"not a certificate"), DONE),
     TlsDskFailure.BAD_SERVER_CERTIFICATE),
    ((server_hello(), handshake_message(11, b"\x00\x00\x05\x00\x00\x09abcde"), DONE),
     TlsDskFailure.MALFORMED),
    ((server_hello()[:-3], DONE), TlsDskFailure.MALFORMED),
    ((server_hello(), handshake_message(1, b""), DONE), TlsDskFailure.MALFORMED),
    ((handshake_message(99, b"?"), DONE), TlsDskFailure.SPLIT_FLIGHT),
    ((DONE, server_hello()), TlsDskFailure.SPLIT_FLIGHT),
    ((server_hello(), handshake_message(13, b"\x00\x00\x00"), DONE), TlsDskFailure.MALFORMED),
], ids=lambda v: v.name if isinstance(v, TlsDskFailure) else "")
def test_sipes_refusals(messages: tuple[bytes, ...], failure: TlsDskFailure) -> None:
    error = failure_of(started(), flight(*messages))
    assert error.failure is failure, error.detail


def test_an_ecdsa_server_key_is_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = der(issue("server.example.test", key.public_key(), "sipe-setup test CA",
                            pki().ca_key))
    error = failure_of(started(), flight(server_hello(), certificate_message(certificate),
                                         CERTIFICATE_REQUEST, DONE))
    assert error.failure is TlsDskFailure.SERVER_KEY_NOT_RSA
    assert "ECDSA" in error.detail


@pytest.mark.parametrize("bits", [256, 384, 400])
def test_short_server_keys_are_refused(bits: int) -> None:
    """< 48 bytes: SIPE's "strength too low"; 48..50 bytes: its padding fails."""
    error = failure_of(started(), flight(server_hello(),
                                         certificate_message(weak_rsa_certificate(bits)), DONE))
    assert error.failure is TlsDskFailure.SERVER_KEY_TOO_SHORT


def test_the_shortest_key_sipe_can_pad_for_is_accepted() -> None:
    hs = started()
    out = hs.receive_server_flight(flight(server_hello(),
                                          certificate_message(weak_rsa_certificate(408)), DONE))
    exchange = split_messages(next(iter_records(out)).fragment)[1]
    assert exchange[4:6] == b"\x00\x33"  # a 51-byte encrypted pre-master


def test_split_records_and_old_versions() -> None:
    hello_only = flight(server_hello(), certificate_message(der(pki().server)))
    assert failure_of(started(), hello_only + flight(DONE)).failure is TlsDskFailure.SPLIT_FLIGHT
    old = flight(server_hello(), certificate_message(der(pki().server)), DONE, version=0x0300)
    assert failure_of(started(), old).failure is TlsDskFailure.OLD_PROTOCOL
    ccs = bytes([ContentType.CHANGE_CIPHER_SPEC]) + b"\x03\x01\x00\x01\x01"
    assert failure_of(started(), good_flight() + ccs).failure is TlsDskFailure.MALFORMED
    assert failure_of(started(), b"").failure is TlsDskFailure.MALFORMED


def test_what_sipe_tolerates_is_tolerated() -> None:
    """Extensions after ServerHello, no CertificateRequest, no ServerHelloDone, a newer version
    in the ServerHello, unknown message types, a session id longer than 32 bytes."""
    extensions = b"\x00\x05\xff\x01\x00\x01\x00"
    hs = started()
    hs.receive_server_flight(flight(
        handshake_message(22, b"status"),
        server_hello(version=0x0303, session_id=b"\x01" * 40, tail=extensions),
        certificate_message(der(pki().server))))
    assert hs.server_version == 0x0303 and not hs.certificate_requested
    assert protocol_name(hs.server_version) == "TLS 1.2"


def test_records_of_a_newer_version_are_read() -> None:
    hs = started()
    hs.receive_server_flight(flight(server_hello(), certificate_message(der(pki().server)), DONE,
                                    version=0x0303))
    assert hs.cipher_suite is not None


def test_final_flight_needs_a_change_cipher_spec() -> None:
    hs = started()
    hs.receive_server_flight(good_flight())
    with pytest.raises(TlsDskHandshakeError) as caught:
        hs.receive_server_final(flight(handshake_message(20, b"\x00" * 12)))
    assert caught.value.failure is TlsDskFailure.MALFORMED  # a plain Finished before any CCS
    hs = started()
    hs.receive_server_flight(good_flight())
    with pytest.raises(TlsDskHandshakeError) as caught:
        hs.receive_server_final(bytes([23]) + b"\x03\x01\x00\x01\x00")
    assert caught.value.failure is TlsDskFailure.NO_CHANGE_CIPHER_SPEC


def test_a_change_cipher_spec_alone_completes_as_in_sipe() -> None:
    hs = started()
    hs.receive_server_flight(good_flight())
    hs.receive_server_final(bytes([20]) + b"\x03\x01\x00\x01\x01")
    assert hs.is_complete and hs.server_finished_verified is None
    assert len(hs.client_signing_key) == len(hs.server_signing_key) == 32


# --- RC4 against a hand-built server ------------------------------------------------------------


def arc4(key: bytes, data: bytes) -> bytes:
    encryptor = Cipher(ARC4(key), mode=None).encryptor()
    return encryptor.update(data)


def mac(digest: str, key: bytes, content_type: int, fragment: bytes) -> bytes:
    header = bytes(8) + bytes([content_type]) + b"\x03\x01" + len(fragment).to_bytes(2, "big")
    return hmac.new(key, header + fragment, digest).digest()


class Rc4Server:
    """Just enough TLS 1.0 server for the RC4 suites OpenSSL dropped.

    Independent of the client for RSA (cryptography's PKCS#1 decrypt and signature recovery),
    RC4 (cryptography's ARC4) and the record MAC; it reuses only the PRF, which the real-SIPE
    vectors pin.
    """

    def __init__(self, suite: int) -> None:
        self.suite = CIPHER_SUITES[suite]
        self.random = os.urandom(32)
        self.transcript = b""

    def flight(self, client_hello: bytes) -> bytes:
        (hello,) = iter_records(client_hello)
        self.client_random = hello.fragment[6:38]
        messages = (server_hello(self.suite.code, random=self.random),
                    certificate_message(der(pki().server)), CERTIFICATE_REQUEST, DONE)
        self.transcript = hello.fragment + b"".join(messages)
        return flight(*messages)

    def finish(self, client_flight: bytes) -> bytes:
        handshake, ccs, finished = iter_records(client_flight)
        assert ccs.fragment == b"\x01"
        certificate, exchange, verify = split_messages(handshake.fragment)
        pre_master = pki().server_key.decrypt(exchange[6:], padding.PKCS1v15())
        self.transcript += certificate + exchange
        digests = (hashlib.md5(self.transcript).digest() + hashlib.sha1(self.transcript).digest())
        assert pki().client_key.public_key().recover_data_from_signature(
            verify[6:], padding.PKCS1v15(), None) == digests
        self.transcript += verify
        master = tls10.master_secret(pre_master, self.client_random, self.random)
        keys = tls10.key_block(master, self.client_random, self.random, self.suite)
        plain = arc4(keys.client_key, finished.fragment)
        body, tag = plain[:-self.suite.mac_length], plain[-self.suite.mac_length:]
        assert tag == mac(self.suite.mac, keys.client_mac, 22, body)
        assert body == handshake_message(20, tls10.finished_verify_data(
            master, b"client finished", self.transcript))
        self.transcript += body
        self.keys = tls10.tls_dsk_keys(master, self.client_random, self.random)
        ours = handshake_message(20, tls10.finished_verify_data(master, b"server finished",
                                                                 self.transcript))
        sealed = arc4(keys.server_key, ours + mac(self.suite.mac, keys.server_mac, 22, ours))
        return bytes([20]) + b"\x03\x01\x00\x01\x01" + tls10.record(22, sealed)


def split_messages(fragment: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(fragment):
        length = int.from_bytes(fragment[pos + 1:pos + 4], "big")
        out.append(fragment[pos:pos + 4 + length])
        pos += 4 + length
    return out


@pytest.mark.parametrize(("suite", "algorithm"), [(0x0004, "HMAC-MD5"), (0x0005, "HMAC-SHA1")])
def test_rc4_suites(suite: int, algorithm: str) -> None:
    server = Rc4Server(suite)
    hs = pki().handshake()
    final = server.finish(hs.receive_server_flight(server.flight(hs.client_hello())))
    hs.receive_server_final(final)
    assert hs.server_finished_verified is True
    assert hs.signature_algorithm == algorithm
    assert (hs.client_signing_key, hs.server_signing_key) == (server.keys.client,
                                                               server.keys.server)


# --- determinism and misuse ---------------------------------------------------------------------


def test_randomness_and_clock_are_injectable() -> None:
    draws: list[int] = []

    def random_bytes(count: int) -> bytes:
        draws.append(count)
        return bytes([7]) * count

    hs = pki().handshake(random_bytes=random_bytes, unix_time=lambda: 0x01020304 + 0.5)
    hello = hs.client_hello()
    assert hello[11:15] == b"\x01\x02\x03\x04" and hello[15:43] == b"\x07" * 28
    first = hs.receive_server_flight(good_flight())
    assert draws == [28, 46, 256 - 51]
    again = pki().handshake(random_bytes=lambda n: bytes([7]) * n,
                            unix_time=lambda: 0x01020304)
    again.client_hello()
    assert again.receive_server_flight(good_flight()) == first


def test_zero_bytes_are_skipped_in_the_padding() -> None:
    stream = iter([b"\x01" * 28, b"\x02" * 46, b"\x00\x05" * 102 + b"\x00", b"\x06" * 103])

    def random_bytes(count: int) -> bytes:
        data = next(stream)
        assert len(data) == count
        return data

    hs = pki().handshake(random_bytes=random_bytes)
    hs.client_hello()
    exchange = split_messages(next(iter_records(hs.receive_server_flight(good_flight())))
                              .fragment)[1]
    numbers = pki().server_key.private_numbers()
    block = pow(int.from_bytes(exchange[6:], "big"), numbers.d, numbers.public_numbers.n)
    assert block.to_bytes(256, "big") == (b"\x00\x02" + b"\x05" * 102 + b"\x06" * 103 + b"\x00"
                                          + b"\x03\x01" + b"\x02" * 46)


def test_out_of_order_calls_are_our_fault() -> None:
    hs = pki().handshake()
    with pytest.raises(TlsDskUsageError):
        hs.receive_server_flight(good_flight())
    with pytest.raises(TlsDskUsageError):
        _ = hs.client_signing_key
    hs.client_hello()
    with pytest.raises(TlsDskUsageError):
        hs.client_hello()
    with pytest.raises(TlsDskUsageError):
        hs.receive_server_final(b"\x14\x03\x01\x00\x01\x01")


def test_a_certificate_that_is_not_ours_is_our_fault() -> None:
    with pytest.raises(TlsDskUsageError):
        TlsDskHandshake(pki().client_der, pki().server_key)
    with pytest.raises(TlsDskUsageError):
        TlsDskHandshake(b"garbage", pki().client_key)
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(TlsDskUsageError):
        TlsDskHandshake(pki().client_der, key)  # type: ignore[arg-type]


def test_nothing_secret_in_repr_or_errors() -> None:
    hs = pki().handshake()
    hs.client_hello()
    hs.receive_server_flight(good_flight())
    hs.receive_server_final(b"\x14\x03\x01\x00\x01\x01")
    text = repr(hs) + str(hs.cipher_suite)
    assert hs.client_signing_key.hex() not in text.lower()
    error = failure_of(started(), flight(server_hello(0x009C)))
    assert "0x009C" in str(error) and "TlsDskHandshakeError(UNSUPPORTED_SUITE" in repr(error)


# --- hostile bytes ------------------------------------------------------------------------------


def test_every_truncation_of_a_good_flight_is_refused_cleanly() -> None:
    good = good_flight()
    for cut in range(len(good)):
        with pytest.raises(TlsDskHandshakeError):
            started().receive_server_flight(good[:cut])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes_only_raise_handshake_errors(data: bytes) -> None:
    with contextlib.suppress(TlsDskHandshakeError):
        started().receive_server_flight(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_flights_only_raise_handshake_errors(data: st.DataObject) -> None:
    good = bytearray(good_flight())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(good) - 1))
        good[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        good += data.draw(st.binary(max_size=20))
    with contextlib.suppress(TlsDskHandshakeError):
        started().receive_server_flight(bytes(good))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_random_final_flights_only_raise_handshake_errors(data: bytes) -> None:
    hs = started()
    hs.receive_server_flight(good_flight())
    try:
        hs.receive_server_final(data)
    except TlsDskHandshakeError:
        assert not hs.is_complete
    else:
        assert hs.is_complete and hs.server_finished_verified is not True


def test_records_are_framed_strictly() -> None:
    assert [r.content_type for r in iter_records(b"\x16\x03\x01\x00\x00")] == [22]
    with pytest.raises(TlsDskHandshakeError):
        list(iter_records(b"\x16\x03\x01\x00\x05abc"))
    with pytest.raises(TlsDskHandshakeError):
        list(iter_records(b"\x16\x03\x01"))
    assert Record(22, 0x0301, b"k").fragment == b"k"
