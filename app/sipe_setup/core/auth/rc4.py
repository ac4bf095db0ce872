"""RC4 in pure Python, for NTLM key exchange and signature sealing.

RC4 sits in ``cryptography``'s "decrepit" corner and emits deprecation warnings; NTLM only ever
runs it over 8-16 bytes, so a tiny implementation is simpler and warning-free.

Invariants:
- :func:`rc4` is stateless: each call starts a fresh key schedule, which is exactly what
  connectionless (datagram) NTLM does per message.
"""

from __future__ import annotations

__all__ = ["rc4"]


def rc4(key: bytes, data: bytes) -> bytes:
    """Encrypt (= decrypt) ``data`` with a fresh RC4 stream keyed by ``key``.

    Raises:
        ValueError: empty key or key longer than 256 bytes.
    """
    if not 0 < len(key) <= 256:
        raise ValueError("RC4 key must be 1..256 bytes")
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) & 0xFF
        s[i], s[j] = s[j], s[i]
    out = bytearray(len(data))
    i = j = 0
    for n, byte in enumerate(data):
        i = (i + 1) & 0xFF
        j = (j + s[i]) & 0xFF
        s[i], s[j] = s[j], s[i]
        out[n] = byte ^ s[(s[i] + s[j]) & 0xFF]
    return bytes(out)
