"""The discovery plan: which names SIPE looks up, in which order, with which transport.

Pure data, no I/O (reference §1.1–1.4, pidgin-sipe 1.25.0 ``sip-transport.c``):

1. Lync autodiscover: ``LyncDiscoverInternal.<domain>`` then ``LyncDiscover.<domain>``, each
   over https and http (SIPE runs the two schemes in parallel).
2. SRV names for the transport (table in §1.3). Of each answer SIPE uses one record, the
   first after libpurple's sort (:func:`sipe_srv_chances`); port 0 means the transport's
   default port (:func:`sipe_connect_port`).
3. A names ``sipinternal:5061``, ``sipexternal:443``, ``sip:443`` with the user's transport
   (AUTO → TLS).
4. The bare SIP domain, port 5061 (TLS) or 5060 (TCP).

A manual Server[:Port] replaces all of it with one candidate (SIPE skips discovery).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sipe_setup.core.account import DEFAULT_PORT, AccountSettings, Transport

from .model import Candidate, CandidateSource

__all__ = [
    "AUTODISCOVER_ACCEPT",
    "LIBPURPLE_SRV_ANSWER_BYTES",
    "AddressLookup",
    "AutodiscoverStart",
    "DiscoveryPlan",
    "SrvLookup",
    "build_plan",
    "connect_transport",
    "is_inside_domain",
    "recommended_records",
    "sipe_connect_port",
    "sipe_srv_chances",
]

AUTODISCOVER_ACCEPT: Final = "application/vnd.microsoft.rtc.autodiscover+xml;v=1"

_SRV_BY_TRANSPORT: Final[dict[Transport, tuple[tuple[str, Transport], ...]]] = {
    Transport.AUTO: (("_sipinternaltls._tcp", Transport.TLS), ("_sipinternal._tcp", Transport.TCP),
                     ("_sip._tls", Transport.TLS), ("_sip._tcp", Transport.TCP)),
    Transport.TLS: (("_sipinternaltls._tcp", Transport.TLS), ("_sip._tls", Transport.TLS)),
    Transport.TCP: (("_sipinternal._tcp", Transport.TCP), ("_sip._tcp", Transport.TCP)),
}

# "One port per host": sip:5061 was dropped on purpose in SIPE (reference §1.4).
_A_FALLBACKS: Final = (("sipinternal", 5061), ("sipexternal", 443), ("sip", 443))

LIBPURPLE_SRV_ANSWER_BYTES: Final = 1024
"""libpurple 2.x (``dnssrv.c``: ``resolve``) reads an SRV answer into a 1024-byte buffer
(``queryans``): records that do not end within the first 1024 bytes of the DNS message are
never seen by SIPE."""


def sipe_connect_port(port: int, transport: Transport) -> int:
    """The port SIPE dials for an SRV record's ``port``: 0 means 5061 (TLS) or 5060 (TCP)
    (``sip-transport.c:sipe_server_register``)."""
    return port or DEFAULT_PORT[connect_transport(transport)]


def sipe_srv_chances(records: Sequence[tuple[int, int]]) -> tuple[float, ...]:
    """The chance that SIPE uses each SRV record, given as ``(priority, weight)`` in the order
    of the answer (only the records libpurple reads, see :data:`LIBPURPLE_SRV_ANSWER_BYTES`).

    SIPE takes the first record of libpurple's sorted list (``purple-dnsquery.c:
    dns_srv_response``). libpurple (``dnssrv.c``: ``resolve``, ``purple_srv_sort``,
    ``select_random_response``) builds the list by prepending each record it parses — the
    answer reversed —, sorts it stably by priority, then weight, and orders each priority by
    RFC 2782 weighted random choice. So among the records of the lowest priority:

    - if their weights add up to more than 0, record *i* comes first with the chance
      weight_i / sum (weight 0: never);
    - if all their weights are 0, the pick is not random: it is the *last* of them in the
      answer (verified against pidgin-sipe 1.25.0).

    Records of other priorities get 0. The chances add up to 1 (for a non-empty answer).
    """
    if not records:
        return ()
    best = min(priority for priority, _ in records)
    group = [i for i, (priority, _) in enumerate(records) if priority == best]
    total = sum(records[i][1] for i in group)
    chances = [0.0] * len(records)
    if total == 0:
        chances[group[-1]] = 1.0
    else:
        for i in group:
            chances[i] = records[i][1] / total
    return tuple(chances)


def connect_transport(transport: Transport) -> Transport:
    """The transport SIPE uses for autodiscover/A/domain candidates: AUTO → TLS."""
    return Transport.TLS if transport is Transport.AUTO else transport


def is_inside_domain(host: str, domain: str) -> bool:
    """The OC/Lync strict-naming rule: host is the domain or a subdomain of it."""
    host = host.lower().rstrip(".")
    domain = domain.lower().rstrip(".")
    return host == domain or host.endswith("." + domain)


@dataclass(frozen=True, slots=True)
class AutodiscoverStart:
    """One start URL of Lync autodiscover (``internal`` is tried before external)."""

    scheme: str  # "https" or "http"
    host: str  # e.g. LyncDiscoverInternal.example.test (case as SIPE writes it)
    internal: bool
    sipuri: str

    @property
    def url(self) -> str:
        # SIPE sends the raw sign-in name: no "sip:", no URL-encoding (reference §1.2).
        return f"{self.scheme}://{self.host}/?sipuri={self.sipuri}"


@dataclass(frozen=True, slots=True)
class SrvLookup:
    """One SRV name and the transport SIPE uses for its target."""

    name: str
    transport: Transport


@dataclass(frozen=True, slots=True)
class AddressLookup:
    """A name that only has to resolve (A fallbacks and the bare domain)."""

    name: str
    port: int
    transport: Transport
    source: CandidateSource


@dataclass(frozen=True, slots=True)
class DiscoveryPlan:
    """What discovery will do for one account, in SIPE's order.

    Attributes:
        manual: the single candidate when the Server field is filled; then all other
            fields are empty.
        autodiscover: start URLs, internal before external, https before http.
        srv: SRV names in SIPE order.
        addresses: A fallbacks then the bare domain, in SIPE order.
    """

    sip_domain: str
    transport: Transport
    manual: Candidate | None
    autodiscover: tuple[AutodiscoverStart, ...]
    srv: tuple[SrvLookup, ...]
    addresses: tuple[AddressLookup, ...]

    @property
    def autodiscover_hosts(self) -> tuple[str, ...]:
        """The distinct autodiscover host names, internal first (lower case, for DNS)."""
        seen: dict[str, None] = {}
        for start in self.autodiscover:
            seen.setdefault(start.host.lower(), None)
        return tuple(seen)


def build_plan(account: AccountSettings) -> DiscoveryPlan:
    """The plan for ``account`` (no I/O)."""
    domain = account.sip_domain
    if account.server is not None:
        transport = connect_transport(account.effective_transport)
        manual = Candidate(
            host=account.server.host,
            port=account.server.port_for(transport),
            transport=transport,
            source=CandidateSource.MANUAL,
            via="Server field",
            outside_domain=(not account.server.is_ip
                            and not is_inside_domain(account.server.host, domain)),
        )
        return DiscoveryPlan(sip_domain=domain, transport=account.transport, manual=manual,
                             autodiscover=(), srv=(), addresses=())

    user_transport = account.transport
    connect = connect_transport(user_transport)
    sipuri = account.signin.address
    autodiscover = tuple(
        AutodiscoverStart(scheme=scheme, host=f"{prefix}.{domain}", internal=internal,
                          sipuri=sipuri)
        for prefix, internal in (("LyncDiscoverInternal", True), ("LyncDiscover", False))
        for scheme in ("https", "http")
    )
    srv = tuple(SrvLookup(name=f"{prefix}.{domain}", transport=transport)
                for prefix, transport in _SRV_BY_TRANSPORT[user_transport])
    a_fallbacks = [AddressLookup(name=f"{prefix}.{domain}", port=port, transport=connect,
                                 source=CandidateSource.A_RECORD)
                   for prefix, port in _A_FALLBACKS]
    bare_domain = AddressLookup(name=domain, port=DEFAULT_PORT[connect], transport=connect,
                                source=CandidateSource.DOMAIN)
    addresses = (*a_fallbacks, bare_domain)
    return DiscoveryPlan(sip_domain=domain, transport=user_transport, manual=None,
                         autodiscover=autodiscover, srv=srv, addresses=addresses)


def recommended_records(domain: str) -> tuple[str, ...]:
    """What an IT department publishes so SIPE (and Lync) find the pool: zone-file lines."""
    return (
        f"_sipinternaltls._tcp.{domain}. SRV 0 0 5061 pool.{domain}.",
        f"_sip._tls.{domain}. SRV 0 0 443 sip.{domain}.",
        f"lyncdiscoverinternal.{domain}. A <internal Lync web services address>",
        f"lyncdiscover.{domain}. A <external Lync web services / reverse proxy address>",
        f"sip.{domain}. A <Edge or front-end pool address>",
    )
