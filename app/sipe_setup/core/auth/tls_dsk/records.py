"""TLS records and the server's handshake flights, parsed with SIPE 1.25.0's acceptance rules.

This is the *reading* half of the TLS-DSK client (reference tls-dsk.md §1.6): it turns the bytes
of a server ``gssapi-data`` token into facts, or into a :class:`TlsDskHandshakeError` that names
why SIPE would fail on them. :mod:`.crypto` does the cryptography and :mod:`.tls10` writes the
client's flight.

SIPE's rules (``sipe-tls.c``: ``tls_record_parse``, ``handshake_parse``) as kept here:

- Records may carry any version >= 0x0301; an older one (SSL 3.0 and below) is refused.
- The messages SIPE reads are ServerHello (version, 32-byte random, session id, suite,
  compression; anything after — extensions — is ignored), Certificate (the list vector; the rest
  is ignored), CertificateRequest (a certificate-type vector of >= 1 byte and a 16-bit vector;
  the rest is ignored) and ServerHelloDone (no fields). Unknown types are skipped. A later
  message of the same type replaces the earlier one.
- ServerHelloDone met before any message with fields in the same record makes SIPE's parse fail
  (its "success" flag is still FALSE): :attr:`TlsDskFailure.SPLIT_FLIGHT`. Schannel sends the
  flight in one record; OpenSSL sends one record per message and so fails with SIPE.
- A ServerHello must be in the flight ("did not find expected msg type 2"). ServerHelloDone
  and CertificateRequest are not required (SIPE sends its certificate regardless).
- SIPE digests every incoming record payload for its Finished. Anything other than well-framed
  handshake records in the server flight therefore leads SIPE to a wrong Finished and a failed
  handshake; we report it at once (alert: SERVER_ALERT, anything else: MALFORMED).
- Where SIPE's C code reads past a length (a vector longer than its message, a message longer
  than its record, trailing bytes shorter than a header) its behaviour is undefined or ends in
  a wrong Finished; we raise MALFORMED. The verdict — no sign-in — is the same.
- In the final flight SIPE only looks for a ChangeCipherSpec record and reads nothing after it;
  records it ignores (alerts, unknown types) are ignored here too while a ChangeCipherSpec is
  present.
- An alert is reported as SERVER_ALERT whatever its record version (SIPE would first complain
  about an SSL 3.0 record version; both end the sign-in).

Invariants:
- Every length read from the peer is bounds-checked; hostile bytes raise
  :class:`TlsDskHandshakeError` (peer fault), never ``IndexError``/``struct.error``.
- Error details are plain words and never hold key material.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from sipe_setup.core.auth.errors import AuthProtocolError, AuthUsageError

__all__ = [
    "ALERT_DESCRIPTIONS",
    "MAX_FLIGHT_BYTES",
    "TLS_1_0",
    "ContentType",
    "HandshakeType",
    "Record",
    "ServerFinalFlight",
    "ServerFlight",
    "ServerHello",
    "TlsAlert",
    "TlsDskFailure",
    "TlsDskHandshakeError",
    "TlsDskUsageError",
    "handshake_message",
    "iter_records",
    "parse_server_final",
    "parse_server_flight",
    "protocol_name",
]

TLS_1_0: Final = 0x0301
MAX_FLIGHT_BYTES: Final = 128 * 1024
"""Largest server token accepted (a real flight with a certificate chain is a few KiB)."""


class ContentType(enum.IntEnum):
    """TLS record content types."""

    CHANGE_CIPHER_SPEC = 20
    ALERT = 21
    HANDSHAKE = 22
    APPLICATION_DATA = 23


class HandshakeType(enum.IntEnum):
    """Handshake message types SIPE knows."""

    CLIENT_HELLO = 1
    SERVER_HELLO = 2
    CERTIFICATE = 11
    CERTIFICATE_REQUEST = 13
    SERVER_HELLO_DONE = 14
    CERTIFICATE_VERIFY = 15
    CLIENT_KEY_EXCHANGE = 16
    FINISHED = 20


_CLIENT_SIDE_TYPES: Final = frozenset({HandshakeType.CLIENT_HELLO, HandshakeType.CERTIFICATE_VERIFY,
                                       HandshakeType.CLIENT_KEY_EXCHANGE, HandshakeType.FINISHED})


def protocol_name(version: int) -> str:
    """``TLS 1.0`` … ``TLS 1.3`` or ``SSL 3.0``; other values as hex."""
    names = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2",
             0x0304: "TLS 1.3"}
    return names.get(version, f"0x{version:04X}")


# --- errors -------------------------------------------------------------------------------------


class TlsDskFailure(enum.Enum):
    """Why the TLS-DSK handshake failed; each one ends SIPE's sign-in too."""

    SERVER_ALERT = "server-alert"
    """The server sent a TLS alert (e.g. protocol_version: it refuses TLS 1.0)."""
    SPLIT_FLIGHT = "split-flight"
    """ServerHelloDone starts its own TLS record (reference §0.2)."""
    NO_SERVER_HELLO = "no-server-hello"
    OLD_PROTOCOL = "old-protocol"
    """A record older than TLS 1.0 ("SSL1/2/3 not supported")."""
    UNSUPPORTED_SUITE = "unsupported-suite"
    EXPORT_SUITE = "export-suite"
    """The server chose EXP-RC4-MD5, which SIPE offers but implements wrongly."""
    NO_SERVER_CERTIFICATE = "no-server-certificate"
    BAD_SERVER_CERTIFICATE = "bad-server-certificate"
    SERVER_KEY_NOT_RSA = "server-key-not-rsa"
    SERVER_KEY_TOO_SHORT = "server-key-too-short"
    NO_CHANGE_CIPHER_SPEC = "no-change-cipher-spec"
    MALFORMED = "malformed"


ALERT_DESCRIPTIONS: Final[dict[int, str]] = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac",
    21: "decryption_failed", 22: "record_overflow", 30: "decompression_failure",
    40: "handshake_failure", 41: "no_certificate", 42: "bad_certificate",
    43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired",
    46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied",
    50: "decode_error", 51: "decrypt_error", 60: "export_restriction", 70: "protocol_version",
    71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback",
    90: "user_canceled", 100: "no_renegotiation", 109: "missing_extension",
    110: "unsupported_extension", 112: "unrecognized_name", 116: "certificate_required",
    120: "no_application_protocol",
}


@dataclass(frozen=True, slots=True)
class TlsAlert:
    """A TLS alert as the server sent it."""

    level: int
    description: int

    @property
    def level_name(self) -> str:
        """``warning``, ``fatal`` or the number."""
        return {1: "warning", 2: "fatal"}.get(self.level, str(self.level))

    @property
    def description_name(self) -> str:
        """RFC name such as ``protocol_version``, or the number."""
        return ALERT_DESCRIPTIONS.get(self.description, str(self.description))

    def __str__(self) -> str:
        return f"{self.level_name} alert {self.description_name} ({self.description})"


class TlsDskHandshakeError(AuthProtocolError):
    """The server's TLS data ends the handshake (the peer's fault or choice).

    Attributes:
        failure: the category, for advice and reports.
        detail: plain words, no key material.
        alert: the alert for :attr:`TlsDskFailure.SERVER_ALERT`.
    """

    def __init__(self, failure: TlsDskFailure, detail: str, *,
                 alert: TlsAlert | None = None) -> None:
        super().__init__(detail)
        self.failure = failure
        self.detail = detail
        self.alert = alert

    def __repr__(self) -> str:
        return f"TlsDskHandshakeError({self.failure.name}, {self.detail!r})"


class TlsDskUsageError(AuthUsageError, ValueError):
    """We used the TLS-DSK code wrongly: out of order, or a certificate that is not ours."""


def _malformed(detail: str) -> TlsDskHandshakeError:
    return TlsDskHandshakeError(TlsDskFailure.MALFORMED, detail)


# --- records ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Record:
    """One TLS record."""

    content_type: int
    version: int
    fragment: bytes = field(repr=False)


def iter_records(data: bytes) -> Iterator[Record]:
    """The records in ``data``, in order; framing errors surface where SIPE would meet them.

    Raises:
        TlsDskHandshakeError: MALFORMED (empty, too large, truncated header or record).
    """
    if not data:
        raise _malformed("the server sent an empty TLS token")
    if len(data) > MAX_FLIGHT_BYTES:
        raise _malformed(f"the server's TLS token is larger than {MAX_FLIGHT_BYTES} bytes")
    pos = 0
    while pos < len(data):
        if len(data) - pos < 5:
            raise _malformed("a TLS record header is cut short")
        length = int.from_bytes(data[pos + 3:pos + 5], "big")
        if pos + 5 + length > len(data):
            raise _malformed("a TLS record is longer than the data sent")
        version = int.from_bytes(data[pos + 1:pos + 3], "big")
        yield Record(data[pos], version, data[pos + 5:pos + 5 + length])
        pos += 5 + length


def _alert_error(record: Record) -> TlsDskHandshakeError:
    if len(record.fragment) < 2:
        return _malformed("the server sent a truncated TLS alert")
    alert = TlsAlert(record.fragment[0], record.fragment[1])
    hint = (" — it refuses TLS 1.0, the only version SIPE speaks"
            if alert.description == 70 else "")
    return TlsDskHandshakeError(TlsDskFailure.SERVER_ALERT,
                                f"the server answered with a TLS {alert}{hint}", alert=alert)


def _check_version(record: Record) -> None:
    if record.version < TLS_1_0:
        raise TlsDskHandshakeError(
            TlsDskFailure.OLD_PROTOCOL,
            f"the server sent a {protocol_name(record.version)} record; SIPE needs TLS 1.0 "
            "or later")


# --- handshake messages -------------------------------------------------------------------------


def handshake_message(msg_type: int, body: bytes) -> bytes:
    """A handshake message: type, 24-bit length, body."""
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


class _Reader:
    """Bounded reads inside one handshake message."""

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._pos = 0
        self._what = what

    def take(self, count: int, label: str) -> bytes:
        if count > len(self._data) - self._pos:
            raise _malformed(f"the server's {self._what} is too short for its {label}")
        out = self._data[self._pos:self._pos + count]
        self._pos += count
        return out

    def integer(self, size: int, label: str) -> int:
        return int.from_bytes(self.take(size, label), "big")

    def vector(self, size: int, label: str, *, minimum: int = 0) -> bytes:
        length = self.integer(size, label)
        if length < minimum:
            raise _malformed(f"the server's {self._what} has an empty {label}")
        return self.take(length, label)


@dataclass(frozen=True, slots=True)
class ServerHello:
    """The fields SIPE reads from ServerHello."""

    version: int
    random: bytes = field(repr=False)
    session_id: bytes = field(repr=False)
    cipher_suite: int
    compression: int


def _parse_server_hello(body: bytes) -> ServerHello:
    reader = _Reader(body, "ServerHello")
    return ServerHello(version=reader.integer(2, "version"), random=reader.take(32, "random"),
                       session_id=reader.vector(1, "session id"),
                       cipher_suite=reader.integer(2, "cipher suite"),
                       compression=reader.integer(1, "compression method"))


def _parse_certificate_request(body: bytes) -> None:
    reader = _Reader(body, "CertificateRequest")
    reader.vector(1, "certificate types", minimum=1)
    reader.vector(2, "distinguished names")


@dataclass
class ServerFlight:
    """What SIPE takes from the server's first flight."""

    hello: ServerHello | None = None
    certificate_list: bytes | None = field(default=None, repr=False)
    certificate_requested: bool = False
    hello_done: bool = False
    transcript: bytearray = field(default_factory=bytearray, repr=False)
    """Every handshake record payload, in order: what SIPE feeds its Finished digests."""

    def take_message(self, msg_type: int, body: bytes) -> bool:
        """Record one message; True if it has fields (SIPE's per-record ``success``)."""
        if msg_type == HandshakeType.SERVER_HELLO:
            self.hello = _parse_server_hello(body)
        elif msg_type == HandshakeType.CERTIFICATE:
            self.certificate_list = _Reader(body, "Certificate").vector(3, "certificate list")
        elif msg_type == HandshakeType.CERTIFICATE_REQUEST:
            _parse_certificate_request(body)
            self.certificate_requested = True
        elif msg_type in _CLIENT_SIDE_TYPES:
            raise _malformed(f"the server's flight holds a client-side handshake message "
                             f"(type {msg_type})")
        else:
            return False
        return True


def _walk_handshake_record(fragment: bytes, flight: ServerFlight) -> None:
    """Parse one handshake record's messages with SIPE's per-record ``success`` rule."""
    if not fragment:
        raise _malformed("the server sent an empty handshake record")
    parsed_fields = False
    pos = 0
    while pos < len(fragment):
        if len(fragment) - pos < 4:
            raise _malformed("trailing bytes in a handshake record are too short for a "
                             "message header")
        msg_type = fragment[pos]
        length = int.from_bytes(fragment[pos + 1:pos + 4], "big")
        if length > len(fragment) - pos - 4:
            raise _malformed(f"handshake message type {msg_type} is longer than its record")
        body = fragment[pos + 4:pos + 4 + length]
        if msg_type == HandshakeType.SERVER_HELLO_DONE:
            if not parsed_fields:
                raise TlsDskHandshakeError(
                    TlsDskFailure.SPLIT_FLIGHT,
                    "ServerHelloDone starts its own TLS record (no message with fields before "
                    "it in that record); SIPE's parser fails on that — the server must send the "
                    "flight in one handshake record, as Schannel does")
            flight.hello_done = True
        elif flight.take_message(msg_type, body):
            parsed_fields = True
        pos += 4 + length


def parse_server_flight(data: bytes) -> ServerFlight:
    """Parse the server's first flight (the 401 answering the ClientHello).

    Raises:
        TlsDskHandshakeError: SERVER_ALERT, OLD_PROTOCOL, SPLIT_FLIGHT, NO_SERVER_HELLO or
            MALFORMED.
    """
    flight = ServerFlight()
    for record in iter_records(data):
        if record.content_type == ContentType.ALERT:
            raise _alert_error(record)
        _check_version(record)
        if record.content_type != ContentType.HANDSHAKE:
            raise _malformed(f"unexpected TLS record type {record.content_type} in the "
                             "server's flight")
        _walk_handshake_record(record.fragment, flight)
        flight.transcript += record.fragment
    if flight.hello is None:
        raise TlsDskHandshakeError(TlsDskFailure.NO_SERVER_HELLO,
                                   "the server's TLS flight has no ServerHello")
    return flight


@dataclass
class ServerFinalFlight:
    """The server's ChangeCipherSpec flight."""

    pre_ccs_transcript: bytearray = field(default_factory=bytearray, repr=False)
    """Plain handshake payloads before ChangeCipherSpec (none from a normal server)."""
    encrypted: list[Record] = field(default_factory=list)
    """Records after ChangeCipherSpec; the first handshake one should be the Finished."""


def parse_server_final(data: bytes) -> ServerFinalFlight:
    """Parse the server's last flight: SIPE needs a ChangeCipherSpec record, nothing more.

    Records SIPE ignores (alerts, unknown types) are ignored here too, as long as the
    ChangeCipherSpec is there; without it, an alert is reported as SERVER_ALERT.

    Raises:
        TlsDskHandshakeError: NO_CHANGE_CIPHER_SPEC, SERVER_ALERT, OLD_PROTOCOL or MALFORMED.
    """
    final = ServerFinalFlight()
    alert: TlsDskHandshakeError | None = None
    seen_ccs = False
    scratch = ServerFlight()
    for record in iter_records(data):
        if not seen_ccs and record.content_type == ContentType.ALERT:
            alert = alert or _alert_error(record)
            continue
        _check_version(record)
        if seen_ccs:
            final.encrypted.append(record)
        elif record.content_type == ContentType.CHANGE_CIPHER_SPEC:
            seen_ccs = True
        elif record.content_type == ContentType.HANDSHAKE:
            _walk_handshake_record(record.fragment, scratch)
            final.pre_ccs_transcript += record.fragment
    if not seen_ccs:
        if alert is not None:
            raise alert
        raise TlsDskHandshakeError(TlsDskFailure.NO_CHANGE_CIPHER_SPEC,
                                   "the server's last TLS flight has no ChangeCipherSpec")
    return final
