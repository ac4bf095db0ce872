"""Shared pieces of the fuzz tests: a fixed budget, seeds, and structure-aware mutations.

Every fuzz test runs derandomized (the same examples on every run and machine, so a CI failure
reproduces locally with the same command) under a fixed number of examples and a per-example
deadline: the whole directory stays well under a minute on two cores. Seeds come from the real
pidgin-sipe captures (``tests/golden/captures``) and from ``tests/fuzz/corpus``; the mutations
flip, insert, delete, duplicate and truncate bytes and splice in tokens that steer the parsers
into their corners (quotes, separators, line ends, huge numbers, NUL, invalid UTF-8).

A failure prints the shrunk input; ``@example(...)`` it in the test to keep it as a regression.
"""

from __future__ import annotations

import base64
import contextlib
import re
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.golden.capture import CAPTURES, raw_messages

CORPUS = Path(__file__).resolve().parent / "corpus"

#: Per-example limit: generous for a loaded CI machine, tiny against a hang or a blow-up.
DEADLINE = timedelta(milliseconds=1500)


def budget(examples: int) -> settings:
    """The settings of one fuzz test: ``examples`` derandomized examples, no database."""
    return settings(max_examples=examples, deadline=DEADLINE, derandomize=True, database=None,
                    print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much,
                                           HealthCheck.function_scoped_fixture])


@contextlib.contextmanager
def within(seconds: float) -> Iterator[None]:
    """Assert that the block takes less than ``seconds`` (a pathological input)."""
    started = time.monotonic()
    yield
    elapsed = time.monotonic() - started
    assert elapsed < seconds, f"took {elapsed:.2f} s (limit {seconds} s)"


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


# --- mutations ----------------------------------------------------------------------------------

GENERIC_TOKENS: tuple[bytes, ...] = (
    b"\r\n", b"\n", b"\r", b"\0", b" ", b"\t", b'"', b"'", b"\\", b",", b";", b":", b"=", b"<",
    b">", b"/", b"&", b"&amp;", b"&#0;", b"\xff", b"\xc3", b"\xed\xa0\x80", "é".encode(),
    "\u202e".encode(), b"\x1b[2J", b"0", b"-1", b"99999999999999999999", b"4294967296",
)


@st.composite
def _mutation(draw: st.DrawFn, seeds: tuple[bytes, ...], tokens: tuple[bytes, ...],
              max_size: int) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.integers(0, 6))
        pos = draw(st.integers(0, len(data)))
        if op == 0 and data:  # replace one byte
            data[min(pos, len(data) - 1)] = draw(st.integers(0, 255))
        elif op == 1:  # insert random bytes
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == 2:  # delete a run
            del data[pos:pos + draw(st.integers(1, 16))]
        elif op == 3:  # truncate
            del data[pos:]
        elif op == 4 and data:  # duplicate a run
            end = min(len(data), pos + draw(st.integers(1, 64)))
            data[pos:pos] = data[max(0, pos - 1):end]
        else:  # splice in a token
            data[pos:pos] = draw(st.sampled_from(tokens))
    return bytes(data[:max_size])


def mutated(seeds: Sequence[bytes], tokens: Sequence[bytes] = (), *,
            max_size: int = 64 * 1024) -> st.SearchStrategy[bytes]:
    """Seeds, mutated seeds, and (a little) plain random bytes."""
    seed_tuple = tuple(seeds)
    token_tuple = tuple(tokens) + GENERIC_TOKENS
    return st.one_of(
        st.sampled_from(seed_tuple),
        _mutation(seed_tuple, token_tuple, max_size),
        _mutation(seed_tuple, token_tuple, max_size),
        _mutation(seed_tuple, token_tuple, max_size),
        st.binary(max_size=512),
    )


# JSON values to put anywhere in a document.
json_values: st.SearchStrategy[object] = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True)
    | st.text(max_size=40) | st.sampled_from(["", "tls", "tcp", "ntlm", "auto", "Work",
                                              "sip.example.test:5061", "\x00", "\u202e"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["host", "port", "name", "sha256", "pem", "x"]), inner, max_size=3),
    max_leaves=6)


@st.composite
def mutated_json(draw: st.DrawFn, seed: object) -> object:
    """``seed`` with a few values (or keys) replaced, removed or added, at any depth."""

    def walk(value: object) -> object:
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                action = draw(st.integers(0, 12))
                if action == 0:
                    continue  # drop the key
                if action == 1:
                    out[key] = draw(json_values)
                    continue
                out[key] = walk(item)
            if draw(st.integers(0, 8)) == 0:
                out[draw(st.text(max_size=12))] = draw(json_values)
            return out
        if isinstance(value, list):
            return [walk(v) for v in value] + ([draw(json_values)] if draw(st.booleans()) else [])
        if draw(st.integers(0, 6)) == 0:
            return draw(json_values)
        return value

    return walk(seed)


# --- seeds from the captures --------------------------------------------------------------------

_SIP_CAPTURES = ("ntlm-tcp.wire.txt", "ntlm-tcp-v3.wire.txt", "ntlm-tcp-nover.wire.txt",
                 "ntlm-tcp-signin.wire.txt", "ntlm-tls.wire.txt", "krb5-tcp.wire.txt")


@cache
def sip_seeds() -> tuple[bytes, ...]:
    """Every SIP message of the captures, client and server side."""
    found: list[bytes] = []
    for name in _SIP_CAPTURES:
        found += [data for _, data in raw_messages(name)]
    return tuple(dict.fromkeys(found))


@cache
def sip_server_seeds() -> tuple[bytes, ...]:
    found: list[bytes] = []
    for name in _SIP_CAPTURES:
        found += [data for who, data in raw_messages(name) if who == "server"]
    return tuple(dict.fromkeys(found))


_AUTH_HEADER = re.compile(rb"^(?:WWW-Authenticate|Authorization|Authentication-Info|"
                          rb"Proxy-Authenticate): ?(.*?)\r?$", re.MULTILINE | re.IGNORECASE)
_GSSAPI = re.compile(rb'gssapi-data="([A-Za-z0-9+/=]+)"')


@cache
def auth_header_seeds() -> tuple[str, ...]:
    """Every auth header value of the captures (NTLM, Kerberos, TLS-DSK)."""
    found: list[str] = []
    for path in sorted(CAPTURES.glob("*.wire.txt")):
        found += [m.decode("utf-8", "replace") for m in _AUTH_HEADER.findall(path.read_bytes())]
    return tuple(dict.fromkeys(found))


def _gssapi_tokens(pattern: str, header: bytes) -> list[bytes]:
    tokens: list[bytes] = []
    for path in sorted(CAPTURES.glob(pattern)):
        for line in path.read_bytes().splitlines():
            if line.lower().startswith(header):
                tokens += [base64.b64decode(t) for t in _GSSAPI.findall(line)]
    return tokens


@cache
def ntlm_challenge_seeds() -> tuple[bytes, ...]:
    """NTLM CHALLENGE messages the registrar sent (WWW-Authenticate gssapi-data)."""
    tokens = [t for t in _gssapi_tokens("ntlm-*.wire.txt", b"www-authenticate: ntlm")
              if t.startswith(b"NTLMSSP\0\x02")]
    assert tokens, "no NTLM challenge in the captures"
    return tuple(dict.fromkeys(tokens))


@cache
def tls_dsk_server_seeds() -> tuple[bytes, ...]:
    """The TLS-DSK server flights (ServerHello… and ChangeCipherSpec+Finished) of the captures."""
    tokens = _gssapi_tokens("tlsdsk-*.wire.txt", b"www-authenticate: tls-dsk")
    assert tokens, "no TLS-DSK server flight in the captures"
    return tuple(dict.fromkeys(tokens))


def never_raises_but(allowed: type[BaseException] | tuple[type[BaseException], ...],
                     call: Callable[[], object]) -> object:
    """Run ``call``; the documented exception is fine (and must say something), anything
    else fails the test with the input printed by hypothesis."""
    try:
        return call()
    except allowed as exc:
        assert str(exc), f"{type(exc).__name__} without a message"
        return None
