"""The server side of MS-SIPAE connectionless NTLM, for the test registrar (and of HTTP NTLM,
for the test web services).

A registrar hands out one :class:`NtlmServerHandshake` per ``opaque`` (its CHALLENGE), feeds it
the client's AUTHENTICATE, and on success gets an :class:`NtlmServerSession` that verifies the
client's message signatures and signs the registrar's responses (``rspauth``). An HTTP server
answers a NEGOTIATE with ``new_handshake(negotiate=...)`` instead: connection-oriented NTLM,
where signing and key exchange are optional (SIPE's HTTP AUTHENTICATE has neither).
:class:`Accounts` is the user table both servers share.

Invariants:
- All cryptography is the client's own code (:mod:`sipe_setup.core.auth.ntlm`,
  :mod:`sipe_setup.core.auth.signature`): the acceptor only decides *what* to compute, so a
  round trip tests the primitives against a second, independent composition of them and the
  captures/vectors pin the primitives themselves.
- Verification never raises for client input: every failure comes back as an
  :class:`NtlmAcceptResult` with a :class:`NtlmRejectReason`, so the registrar can answer
  401/403 the way a real server would and the test can say *why*.
- The default CHALLENGE mirrors the one in ``captures/ntlm-tcp.wire.txt`` (flags 0xE2998275,
  target info NB domain, NB computer, DNS domain, DNS computer, MsvAvTimestamp).
"""

from __future__ import annotations

import enum
import hmac
import secrets
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sipe_setup.core.account import Secret
from sipe_setup.core.auth.ntlm import (
    NTLM_SIGNATURE,
    AvId,
    NtlmFlags,
    NtlmProtocolError,
    NtlmSessionKeys,
    NtlmSigner,
    NtlmVersion,
    encode_av_pairs,
    filetime_now,
    ntlmv2_response_for_blob,
    ntowf_v2,
    parse_authenticate,
)
from sipe_setup.core.auth.rc4 import rc4
from sipe_setup.core.auth.signature import fields_from_message
from sipe_setup.core.sip.message import (
    SipProtocolError,
    SipRequest,
    SipResponse,
    parse_auth_params,
    quote,
)

__all__ = [
    "DEFAULT_CHALLENGE_FLAGS",
    "SERVER_2022_VERSION",
    "Accounts",
    "NtlmAcceptResult",
    "NtlmAcceptor",
    "NtlmRejectReason",
    "NtlmServerHandshake",
    "NtlmServerSession",
    "UserTable",
    "request_signature",
]

F = NtlmFlags
DEFAULT_CHALLENGE_FLAGS = (
    F.UNICODE | F.REQUEST_TARGET | F.SIGN | F.SEAL | F.DATAGRAM | F.NTLM | F.ALWAYS_SIGN
    | F.TARGET_TYPE_DOMAIN | F.EXTENDED_SESSIONSECURITY | F.IDENTIFY | F.TARGET_INFO
    | F.VERSION | F.NEGOTIATE_128 | F.KEY_EXCH | F.NEGOTIATE_56
)
"""0xE2998275, the flags of the capture's CHALLENGE: everything SIPE requires, plus 128/56."""

SERVER_2022_VERSION = NtlmVersion(10, 0, 20348, 0x0F)
"""The VERSION of the capture's CHALLENGE (Windows Server 2022)."""

UserTable = Mapping[tuple[str, str], str]
"""``{(DOMAIN upper-case, user lower-case): password}``; UPN logins use domain ``""``."""

_CONNECTIONLESS_NEEDS = F.SIGN | F.EXTENDED_SESSIONSECURITY | F.KEY_EXCH | F.UNICODE
_CONNECTION_NEEDS = F.UNICODE


class NtlmRejectReason(enum.StrEnum):
    """Why an AUTHENTICATE was not accepted."""

    MALFORMED = "malformed"
    """Not a parsable AUTHENTICATE."""
    NOT_NTLMV2 = "not-ntlmv2"
    """An NTLMv1/anonymous response; SIPE never sends one."""
    BAD_BLOB = "bad-blob"
    """The NTLMv2 blob is malformed (wrong header, too short)."""
    MISSING_FLAGS = "missing-flags"
    """The client did not negotiate signing/ESS/key exchange."""
    UNKNOWN_USER = "unknown-user"
    WRONG_PASSWORD = "wrong-password"


@dataclass(frozen=True, slots=True)
class NtlmAcceptResult:
    """Outcome of :meth:`NtlmServerHandshake.accept`."""

    reason: NtlmRejectReason | None
    """None on success."""
    detail: str
    user: str = ""
    domain: str = ""
    workstation: str = ""
    session: NtlmServerSession | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """True if the user authenticated."""
        return self.reason is None


def request_signature(request: SipRequest, version: int) -> tuple[str, str] | None:
    """(signature string, claimed signature) of a request signed in its ``Authorization``.

    Any scheme (NTLM, Kerberos): the values come from the header, as a server reads them.
    None if the request carries no complete signature or the header is malformed.
    """
    value = request.header("Authorization") or request.header("Proxy-Authorization")
    if value is None:
        return None
    try:
        params = parse_auth_params(value)
    except SipProtocolError:
        return None
    crand, cnum, response = params.get("crand"), params.get("cnum"), params.get("response")
    realm, target = params.get("realm"), params.get("targetname")
    if not (crand and cnum and response and realm and target):
        return None
    text = fields_from_message(request, scheme=params.scheme, rand=crand, num=cnum,
                               realm=realm, target_name=target).to_string(version)
    return text, response


class NtlmServerSession:
    """An authenticated NTLM context on the server: checks client and makes server signatures."""

    def __init__(self, keys: NtlmSessionKeys, *, user: str, domain: str) -> None:
        self.keys = keys
        self.user = user
        self.domain = domain
        self._client: NtlmSigner = keys.signer(client_to_server=True)
        self._server: NtlmSigner = keys.signer(client_to_server=False)

    def __repr__(self) -> str:
        return f"NtlmServerSession(user={self.user!r}, domain={self.domain!r})"

    def sign(self, text: str) -> str:
        """The server's signature (upper-case hex) over a signature string."""
        return self._server.sign_hex(text)

    def verify_client(self, text: str, signature_hex: str) -> bool:
        """True if ``signature_hex`` is the client's signature of ``text``."""
        return self._client.verify(text, signature_hex)

    def verify_request(self, request: SipRequest, *, version: int) -> bool:
        """Check the signature in a request's ``Authorization`` (crand/cnum/response).

        False if the header is missing, malformed, unsigned or wrong.
        """
        signed = request_signature(request, version)
        return signed is not None and self.verify_client(*signed)

    def authentication_info(self, response: SipResponse, *, srand: str, snum: int,
                            opaque: str, realm: str, target_name: str, version: int) -> str:
        """The ``Authentication-Info`` value signing ``response`` (in OCS's parameter order)."""
        text = fields_from_message(response, scheme="NTLM", rand=srand, num=str(snum),
                                   realm=realm, target_name=target_name).to_string(version)
        return (f'NTLM rspauth="{self.sign(text)}", srand={quote(srand)}, snum="{snum}", '
                f'opaque={quote(opaque)}, qop="auth", targetname={quote(target_name)}, '
                f'realm={quote(realm)}')


class NtlmServerHandshake:
    """One outstanding CHALLENGE (one ``opaque``, or one HTTP connection) and the check of its
    AUTHENTICATE."""

    def __init__(self, acceptor: NtlmAcceptor, server_challenge: bytes, timestamp: int, *,
                 flags: int | None = None, connectionless: bool = True) -> None:
        self._acceptor = acceptor
        self.server_challenge = server_challenge
        self.timestamp = timestamp
        self.connectionless = connectionless
        self.challenge = acceptor.encode_challenge(server_challenge, timestamp, flags)
        """The CHALLENGE (Type 2) bytes to send base64-encoded in ``gssapi-data``."""

    def accept(self, authenticate: bytes) -> NtlmAcceptResult:
        """Verify an AUTHENTICATE against the user table; never raises for bad input."""
        try:
            msg = parse_authenticate(authenticate)
        except NtlmProtocolError as exc:
            return NtlmAcceptResult(NtlmRejectReason.MALFORMED, str(exc))
        who = {"user": msg.user, "domain": msg.domain, "workstation": msg.workstation}
        if len(msg.nt_response) <= 24:
            return NtlmAcceptResult(NtlmRejectReason.NOT_NTLMV2,
                                    f"NT response of {len(msg.nt_response)} bytes is not "
                                    "NTLMv2", **who)
        blob = msg.nt_response[16:]
        if len(blob) < 32 or blob[:2] != b"\x01\x01":
            return NtlmAcceptResult(NtlmRejectReason.BAD_BLOB,
                                    "NTLMv2 blob has a wrong header or is too short", **who)
        needed = _CONNECTIONLESS_NEEDS if self.connectionless else _CONNECTION_NEEDS
        if needed & ~msg.flags:
            return NtlmAcceptResult(NtlmRejectReason.MISSING_FLAGS,
                                    f"client flags 0x{msg.flags:08x} lack 0x{needed:08x}",
                                    **who)
        password = self._acceptor.users.get((msg.domain.upper(), msg.user.lower()))
        if password is None:
            return NtlmAcceptResult(NtlmRejectReason.UNKNOWN_USER,
                                    f"no user {msg.domain}\\{msg.user}", **who)
        key = ntowf_v2(Secret(password), msg.user, msg.domain)
        client_challenge = blob[16:24]
        expected = ntlmv2_response_for_blob(key, self.server_challenge, client_challenge, blob)
        if not hmac.compare_digest(expected.nt_proof_str, msg.nt_response[:16]):
            return NtlmAcceptResult(NtlmRejectReason.WRONG_PASSWORD,
                                    f"NTProofStr mismatch for {msg.domain}\\{msg.user}", **who)
        if not msg.flags & F.KEY_EXCH:  # only connection-oriented NTLM gets here without it
            exported = expected.session_base_key
        elif len(msg.encrypted_session_key) != 16:
            return NtlmAcceptResult(NtlmRejectReason.MALFORMED,
                                    "KEY_EXCH without a 16-byte encrypted session key", **who)
        else:
            exported = rc4(expected.session_base_key, msg.encrypted_session_key)
        keys = NtlmSessionKeys.derive(msg.flags, exported)
        session = NtlmServerSession(keys, user=msg.user, domain=msg.domain)
        return NtlmAcceptResult(None, "authenticated", session=session, **who)


class NtlmAcceptor:
    """Issues CHALLENGEs and checks AUTHENTICATEs against a user table.

    Args:
        users: ``{(DOMAIN, user): password}`` (see :data:`UserTable`).
        nb_domain, nb_computer, dns_domain, dns_computer: target info names.
        flags: CHALLENGE flags (drop one to test SIPE's refusal).
        version: the server VERSION structure (default Windows Server 2022).
        getrandbytes: randomness for server challenges.
        now_filetime: clock for MsvAvTimestamp; ``None`` in :meth:`new_handshake` to omit it.
    """

    def __init__(self, users: UserTable, *, nb_domain: str = "EXAMPLE",
                 nb_computer: str = "SERVER", dns_domain: str = "example.test",
                 dns_computer: str = "server.example.test",
                 flags: int = DEFAULT_CHALLENGE_FLAGS,
                 version: NtlmVersion = SERVER_2022_VERSION,
                 getrandbytes: Callable[[int], bytes] = secrets.token_bytes,
                 now_filetime: Callable[[], int] = filetime_now,
                 include_timestamp: bool = True) -> None:
        self.users = {(d.upper(), u.lower()): p for (d, u), p in users.items()}
        self.nb_domain = nb_domain
        self.nb_computer = nb_computer
        self.dns_domain = dns_domain
        self.dns_computer = dns_computer
        self.flags = flags
        self.version = version
        self._rand = getrandbytes
        self._now = now_filetime
        self.include_timestamp = include_timestamp

    def __repr__(self) -> str:
        return f"NtlmAcceptor(domain={self.nb_domain!r}, users={len(self.users)})"

    def new_handshake(self, server_challenge: bytes | None = None, *,
                      negotiate: bytes | None = None) -> NtlmServerHandshake:
        """A fresh CHALLENGE (random server challenge unless given).

        Without ``negotiate``: connectionless (SIP), with this acceptor's flags. With the
        client's NEGOTIATE (HTTP): connection-oriented, granting what the client asked for and
        this acceptor supports, as Windows does.

        Raises:
            NtlmProtocolError: ``negotiate`` is not an NTLM NEGOTIATE.
        """
        challenge = server_challenge if server_challenge is not None else self._rand(8)
        if len(challenge) != 8:
            raise ValueError("the server challenge is 8 bytes")
        if negotiate is None:
            return NtlmServerHandshake(self, challenge, self._now())
        if len(negotiate) < 16 or negotiate[:8] != NTLM_SIGNATURE or negotiate[8:12] != (
                b"\x01\x00\x00\x00"):
            raise NtlmProtocolError("not an NTLM NEGOTIATE (type 1)")
        (asked,) = struct.unpack_from("<I", negotiate, 12)
        flags = (asked & self.flags & ~F.DATAGRAM) | F.TARGET_INFO | F.TARGET_TYPE_DOMAIN
        return NtlmServerHandshake(self, challenge, self._now(), flags=flags,
                                   connectionless=False)

    def target_info(self, timestamp: int) -> bytes:
        """Target info in the capture's order: NB domain, NB computer, DNS domain/computer, time."""
        pairs: list[tuple[int, bytes]] = [
            (AvId.NB_DOMAIN_NAME, self.nb_domain.encode("utf-16-le")),
            (AvId.NB_COMPUTER_NAME, self.nb_computer.encode("utf-16-le")),
            (AvId.DNS_DOMAIN_NAME, self.dns_domain.encode("utf-16-le")),
            (AvId.DNS_COMPUTER_NAME, self.dns_computer.encode("utf-16-le")),
        ]
        if self.include_timestamp:
            pairs.append((AvId.TIMESTAMP, struct.pack("<Q", timestamp)))
        return encode_av_pairs(pairs)

    def encode_challenge(self, server_challenge: bytes, timestamp: int,
                         flags: int | None = None) -> bytes:
        """CHALLENGE bytes: 56-byte header with VERSION, target name, target info."""
        flags = self.flags if flags is None else flags
        target_name = self.nb_domain.encode("utf-16-le")
        info = self.target_info(timestamp)
        name_off = 56
        info_off = name_off + len(target_name)
        header = (NTLM_SIGNATURE + struct.pack("<I", 2)
                  + struct.pack("<HHI", len(target_name), len(target_name), name_off)
                  + struct.pack("<I", flags & 0xFFFFFFFF) + server_challenge
                  + b"\x00" * 8 + struct.pack("<HHI", len(info), len(info), info_off)
                  + self.version.to_bytes())
        return header + target_name + info


@dataclass(frozen=True)
class Accounts:
    """The test servers' accounts: ``(DOMAIN, user, password)`` in one SIP/DNS domain.

    Like Active Directory, an account logs in as DOMAIN\\user, as the UPN user@<domain> and as
    the bare user name (with ``domain_form_only``, as DOMAIN\\user only), and it owns the SIP
    URI ``sip:user@<domain>`` (a UPN-only entry ``("", "user@domain", password)`` owns
    ``sip:user@domain``).
    """

    entries: tuple[tuple[str, str, str], ...]
    domain: str
    domain_form_only: bool = False

    def logins(self) -> dict[tuple[str, str], tuple[str, str]]:
        """``{(DOMAIN, login): (password, SIP URI)}`` for every accepted login form."""
        table: dict[tuple[str, str], tuple[str, str]] = {}
        for domain, user, password in self.entries:
            address = user.lower() if "@" in user else f"{user.lower()}@{self.domain}"
            owned = (password, f"sip:{address}")
            table[(domain.upper(), user.lower())] = owned
            if domain and not self.domain_form_only:
                table[("", f"{user}@{self.domain}".lower())] = owned
                table[("", user.lower())] = owned
        return table

    def sip_uri(self, domain: str, user: str) -> str | None:
        """The SIP URI the account behind a login owns (None: no such login)."""
        entry = self.logins().get((domain.upper(), user.lower()))
        return entry[1] if entry else None

    def acceptor(self, computer_fqdn: str) -> NtlmAcceptor:
        """An NTLM acceptor for these logins, claiming to be ``computer_fqdn``."""
        nb_domain = next((d.upper() for d, _u, _p in self.entries if d),
                         self.domain.split(".")[0].upper())
        return NtlmAcceptor({k: pw for k, (pw, _uri) in self.logins().items()},
                            nb_domain=nb_domain, dns_domain=self.domain,
                            nb_computer=computer_fqdn.split(".")[0].upper(),
                            dns_computer=computer_fqdn)
