"""Connectionless NTLMv2 as SIPE speaks it to OCS/Lync ([MS-NLMP], [MS-SIPAE]; reference §3.6).

Client side: parse the server's CHALLENGE (Type 2), build the AUTHENTICATE (Type 3), derive the
four session keys and compute the SIP message signature. The server-side *primitives* (parse a
Type 3, recompute an NTLMv2 response, recover the exported session key) live here too, so the
test registrar reuses exactly the same code path instead of a second copy.

Invariants:
- No I/O. Randomness (client challenge, exported session key) and time come from injectable
  callables so captures and published vectors can be reproduced bit for bit.
- Every length/offset in a message from the peer is bounds-checked: a malformed token raises
  :class:`NtlmProtocolError` (the peer's fault), never ``IndexError``/``struct.error``.
  A CHALLENGE that is well formed but lacks what SIPE requires raises
  :class:`NtlmUnsupportedChallenge`. Misuse by our own caller raises :class:`NtlmUsageError`.
- The password only passes through :class:`~sipe_setup.core.account.Secret.reveal` into the
  key derivation; it never reaches a repr, an exception or a log. Key containers hide their
  bytes in ``repr``.
- NTLMv2 only, no MIC, workstation = upper-cased host name, version 5.1.2600 rev 15, the LMv2
  response is sent, the target info is echoed unchanged — all as SIPE 1.25.0 does.
- SIP signatures always use sequence number :data:`SIP_SEQUENCE` (100).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from sipe_setup.core.account import NtlmIdentity, Secret
from sipe_setup.core.auth.errors import (
    AuthError,
    AuthProtocolError,
    AuthUsageError,
    UnsupportedChallengeError,
)
from sipe_setup.core.auth.md4 import md4
from sipe_setup.core.auth.rc4 import rc4

__all__ = [
    "MAX_TOKEN_BYTES",
    "NEGOTIATE_FLAGS_CONNLESS",
    "NTLM_SIGNATURE",
    "REQUIRED_CHALLENGE_FLAGS",
    "SIPE_NTLM_VERSION",
    "SIP_SEQUENCE",
    "AvId",
    "NtlmAuthenticate",
    "NtlmAuthenticateResult",
    "NtlmChallenge",
    "NtlmClient",
    "NtlmError",
    "NtlmFlags",
    "NtlmProtocolError",
    "NtlmSessionKeys",
    "NtlmSigner",
    "NtlmUnsupportedChallenge",
    "NtlmUsageError",
    "NtlmV2Response",
    "NtlmVersion",
    "encode_authenticate",
    "encode_av_pairs",
    "filetime_now",
    "negotiate_flags",
    "ntlm_mac",
    "ntlmv2_blob",
    "ntlmv2_response",
    "ntlmv2_response_for_blob",
    "ntowf_v1",
    "ntowf_v2",
    "parse_authenticate",
    "parse_av_pairs",
    "parse_challenge",
    "seal_key",
    "sign_key",
    "utf16_upper",
]

NTLM_SIGNATURE: Final = b"NTLMSSP\x00"
MAX_TOKEN_BYTES: Final = 16 * 1024
"""Largest NTLM message accepted from a peer (real ones are a few hundred bytes)."""
SIP_SEQUENCE: Final = 100
"""Sequence number of every SIP message signature (reference §7 trap 1)."""
_FILETIME_EPOCH_OFFSET: Final = 11644473600  # seconds from 1601-01-01 to 1970-01-01


class NtlmError(AuthError):
    """Base of NTLM errors."""


class NtlmProtocolError(NtlmError, AuthProtocolError):
    """The peer sent a malformed NTLM message (the peer's fault)."""


class NtlmUnsupportedChallenge(NtlmError, UnsupportedChallengeError):
    """The server's CHALLENGE is valid but lacks flags SIPE needs (connectionless signing)."""

    def __init__(self, missing: NtlmFlags) -> None:
        self.missing = missing
        names = ", ".join(f.name or hex(f.value) for f in NtlmFlags if f & missing)
        super().__init__(f"the server's NTLM challenge lacks {names}; SIPE refuses it "
                         "(\"Failed to authenticate to server\")")


class NtlmUsageError(NtlmError, AuthUsageError, ValueError):
    """We called the NTLM code wrongly (our fault)."""


class NtlmFlags(enum.IntFlag):
    """NEGOTIATE flags ([MS-NLMP] §2.2.2.5)."""

    UNICODE = 0x00000001
    OEM = 0x00000002
    REQUEST_TARGET = 0x00000004
    SIGN = 0x00000010
    SEAL = 0x00000020
    DATAGRAM = 0x00000040
    LM_KEY = 0x00000080
    NTLM = 0x00000200
    ANONYMOUS = 0x00000800
    OEM_DOMAIN_SUPPLIED = 0x00001000
    OEM_WORKSTATION_SUPPLIED = 0x00002000
    ALWAYS_SIGN = 0x00008000
    TARGET_TYPE_DOMAIN = 0x00010000
    TARGET_TYPE_SERVER = 0x00020000
    EXTENDED_SESSIONSECURITY = 0x00080000
    IDENTIFY = 0x00100000
    NON_NT_SESSION_KEY = 0x00400000
    TARGET_INFO = 0x00800000
    VERSION = 0x02000000
    NEGOTIATE_128 = 0x20000000
    KEY_EXCH = 0x40000000
    NEGOTIATE_56 = 0x80000000


F = NtlmFlags
NEGOTIATE_FLAGS_CONNLESS: Final = (
    F.UNICODE | F.NTLM | F.ALWAYS_SIGN | F.EXTENDED_SESSIONSECURITY | F.TARGET_INFO | F.VERSION
    | F.NEGOTIATE_128 | F.NEGOTIATE_56 | F.REQUEST_TARGET | F.SIGN | F.DATAGRAM | F.IDENTIFY
    | F.KEY_EXCH
)
"""SIPE's ``NEGOTIATE_FLAGS_CONNLESS``: what the client is willing to negotiate."""
REQUIRED_CHALLENGE_FLAGS: Final = (
    F.UNICODE | F.NTLM | F.ALWAYS_SIGN | F.EXTENDED_SESSIONSECURITY | F.TARGET_INFO | F.SIGN
    | F.DATAGRAM | F.IDENTIFY | F.KEY_EXCH
)
"""Flags a CHALLENGE must carry or SIPE gives up (captures README)."""


class AvId(enum.IntEnum):
    """AV_PAIR ids in the target info ([MS-NLMP] §2.2.2.1)."""

    EOL = 0
    NB_COMPUTER_NAME = 1
    NB_DOMAIN_NAME = 2
    DNS_COMPUTER_NAME = 3
    DNS_DOMAIN_NAME = 4
    DNS_TREE_NAME = 5
    FLAGS = 6
    TIMESTAMP = 7
    SINGLE_HOST = 8
    TARGET_NAME = 9
    CHANNEL_BINDINGS = 10


@dataclass(frozen=True, slots=True)
class NtlmVersion:
    """The 8-byte VERSION structure: product major.minor.build and NTLM revision."""

    major: int
    minor: int
    build: int
    revision: int = 0x0F

    def to_bytes(self) -> bytes:
        """Wire form."""
        return struct.pack("<BBH3xB", self.major, self.minor, self.build, self.revision)

    @classmethod
    def from_bytes(cls, data: bytes) -> NtlmVersion:
        """Parse the wire form (8 bytes)."""
        major, minor, build, revision = struct.unpack("<BBH3xB", data)
        return cls(major, minor, build, revision)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.build} rev {self.revision}"


SIPE_NTLM_VERSION: Final = NtlmVersion(5, 1, 2600, 0x0F)
"""The VERSION SIPE puts in its AUTHENTICATE (Windows XP SP2 numbers)."""


# --- helpers ------------------------------------------------------------------------------------


def utf16_upper(text: str) -> str:
    """Upper-case character by character, keeping the length (like Windows' RtlUpcase).

    ``str.upper`` would turn ``ß`` into ``SS``; Windows keeps such characters unchanged.
    """
    out = []
    for ch in text:
        up = ch.upper()
        out.append(up if len(up) == 1 else ch)
    return "".join(out)


def _u16(text: str) -> bytes:
    return text.encode("utf-16-le")


def _hmac_md5(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.md5).digest()


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).digest()


def filetime_now() -> int:
    """Current time as a Windows FILETIME (100 ns ticks since 1601)."""
    return (time.time_ns() // 100) + _FILETIME_EPOCH_OFFSET * 10_000_000


def _read_buffer(data: bytes, offset: int, what: str) -> bytes:
    """Read a security buffer (len, maxlen, offset) at ``offset``; bounds-checked."""
    if offset + 8 > len(data):
        raise NtlmProtocolError(f"NTLM message too short for its {what} field")
    length, _maxlen, start = struct.unpack_from("<HHI", data, offset)
    if length == 0:
        return b""
    if start + length > len(data):
        raise NtlmProtocolError(
            f"NTLM {what} field points outside the message ({start}+{length} > {len(data)})")
    return data[start:start + length]


def _decode_utf16(raw: bytes, what: str) -> str:
    if len(raw) % 2:
        raise NtlmProtocolError(f"NTLM {what} has an odd UTF-16 length")
    try:
        return raw.decode("utf-16-le")
    except UnicodeDecodeError:
        raise NtlmProtocolError(f"NTLM {what} is not valid UTF-16") from None


# --- AV pairs -----------------------------------------------------------------------------------


def parse_av_pairs(data: bytes) -> tuple[tuple[int, bytes], ...]:
    """Split target info into ``(AvId, value)`` pairs up to MsvAvEOL (not included).

    Raises:
        NtlmProtocolError: a pair overruns the buffer or MsvAvEOL is missing.
    """
    pairs: list[tuple[int, bytes]] = []
    pos = 0
    while True:
        if pos + 4 > len(data):
            raise NtlmProtocolError("NTLM target info ends without MsvAvEOL")
        av_id, av_len = struct.unpack_from("<HH", data, pos)
        pos += 4
        if av_id == AvId.EOL:
            return tuple(pairs)
        if pos + av_len > len(data):
            raise NtlmProtocolError(f"NTLM target info pair {av_id} overruns the buffer")
        pairs.append((av_id, data[pos:pos + av_len]))
        pos += av_len


def encode_av_pairs(pairs: tuple[tuple[int, bytes], ...] | list[tuple[int, bytes]]) -> bytes:
    """Target info bytes for ``pairs``, terminated with MsvAvEOL."""
    out = bytearray()
    for av_id, value in pairs:
        if av_id == AvId.EOL:
            raise NtlmUsageError("MsvAvEOL is added automatically")
        out += struct.pack("<HH", av_id, len(value)) + value
    out += struct.pack("<HH", AvId.EOL, 0)
    return bytes(out)


# --- CHALLENGE (Type 2) -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NtlmChallenge:
    """A parsed CHALLENGE message."""

    flags: NtlmFlags
    server_challenge: bytes
    target_name: str
    target_info: bytes
    """Raw target info, echoed unchanged in the NTLMv2 blob."""
    av_pairs: tuple[tuple[int, bytes], ...]
    version: NtlmVersion | None
    raw: bytes = field(repr=False)

    def av(self, av_id: AvId) -> bytes | None:
        """The value of the first AV pair with this id, or None."""
        for pid, value in self.av_pairs:
            if pid == av_id:
                return value
        return None

    def av_text(self, av_id: AvId) -> str | None:
        """A name-valued AV pair (ids 1-5, 9) decoded from UTF-16, or None."""
        value = self.av(av_id)
        return None if value is None else _decode_utf16(value, f"AV pair {av_id.name}")

    @property
    def timestamp(self) -> int | None:
        """MsvAvTimestamp (FILETIME) if the server sent one."""
        value = self.av(AvId.TIMESTAMP)
        if value is None:
            return None
        if len(value) != 8:
            raise NtlmProtocolError("NTLM MsvAvTimestamp is not 8 bytes")
        return int.from_bytes(value, "little")


def parse_challenge(data: bytes) -> NtlmChallenge:
    """Parse and validate a CHALLENGE (Type 2) message.

    Raises:
        NtlmProtocolError: not a Type 2, truncated, fields outside the message, bad UTF-16 or a
            broken target info.
    """
    data = bytes(data)
    if len(data) > MAX_TOKEN_BYTES:
        raise NtlmProtocolError(f"NTLM challenge larger than {MAX_TOKEN_BYTES} bytes")
    if len(data) < 32:
        raise NtlmProtocolError(f"NTLM challenge too short ({len(data)} bytes)")
    if data[:8] != NTLM_SIGNATURE:
        raise NtlmProtocolError("not an NTLM message (no NTLMSSP signature)")
    (msg_type,) = struct.unpack_from("<I", data, 8)
    if msg_type != 2:
        raise NtlmProtocolError(f"expected an NTLM CHALLENGE (type 2), got type {msg_type}")
    target_name_raw = _read_buffer(data, 12, "target name")
    (flags_value,) = struct.unpack_from("<I", data, 20)
    flags = NtlmFlags(flags_value)
    server_challenge = data[24:32]
    target_info = b""
    av_pairs: tuple[tuple[int, bytes], ...] = ()
    version: NtlmVersion | None = None
    if len(data) >= 48:
        target_info = _read_buffer(data, 40, "target info")
        if target_info:
            av_pairs = parse_av_pairs(target_info)
    if flags & NtlmFlags.VERSION and len(data) >= 56:
        version = NtlmVersion.from_bytes(data[48:56])
    if flags & NtlmFlags.UNICODE:
        target_name = _decode_utf16(target_name_raw, "target name")
    else:
        target_name = target_name_raw.decode("latin-1")
    challenge = NtlmChallenge(flags=flags, server_challenge=server_challenge,
                              target_name=target_name, target_info=target_info,
                              av_pairs=av_pairs, version=version, raw=data)
    _ = challenge.timestamp  # validate its size now rather than during the response
    return challenge


def negotiate_flags(challenge_flags: int) -> NtlmFlags:
    """SIPE's negotiated flags: ``(challenge & CONNLESS) | REQUEST_TARGET``, 56 off if 128 on.

    Raises:
        NtlmUnsupportedChallenge: the challenge lacks a flag SIPE requires.
    """
    missing = REQUIRED_CHALLENGE_FLAGS & ~NtlmFlags(challenge_flags)
    if missing:
        raise NtlmUnsupportedChallenge(missing)
    neg = (NtlmFlags(challenge_flags) & NEGOTIATE_FLAGS_CONNLESS) | NtlmFlags.REQUEST_TARGET
    if neg & NtlmFlags.NEGOTIATE_128:
        neg &= ~NtlmFlags.NEGOTIATE_56
    return neg


# --- key derivation and responses ---------------------------------------------------------------


def ntowf_v1(password: Secret) -> bytes:
    """NTOWFv1 = MD4(UTF-16LE(password)); also the input of NTOWFv2."""
    return md4(_u16(password.reveal()))


def ntowf_v2(password: Secret, user: str, domain: str) -> bytes:
    """NTOWFv2 = HMAC_MD5(NTOWFv1, UTF-16LE(UPPER(user) + domain)); the domain keeps its case."""
    return _hmac_md5(ntowf_v1(password), _u16(utf16_upper(user) + domain))


@dataclass(frozen=True, slots=True)
class NtlmV2Response:
    """The NTLMv2 computation for one challenge ([MS-NLMP] §3.3.2)."""

    lm_response: bytes = field(repr=False)
    nt_response: bytes = field(repr=False)
    nt_proof_str: bytes = field(repr=False)
    session_base_key: bytes = field(repr=False)


def ntlmv2_blob(timestamp: int, client_challenge: bytes, target_info: bytes) -> bytes:
    """The NTLMv2 client blob: ``0101 000000000000 time cc 00000000 target_info 00000000``."""
    return (b"\x01\x01" + b"\x00" * 6 + struct.pack("<Q", timestamp) + client_challenge
            + b"\x00" * 4 + target_info + b"\x00" * 4)


def ntlmv2_response(response_key: bytes, server_challenge: bytes, client_challenge: bytes,
                    timestamp: int, target_info: bytes) -> NtlmV2Response:
    """NTProofStr, NT and LMv2 responses and the session base key."""
    blob = ntlmv2_blob(timestamp, client_challenge, target_info)
    return ntlmv2_response_for_blob(response_key, server_challenge, client_challenge, blob)


def ntlmv2_response_for_blob(response_key: bytes, server_challenge: bytes,
                             client_challenge: bytes, blob: bytes) -> NtlmV2Response:
    """Like :func:`ntlmv2_response` for an already built blob (what a server recomputes)."""
    nt_proof = _hmac_md5(response_key, server_challenge + blob)
    lm = _hmac_md5(response_key, server_challenge + client_challenge) + client_challenge
    return NtlmV2Response(lm_response=lm, nt_response=nt_proof + blob, nt_proof_str=nt_proof,
                          session_base_key=_hmac_md5(response_key, nt_proof))


_SIGN_MAGIC = {
    True: b"session key to client-to-server signing key magic constant\x00",
    False: b"session key to server-to-client signing key magic constant\x00",
}
_SEAL_MAGIC = {
    True: b"session key to client-to-server sealing key magic constant\x00",
    False: b"session key to server-to-client sealing key magic constant\x00",
}


def sign_key(exported_session_key: bytes, client_to_server: bool) -> bytes:
    """SIGNKEY (extended session security): MD5(ESK + magic)."""
    return _md5(exported_session_key + _SIGN_MAGIC[client_to_server])


def seal_key(flags: int, exported_session_key: bytes, client_to_server: bool) -> bytes:
    """SEALKEY ([MS-NLMP] §3.4.5.3): with ESS, MD5 of 16/7/5 key bytes + magic.

    Without ESS: the LM_KEY weakened forms, else the ESK itself.
    """
    esk = exported_session_key
    if flags & NtlmFlags.EXTENDED_SESSIONSECURITY:
        if flags & NtlmFlags.NEGOTIATE_128:
            base = esk[:16]
        elif flags & NtlmFlags.NEGOTIATE_56:
            base = esk[:7]
        else:
            base = esk[:5]
        return _md5(base + _SEAL_MAGIC[client_to_server])
    if flags & NtlmFlags.LM_KEY:
        if flags & NtlmFlags.NEGOTIATE_56:
            return esk[:7] + b"\xa0"
        return esk[:5] + b"\xe5\x38\xb0"
    return esk


def ntlm_mac(message: bytes, *, flags: int, sign_key: bytes, seal_key: bytes, seq: int,
             random_pad: int = 0) -> bytes:
    """The 16-byte NTLM message signature (MAC) as SIPE computes it.

    With ESS: ``01000000 | checksum | LE32(seq)`` where checksum = HMAC_MD5(SignKey,
    LE32(seq) + message)[:8], RC4-encrypted under KEY_EXCH with a per-message key
    MD5(SealKey + LE32(seq)) when DATAGRAM is set (the RC4 state is never carried over).
    Without ESS: ``01000000 | LE32(random_pad) | RC4(SealKey, [0, CRC32, seq])[4:]``.
    """
    seq_le = struct.pack("<I", seq & 0xFFFFFFFF)
    if flags & NtlmFlags.EXTENDED_SESSIONSECURITY:
        checksum = _hmac_md5(sign_key, seq_le + message)[:8]
        if flags & NtlmFlags.KEY_EXCH:
            key = _md5(seal_key + seq_le) if flags & NtlmFlags.DATAGRAM else seal_key
            checksum = rc4(key, checksum)
        return b"\x01\x00\x00\x00" + checksum + seq_le
    crc = zlib.crc32(message) & 0xFFFFFFFF
    encrypted = rc4(seal_key, struct.pack("<III", 0, crc, seq & 0xFFFFFFFF))
    return b"\x01\x00\x00\x00" + struct.pack("<I", random_pad & 0xFFFFFFFF) + encrypted[4:]


@dataclass(frozen=True, slots=True)
class NtlmSessionKeys:
    """The exported session key and the four keys derived from it. Bytes are hidden in repr."""

    flags: NtlmFlags
    exported_session_key: bytes = field(repr=False)
    client_sign: bytes = field(repr=False)
    client_seal: bytes = field(repr=False)
    server_sign: bytes = field(repr=False)
    server_seal: bytes = field(repr=False)

    @classmethod
    def derive(cls, flags: int, exported_session_key: bytes) -> NtlmSessionKeys:
        """Derive sign/seal keys for both directions from the exported session key."""
        if len(exported_session_key) != 16:
            raise NtlmUsageError("the exported session key is 16 bytes")
        esk = exported_session_key
        return cls(flags=NtlmFlags(flags), exported_session_key=esk,
                   client_sign=sign_key(esk, True), client_seal=seal_key(flags, esk, True),
                   server_sign=sign_key(esk, False), server_seal=seal_key(flags, esk, False))

    def signer(self, *, client_to_server: bool) -> NtlmSigner:
        """A signer for one direction (client → server for our requests)."""
        if client_to_server:
            return NtlmSigner(self.flags, self.client_sign, self.client_seal)
        return NtlmSigner(self.flags, self.server_sign, self.server_seal)


class NtlmSigner:
    """Signs and verifies SIP signature strings in one direction, sequence number 100."""

    __slots__ = ("_flags", "_seal", "_sign")

    def __init__(self, flags: int, sign_key: bytes, seal_key: bytes) -> None:
        self._flags = flags
        self._sign = sign_key
        self._seal = seal_key

    def __repr__(self) -> str:
        return f"NtlmSigner(flags=0x{self._flags:08x}, keys=hidden)"

    def sign(self, text: str | bytes) -> bytes:
        """The 16-byte signature of a signature string (UTF-8 encoded if ``str``)."""
        data = text.encode("utf-8") if isinstance(text, str) else text
        return ntlm_mac(data, flags=self._flags, sign_key=self._sign, seal_key=self._seal,
                        seq=SIP_SEQUENCE)

    def sign_hex(self, text: str | bytes) -> str:
        """:meth:`sign` as SIPE writes it into ``response=`` (upper-case hex)."""
        return self.sign(text).hex().upper()

    def verify(self, text: str | bytes, signature: bytes | str) -> bool:
        """True if ``signature`` (bytes or hex of either case) signs ``text``."""
        if isinstance(signature, str):
            try:
                signature = bytes.fromhex(signature)
            except ValueError:
                return False
        return hmac.compare_digest(self.sign(text), signature)


# --- AUTHENTICATE (Type 3) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NtlmAuthenticate:
    """A parsed AUTHENTICATE message (what a server receives)."""

    flags: NtlmFlags
    lm_response: bytes = field(repr=False)
    nt_response: bytes = field(repr=False)
    domain: str
    user: str
    workstation: str
    encrypted_session_key: bytes = field(repr=False)
    version: NtlmVersion | None
    raw: bytes = field(repr=False)


def encode_authenticate(*, flags: int, lm_response: bytes, nt_response: bytes, domain: str,
                        user: str, workstation: str, encrypted_session_key: bytes,
                        version: NtlmVersion) -> bytes:
    """A Type 3 in SIPE's layout: 72-byte header, payload domain, user, workstation, LM, NT, ESK."""
    fields = [_u16(domain), _u16(user), _u16(workstation), lm_response, nt_response,
              encrypted_session_key]
    offset = 72
    buffers: list[bytes] = []
    for value in fields:
        buffers.append(struct.pack("<HHI", len(value), len(value), offset))
        offset += len(value)
    lm, nt, dom, usr, ws, esk = (buffers[3], buffers[4], buffers[0], buffers[1], buffers[2],
                                 buffers[5])
    header = (NTLM_SIGNATURE + struct.pack("<I", 3) + lm + nt + dom + usr + ws + esk
              + struct.pack("<I", flags & 0xFFFFFFFF) + version.to_bytes())
    return header + b"".join(fields)


def parse_authenticate(data: bytes) -> NtlmAuthenticate:
    """Parse an AUTHENTICATE (Type 3) message.

    Raises:
        NtlmProtocolError: not a Type 3, truncated, or fields outside the message.
    """
    data = bytes(data)
    if len(data) > MAX_TOKEN_BYTES:
        raise NtlmProtocolError(f"NTLM authenticate larger than {MAX_TOKEN_BYTES} bytes")
    if len(data) < 64:
        raise NtlmProtocolError(f"NTLM authenticate too short ({len(data)} bytes)")
    if data[:8] != NTLM_SIGNATURE:
        raise NtlmProtocolError("not an NTLM message (no NTLMSSP signature)")
    (msg_type,) = struct.unpack_from("<I", data, 8)
    if msg_type != 3:
        raise NtlmProtocolError(f"expected an NTLM AUTHENTICATE (type 3), got type {msg_type}")
    lm = _read_buffer(data, 12, "LM response")
    nt = _read_buffer(data, 20, "NT response")
    (flags_value,) = struct.unpack_from("<I", data, 60)
    flags = NtlmFlags(flags_value)
    unicode = bool(flags & NtlmFlags.UNICODE)

    def text(offset: int, what: str) -> str:
        raw = _read_buffer(data, offset, what)
        return _decode_utf16(raw, what) if unicode else raw.decode("latin-1")

    version = None
    if flags & NtlmFlags.VERSION and len(data) >= 72:
        version = NtlmVersion.from_bytes(data[64:72])
    return NtlmAuthenticate(flags=flags, lm_response=lm, nt_response=nt,
                            domain=text(28, "domain"), user=text(36, "user"),
                            workstation=text(44, "workstation"),
                            encrypted_session_key=_read_buffer(data, 52, "session key"),
                            version=version, raw=data)


@dataclass(frozen=True, slots=True)
class NtlmAuthenticateResult:
    """What :meth:`NtlmClient.authenticate` produced: the Type 3 and the session keys."""

    message: bytes = field(repr=False)
    flags: NtlmFlags
    keys: NtlmSessionKeys


class NtlmClient:
    """The client half of connectionless NTLMv2, one AUTHENTICATE per CHALLENGE.

    Args:
        identity: user and domain for the AUTHENTICATE (``ParsedLogin.ntlm``).
        password: the account password.
        hostname: the machine's host name; sent upper-cased as the workstation.
        getrandbytes: ``n → n random bytes``; called for the client challenge (8), then the
            exported session key (16).
        now_filetime: current time as a FILETIME; used only if the challenge has no
            MsvAvTimestamp.
        version: the VERSION structure to send (SIPE: 5.1.2600 rev 15).
    """

    def __init__(self, identity: NtlmIdentity, password: Secret, hostname: str, *,
                 getrandbytes: Callable[[int], bytes] = secrets.token_bytes,
                 now_filetime: Callable[[], int] = filetime_now,
                 version: NtlmVersion = SIPE_NTLM_VERSION) -> None:
        self.identity = identity
        self._password = password
        self.workstation = utf16_upper(hostname)
        self._rand = getrandbytes
        self._now = now_filetime
        self.version = version

    def __repr__(self) -> str:
        return (f"NtlmClient(user={self.identity.user!r}, domain={self.identity.domain!r}, "
                f"workstation={self.workstation!r})")

    def authenticate(self, challenge: NtlmChallenge | bytes) -> NtlmAuthenticateResult:
        """Build the AUTHENTICATE for a CHALLENGE and derive the session keys.

        Raises:
            NtlmProtocolError: the challenge bytes are malformed.
            NtlmUnsupportedChallenge: the challenge lacks flags SIPE needs.
        """
        if not isinstance(challenge, NtlmChallenge):
            challenge = parse_challenge(challenge)
        flags = negotiate_flags(challenge.flags)
        client_challenge = self._rand(8)
        if len(client_challenge) != 8:
            raise NtlmUsageError("getrandbytes(8) returned the wrong length")
        timestamp = challenge.timestamp
        if timestamp is None:
            timestamp = self._now()
        key = ntowf_v2(self._password, self.identity.user, self.identity.domain)
        resp = ntlmv2_response(key, challenge.server_challenge, client_challenge, timestamp,
                               challenge.target_info)
        key_exchange_key = resp.session_base_key  # NTLMv2: KXKEY = SessionBaseKey
        if flags & NtlmFlags.KEY_EXCH:
            exported = self._rand(16)
            if len(exported) != 16:
                raise NtlmUsageError("getrandbytes(16) returned the wrong length")
            encrypted = rc4(key_exchange_key, exported)
        else:
            exported, encrypted = key_exchange_key, b""
        message = encode_authenticate(
            flags=flags, lm_response=resp.lm_response, nt_response=resp.nt_response,
            domain=self.identity.domain, user=self.identity.user, workstation=self.workstation,
            encrypted_session_key=encrypted, version=self.version)
        return NtlmAuthenticateResult(message=message, flags=flags,
                                      keys=NtlmSessionKeys.derive(flags, exported))
