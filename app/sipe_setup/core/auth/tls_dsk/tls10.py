"""SIPE 1.25.0's handshake-only TLS 1.0 client for TLS-DSK, sans I/O (reference tls-dsk.md §1.6).

TLS-DSK runs a TLS handshake inside REGISTER ``gssapi-data`` and keeps only two HMAC keys;
no application data ever flows. :class:`TlsDskHandshake` writes the same bytes as
``sipe-tls.c`` and accepts what it accepts (:mod:`.records`), so the wizard predicts what Pidgin
will do rather than what a modern TLS stack would:

1. :meth:`TlsDskHandshake.client_hello`: a 58-byte record, version 0x0301, no session id,
   suites RC4-MD5, RC4-SHA, AES128-SHA, AES256-SHA, EXP-RC4-MD5, null compression, no
   extensions (so no extended master secret, no SCSV).
2. :meth:`TlsDskHandshake.receive_server_flight` → one handshake record holding Certificate
   (leaf only), ClientKeyExchange (PKCS#1 v1.5 type 2 padded by hand, raw RSA) and
   CertificateVerify (PKCS#1 type 1 over MD5‖SHA1 of the transcript, *no DigestInfo*), then
   ChangeCipherSpec, then the encrypted Finished (TLS 1.0: implicit IV from the key block,
   HMAC then pad then AES-CBC; or RC4 from a fresh stream).
3. :meth:`TlsDskHandshake.receive_server_final`: SIPE needs only the ChangeCipherSpec and never
   checks the server's Finished. We decrypt and check it and report the result in
   :attr:`TlsDskHandshake.server_finished_verified` — a fact for the report, not a failure.
4. Keys: ``PRF(master, "client EAP encryption", client_random ‖ server_random)[0:128]``;
   client signing key = ``[64:96]``, server signing key = ``[96:128]`` (§1.7).

Whatever the ServerHello says about its version, the PRF, the record version and the IV handling
stay TLS 1.0 — as in SIPE, where a 1.1/1.2 server then rejects the Finished.

EXP-RC4-MD5: SIPE offers it but, if chosen, uses the 5-byte key block key directly instead of
the TLS 1.0 export derivation (and no IVs), so its Finished can never match the server's. We
refuse that choice as :attr:`TlsDskFailure.EXPORT_SUITE` instead of imitating broken crypto; the
verdict (no sign-in) is SIPE's.

Invariants:
- No I/O. The clock (``unix_time``) and every random byte (``random_bytes``: client random,
  pre-master secret, padding) are injectable, so a capture replays byte for byte. Defaults are
  :func:`time.time` and :func:`secrets.token_bytes` — never C ``rand()`` like SIPE.
- One instance per handshake; calls out of order raise :class:`TlsDskUsageError` (our fault),
  and after a :class:`TlsDskHandshakeError` the instance stays failed.
- Secrets (pre-master, master, key block, signing keys, the private key) never appear in a
  ``repr``, ``str`` or exception.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sipe_setup.core.auth.rc4 import rc4
from sipe_setup.core.auth.tls_dsk.records import (
    TLS_1_0,
    ContentType,
    HandshakeType,
    Record,
    ServerFlight,
    ServerHello,
    TlsDskFailure,
    TlsDskHandshakeError,
    TlsDskUsageError,
    handshake_message,
    parse_server_final,
    parse_server_flight,
)

__all__ = [
    "CIPHER_SUITES",
    "EAP_LABEL",
    "OFFERED_SUITES",
    "CipherSuite",
    "KeyBlock",
    "TlsDskHandshake",
    "TlsDskKeys",
    "client_hello_message",
    "finished_verify_data",
    "handshake_digests",
    "key_block",
    "master_secret",
    "p_hash",
    "pkcs1_type1_block",
    "pkcs1_type2_block",
    "prf",
    "protect_record",
    "record",
    "sign_handshake_digests",
    "tls_dsk_keys",
    "unprotect_record",
]

EAP_LABEL: Final = b"client EAP encryption"
_MIN_SERVER_MODULUS: Final = 48
"""SIPE's "server public key strength too low" bound (bytes)."""
_PREMASTER_PAD_MIN: Final = 48 + 3
"""Smallest modulus SIPE's type-2 padding accepts for a 48-byte pre-master secret."""
_CCS_RECORD: Final = bytes([ContentType.CHANGE_CIPHER_SPEC]) + b"\x03\x01\x00\x01\x01"


# --- cipher suites ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CipherSuite:
    """A suite SIPE offers: RSA key exchange with RC4 or AES-CBC."""

    code: int
    name: str
    """OpenSSL's name, e.g. ``AES128-SHA``."""
    iana_name: str
    mac: str
    """``md5`` or ``sha1`` (hashlib names): record MAC and TLS-DSK signature hash."""
    key_length: int
    block: bool
    """AES-CBC (True) or RC4 stream (False)."""
    export: bool = False

    @property
    def mac_length(self) -> int:
        """HMAC output length in bytes."""
        return 16 if self.mac == "md5" else 20

    @property
    def iv_length(self) -> int:
        """Implicit IV length in the key block (AES block size; 0 for RC4)."""
        return 16 if self.block else 0

    @property
    def key_block_length(self) -> int:
        """Bytes of key block SIPE derives (104 for AES128-SHA)."""
        return 2 * (self.mac_length + self.key_length + self.iv_length)

    @property
    def signature_algorithm(self) -> str:
        """``HMAC-MD5`` for the MD5 suites, else ``HMAC-SHA1`` (SIPE's algorithm 1 / 2)."""
        return "HMAC-MD5" if self.mac == "md5" else "HMAC-SHA1"

    def __str__(self) -> str:
        return f"{self.name} (0x{self.code:04X})"


CIPHER_SUITES: Final[dict[int, CipherSuite]] = {
    s.code: s for s in (
        CipherSuite(0x0004, "RC4-MD5", "TLS_RSA_WITH_RC4_128_MD5", "md5", 16, block=False),
        CipherSuite(0x0005, "RC4-SHA", "TLS_RSA_WITH_RC4_128_SHA", "sha1", 16, block=False),
        CipherSuite(0x002F, "AES128-SHA", "TLS_RSA_WITH_AES_128_CBC_SHA", "sha1", 16,
                    block=True),
        CipherSuite(0x0035, "AES256-SHA", "TLS_RSA_WITH_AES_256_CBC_SHA", "sha1", 32,
                    block=True),
        CipherSuite(0x0003, "EXP-RC4-MD5", "TLS_RSA_EXPORT_WITH_RC4_40_MD5", "md5", 5,
                    block=False, export=True),
    )
}
OFFERED_SUITES: Final = (0x0004, 0x0005, 0x002F, 0x0035, 0x0003)
"""SIPE's ClientHello order."""


# --- PRF and key derivation ---------------------------------------------------------------------


def p_hash(digest: str, secret: bytes, seed: bytes, length: int) -> bytes:
    """RFC 2246 §5 P_hash: HMAC(secret, A(i) ‖ seed) chained, truncated to ``length``."""
    out = bytearray()
    a = seed
    while len(out) < length:
        a = hmac.digest(secret, a, digest)
        out += hmac.digest(secret, a + seed, digest)
    return bytes(out[:length])


def prf(secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """The TLS 1.0 PRF: P_MD5(first half) XOR P_SHA1(second half); halves overlap if odd."""
    half = (len(secret) + 1) // 2
    md5 = p_hash("md5", secret[:half], label + seed, length)
    sha1 = p_hash("sha1", secret[len(secret) - half:], label + seed, length)
    return bytes(x ^ y for x, y in zip(md5, sha1, strict=True))


def master_secret(pre_master: bytes, client_random: bytes, server_random: bytes) -> bytes:
    """``PRF(pre_master, "master secret", client_random ‖ server_random)[0:48]``."""
    return prf(pre_master, b"master secret", client_random + server_random, 48)


@dataclass(frozen=True, slots=True, repr=False)
class KeyBlock:
    """The key block split as TLS 1.0 does: MACs, keys, IVs; client before server."""

    client_mac: bytes
    server_mac: bytes
    client_key: bytes
    server_key: bytes
    client_iv: bytes
    server_iv: bytes

    def __repr__(self) -> str:
        return "KeyBlock(<secret>)"


def key_block(master: bytes, client_random: bytes, server_random: bytes,
              suite: CipherSuite) -> KeyBlock:
    """``PRF(master, "key expansion", server_random ‖ client_random)`` split for ``suite``."""
    block = prf(master, b"key expansion", server_random + client_random,
                suite.key_block_length)
    sizes = (suite.mac_length, suite.mac_length, suite.key_length, suite.key_length,
             suite.iv_length, suite.iv_length)
    parts, pos = [], 0
    for size in sizes:
        parts.append(block[pos:pos + size])
        pos += size
    return KeyBlock(*parts)


@dataclass(frozen=True, slots=True, repr=False)
class TlsDskKeys:
    """The two 32-byte TLS-DSK signing keys."""

    client: bytes
    server: bytes

    def __repr__(self) -> str:
        return "TlsDskKeys(<secret>)"


def tls_dsk_keys(master: bytes, client_random: bytes, server_random: bytes) -> TlsDskKeys:
    """[MS-SIPAE] §3.2.5.1 as SIPE does it: the 3rd and 4th 32 bytes of the EAP key material."""
    material = prf(master, EAP_LABEL, client_random + server_random, 128)
    return TlsDskKeys(client=material[64:96], server=material[96:128])


def handshake_digests(transcript: bytes) -> bytes:
    """``MD5(transcript) ‖ SHA1(transcript)`` (36 bytes), fixed by TLS 1.0.

    ``usedforsecurity=False`` keeps FIPS-mode Pythons from refusing MD5: the protocol, not we,
    chose the hashes.
    """
    return (hashlib.md5(transcript, usedforsecurity=False).digest()
            + hashlib.sha1(transcript, usedforsecurity=False).digest())


def finished_verify_data(master: bytes, label: bytes, transcript: bytes) -> bytes:
    """``PRF(master, label, MD5(transcript) ‖ SHA1(transcript))[0:12]``."""
    return prf(master, label, handshake_digests(transcript), 12)


# --- records ------------------------------------------------------------------------------------


def record(content_type: int, fragment: bytes) -> bytes:
    """A TLS 1.0 record (SIPE always writes version 0x0301)."""
    if len(fragment) > 0xFFFF:
        raise TlsDskUsageError("a TLS record cannot hold more than 65535 bytes")
    return bytes([content_type]) + TLS_1_0.to_bytes(2, "big") + len(fragment).to_bytes(2, "big") \
        + fragment


def _record_mac(suite: CipherSuite, mac_key: bytes, seq: int, content_type: int,
                fragment: bytes) -> bytes:
    header = (seq.to_bytes(8, "big") + bytes([content_type]) + TLS_1_0.to_bytes(2, "big")
              + len(fragment).to_bytes(2, "big"))
    return hmac.digest(mac_key, header + fragment, suite.mac)


def _aes_cbc(key: bytes, iv: bytes, data: bytes, *, encrypt: bool) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    ctx = cipher.encryptor() if encrypt else cipher.decryptor()
    return ctx.update(data) + ctx.finalize()


def protect_record(suite: CipherSuite, mac_key: bytes, key: bytes, iv: bytes, seq: int,
                   content_type: int, fragment: bytes) -> bytes:
    """The first encrypted record of a direction, TLS 1.0 style (MAC, minimal pad, encrypt).

    RC4 starts a fresh stream: correct for the Finished, the only record TLS-DSK encrypts.
    """
    data = fragment + _record_mac(suite, mac_key, seq, content_type, fragment)
    if not suite.block:
        return record(content_type, rc4(key, data))
    pad = 15 - len(data) % 16
    return record(content_type, _aes_cbc(key, iv, data + bytes([pad]) * (pad + 1),
                                         encrypt=True))


def unprotect_record(suite: CipherSuite, mac_key: bytes, key: bytes, iv: bytes, seq: int,
                     rec: Record) -> bytes | None:
    """Decrypt and check the first encrypted record of a direction; None if it does not verify."""
    data = rec.fragment
    if suite.block:
        if not data or len(data) % 16:
            return None
        data = _aes_cbc(key, iv, data, encrypt=False)
        pad = data[-1]
        if pad + 1 > len(data) or data[-pad - 1:] != bytes([pad]) * (pad + 1):
            return None
        data = data[:-pad - 1]
    else:
        data = rc4(key, data) if data else data
    if len(data) < suite.mac_length:
        return None
    fragment, mac = data[:-suite.mac_length], data[-suite.mac_length:]
    expected = _record_mac(suite, mac_key, seq, rec.content_type, fragment)
    return fragment if hmac.compare_digest(mac, expected) else None


def client_hello_message(client_random: bytes) -> bytes:
    """SIPE's ClientHello handshake message (49 bytes)."""
    suites = b"".join(code.to_bytes(2, "big") for code in OFFERED_SUITES)
    body = (TLS_1_0.to_bytes(2, "big") + client_random + b"\x00"
            + len(suites).to_bytes(2, "big") + suites + b"\x01\x00")
    return handshake_message(HandshakeType.CLIENT_HELLO, body)


# --- RSA without a library's padding ------------------------------------------------------------


def _modulus_bytes(n: int) -> int:
    return (n.bit_length() + 7) // 8


def pkcs1_type2_block(data: bytes, size: int, padding: bytes) -> bytes:
    """``00 02 PS 00 data`` (encryption); ``padding`` must be ``size - len(data) - 3`` nonzero."""
    if len(padding) != size - len(data) - 3 or 0 in padding:
        raise TlsDskUsageError("PKCS#1 type 2 padding has the wrong length or a zero byte")
    return b"\x00\x02" + padding + b"\x00" + data


def pkcs1_type1_block(data: bytes, size: int) -> bytes:
    """``00 01 FF…FF 00 data`` (signature), as NSS's raw CKM_RSA_PKCS sign makes it."""
    if size < len(data) + 11:
        raise TlsDskUsageError("the RSA key is too small to sign the handshake digests")
    return b"\x00\x01" + b"\xff" * (size - len(data) - 3) + b"\x00" + data


def _rsa_public_raw(key: rsa.RSAPublicKey, block: bytes) -> bytes:
    numbers = key.public_numbers()
    value = pow(int.from_bytes(block, "big"), numbers.e, numbers.n)
    return value.to_bytes(_modulus_bytes(numbers.n), "big")


def _rsa_private_raw(key: rsa.RSAPrivateKey, block: bytes) -> bytes:
    """``block ** d mod n`` via CRT (cryptography cannot sign without a DigestInfo)."""
    numbers = key.private_numbers()
    c = int.from_bytes(block, "big")
    m1 = pow(c, numbers.dmp1, numbers.p)
    m2 = pow(c, numbers.dmq1, numbers.q)
    value = m2 + numbers.q * ((numbers.iqmp * (m1 - m2)) % numbers.p)
    return value.to_bytes(_modulus_bytes(numbers.public_numbers.n), "big")


def sign_handshake_digests(key: rsa.RSAPrivateKey, digests: bytes) -> bytes:
    """CertificateVerify's signature: type-1 padded MD5‖SHA1, raw RSA, no DigestInfo."""
    size = _modulus_bytes(key.private_numbers().public_numbers.n)
    return _rsa_private_raw(key, pkcs1_type1_block(digests, size))


# --- the handshake ------------------------------------------------------------------------------


class _State(enum.Enum):
    START = "start"
    AWAIT_SERVER_FLIGHT = "await-server-flight"
    AWAIT_SERVER_FINAL = "await-server-final"
    COMPLETE = "complete"
    FAILED = "failed"


def _load_client_certificate(certificate_der: bytes,
                             private_key: rsa.RSAPrivateKey) -> x509.Certificate:
    try:
        certificate = x509.load_der_x509_certificate(certificate_der)
        public = certificate.public_key()
    except (ValueError, x509.InvalidVersion, UnsupportedAlgorithm):
        raise TlsDskUsageError("the TLS-DSK client certificate is not a DER X.509 "
                               "certificate") from None
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise TlsDskUsageError("the TLS-DSK private key must be RSA")
    if (not isinstance(public, rsa.RSAPublicKey)
            or public.public_numbers() != private_key.public_key().public_numbers()):
        raise TlsDskUsageError("the TLS-DSK private key does not belong to the certificate")
    if private_key.key_size < 512:
        raise TlsDskUsageError("the TLS-DSK key is shorter than 512 bits")
    return certificate


@dataclass
class _Session:
    """Secrets and facts of one negotiated handshake."""

    suite: CipherSuite
    hello: ServerHello
    server_certificate_der: bytes = field(repr=False)
    master: bytes = field(repr=False)
    keys: KeyBlock = field(repr=False)
    encrypted_pre_master: bytes = field(repr=False)


class TlsDskHandshake:
    """One SIPE-identical TLS 1.0 handshake (see the module docstring).

    Args:
        certificate_der: the provisioned client certificate (GetAndPublishCert), DER.
        private_key: its RSA key.
        random_bytes: the source of every random byte.
        unix_time: the clock for the first 4 bytes of the client random.

    Raises:
        TlsDskUsageError: the certificate is not DER, or the key is not RSA or not its key.
    """

    def __init__(self, certificate_der: bytes, private_key: rsa.RSAPrivateKey, *,
                 random_bytes: Callable[[int], bytes] = secrets.token_bytes,
                 unix_time: Callable[[], float] = time.time) -> None:
        self._certificate = _load_client_certificate(certificate_der, private_key)
        self._certificate_der = bytes(certificate_der)
        self._private_key = private_key
        self._random_bytes = random_bytes
        self._unix_time = unix_time
        self._state = _State.START
        self._client_random = b""
        self._transcript = bytearray()
        self._session: _Session | None = None
        self._keys: TlsDskKeys | None = None
        self._certificate_requested = False
        self._server_finished_verified: bool | None = None

    def __repr__(self) -> str:
        suite = self._session.suite.name if self._session else None
        return f"TlsDskHandshake(state={self._state.value}, suite={suite})"

    # -- facts --

    @property
    def is_complete(self) -> bool:
        """True once the server's ChangeCipherSpec arrived and the keys exist."""
        return self._state is _State.COMPLETE

    @property
    def has_failed(self) -> bool:
        """True after a :class:`TlsDskHandshakeError`."""
        return self._state is _State.FAILED

    @property
    def cipher_suite(self) -> CipherSuite | None:
        """The suite the server chose (None before its flight)."""
        return self._session.suite if self._session else None

    @property
    def signature_algorithm(self) -> str | None:
        """``HMAC-SHA1`` or ``HMAC-MD5`` (None before the server's flight)."""
        return self._session.suite.signature_algorithm if self._session else None

    @property
    def server_version(self) -> int | None:
        """The version the ServerHello named (0x0301 = TLS 1.0); None before it."""
        return self._session.hello.version if self._session else None

    @property
    def server_certificate_der(self) -> bytes | None:
        """The server's leaf certificate as sent (SIPE never validates it)."""
        return self._session.server_certificate_der if self._session else None

    @property
    def certificate_requested(self) -> bool:
        """Whether the server sent a CertificateRequest (SIPE sends its certificate anyway)."""
        return self._certificate_requested

    @property
    def server_finished_verified(self) -> bool | None:
        """True/False: the server's Finished did/did not check out; None: none was sent."""
        return self._server_finished_verified

    @property
    def client_certificate_not_after(self) -> datetime:
        """The client certificate's notAfter (UTC): the TLS-DSK security association's end."""
        return self._certificate.not_valid_after_utc

    @property
    def client_signing_key(self) -> bytes:
        """The 32-byte key that signs our SIP messages (``response=``)."""
        return self._require_keys().client

    @property
    def server_signing_key(self) -> bytes:
        """The 32-byte key that checks the server's ``rspauth``."""
        return self._require_keys().server

    def _require_keys(self) -> TlsDskKeys:
        if self._keys is None:
            raise TlsDskUsageError("the TLS-DSK keys exist only after the handshake completed")
        return self._keys

    # -- steps --

    def client_hello(self) -> bytes:
        """The ClientHello record for the first Authorization's ``gssapi-data``."""
        self._expect(_State.START)
        now = int(self._unix_time()) & 0xFFFFFFFF
        self._client_random = now.to_bytes(4, "big") + self._random(28)
        message = client_hello_message(self._client_random)
        self._transcript += message
        self._state = _State.AWAIT_SERVER_FLIGHT
        return record(ContentType.HANDSHAKE, message)

    def receive_server_flight(self, records: bytes) -> bytes:
        """Take ServerHello…ServerHelloDone; return Certificate…Finished (three records).

        Raises:
            TlsDskHandshakeError: the flight is one SIPE fails on (see :class:`TlsDskFailure`).
            TlsDskUsageError: called out of order.
        """
        self._expect(_State.AWAIT_SERVER_FLIGHT)
        try:
            flight = parse_server_flight(records)
            self._session = self._negotiate(flight)
            self._certificate_requested = flight.certificate_requested
            self._transcript += flight.transcript
            out = self._client_flight()
        except Exception:
            self._state = _State.FAILED
            raise
        self._state = _State.AWAIT_SERVER_FINAL
        return out

    def receive_server_final(self, records: bytes) -> None:
        """Take ChangeCipherSpec + Finished; derive the keys and check the server's Finished.

        Raises:
            TlsDskHandshakeError: no ChangeCipherSpec (or an alert instead), or malformed.
            TlsDskUsageError: called out of order.
        """
        self._expect(_State.AWAIT_SERVER_FINAL)
        assert self._session is not None
        try:
            final = parse_server_final(records)
        except TlsDskHandshakeError:
            self._state = _State.FAILED
            raise
        self._transcript += final.pre_ccs_transcript
        self._server_finished_verified = self._check_server_finished(final.encrypted)
        session = self._session
        self._keys = tls_dsk_keys(session.master, self._client_random, session.hello.random)
        self._state = _State.COMPLETE

    # -- internals --

    def _expect(self, state: _State) -> None:
        if self._state is not state:
            raise TlsDskUsageError(f"TLS-DSK handshake step out of order (state "
                                   f"{self._state.value}, expected {state.value})")

    def _random(self, count: int) -> bytes:
        data = self._random_bytes(count)
        if len(data) != count:
            raise TlsDskUsageError(f"random_bytes({count}) returned {len(data)} bytes")
        return bytes(data)

    def _nonzero_random(self, count: int) -> bytes:
        out = bytearray()
        for _ in range(64):
            if len(out) >= count:
                break
            out += bytes(b for b in self._random(count - len(out)) if b)
        if len(out) != count:
            raise TlsDskUsageError("random_bytes keeps returning zero bytes")
        return bytes(out)

    def _negotiate(self, flight: ServerFlight) -> _Session:
        """SIPE's checks, in its order: suite, server random, certificate, key."""
        assert flight.hello is not None
        suite = _chosen_suite(flight.hello.cipher_suite)
        der = _leaf_certificate(flight.certificate_list)
        server_key = _server_rsa_key(der)
        pre_master = TLS_1_0.to_bytes(2, "big") + self._random(46)
        master = master_secret(pre_master, self._client_random, flight.hello.random)
        return _Session(suite=suite, hello=flight.hello, server_certificate_der=der,
                        master=master,
                        keys=key_block(master, self._client_random, flight.hello.random, suite),
                        encrypted_pre_master=self._encrypt_pre_master(server_key, pre_master))

    def _encrypt_pre_master(self, server_key: rsa.RSAPublicKey, pre_master: bytes) -> bytes:
        size = _modulus_bytes(server_key.public_numbers().n)
        padding = self._nonzero_random(size - len(pre_master) - 3)
        return _rsa_public_raw(server_key, pkcs1_type2_block(pre_master, size, padding))

    def _client_flight(self) -> bytes:
        assert self._session is not None
        der = self._certificate_der
        certificate = handshake_message(
            HandshakeType.CERTIFICATE,
            (len(der) + 3).to_bytes(3, "big") + len(der).to_bytes(3, "big") + der)
        secret = self._session.encrypted_pre_master
        exchange = handshake_message(HandshakeType.CLIENT_KEY_EXCHANGE,
                                     len(secret).to_bytes(2, "big") + secret)
        self._transcript += certificate + exchange
        signature = sign_handshake_digests(self._private_key,
                                           handshake_digests(bytes(self._transcript)))
        verify = handshake_message(HandshakeType.CERTIFICATE_VERIFY,
                                   len(signature).to_bytes(2, "big") + signature)
        self._transcript += verify
        finished = handshake_message(HandshakeType.FINISHED, finished_verify_data(
            self._session.master, b"client finished", bytes(self._transcript)))
        self._transcript += finished
        keys, suite = self._session.keys, self._session.suite
        return (record(ContentType.HANDSHAKE, certificate + exchange + verify) + _CCS_RECORD
                + protect_record(suite, keys.client_mac, keys.client_key, keys.client_iv, 0,
                                 ContentType.HANDSHAKE, finished))

    def _check_server_finished(self, encrypted: list[Record]) -> bool | None:
        assert self._session is not None
        rec = next((r for r in encrypted if r.content_type == ContentType.HANDSHAKE), None)
        if rec is None:
            return None
        keys, suite = self._session.keys, self._session.suite
        plain = unprotect_record(suite, keys.server_mac, keys.server_key, keys.server_iv, 0, rec)
        expected = handshake_message(HandshakeType.FINISHED, finished_verify_data(
            self._session.master, b"server finished", bytes(self._transcript)))
        return plain is not None and hmac.compare_digest(plain, expected)


def _chosen_suite(code: int) -> CipherSuite:
    suite = CIPHER_SUITES.get(code)
    if suite is None:
        raise TlsDskHandshakeError(TlsDskFailure.UNSUPPORTED_SUITE,
                                   f"the server chose cipher suite 0x{code:04X}, which SIPE "
                                   "did not offer (\"unsupported cipher suite\")")
    if suite.export:
        raise TlsDskHandshakeError(TlsDskFailure.EXPORT_SUITE,
                                   f"the server chose the export suite {suite}; SIPE derives "
                                   "its keys wrongly and the handshake cannot succeed")
    return suite


def _leaf_certificate(certificate_list: bytes | None) -> bytes:
    if certificate_list is None or len(certificate_list) < 3:
        raise TlsDskHandshakeError(TlsDskFailure.NO_SERVER_CERTIFICATE,
                                   "the server's TLS flight carries no certificate")
    length = int.from_bytes(certificate_list[:3], "big")
    if length + 3 > len(certificate_list):
        raise TlsDskHandshakeError(TlsDskFailure.MALFORMED,
                                   "the server's first certificate is longer than its list")
    return certificate_list[3:3 + length]


def _key_kind(public: object) -> str:
    kinds = ((ec.EllipticCurvePublicKey, "EC (ECDSA)"), (dsa.DSAPublicKey, "DSA"),
             (ed25519.Ed25519PublicKey, "Ed25519"), (ed448.Ed448PublicKey, "Ed448"))
    return next((name for cls, name in kinds if isinstance(public, cls)), "non-RSA")


def _server_rsa_key(der: bytes) -> rsa.RSAPublicKey:
    try:
        public = x509.load_der_x509_certificate(der).public_key()
    except (ValueError, x509.InvalidVersion):
        raise TlsDskHandshakeError(TlsDskFailure.BAD_SERVER_CERTIFICATE,
                                   "the server's TLS certificate does not decode") from None
    except UnsupportedAlgorithm:
        public = None
    if not isinstance(public, rsa.RSAPublicKey):
        kind = _key_kind(public)
        raise TlsDskHandshakeError(TlsDskFailure.SERVER_KEY_NOT_RSA,
                                   f"the server's TLS certificate has a {kind} key; SIPE's "
                                   "TLS-DSK needs RSA (key exchange by RSA encryption)")
    size = _modulus_bytes(public.public_numbers().n)
    if size < _PREMASTER_PAD_MIN:
        raise TlsDskHandshakeError(TlsDskFailure.SERVER_KEY_TOO_SHORT,
                                   f"the server's RSA key has {size * 8} bits; SIPE needs at "
                                   f"least {_MIN_SERVER_MODULUS * 8} (and {_PREMASTER_PAD_MIN * 8}"
                                   " to pad the pre-master secret)")
    return public
