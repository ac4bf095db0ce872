"""SIP authenticators: the sans-I/O state machines that answer 401s and sign messages.

:class:`SipAuthenticator` is the interface the REGISTER pipeline drives, for every scheme:

1. ``start(challenge, request)`` with the scheme's challenge from the *first* 401 → the
   Authorization value for ``request`` (NTLM: ``gssapi-data=""``; Kerberos: the AP-REQ).
2. ``step(challenge, request)`` with each further 401's challenge → the next value, until
   ``is_complete`` (NTLM: the AUTHENTICATE, signed for version > 3).
3. ``sign_request(request)`` → the signed-form Authorization for every later message
   (re-REGISTER, de-REGISTER, SUBSCRIBE…).
4. ``verify_response(message)`` → True if the message carries a valid ``rspauth``, False if it
   carries none, :class:`~sipe_setup.core.auth.errors.ServerSignatureError` if it is wrong.

``request`` is always the message the returned value will be appended to, *without* its
Authorization header: signatures cover its Call-ID, CSeq, From/To and Expires.

:class:`MessageSigningAuthenticator` implements 3 and 4 (crand/cnum, signature strings,
Authentication-Info) once; a scheme supplies its token exchange and two primitives,
``_sign_text`` and ``_verify_text`` — e.g. Kerberos with ``gss_get_mic``/``gss_verify_mic``.

Invariants:
- ``cnum`` counts 1, 2, … over every signed message of this authenticator and is *not* reset
  by :meth:`MessageSigningAuthenticator.restart` (SIPE's ``ntlm_num``).
- The password lives only inside the scheme's credential object; ``repr`` never shows it.
- No I/O; randomness (``crand``) is injectable.
"""

from __future__ import annotations

import abc
import base64
import secrets
from collections.abc import Callable

from sipe_setup.core.account import NtlmIdentity, Secret
from sipe_setup.core.auth.challenge import (
    AuthChallenge,
    ChallengeScheme,
    MessageSignature,
    build_handshake_authorization,
    build_signed_authorization,
)
from sipe_setup.core.auth.errors import (
    AuthProtocolError,
    AuthUsageError,
    ServerSignatureError,
)
from sipe_setup.core.auth.ntlm import (
    SIPE_NTLM_VERSION,
    NtlmClient,
    NtlmSessionKeys,
    NtlmSigner,
    NtlmVersion,
    filetime_now,
)
from sipe_setup.core.auth.signature import (
    authentication_info,
    fields_from_message,
    incoming_signature_fields,
)
from sipe_setup.core.sip.message import SipMessage, SipProtocolError, SipRequest

__all__ = [
    "MessageSigningAuthenticator",
    "NtlmSipAuthenticator",
    "SipAuthenticator",
]


class SipAuthenticator(abc.ABC):
    """What the REGISTER pipeline needs from any auth scheme (see the module docstring)."""

    @property
    @abc.abstractmethod
    def scheme(self) -> ChallengeScheme:
        """The scheme this authenticator answers."""

    @property
    @abc.abstractmethod
    def is_complete(self) -> bool:
        """True once the handshake finished and messages can be signed."""

    @abc.abstractmethod
    def start(self, challenge: AuthChallenge, request: SipRequest) -> str:
        """Answer the scheme's challenge of the first 401: the Authorization for ``request``."""

    @abc.abstractmethod
    def step(self, challenge: AuthChallenge, request: SipRequest) -> str:
        """Answer a further challenge of the handshake: the Authorization for ``request``."""

    @abc.abstractmethod
    def sign_request(self, request: SipRequest) -> str:
        """The signed-form Authorization for a message after the handshake."""

    @abc.abstractmethod
    def verify_response(self, message: SipMessage) -> bool:
        """Check a received message's ``rspauth``: True valid, False absent.

        Raises:
            ServerSignatureError: present but wrong.
        """


class MessageSigningAuthenticator(SipAuthenticator):
    """Shared MS-SIPAE signing: crand/cnum, signature strings, handshake and signed forms.

    Subclasses implement :meth:`start`, :meth:`step`, :meth:`_sign_text` (→ hex as sent in
    ``response=``) and :meth:`_verify_text`, and call :meth:`_remember` with every challenge.

    Args:
        getrandbits: randomness for ``crand`` (``%08x`` of 32 bits).
    """

    def __init__(self, *, getrandbits: Callable[[int], int] = secrets.randbits) -> None:
        self._randbits = getrandbits
        self._cnum = 0
        self.realm: str | None = None
        self.target_name: str | None = None
        self.opaque: str | None = None
        self.version = 0

    # -- for subclasses --

    @abc.abstractmethod
    def _sign_text(self, text: str) -> str:
        """Signature of a signature string, as it goes into ``response=``."""

    @abc.abstractmethod
    def _verify_text(self, text: str, rspauth: str) -> bool:
        """True if ``rspauth`` is the server's signature of ``text``."""

    def _remember(self, challenge: AuthChallenge) -> None:
        if challenge.scheme is not self.scheme:
            raise AuthUsageError(f"a {challenge.scheme_token} challenge was given to the "
                                 f"{self.scheme} authenticator")
        if challenge.realm is not None:
            self.realm = challenge.realm
        if challenge.target_name is not None:
            self.target_name = challenge.target_name
        if challenge.opaque is not None:
            self.opaque = challenge.opaque
        self.version = challenge.version
        if self.realm is None or self.target_name is None:
            raise AuthProtocolError(f"the server's {challenge.scheme_token} challenge has no "
                                    "realm or targetname")

    def _signature_for(self, request: SipRequest) -> MessageSignature:
        if self.realm is None or self.target_name is None:
            raise AuthUsageError("no challenge has been seen yet")
        crand = f"{self._randbits(32) & 0xFFFFFFFF:08x}"
        self._cnum += 1
        fields = fields_from_message(request, scheme=str(self.scheme), rand=crand,
                                     num=str(self._cnum), realm=self.realm,
                                     target_name=self.target_name)
        return MessageSignature(crand=crand, cnum=self._cnum,
                                response=self._sign_text(fields.to_string(self.version)))

    def _handshake(self, request: SipRequest, *, gssapi_data: str | None,
                   signed: bool) -> str:
        assert self.realm is not None and self.target_name is not None
        return build_handshake_authorization(
            self.scheme, realm=self.realm, target_name=self.target_name, opaque=self.opaque,
            gssapi_data=gssapi_data, version=self.version,
            signature=self._signature_for(request) if signed else None)

    # -- public --

    @property
    def cnum(self) -> int:
        """The ``cnum`` of the last signed message (0 before the first)."""
        return self._cnum

    def restart(self) -> None:
        """Forget the handshake (401 on a re-REGISTER); ``cnum`` keeps counting."""
        self.realm = self.target_name = self.opaque = None
        self.version = 0

    def sign_request(self, request: SipRequest) -> str:
        if not self.is_complete:
            raise AuthUsageError("cannot sign before the handshake is complete")
        assert self.realm is not None and self.target_name is not None
        return build_signed_authorization(self.scheme, opaque=self.opaque, realm=self.realm,
                                          target_name=self.target_name,
                                          signature=self._signature_for(request))

    def verify_response(self, message: SipMessage) -> bool:
        if not self.is_complete:
            raise AuthUsageError("cannot verify before the handshake is complete")
        try:
            info = authentication_info(message)
        except SipProtocolError as exc:
            raise AuthProtocolError(f"malformed Authentication-Info: {exc}") from None
        if info is None or info.rspauth is None:
            return False
        fields = incoming_signature_fields(message)
        if fields is None or not fields.realm:
            raise ServerSignatureError("the server signed a message but gave no realm to "
                                       "check the signature against")
        text = fields.to_string(self.version)
        if not self._verify_text(text, info.rspauth):
            raise ServerSignatureError(
                "Invalid message signature received: the server's rspauth does not match "
                f"(status/method {fields.response_code or fields.method}, "
                f"CSeq {fields.cseq_number})")
        return True


class NtlmSipAuthenticator(MessageSigningAuthenticator):
    """SIPE's connectionless NTLM over SIP (reference §3.4 NTLM sequence, §3.6).

    Args:
        identity: NTLM user/domain (``ParsedLogin.ntlm``).
        password: the account password.
        hostname: ``socket.gethostname()``; sent upper-cased as the workstation.
        getrandbits: randomness for ``crand``.
        getrandbytes: randomness for the client challenge and exported session key.
        now_filetime: the clock used when the CHALLENGE has no MsvAvTimestamp.
        ntlm_version: VERSION structure sent in the AUTHENTICATE.
    """

    def __init__(self, identity: NtlmIdentity, password: Secret, hostname: str, *,
                 getrandbits: Callable[[int], int] = secrets.randbits,
                 getrandbytes: Callable[[int], bytes] = secrets.token_bytes,
                 now_filetime: Callable[[], int] = filetime_now,
                 ntlm_version: NtlmVersion = SIPE_NTLM_VERSION) -> None:
        super().__init__(getrandbits=getrandbits)
        self._client = NtlmClient(identity, password, hostname, getrandbytes=getrandbytes,
                                  now_filetime=now_filetime, version=ntlm_version)
        self._keys: NtlmSessionKeys | None = None
        self._client_signer: NtlmSigner | None = None
        self._server_signer: NtlmSigner | None = None
        self._started = False

    def __repr__(self) -> str:
        return (f"NtlmSipAuthenticator({self._client!r}, complete={self.is_complete}, "
                f"cnum={self.cnum})")

    @property
    def scheme(self) -> ChallengeScheme:
        return ChallengeScheme.NTLM

    @property
    def is_complete(self) -> bool:
        return self._keys is not None

    @property
    def session_keys(self) -> NtlmSessionKeys | None:
        """The negotiated keys once complete (for diagnostics and tests)."""
        return self._keys

    def restart(self) -> None:
        super().restart()
        self._keys = self._client_signer = self._server_signer = None
        self._started = False

    def start(self, challenge: AuthChallenge, request: SipRequest) -> str:
        """``NTLM qop="auth", realm, targetname, gssapi-data=""[, version=N]``."""
        self.restart()
        self._remember(challenge)
        self._started = True
        return self._handshake(request, gssapi_data="", signed=False)

    def step(self, challenge: AuthChallenge, request: SipRequest) -> str:
        """Answer the CHALLENGE with the AUTHENTICATE; signed if the server's version > 3.

        Raises:
            AuthUsageError: called before :meth:`start` or after completion.
            AuthProtocolError: no opaque or no/invalid CHALLENGE token (NtlmProtocolError).
            UnsupportedChallengeError: the CHALLENGE lacks flags SIPE needs.
        """
        if not self._started:
            raise AuthUsageError("step() before start()")
        if self._keys is not None:
            raise AuthUsageError("the NTLM handshake is already complete")
        self._remember(challenge)
        if challenge.opaque is None:
            raise AuthProtocolError("the server's NTLM challenge has no opaque value")
        result = self._client.authenticate(challenge.gssapi_token())
        self._keys = result.keys
        self._client_signer = result.keys.signer(client_to_server=True)
        self._server_signer = result.keys.signer(client_to_server=False)
        token = base64.b64encode(result.message).decode("ascii")
        return self._handshake(request, gssapi_data=token, signed=self.version > 3)

    def _sign_text(self, text: str) -> str:
        assert self._client_signer is not None
        return self._client_signer.sign_hex(text)

    def _verify_text(self, text: str, rspauth: str) -> bool:
        assert self._server_signer is not None
        return self._server_signer.verify(text, rspauth)
