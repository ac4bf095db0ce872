"""Authentication data from the network: auth parameters, challenges, NTLM CHALLENGE messages
and TLS-DSK server flights give a value or their documented error — nothing else."""

from __future__ import annotations

import base64
import datetime as dt
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from hypothesis import event, given
from hypothesis import strategies as st

from sipe_setup.core.account import NtlmIdentity, Secret
from sipe_setup.core.auth.challenge import parse_challenge_header
from sipe_setup.core.auth.errors import AuthProtocolError
from sipe_setup.core.auth.ntlm import (
    NtlmClient,
    NtlmProtocolError,
    NtlmUnsupportedChallenge,
    parse_av_pairs,
    parse_challenge,
)
from sipe_setup.core.auth.tls_dsk import TlsDskHandshake, TlsDskHandshakeError
from sipe_setup.core.auth.tls_dsk.records import (
    iter_records,
    parse_server_final,
    parse_server_flight,
)
from sipe_setup.core.sip.message import SipProtocolError, parse_auth_params

from .support import (
    auth_header_seeds,
    budget,
    mutated,
    never_raises_but,
    ntlm_challenge_seeds,
    tls_dsk_server_seeds,
    within,
)

AUTH_TOKENS = (b'"', b'\\"', b"\\", b",", b", ", b"=", b" = ", b'gssapi-data="', b'opaque="',
               b"version=", b'targetname="', b'realm="', b'sts-uri="', b"TLS-DSK ", b"NTLM ",
               b"Kerberos ", b"Digest ", b'rspauth="', b'srand="', b'snum="', b"qop=auth")
auth_texts = mutated([s.encode("utf-8") for s in auth_header_seeds()], AUTH_TOKENS,
                     max_size=8192).map(lambda raw: raw.decode("utf-8", "replace"))


@budget(1500)
@given(value=auth_texts)
def test_auth_params_raise_only_sip_protocol_error(value: str) -> None:
    params = never_raises_but(SipProtocolError, lambda: parse_auth_params(value))
    event("parsed" if params is not None else "refused")


@budget(800)
@given(value=auth_texts)
def test_challenge_header_never_raises_and_its_token_only_auth_errors(value: str) -> None:
    challenge = parse_challenge_header(value)  # documented: never raises
    _ = challenge.scheme, challenge.version, challenge.authorization_header_name
    never_raises_but(AuthProtocolError, lambda: challenge.gssapi_token)


# --- NTLM -----------------------------------------------------------------------------------------

NTLM_TOKENS = (b"NTLMSSP\0", b"\x02\0\0\0", b"\xff\xff", b"\xff\xff\xff\x7f", b"\0\0\0\0",
               b"\x01\0\x08\0", b"\x07\0\x08\0", b"\0\0\0\0\0\0\0\0")
ntlm_bytes = mutated(ntlm_challenge_seeds(), NTLM_TOKENS, max_size=4096)


def _client() -> NtlmClient:
    return NtlmClient(NtlmIdentity("alice", "EXAMPLE"), Secret("Passw0rd!"), "vm",
                      getrandbytes=lambda n: b"\x11" * n, now_filetime=lambda: 0)


@budget(1500)
@given(data=ntlm_bytes)
def test_ntlm_challenge_raises_only_ntlm_protocol_error(data: bytes) -> None:
    challenge = never_raises_but(NtlmProtocolError, lambda: parse_challenge(data))
    event("parsed" if challenge is not None else "refused")
    never_raises_but((NtlmProtocolError, NtlmUnsupportedChallenge),
                     lambda: _client().authenticate(data))


@budget(500)
@given(data=st.binary(max_size=600) | ntlm_bytes.map(lambda b: b[48:]))
def test_av_pairs_raise_only_ntlm_protocol_error(data: bytes) -> None:
    never_raises_but(NtlmProtocolError, lambda: parse_av_pairs(data))


def test_ntlm_challenge_through_the_sip_header() -> None:
    """The base64 a server puts in gssapi-data: garbage is an AuthProtocolError."""
    for data in ("", "!!!!", base64.b64encode(b"NTLMSSP\0\x02").decode(), "A" * 100001):
        challenge = parse_challenge_header(f'NTLM gssapi-data="{data}", opaque="1"')
        token = never_raises_but(AuthProtocolError, lambda c=challenge: c.gssapi_token)
        if isinstance(token, bytes):
            never_raises_but(NtlmProtocolError, lambda t=token: parse_challenge(t))


# --- TLS-DSK ------------------------------------------------------------------------------------

TLS_TOKENS = (b"\x16\x03\x01", b"\x16\x03\x00", b"\x15\x03\x01\x00\x02\x02\x28", b"\x14\x03\x01",
              b"\x0e\x00\x00\x00", b"\x0d\x00\x00\x04\x01\x01\x00\x00", b"\xff\xff",
              b"\x00\x00", b"\x00\x2f", b"\x00\x04", b"\x40\x00", b"\xc0\x2f")
tls_bytes = mutated(tls_dsk_server_seeds(), TLS_TOKENS, max_size=16 * 1024)


@budget(1200)
@given(data=tls_bytes)
def test_tls_dsk_flight_parsers_raise_only_handshake_errors(data: bytes) -> None:
    flight = never_raises_but(TlsDskHandshakeError, lambda: parse_server_flight(data))
    final = never_raises_but(TlsDskHandshakeError, lambda: parse_server_final(data))
    records = never_raises_but(TlsDskHandshakeError, lambda: list(iter_records(data)))
    event("flight" if flight is not None else "final" if final is not None
          else "records" if records is not None else "refused")


@cache
def _client_credentials() -> tuple[bytes, rsa.RSAPrivateKey]:
    """A throw-away client certificate (what certificate provisioning would have issued)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sip:alice@example.test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(1)
                   .not_valid_before(now - dt.timedelta(days=1))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .sign(key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.DER), key


def _started() -> TlsDskHandshake:
    certificate, key = _client_credentials()
    handshake = TlsDskHandshake(certificate, key)
    handshake.client_hello()
    return handshake


@budget(300)
@given(first=tls_bytes, second=tls_bytes)
def test_tls_dsk_handshake_raises_only_handshake_errors(first: bytes, second: bytes) -> None:
    handshake = _started()
    try:
        handshake.receive_server_flight(first)
    except TlsDskHandshakeError as exc:
        event(f"flight refused: {exc.failure.name}")
        return
    event("flight accepted")
    never_raises_but(TlsDskHandshakeError, lambda: handshake.receive_server_final(second))


def test_tls_dsk_huge_and_many_records_are_bounded() -> None:
    many = b"".join(b"\x16\x03\x01\x00\x04\x0e\x00\x00\x00" for _ in range(20000))
    huge = b"\x16\x03\x01\xff\xff" + b"\x00" * 0xFFFF
    for data in (many, huge, huge * 8):
        with within(2.0):
            never_raises_but(TlsDskHandshakeError, lambda d=data: parse_server_flight(d))
            never_raises_but(TlsDskHandshakeError, lambda d=data: parse_server_final(d))
