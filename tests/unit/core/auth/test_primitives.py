"""Hash/cipher primitives against published vectors (reference §6, RFC 1320, RFC 2202)."""

from __future__ import annotations

import hashlib
import hmac
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipe_setup.core.auth.md4 import md4
from sipe_setup.core.auth.rc4 import rc4


@pytest.mark.parametrize(("data", "digest"), [
    (b"", "31d6cfe0d16ae931b73c59d7e0c089c0"),
    (b"a", "bde52cb31de33e46245e05fbdbd6fb24"),
    (b"abc", "a448017aaf21d8525fc10ae87aa6729d"),
    (b"message digest", "d9130a8164549fe818874806e1c7014b"),
    (b"abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"),
    (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
     "043f8582f241db351ce627e153e7f0e4"),
    (b"1234567890" * 8, "e33b4ddc9c38f2199c3e7b164fcc0536"),
])
def test_md4_rfc1320_vectors(data: bytes, digest: str) -> None:
    assert md4(data).hex() == digest


def test_md4_sipe_vector() -> None:
    assert md4(b"message digest").hex().upper() == "D9130A8164549FE818874806E1C7014B"


@given(st.binary(max_size=300))
def test_md4_matches_an_independent_implementation(data: bytes) -> None:
    # pyspnego (a runtime dependency) ships its own MD4; lengths around 55/56/64 bytes cover
    # every padding case.
    from spnego._ntlm_raw.md4 import md4 as spnego_md4

    assert md4(data) == spnego_md4(data)


def test_md5_and_hmac_md5_vectors() -> None:
    assert hashlib.md5(b"message digest").hexdigest().upper() == \
        "F96B697D7CB7938D525A2F31AAF161D0"
    assert hmac.new(b"\x0b" * 16, b"Hi There", hashlib.md5).hexdigest().upper() == \
        "9294727A3638BB1C13F48EF8158BFC9D"


@pytest.mark.parametrize(("key", "plain", "cipher"), [
    (b"Key", b"Plaintext", "bbf316e8d940af0ad3"),
    (b"Wiki", b"pedia", "1021bf0420"),
    (b"Secret", b"Attack at dawn", "45a01f645fc35b383552544b9bf5"),
])
def test_rc4_known_answers(key: bytes, plain: bytes, cipher: str) -> None:
    assert rc4(key, plain).hex() == cipher
    assert rc4(key, bytes.fromhex(cipher)) == plain


def test_rc4_rejects_bad_keys() -> None:
    with pytest.raises(ValueError, match=r"1\.\.256"):
        rc4(b"", b"x")
    with pytest.raises(ValueError, match=r"1\.\.256"):
        rc4(b"k" * 257, b"x")


def test_crc32_vector_from_ms_nlmp() -> None:
    assert zlib.crc32("Plaintext".encode("utf-16-le")) == 0x93AA847D
