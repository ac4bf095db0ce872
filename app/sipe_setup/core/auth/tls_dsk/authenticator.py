"""TLS-DSK over SIP: the REGISTER round trips that carry SIPE's TLS handshake (tls-dsk.md §1.5).

The pipeline drives :class:`TlsDskSipAuthenticator` like every
:class:`~sipe_setup.core.auth.authenticator.SipAuthenticator`, once a client certificate is
provisioned for the challenge's ``targetname``:

====  ==========================================================  =============================
401   what it carries                                             call → Authorization
====  ==========================================================  =============================
1st   ``TLS-DSK realm, targetname, version, sts-uri``             ``start`` → ClientHello
2nd   ``opaque``, ``gssapi-data`` = ServerHello…ServerHelloDone   ``step`` → client flight
3rd   ``gssapi-data`` = ChangeCipherSpec + Finished               ``step`` → complete; signed
                                                                  (version > 3) final REGISTER
====  ==========================================================  =============================

Header forms, byte for byte as in ``tlsdsk-signin.wire.txt`` (CSeq 4, 5, 6):

- ``TLS-DSK qop="auth", realm="…", targetname="…", gssapi-data="…", version=4``
- ``TLS-DSK qop="auth", opaque="…", realm="…", targetname="…", gssapi-data="…", version=4``
- ``TLS-DSK qop="auth", opaque="…", realm="…", targetname="…", version=4, crand="…",
  cnum="1", response="…"`` (for version 3: no crand/cnum/response)

Invariants:
- ``response`` is upper-case hex of HMAC-SHA1 with the client key (HMAC-MD5 if the server chose
  RC4-MD5); ``rspauth`` is checked with the server key, either case, in constant time.
- The private key and the signing keys never reach a ``repr``, ``str`` or exception.
- No I/O; the clock and all randomness are injectable.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric import rsa

from sipe_setup.core.auth.authenticator import MessageSigningAuthenticator
from sipe_setup.core.auth.challenge import AuthChallenge, ChallengeScheme
from sipe_setup.core.auth.errors import AuthUsageError
from sipe_setup.core.auth.tls_dsk.crypto import CipherSuite
from sipe_setup.core.auth.tls_dsk.tls10 import TlsDskHandshake
from sipe_setup.core.sip.message import SipRequest

__all__ = ["MAX_REAUTHENTICATION_SECONDS", "REAUTHENTICATION_MARGIN_SECONDS",
           "TlsDskSipAuthenticator"]

MAX_REAUTHENTICATION_SECONDS = 8 * 3600
REAUTHENTICATION_MARGIN_SECONDS = 5 * 60
"""[MS-SIPAE] §3.2.2: re-authenticate at min(expires, 8 h) − 5 min (reference §1.8)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class TlsDskSipAuthenticator(MessageSigningAuthenticator):
    """SIPE's TLS-DSK client for SIP (see the module docstring for the round trips).

    Args:
        certificate_der: the provisioned client certificate, DER.
        private_key: its RSA key.
        getrandbits: randomness for ``crand``.
        random_bytes: randomness for the TLS handshake.
        unix_time: the clock (client random, :meth:`expires_in`).

    Raises:
        TlsDskUsageError: the certificate and key do not belong together.
    """

    def __init__(self, certificate_der: bytes, private_key: rsa.RSAPrivateKey, *,
                 getrandbits: Callable[[int], int] = secrets.randbits,
                 random_bytes: Callable[[int], bytes] = secrets.token_bytes,
                 unix_time: Callable[[], float] = time.time) -> None:
        super().__init__(getrandbits=getrandbits)
        self._certificate_der = bytes(certificate_der)
        self._private_key = private_key
        self._random_bytes = random_bytes
        self._unix_time = unix_time
        self._tls = self._new_handshake()  # checks certificate and key now
        self._started = False
        self._sent_client_flight = False

    def __repr__(self) -> str:
        suite = self.cipher_suite.name if self.cipher_suite else None
        return (f"TlsDskSipAuthenticator(complete={self.is_complete}, suite={suite}, "
                f"cnum={self.cnum})")

    def _new_handshake(self) -> TlsDskHandshake:
        return TlsDskHandshake(self._certificate_der, self._private_key,
                               random_bytes=self._random_bytes, unix_time=self._unix_time)

    # -- facts for the report --

    @property
    def scheme(self) -> ChallengeScheme:
        return ChallengeScheme.TLS_DSK

    @property
    def is_complete(self) -> bool:
        return self._tls.is_complete

    @property
    def handshake(self) -> TlsDskHandshake:
        """The current TLS handshake (suite, server version and certificate, Finished check)."""
        return self._tls

    @property
    def cipher_suite(self) -> CipherSuite | None:
        """The suite the server chose."""
        return self._tls.cipher_suite

    @property
    def signature_algorithm(self) -> str | None:
        """``HMAC-SHA1`` or ``HMAC-MD5``."""
        return self._tls.signature_algorithm

    @property
    def server_finished_verified(self) -> bool | None:
        """Our check of the server's Finished, which SIPE skips (None: none was sent)."""
        return self._tls.server_finished_verified

    @property
    def certificate_not_after(self) -> datetime:
        """The client certificate's notAfter (UTC)."""
        return self._tls.client_certificate_not_after

    def expires_in(self, now: datetime | None = None) -> int:
        """Seconds the security association lives: notAfter − now, floored, 0 if past (SIPE)."""
        current = now if now is not None else datetime.fromtimestamp(self._unix_time(), UTC)
        return max(0, int((self.certificate_not_after - current).total_seconds()))

    def reauthenticate_in(self, now: datetime | None = None) -> int:
        """When SIPE re-authenticates: min(expires, 8 h) − 5 min, in seconds (not below 0)."""
        lifetime = min(self.expires_in(now), MAX_REAUTHENTICATION_SECONDS)
        return max(0, lifetime - REAUTHENTICATION_MARGIN_SECONDS)

    # -- the round trips --

    def restart(self) -> None:
        super().restart()
        self._tls = self._new_handshake()
        self._started = False
        self._sent_client_flight = False

    def start(self, challenge: AuthChallenge, request: SipRequest) -> str:
        """Answer the first TLS-DSK 401 with the ClientHello."""
        self.restart()
        self._remember(challenge)
        self._started = True
        return self._handshake(request, gssapi_data=_b64(self._tls.client_hello()), signed=False)

    def step(self, challenge: AuthChallenge, request: SipRequest) -> str:
        """Answer the server's flight, then its ChangeCipherSpec + Finished.

        Raises:
            AuthUsageError: before :meth:`start`, after completion or after a failure.
            AuthProtocolError: no or invalid ``gssapi-data``.
            TlsDskHandshakeError: the server's TLS data is one SIPE fails on.
        """
        if not self._started:
            raise AuthUsageError("step() before start()")
        if self._tls.is_complete or self._tls.has_failed:
            raise AuthUsageError("the TLS-DSK handshake is already over")
        self._remember(challenge)
        token = challenge.gssapi_token()
        if not self._sent_client_flight:
            flight = self._tls.receive_server_flight(token)
            self._sent_client_flight = True
            return self._handshake(request, gssapi_data=_b64(flight), signed=False)
        self._tls.receive_server_final(token)
        return self._handshake(request, gssapi_data=None, signed=self.version > 3)

    # -- signatures --

    def _digest(self) -> str:
        suite = self._tls.cipher_suite
        assert suite is not None
        return suite.mac

    def _sign_text(self, text: str) -> str:
        key = self._tls.client_signing_key
        return hmac.digest(key, text.encode("utf-8"), self._digest()).hex().upper()

    def _verify_text(self, text: str, rspauth: str) -> bool:
        try:
            given = bytes.fromhex(rspauth)
        except ValueError:
            return False
        expected = hmac.digest(self._tls.server_signing_key, text.encode("utf-8"),
                               self._digest())
        return hmac.compare_digest(given, expected)
