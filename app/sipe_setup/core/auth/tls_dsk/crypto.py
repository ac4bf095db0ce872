"""TLS-DSK's cryptographic building blocks, TLS 1.0 as SIPE 1.25.0 uses it (tls-dsk.md §1.6-1.7).

Pure functions and value types, no state and no I/O; :mod:`.tls10` drives them through a
handshake:

- the cipher-suite table SIPE offers (:class:`CipherSuite`, :data:`CIPHER_SUITES`);
- the TLS 1.0 PRF (:func:`p_hash`, :func:`prf`), the master secret, the key block
  (:class:`KeyBlock`) and the two TLS-DSK signing keys (:class:`TlsDskKeys`,
  ``PRF(master, "client EAP encryption", client_random ‖ server_random)[64:128]``);
- the handshake digests (MD5‖SHA1) and the Finished ``verify_data``;
- record framing and the protection of the one encrypted record per direction (TLS 1.0:
  implicit IV from the key block, HMAC then pad then AES-CBC; or RC4 from a fresh stream);
- RSA without a library's padding: PKCS#1 v1.5 type 1/2 blocks built by hand, raw RSA, and the
  CertificateVerify signature over MD5‖SHA1 with *no DigestInfo*.

Secrets (master, key block, signing keys) never appear in a ``repr``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sipe_setup.core.auth.rc4 import rc4
from sipe_setup.core.auth.tls_dsk.records import TLS_1_0, Record, TlsDskUsageError

__all__ = [
    "CIPHER_SUITES",
    "EAP_LABEL",
    "OFFERED_SUITES",
    "CipherSuite",
    "KeyBlock",
    "TlsDskKeys",
    "finished_verify_data",
    "handshake_digests",
    "key_block",
    "master_secret",
    "modulus_bytes",
    "p_hash",
    "pkcs1_type1_block",
    "pkcs1_type2_block",
    "prf",
    "protect_record",
    "record",
    "rsa_private_raw",
    "rsa_public_raw",
    "sign_handshake_digests",
    "tls_dsk_keys",
    "unprotect_record",
]

EAP_LABEL: Final = b"client EAP encryption"


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



# --- RSA without a library's padding ------------------------------------------------------------


def modulus_bytes(n: int) -> int:
    """Length in bytes of an RSA modulus ``n``."""
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


def rsa_public_raw(key: rsa.RSAPublicKey, block: bytes) -> bytes:
    """``block ** e mod n``: raw RSA encryption of an already padded block."""
    numbers = key.public_numbers()
    value = pow(int.from_bytes(block, "big"), numbers.e, numbers.n)
    return value.to_bytes(modulus_bytes(numbers.n), "big")


def rsa_private_raw(key: rsa.RSAPrivateKey, block: bytes) -> bytes:
    """``block ** d mod n`` via CRT (cryptography cannot sign without a DigestInfo)."""
    numbers = key.private_numbers()
    c = int.from_bytes(block, "big")
    m1 = pow(c, numbers.dmp1, numbers.p)
    m2 = pow(c, numbers.dmq1, numbers.q)
    value = m2 + numbers.q * ((numbers.iqmp * (m1 - m2)) % numbers.p)
    return value.to_bytes(modulus_bytes(numbers.public_numbers.n), "big")


def sign_handshake_digests(key: rsa.RSAPrivateKey, digests: bytes) -> bytes:
    """CertificateVerify's signature: type-1 padded MD5‖SHA1, raw RSA, no DigestInfo."""
    size = modulus_bytes(key.private_numbers().public_numbers.n)
    return rsa_private_raw(key, pkcs1_type1_block(digests, size))
