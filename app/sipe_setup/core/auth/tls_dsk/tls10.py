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

The cryptography itself (PRF, key block, signing keys, record protection, raw RSA, the suite
table) lives in :mod:`.crypto`; this module is the state machine and re-exports those names.

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

from sipe_setup.core.auth.tls_dsk.crypto import (
    CIPHER_SUITES,
    EAP_LABEL,
    OFFERED_SUITES,
    CipherSuite,
    KeyBlock,
    TlsDskKeys,
    finished_verify_data,
    handshake_digests,
    key_block,
    master_secret,
    modulus_bytes,
    p_hash,
    pkcs1_type1_block,
    pkcs1_type2_block,
    prf,
    protect_record,
    record,
    rsa_public_raw,
    sign_handshake_digests,
    tls_dsk_keys,
    unprotect_record,
)
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

_MIN_SERVER_MODULUS: Final = 48
"""SIPE's "server public key strength too low" bound (bytes)."""
_PREMASTER_PAD_MIN: Final = 48 + 3
"""Smallest modulus SIPE's type-2 padding accepts for a 48-byte pre-master secret."""
_CCS_RECORD: Final = bytes([ContentType.CHANGE_CIPHER_SPEC]) + b"\x03\x01\x00\x01\x01"


# --- ClientHello --------------------------------------------------------------------------------


def client_hello_message(client_random: bytes) -> bytes:
    """SIPE's ClientHello handshake message (49 bytes)."""
    suites = b"".join(code.to_bytes(2, "big") for code in OFFERED_SUITES)
    body = (TLS_1_0.to_bytes(2, "big") + client_random + b"\x00"
            + len(suites).to_bytes(2, "big") + suites + b"\x01\x00")
    return handshake_message(HandshakeType.CLIENT_HELLO, body)


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
        size = modulus_bytes(server_key.public_numbers().n)
        padding = self._nonzero_random(size - len(pre_master) - 3)
        return rsa_public_raw(server_key, pkcs1_type2_block(pre_master, size, padding))

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
    size = modulus_bytes(public.public_numbers().n)
    if size < _PREMASTER_PAD_MIN:
        raise TlsDskHandshakeError(TlsDskFailure.SERVER_KEY_TOO_SHORT,
                                   f"the server's RSA key has {size * 8} bits; SIPE needs at "
                                   f"least {_MIN_SERVER_MODULUS * 8} (and {_PREMASTER_PAD_MIN * 8}"
                                   " to pad the pre-master secret)")
    return public
