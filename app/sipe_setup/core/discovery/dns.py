"""DNS queries through dnspython's asyncio resolver, each ending in one distinct outcome.

The resolver is built once per discovery run with explicit nameservers (``ip[:port]``) or the
system configuration, no cache and no search list: every query goes to the wire and is
reported as it was answered.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from .model import DnsQueryResult, QueryOutcome, QueryPurpose, RecordType, SrvTarget

__all__ = ["Nameserver", "ResolverSettings", "make_resolver", "parse_nameserver", "run_query"]

_MAX_RECORDS = 32  # more than any real SIP deployment publishes; bounds the report


@dataclass(frozen=True, slots=True)
class Nameserver:
    """A DNS server to ask: an IP literal and a UDP/TCP port."""

    address: str
    port: int = 53

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


def parse_nameserver(text: str) -> Nameserver:
    """Parse ``IP``, ``IP:PORT``, ``[IPv6]:PORT`` or a bare IPv6 literal.

    Raises:
        ValueError: with a sentence saying what is wrong.
    """
    value = text.strip()
    port_text = ""
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"“{text}” is not a nameserver; write it like 127.0.0.1:5353 "
                             "or [::1]:5353.")
        port_text = rest[1:]
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    else:
        host = value
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        raise ValueError(f"“{host}” is not an IP address; a nameserver must be given as an "
                         "IP address, like 127.0.0.1 or 127.0.0.1:5353.") from None
    port = 53
    if port_text:
        if not (port_text.isascii() and port_text.isdigit()) or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"“{port_text}” is not a valid port (1–65535).")
        port = int(port_text)
    return Nameserver(address, port)


@dataclass(frozen=True, slots=True)
class ResolverSettings:
    """How the discovery resolver behaves.

    Attributes:
        nameservers: explicit servers; empty = the system configuration (resolv.conf).
        timeout: seconds to wait for one answer from one server before retrying.
        attempts: how many times a query is sent before giving up; a query therefore gives
            up after ``timeout * attempts`` seconds (its "lifetime").
    """

    nameservers: tuple[Nameserver, ...] = ()
    timeout: float = 2.0
    attempts: int = 2

    @property
    def lifetime(self) -> float:
        return self.timeout * self.attempts


def make_resolver(settings: ResolverSettings) -> dns.asyncresolver.Resolver:
    """A resolver with no cache, no search list and the given servers and timeouts."""
    if settings.nameservers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(ns.address, ns.port)
                                for ns in settings.nameservers]
    else:
        resolver = dns.asyncresolver.Resolver(configure=True)
    resolver.cache = None
    resolver.search = []
    resolver.use_search_by_default = False
    resolver.timeout = settings.timeout
    resolver.lifetime = settings.lifetime
    return resolver


def resolver_description(resolver: dns.asyncresolver.Resolver) -> tuple[str, ...]:
    """The resolver's servers as ``ip:port`` strings for the report."""
    out = []
    for ns in resolver.nameservers:
        if isinstance(ns, dns.nameserver.AddressAndPortNameserver):
            out.append(str(Nameserver(ns.address, ns.port)))
        else:
            out.append(str(ns))
    return tuple(out)


def _rcode_outcome(errors: Sequence[Any]) -> tuple[QueryOutcome, str]:
    """Classify dnspython's NoNameservers error list (server, tcp, port, error, response)."""
    texts = []
    outcome = QueryOutcome.ERROR
    for entry in errors:
        problem = entry[3] if len(entry) > 3 else None
        server = str(entry[0]).removeprefix("Do53:").replace("@", ":")
        if isinstance(problem, str):
            texts.append(f"{server} answered {problem}")
            if problem == "SERVFAIL":
                outcome = QueryOutcome.SERVFAIL
            elif problem == "REFUSED" and outcome is not QueryOutcome.SERVFAIL:
                outcome = QueryOutcome.REFUSED
        else:
            texts.append(f"{server}: {problem!s}" if problem else f"{server}: no usable answer")
    return outcome, "; ".join(texts) or "no nameserver gave a usable answer"


async def run_query(
    resolver: dns.asyncresolver.Resolver,
    name: str,
    record_type: RecordType,
    purpose: QueryPurpose,
) -> DnsQueryResult:
    """Send one query and classify how it ended. Never raises except on cancellation."""
    started = time.monotonic()
    qname = dns.name.from_text(name)  # absolute: no search list applies
    outcome = QueryOutcome.ERROR
    detail = ""
    srv_targets: tuple[SrvTarget, ...] = ()
    addresses: tuple[str, ...] = ()
    try:
        answer = await resolver.resolve(qname, dns.rdatatype.from_text(record_type.value),
                                        search=False)
    except dns.resolver.NXDOMAIN:
        outcome, detail = QueryOutcome.NXDOMAIN, "the name does not exist"
    except dns.resolver.NoAnswer:
        outcome, detail = (QueryOutcome.NO_ANSWER,
                           f"the name exists but has no {record_type.value} record")
    except dns.resolver.NoNameservers as exc:
        outcome, detail = _rcode_outcome(exc.kwargs.get("errors") or ())
    except dns.exception.Timeout:
        outcome = QueryOutcome.TIMEOUT
        detail = (f"no answer within {resolver.lifetime:g} s "
                  f"({resolver.timeout:g} s per try)")
    except dns.resolver.YXDOMAIN:
        outcome, detail = QueryOutcome.ERROR, "the server answered YXDOMAIN"
    except (dns.exception.DNSException, OSError, ValueError) as exc:
        outcome, detail = QueryOutcome.ERROR, f"{type(exc).__name__}: {exc}"
    else:
        outcome = QueryOutcome.ANSWER
        rrset = answer.rrset
        rdatas = list(rrset)[:_MAX_RECORDS] if rrset is not None else []
        if record_type is RecordType.SRV:
            srv_targets = _srv_targets(rdatas)
            detail = ("SIPE uses only the first record of the answer as returned "
                      "and ignores priority and weight")
        else:
            addresses = tuple(str(r.address) for r in rdatas if hasattr(r, "address"))
        if not rdatas:
            outcome = QueryOutcome.NO_ANSWER
            detail = f"the name exists but has no {record_type.value} record"
    return DnsQueryResult(
        name=name.lower().rstrip("."), record_type=record_type, purpose=purpose,
        outcome=outcome, srv_targets=srv_targets, addresses=addresses, detail=detail,
        elapsed_ms=(time.monotonic() - started) * 1000,
    )


def _srv_targets(rdatas: Sequence[Any]) -> tuple[SrvTarget, ...]:
    """SRV records in RFC 2782 order; the one SIPE uses (first as returned) is flagged.

    The order is deterministic: priority ascending, then weight descending (the record a
    weighted pick favours), then as returned. RFC 2782's weighted random choice among equal
    priorities is a per-connection decision, not something to print.
    """
    as_returned = [
        SrvTarget(priority=int(r.priority), weight=int(r.weight), port=int(r.port),
                  target=r.target.to_text(omit_final_dot=True).lower() or ".",
                  sipe_uses=(i == 0))
        for i, r in enumerate(rdatas)
    ]
    indexed = sorted(enumerate(as_returned), key=lambda it: (it[1].priority, -it[1].weight, it[0]))
    return tuple(t for _, t in indexed)


async def resolve_host(
    resolver: dns.asyncresolver.Resolver, name: str, purpose: QueryPurpose
) -> tuple[DnsQueryResult, DnsQueryResult]:
    """A and AAAA for ``name`` at the same time (as getaddrinfo does)."""
    a_result, aaaa_result = await asyncio.gather(
        run_query(resolver, name, RecordType.A, purpose),
        run_query(resolver, name, RecordType.AAAA, purpose),
    )
    return a_result, aaaa_result
