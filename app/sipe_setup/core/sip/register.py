"""SIPE's REGISTER, byte for byte (reference §3.1, §3.2), and its identifiers.

Invariants:
- One :class:`RegisterDialog` = one SIPE ``register_callid``: every REGISTER it builds has the
  same Call-ID, CSeq 1, 2, 3 …, and a fresh From-tag and Via branch.
- Header order, spelling and values are SIPE 1.25.0's; ``Authorization`` is appended *after*
  ``Content-Length`` by :meth:`RegisterAttempt.authorized`.
- epid and ``+sip.instance`` are derived from each other exactly as SIPE does, because a server
  may check that the instance was derived from the epid ([MS-SIPAE] §3.3.5.2).
- Randomness is injected (``getrandbits``) so captures can be reproduced; the default is the
  OS CSPRNG.
- No I/O: the caller supplies the local address of its connected socket.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sipe_setup.core.account import SignInAddress, Transport, network_host_to_ascii
from sipe_setup.core.sip.message import SipRequest, SipResponse, SipUsageError

__all__ = [
    "DEFAULT_USER_AGENT",
    "REGISTER_METHODS",
    "RandomBits",
    "RedirectTarget",
    "RegisterAttempt",
    "RegisterDialog",
    "epid",
    "new_branch",
    "new_call_id",
    "new_tag",
    "parse_redirect_contact",
    "sip_instance",
]

RandomBits = Callable[[int], int]
"""``getrandbits(k)``: a random integer of ``k`` bits (``secrets.randbits`` by default)."""

DEFAULT_USER_AGENT: Final = "Purple/2.14.12 Sipe/1.25.0 (linux-x86_64)"
"""The UA of the captured SIPE 1.25.0 on Debian 12 (reference §3.2)."""

REGISTER_METHODS: Final = ("INVITE, MESSAGE, INFO, SUBSCRIBE, OPTIONS, BYE, CANCEL, NOTIFY, "
                           "ACK, REFER, BENOTIFY")
_MS_OPAQUE: Final = "d3470f2e1d"
_SUPPORTED: Final = "gruu-10, adhoclist, msrtc-event-categories, com.microsoft.msrtc.presence"
_EPID_NAMESPACE: Final = uuid.UUID("fcacfb03-8a73-46ef-91b1-e5ebeeaba4fe")


# --- identifiers --------------------------------------------------------------------------------


def epid(self_uri: str, hostname: str, local_ip: str) -> str:
    """SIPE's endpoint id: SHA-1 of ``"<self_uri>:<hostname>:<local_ip>"``, bytes 14..19 in hex.

    Args:
        self_uri: the own SIP URI *with* ``sip:`` (``SignInAddress.uri``).
        hostname: ``gethostname()`` as returned (not upper-cased).
        local_ip: the local address of the connected socket (no brackets for IPv6).

    >>> epid("sip:alice@example.test", "vm", "127.0.0.1")
    'b34afb6ebb23'
    """
    digest = hashlib.sha1(f"{self_uri}:{hostname}:{local_ip}".encode(),
                          usedforsecurity=False).digest()
    return digest[14:20].hex()


def sip_instance(epid_value: str) -> str:
    """The ``+sip.instance`` UUID SIPE derives from an epid (lower case, no ``urn:uuid:``).

    UUIDv5-like: SHA-1 over the namespace serialized little-endian plus the ASCII epid; the
    first 16 bytes read little-endian, version 5, RFC 4122 variant.

    >>> sip_instance("b34afb6ebb23")
    '085e0bd8-031c-5a0d-8d9a-f149aae6954a'
    """
    digest = hashlib.sha1(_EPID_NAMESPACE.bytes_le + epid_value.encode("ascii"),
                          usedforsecurity=False).digest()
    raw = bytearray(digest[:16])
    # bytes_le layout: time_hi_and_version is bytes 6..7 little-endian → high nibble in byte 7.
    raw[7] = (raw[7] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes_le=bytes(raw)))


def new_call_id(getrandbits: RandomBits = secrets.randbits) -> str:
    """A Call-ID in SIPE's ``%04Xg%04Xa%04Xi%04Xm%04Xt%04Xb%04Xx%04Xx`` format."""
    v = [getrandbits(16) for _ in range(8)]
    return (f"{v[0]:04X}g{v[1]:04X}a{v[2]:04X}i{v[3]:04X}m{v[4]:04X}t{v[5]:04X}b{v[6]:04X}x"
            f"{v[7]:04X}x")


def new_tag(getrandbits: RandomBits = secrets.randbits) -> str:
    """A From-tag in SIPE's ``%04d%04d`` format (two random 16-bit values, 8-10 digits)."""
    first, second = getrandbits(16), getrandbits(16)
    return f"{first:04d}{second:04d}"


def new_branch(getrandbits: RandomBits = secrets.randbits) -> str:
    """A Via branch in SIPE's format: ``z9hG4bK`` + 5 × ``%04X``."""
    return "z9hG4bK" + "".join(f"{getrandbits(16):04X}" for _ in range(5))


def _host_for_uri(ip: str) -> str:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        raise SipUsageError(f"local address {ip!r} is not an IP address") from None
    return f"[{addr.compressed}]" if addr.version == 6 else addr.compressed


# --- the dialog ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegisterAttempt:
    """One REGISTER as built, before or after its Authorization header is added."""

    cseq: int
    tag: str
    branch: str
    request: SipRequest
    """The REGISTER without ``Authorization``; sign/authorize this one."""

    def authorized(self, authorization: str | None) -> SipRequest:
        """The request to send: ``Authorization`` appended after ``Content-Length`` if given."""
        if authorization is None:
            return self.request
        return self.request.with_header("Authorization", authorization)

    def is_response_to(self, response: SipResponse) -> bool:
        """True if ``response`` answers this attempt (Call-ID, CSeq and Via branch match)."""
        if response.call_id != self.request.call_id:
            return False
        if response.cseq != (self.cseq, "REGISTER"):
            return False
        via = response.header("Via") or ""
        return f"branch={self.branch}" in via


class RegisterDialog:
    """Builds SIPE's REGISTER sequence for one connection.

    Args:
        signin: the sign-in address (From/To and the request URI's domain).
        transport: ``Transport.TLS`` or ``Transport.TCP`` (the connection actually used).
        local_ip: local address of the connected socket, as the OS reports it.
        local_port: local port of the connected socket.
        hostname: the machine's host name (``socket.gethostname()``), for the epid.
        user_agent: the ``User-Agent`` value; empty → :data:`DEFAULT_USER_AGENT`.
        getrandbits: randomness for Call-ID, tags and branches.
        call_id: reuse a Call-ID (to reproduce a capture); default: a new random one.
    """

    def __init__(
        self,
        *,
        signin: SignInAddress,
        transport: Transport,
        local_ip: str,
        local_port: int,
        hostname: str,
        user_agent: str = "",
        getrandbits: RandomBits = secrets.randbits,
        call_id: str | None = None,
    ) -> None:
        if transport is Transport.AUTO:
            raise SipUsageError("a REGISTER is sent over a concrete transport (TLS or TCP)")
        if not 0 < local_port < 65536:
            raise SipUsageError(f"local port {local_port} out of range")
        self.signin = signin
        self.transport = transport
        self.local_ip = local_ip
        self.local_port = local_port
        self.hostname = hostname
        self.user_agent = user_agent or DEFAULT_USER_AGENT
        self._rand = getrandbits
        self.call_id = call_id or new_call_id(getrandbits)
        self.epid = epid(signin.uri, hostname, local_ip)
        self.instance = sip_instance(self.epid)
        self._host = _host_for_uri(local_ip)
        self._cseq = 0

    @property
    def last_cseq(self) -> int:
        """CSeq of the last REGISTER built (0 before the first)."""
        return self._cseq

    def next_register(self, *, deregister: bool = False, tag: str | None = None,
                      branch: str | None = None) -> RegisterAttempt:
        """Build the next REGISTER (CSeq + 1, new tag and branch unless given).

        Args:
            deregister: add ``Expires: 0`` (sign out) before ``Content-Length``.
            tag: force the From-tag (capture replay); default random.
            branch: force the Via branch (capture replay); default random.
        """
        self._cseq += 1
        tag = tag or new_tag(self._rand)
        branch = branch or new_branch(self._rand)
        tp = self.transport.value
        uri = self.signin.uri
        headers: list[tuple[str, str]] = [
            ("Via", f"SIP/2.0/{tp} {self._host}:{self.local_port};branch={branch}"),
            ("From", f"<{uri}>;tag={tag};epid={self.epid}"),
            ("To", f"<{uri}>"),
            ("Max-Forwards", "70"),
            ("CSeq", f"{self._cseq} REGISTER"),
            ("User-Agent", self.user_agent),
            ("Call-ID", self.call_id),
            ("Contact", f"<sip:{self._host}:{self.local_port};transport={tp};"
                        f"ms-opaque={_MS_OPAQUE}>;methods=\"{REGISTER_METHODS}\";"
                        f"proxy=replace;+sip.instance=\"<urn:uuid:{self.instance}>\""),
            ("Supported", _SUPPORTED),
            ("Event", "registration"),
            ("Allow-Events", "presence"),
            ("ms-keep-alive", "UAC;hop-hop=yes"),
        ]
        if deregister:
            headers.append(("Expires", "0"))
        headers.append(("Content-Length", "0"))
        request = SipRequest(headers=tuple(headers), method="REGISTER",
                             uri=f"sip:{self.signin.domain}")
        return RegisterAttempt(cseq=self._cseq, tag=tag, branch=branch, request=request)


# --- 301 redirect -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RedirectTarget:
    """Where a 301 to REGISTER sends us (reference §1.6)."""

    host: str
    port: int | None
    transport: Transport


def parse_redirect_contact(response: SipResponse) -> RedirectTarget | None:
    """Read SIPE's redirect target from a 301's ``Contact: <sip:host[:port][;transport=tcp]>``.

    TLS unless ``transport=tcp``. Returns None if there is no usable Contact — including a
    host that is not a valid DNS name or IP literal (the network chose it).
    """
    contact = response.header("Contact")
    if not contact:
        return None
    start, end = contact.find("<"), contact.find(">")
    inner = contact[start + 1:end] if 0 <= start < end else contact.split(";", 1)[0]
    inner_full = contact[start + 1:end] if 0 <= start < end else contact
    if not inner.lower().startswith("sip:"):
        return None
    hostport = inner[4:].split(";", 1)[0]
    if "@" in hostport:
        hostport = hostport.rsplit("@", 1)[1]
    params = [p.strip().lower() for p in inner_full.split(";")[1:]]
    transport = Transport.TCP if "transport=tcp" in params else Transport.TLS
    port: int | None = None
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = hostport.partition(":")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            return None
        port = int(port_text)
    checked = network_host_to_ascii(host) if host else None
    if checked is None:
        return None  # empty, over-long or binary labels: not a host we can connect to
    return RedirectTarget(host=checked, port=port, transport=transport)
