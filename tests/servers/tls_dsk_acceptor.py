"""The server side of TLS-DSK (MS-SIPAE) as real pidgin-sipe 1.25.0 needs it (test registrar).

TLS-DSK runs a TLS handshake inside REGISTER: the client's records travel base64-encoded in
``Authorization: TLS-DSK … gssapi-data``, the server's in the 401's ``WWW-Authenticate``. Here
one :class:`TlsDskHandshake` per security association drives a pyOpenSSL ``Connection`` in
accept state over memory BIOs (no socket); when the handshake completes it yields a
:class:`TlsDskServerSession` holding the two signing keys.

Invariants (reference ``tls-dsk.md`` §1.6–1.7 and §4.2):
- TLS 1.0–1.2, suites ``AES128-SHA:AES256-SHA`` at ``@SECLEVEL=0`` (TLS 1.0 is refused at any
  higher level), no session tickets. The server key is RSA: SIPE's client does RSA key exchange
  only and rejects an ECDSA server key as "strength too low".
- The client certificate is required and verified against the test CA
  (``VERIFY_PEER | VERIFY_FAIL_IF_NO_PEER_CERT``); whether it is the one *published* for the
  user is the registrar's question (it knows the From URI), see
  :attr:`TlsDskHandshake.client_certificate`.
- The server flight is re-framed into ONE handshake record, as Schannel sends it: SIPE fails
  when ServerHelloDone starts a record of its own (``coalesce=False`` reproduces that).
- Signing keys = ``PRF(master_secret, "client EAP encryption", client_random ‖ server_random)``
  [64:96] (client) and [96:128] (server), which is the RFC 5705 exporter without context; both
  are computed and must agree, or the handshake counts as failed.
- HMAC-SHA1 signatures (HMAC-MD5 if the suite ends in MD5), ``rspauth`` in lower-case hex,
  client ``response`` in either case.
- OpenSSL has no RC4 any more, so ``rc4_md5`` switches to :class:`Rc4Md5Handshake`, a
  hand-built TLS 1.0 server for TLS_RSA_WITH_RC4_128_MD5 (SIPE's first choice) that does only
  what TLS-DSK needs: one full handshake with a client certificate, nothing else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from OpenSSL import SSL

from sipe_setup.core.auth.rc4 import rc4

__all__ = [
    "CIPHERS",
    "EAP_LABEL",
    "Rc4Md5Handshake",
    "TlsDskAcceptor",
    "TlsDskHandshake",
    "TlsDskOptions",
    "TlsDskServerSession",
    "TlsDskStep",
    "coalesce_handshake_records",
    "p_hash",
    "tls_prf",
]

CIPHERS = b"AES128-SHA:AES256-SHA:@SECLEVEL=0"
EAP_LABEL = b"client EAP encryption"
_KEY_MATERIAL = 128
_HANDSHAKE = 22
_MAX_FRAGMENT = 16384
_PROTOCOLS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303}


@dataclass(frozen=True)
class TlsDskOptions:
    """How the TLS-DSK server behaves.

    Attributes:
        coalesce: send the server flight as one handshake record (False: one record per
            message, as OpenSSL writes it, which SIPE rejects).
        tls12_only: accept TLS 1.2 only, so SIPE's TLS 1.0 hello gets a protocol_version
            alert.
        rc4_md5: choose RC4-MD5 (:class:`Rc4Md5Handshake`; the other options do not apply).
    """

    coalesce: bool = True
    tls12_only: bool = False
    rc4_md5: bool = False


def _records(data: bytes) -> Iterator[tuple[int, bytes, bytes]]:
    """(content type, 2-byte version, fragment) of each TLS record in ``data``."""
    offset = 0
    while offset + 5 <= len(data):
        content_type = data[offset]
        version = data[offset + 1:offset + 3]
        (length,) = struct.unpack_from(">H", data, offset + 3)
        yield content_type, version, data[offset + 5:offset + 5 + length]
        offset += 5 + length
    if offset != len(data):
        raise ValueError("truncated TLS record")


def coalesce_handshake_records(data: bytes) -> bytes:
    """Re-frame runs of handshake records into as few records as possible (one per 16 KiB).

    Other records (ChangeCipherSpec, alerts) are passed on unchanged and end a run.
    """
    out = bytearray()
    run = bytearray()
    run_version = b""

    def flush() -> None:
        for start in range(0, len(run), _MAX_FRAGMENT):
            chunk = run[start:start + _MAX_FRAGMENT]
            out.extend(bytes([_HANDSHAKE]) + run_version + struct.pack(">H", len(chunk)) + chunk)
        run.clear()

    for content_type, version, fragment in _records(data):
        if content_type == _HANDSHAKE:
            run_version = run_version or version
            run.extend(fragment)
            continue
        flush()
        out.extend(bytes([content_type]) + version + struct.pack(">H", len(fragment)) + fragment)
    flush()
    return bytes(out)


def p_hash(digest: str, secret: bytes, seed: bytes, length: int) -> bytes:
    """TLS's P_hash (RFC 2246 §5); P_SHA1 is also WS-Trust's PSHA1 key derivation."""
    out = b""
    a = seed
    while len(out) < length:
        a = hmac.new(secret, a, digest).digest()
        out += hmac.new(secret, a + seed, digest).digest()
    return out[:length]


def tls_prf(version: int, secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """The TLS PRF: MD5 ⊕ SHA-1 halves for TLS 1.0/1.1 (RFC 2246 §5), P_SHA256 for TLS 1.2
    with the SHA-1/SHA-256 suites used here (RFC 5246 §5)."""
    if version >= 0x0303:
        return p_hash("sha256", secret, label + seed, length)
    half = (len(secret) + 1) // 2
    md5 = p_hash("md5", secret[:half], label + seed, length)
    sha1 = p_hash("sha1", secret[len(secret) - half:], label + seed, length)
    return bytes(x ^ y for x, y in zip(md5, sha1, strict=True))


class TlsDskServerSession:
    """The signing keys of a completed TLS-DSK handshake (server side)."""

    def __init__(self, client_key: bytes, server_key: bytes, *, digest: str,
                 protocol: str, cipher: str) -> None:
        self.client_key = client_key
        self.server_key = server_key
        self.digest = digest
        self.protocol = protocol
        self.cipher = cipher

    def __repr__(self) -> str:
        return f"TlsDskServerSession({self.protocol} {self.cipher}, HMAC-{self.digest.upper()})"

    @classmethod
    def from_connection(cls, conn: SSL.Connection) -> TlsDskServerSession:
        """Keys of a finished connection; the exporter and our own PRF must agree.

        Raises:
            ValueError: they do not (the server would be computing the wrong keys).
        """
        protocol = conn.get_protocol_version_name()
        cipher = conn.get_cipher_name() or ""
        master, client_random, server_random = (conn.master_key(), conn.client_random(),
                                                conn.server_random())
        if master is None or client_random is None or server_random is None:
            raise ValueError("the TLS connection has no session")
        exported = conn.export_keying_material(EAP_LABEL, _KEY_MATERIAL)
        manual = tls_prf(_PROTOCOLS.get(protocol, 0x0301), master, EAP_LABEL,
                         client_random + server_random, _KEY_MATERIAL)
        if exported != manual:
            raise ValueError(f"exporter and TLS PRF disagree ({protocol} {cipher})")
        return cls(exported[64:96], exported[96:128],
                   digest="md5" if cipher.upper().endswith("MD5") else "sha1",
                   protocol=protocol, cipher=cipher)

    def sign(self, text: str) -> str:
        """``rspauth``: the server key's HMAC over a signature string, lower-case hex."""
        return hmac.new(self.server_key, text.encode("utf-8"), self.digest).hexdigest()

    def verify_client(self, text: str, signature_hex: str) -> bool:
        """True if ``signature_hex`` (the client's ``response``, any case) signs ``text``."""
        try:
            claimed = bytes.fromhex(signature_hex)
        except ValueError:
            return False
        expected = hmac.new(self.client_key, text.encode("utf-8"), self.digest).digest()
        return hmac.compare_digest(expected, claimed)


@dataclass(frozen=True)
class TlsDskStep:
    """What one client flight produced.

    Attributes:
        output: the server's records for ``gssapi-data`` (an alert when the handshake failed).
        complete: the handshake finished with this flight.
        error: why the handshake failed ("" while it goes well).
    """

    output: bytes
    complete: bool = False
    error: str = ""


class TlsDskHandshake:
    """One TLS-DSK handshake, fed the client's flights one by one."""

    def __init__(self, context: SSL.Context, options: TlsDskOptions) -> None:
        self._conn = SSL.Connection(context, None)
        self._conn.set_accept_state()
        self._options = options
        self.session: TlsDskServerSession | None = None
        self.client_certificate: x509.Certificate | None = None

    def step(self, records: bytes) -> TlsDskStep:
        """Feed one client flight (ClientHello, or Certificate…Finished); never raises for
        client input."""
        if self.session is not None:
            return TlsDskStep(b"", error="the handshake is already complete")
        self._conn.bio_write(records)
        try:
            self._conn.do_handshake()
        except SSL.WantReadError:
            return TlsDskStep(self._flight())
        except SSL.Error as exc:
            return TlsDskStep(self._drain(), error=f"TLS handshake failed: {exc}")
        try:
            self.session = TlsDskServerSession.from_connection(self._conn)
        except ValueError as exc:
            return TlsDskStep(self._drain(), error=str(exc))
        self.client_certificate = self._conn.get_peer_certificate(as_cryptography=True)
        return TlsDskStep(self._drain(), complete=True)

    def _flight(self) -> bytes:
        data = self._drain()
        return coalesce_handshake_records(data) if self._options.coalesce else data

    def _drain(self) -> bytes:
        out = bytearray()
        while True:
            try:
                out += self._conn.bio_read(65536)
            except SSL.WantReadError:
                return bytes(out)


_TLS10 = b"\x03\x01"
_ALERT, _CHANGE_CIPHER_SPEC = 21, 20
_RC4_MD5 = b"\x00\x04"
_HANDSHAKE_FAILURE, _BAD_RECORD_MAC, _BAD_CERTIFICATE, _UNKNOWN_CA = 40, 20, 42, 48
_DECODE_ERROR, _DECRYPT_ERROR, _PROTOCOL_VERSION = 50, 51, 70


class _Alert(Exception):
    """The handshake fails with a fatal alert (RFC 2246 §7.2 description) for the client."""

    def __init__(self, description: int, why: str) -> None:
        super().__init__(why)
        self.record = bytes([_ALERT]) + _TLS10 + b"\x00\x02\x02" + bytes([description])


def _handshake_messages(data: bytes) -> Iterator[tuple[int, bytes, bytes]]:
    """(type, body, whole message) of each handshake message in ``data``."""
    offset = 0
    while offset < len(data):
        if offset + 4 > len(data):
            raise _Alert(_DECODE_ERROR, "truncated handshake message")
        length = int.from_bytes(data[offset + 1:offset + 4], "big")
        whole = data[offset:offset + 4 + length]
        if len(whole) != 4 + length:
            raise _Alert(_DECODE_ERROR, "truncated handshake message")
        yield data[offset], whole[4:], whole
        offset += 4 + length


def _message(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def _vector(data: bytes, length_bytes: int) -> bytes:
    return len(data).to_bytes(length_bytes, "big") + data


class Rc4Md5Handshake:
    """A TLS 1.0 server for TLS_RSA_WITH_RC4_128_MD5 (0x0004), built by hand.

    It does SIPE's handshake and nothing more: ClientHello → ServerHello, Certificate,
    CertificateRequest, ServerHelloDone (one record); Certificate, ClientKeyExchange,
    CertificateVerify, ChangeCipherSpec, Finished → ChangeCipherSpec, Finished. Each check
    that fails ends in a fatal alert, as OpenSSL's would. Signing uses HMAC-MD5.
    """

    def __init__(self, certificate_chain: list[x509.Certificate], key: rsa.RSAPrivateKey,
                 ca: x509.Certificate) -> None:
        self._chain = certificate_chain
        self._key = key
        self._ca = ca
        self._transcript = b""
        self._client_random = self._server_random = b""
        self.session: TlsDskServerSession | None = None
        self.client_certificate: x509.Certificate | None = None

    def step(self, records: bytes) -> TlsDskStep:
        """Feed one client flight; never raises for client input."""
        if self.session is not None:
            return TlsDskStep(b"", error="the handshake is already complete")
        try:
            parsed = list(_records(records))
        except ValueError as exc:
            return TlsDskStep(b"", error=f"TLS handshake failed: {exc}")
        try:
            if not self._server_random:
                return TlsDskStep(self._server_hello(parsed))
            return TlsDskStep(self._finish(parsed), complete=True)
        except _Alert as alert:
            return TlsDskStep(alert.record, error=f"TLS handshake failed: {alert}")

    def _server_hello(self, records: list[tuple[int, bytes, bytes]]) -> bytes:
        data = b"".join(fragment for kind, _v, fragment in records if kind == _HANDSHAKE)
        messages = list(_handshake_messages(data))
        if not messages or messages[0][0] != 1:
            raise _Alert(_DECODE_ERROR, "no ClientHello")
        _kind, hello, whole = messages[0]
        if len(hello) < 38 or hello[:2] < _TLS10:
            raise _Alert(_PROTOCOL_VERSION, "a ClientHello below TLS 1.0")
        self._client_random = hello[2:34]
        at = 35 + hello[34]  # after the session id
        suites = hello[at + 2:at + 2 + int.from_bytes(hello[at:at + 2], "big")]
        if _RC4_MD5 not in [suites[i:i + 2] for i in range(0, len(suites), 2)]:
            raise _Alert(_HANDSHAKE_FAILURE, "the client does not offer RC4-MD5")
        self._server_random = secrets.token_bytes(32)
        certificates = b"".join(_vector(c.public_bytes(serialization.Encoding.DER), 3)
                                for c in self._chain)
        flight = (
            _message(2, _TLS10 + self._server_random + b"\x00" + _RC4_MD5 + b"\x00")
            + _message(11, _vector(certificates, 3))
            # certificate_types: rsa_sign; certificate_authorities: the test CA
            + _message(13, b"\x01\x01" + _vector(_vector(self._ca.subject.public_bytes(), 2), 2))
            + _message(14, b""))
        self._transcript = whole + flight
        return bytes([_HANDSHAKE]) + _TLS10 + _vector(flight, 2)

    def _finish(self, records: list[tuple[int, bytes, bytes]]) -> bytes:
        kinds = [kind for kind, _v, _f in records]
        if kinds[-2:] != [_CHANGE_CIPHER_SPEC, _HANDSHAKE]:
            raise _Alert(_DECODE_ERROR, "no ChangeCipherSpec + Finished")
        data = b"".join(fragment for kind, _v, fragment in records[:-2] if kind == _HANDSHAKE)
        messages = {kind: (body, whole) for kind, body, whole in _handshake_messages(data)}
        if 11 not in messages or 16 not in messages or 15 not in messages:
            raise _Alert(_HANDSHAKE_FAILURE, "Certificate, ClientKeyExchange or "
                                             "CertificateVerify missing")
        certificate = self._client_certificate(messages[11][0])
        exchange = messages[16][0]
        try:
            pre_master = self._key.decrypt(exchange[2:], padding.PKCS1v15())
        except ValueError:
            raise _Alert(_DECRYPT_ERROR, "ClientKeyExchange does not decrypt") from None
        if len(pre_master) != 48:
            raise _Alert(_DECRYPT_ERROR, "a pre-master secret that is not 48 bytes")
        self._transcript += messages[11][1] + messages[16][1]
        self._check_certificate_verify(certificate, messages[15][0][2:])
        self._transcript += messages[15][1]

        randoms = self._client_random + self._server_random
        master = tls_prf(0x0301, pre_master, b"master secret", randoms, 48)
        block = tls_prf(0x0301, master, b"key expansion",
                        self._server_random + self._client_random, 64)
        client_mac, server_mac, client_key, server_key = (block[0:16], block[16:32],
                                                          block[32:48], block[48:64])
        plain = rc4(client_key, records[-1][2])
        finished, mac = plain[:-16], plain[-16:]
        if not hmac.compare_digest(mac, self._record_mac(client_mac, finished)):
            raise _Alert(_BAD_RECORD_MAC, "the Finished record's MAC is wrong")
        if finished != _message(20, self._verify_data(master, b"client finished")):
            raise _Alert(_DECRYPT_ERROR, "the client's Finished is wrong")
        self._transcript += finished

        server_finished = _message(20, self._verify_data(master, b"server finished"))
        sealed = rc4(server_key, server_finished + self._record_mac(server_mac, server_finished))
        keys = tls_prf(0x0301, master, EAP_LABEL, randoms, _KEY_MATERIAL)
        self.session = TlsDskServerSession(keys[64:96], keys[96:128], digest="md5",
                                           protocol="TLSv1", cipher="RC4-MD5")
        self.client_certificate = certificate
        return (bytes([_CHANGE_CIPHER_SPEC]) + _TLS10 + b"\x00\x01\x01"
                + bytes([_HANDSHAKE]) + _TLS10 + _vector(sealed, 2))

    def _client_certificate(self, body: bytes) -> x509.Certificate:
        """The client's leaf, which the test CA must have issued and which must be valid."""
        if len(body) < 6:
            raise _Alert(_HANDSHAKE_FAILURE, "no client certificate")
        try:
            leaf = x509.load_der_x509_certificate(body[6:6 + int.from_bytes(body[3:6], "big")])
        except ValueError:
            raise _Alert(_BAD_CERTIFICATE, "the client certificate does not parse") from None
        try:
            leaf.verify_directly_issued_by(self._ca)
        except (ValueError, TypeError, InvalidSignature):
            raise _Alert(_UNKNOWN_CA, "the client certificate is not from the test CA") from None
        now = dt.datetime.now(dt.UTC)
        if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
            raise _Alert(_BAD_CERTIFICATE, "the client certificate is not valid now")
        return leaf

    def _check_certificate_verify(self, certificate: x509.Certificate, signature: bytes) -> None:
        """TLS 1.0: PKCS#1 type 1 over MD5(hs) ‖ SHA1(hs), no DigestInfo."""
        public_key = certificate.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise _Alert(_BAD_CERTIFICATE, "not an RSA client key")
        expected = (hashlib.md5(self._transcript).digest()
                    + hashlib.sha1(self._transcript).digest())
        try:
            signed = public_key.recover_data_from_signature(signature, padding.PKCS1v15(), None)
        except InvalidSignature:
            signed = b""
        if not hmac.compare_digest(signed, expected):
            raise _Alert(_DECRYPT_ERROR, "CertificateVerify does not verify")

    def _verify_data(self, master: bytes, label: bytes) -> bytes:
        hashes = hashlib.md5(self._transcript).digest() + hashlib.sha1(self._transcript).digest()
        return tls_prf(0x0301, master, label, hashes, 12)

    @staticmethod
    def _record_mac(mac_key: bytes, content: bytes) -> bytes:
        """HMAC-MD5 over sequence number 0 and the handshake record header (RFC 2246 §6.2.3)."""
        header = (0).to_bytes(8, "big") + bytes([_HANDSHAKE]) + _TLS10
        return hmac.new(mac_key, header + _vector(content, 2), "md5").digest()


TlsDskServerHandshake = TlsDskHandshake | Rc4Md5Handshake


class TlsDskAcceptor:
    """Builds the TLS context once; hands out one :class:`TlsDskHandshake` per association.

    Args:
        cert_path, key_path: the server's RSA certificate and key (PEM).
        ca_path: the CA that client certificates must chain to (PEM); it is also sent as the
            second certificate of the server's chain and named in the CertificateRequest.
        options: :class:`TlsDskOptions`.
    """

    def __init__(self, cert_path: Path, key_path: Path, ca_path: Path,
                 options: TlsDskOptions | None = None) -> None:
        self.options = options or TlsDskOptions()
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the TLS-DSK server key must be RSA (SIPE takes no other)")
        self._rc4 = (certificate, ca, key)
        ctx = SSL.Context(SSL.TLS_METHOD)
        ctx.set_min_proto_version(SSL.TLS1_2_VERSION if self.options.tls12_only
                                  else SSL.TLS1_VERSION)
        ctx.set_max_proto_version(SSL.TLS1_2_VERSION)
        ctx.set_cipher_list(CIPHERS)
        ctx.set_options(SSL.OP_NO_TICKET)
        ctx.use_certificate(certificate)
        ctx.use_privatekey(key)
        ctx.add_extra_chain_cert(ca)
        ctx.check_privatekey()
        ctx.load_verify_locations(str(ca_path))
        ctx.add_client_ca(ca)
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT)
        self._context = ctx

    def new_handshake(self) -> TlsDskServerHandshake:
        if self.options.rc4_md5:
            certificate, ca, key = self._rc4
            return Rc4Md5Handshake([certificate, ca], key, ca)
        return TlsDskHandshake(self._context, self.options)
