"""DNS queries through dnspython's asyncio resolver, each ending in one distinct outcome.

The resolver is built once per discovery run with explicit nameservers (``ip[:port]``) or the
system configuration, no cache and no search list: every query goes to the wire and is
reported as it was answered.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset

from .model import DnsQueryResult, QueryOutcome, QueryPurpose, RecordType, SrvTarget
from .plan import LIBPURPLE_SRV_ANSWER_BYTES, sipe_srv_chances

__all__ = ["Nameserver", "ResolverSettings", "format_chance", "list_some", "make_resolver",
           "parse_nameserver", "run_query", "srv_pick_sentence"]

# More than any real SIP deployment publishes and more SRV records than fit in libpurple's
# 1024-byte answer buffer (about 52 at the very least); bounds the report.
_MAX_RECORDS = 64


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
            srv_targets = _srv_targets(rdatas, _srv_records_read(answer.response, qname))
            detail = srv_pick_sentence(srv_targets)
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


def _srv_records_read(response: dns.message.Message, qname: dns.name.Name) -> int:
    """How many SRV records of the answer (in answer order) end within libpurple's buffer.

    The answer is measured as it is usually encoded (dnspython encodes it the way common
    servers do): the question, then each record in order, owner names compressed, SRV targets
    not (RFC 2782). Records of other types (a CNAME in front) take room too.
    """
    flat = [(rrset.name, rrset.ttl, rdata) for rrset in response.answer for rdata in rrset]

    def size(count: int) -> int:
        message = dns.message.Message(id=0)
        message.question = [dns.rrset.RRset(qname, dns.rdataclass.IN, dns.rdatatype.SRV)]
        message.answer = [dns.rrset.from_rdata(name, ttl, rdata)
                          for name, ttl, rdata in flat[:count]]
        return len(message.to_wire())

    low, high = 0, len(flat)  # the most records that fit: size(low) fits, size(high + 1) not
    if size(high) > LIBPURPLE_SRV_ANSWER_BYTES:
        high -= 1
        while low < high:
            middle = (low + high + 1) // 2
            if size(middle) <= LIBPURPLE_SRV_ANSWER_BYTES:
                low = middle
            else:
                high = middle - 1
    return sum(1 for _, _, rdata in flat[:high] if rdata.rdtype == dns.rdatatype.SRV)


def _srv_targets(rdatas: Sequence[Any], read: int) -> tuple[SrvTarget, ...]:
    """SRV records with SIPE's chance of using each; the check takes the most likely one.

    ``read``: how many records (from the first, as returned) libpurple sees. The order is by
    priority, then chance (most likely first), then weight, then as returned.
    """
    seen = [(int(r.priority), int(r.weight)) for r in rdatas[:read]]
    chances = sipe_srv_chances(seen) + (0.0,) * (len(rdatas) - len(seen))
    best = max(range(len(rdatas)), key=lambda i: (chances[i], -i), default=None)
    targets = [
        SrvTarget(priority=int(r.priority), weight=int(r.weight), port=int(r.port),
                  target=r.target.to_text(omit_final_dot=True).lower() or ".",
                  sipe_uses=(i == best and chances[i] > 0), sipe_chance=chances[i],
                  sipe_reads=i < read, position=i)
        for i, r in enumerate(rdatas)
    ]
    return tuple(sorted(targets, key=lambda t: (t.priority, -t.sipe_chance, -t.weight,
                                                t.position)))


def list_some(items: Iterable[str], shown: int = 6) -> str:
    """``a, b, c`` — at most ``shown`` items, then how many more (bounds report lines)."""
    listed = list(items)
    more = f" and {len(listed) - shown} more" if len(listed) > shown else ""
    return ", ".join(listed[:shown]) + more


def format_chance(chance: float) -> str:
    """A chance for people: "86 %", "under 1 %"."""
    return "under 1 %" if 0 < chance < 0.005 else f"{chance * 100:.0f} %"


def srv_pick_sentence(targets: Sequence[SrvTarget]) -> str:
    """What SIPE does with one SRV answer, in words (for the report and the live view)."""
    if not targets:
        return ""
    unread = [t for t in targets if not t.sipe_reads]
    choices = sorted((t for t in targets if t.sipe_chance > 0),
                     key=lambda t: (-t.sipe_chance, t.position))
    others = len(targets) - len(choices)
    if len(choices) > 1:
        listed = list_some(
            f"{t.target}:{t.port} (weight {t.weight}, {format_chance(t.sipe_chance)})"
            for t in choices)
        text = (f"SIPE uses one of these, picked at random by weight each time it signs in "
                f"(libpurple, RFC 2782): {listed}")
    elif choices:
        pick = choices[0]
        tied = [t for t in targets if t.sipe_reads and t.priority == pick.priority]
        if len(targets) == 1:
            text = f"SIPE uses {pick.target}:{pick.port}"
        elif len(tied) > 1 and not any(t.weight for t in tied):
            text = (f"SIPE uses {pick.target}:{pick.port}: the records of its priority "
                    f"{pick.priority} all have weight 0, and libpurple's sort then puts the "
                    "last of them as returned first")
        elif len(tied) > 1:
            text = (f"SIPE uses {pick.target}:{pick.port}: of the records of its priority "
                    f"{pick.priority} only it has a weight above 0, and libpurple never picks "
                    "a weight-0 record beside weighted ones")
        else:
            text = (f"SIPE uses {pick.target}:{pick.port}, the record with the lowest "
                    f"priority ({pick.priority}); libpurple sorts the answer by priority")
    else:
        text = "SIPE sees none of these records"
    if others:
        text += ("; it never tries the other records of this name (a failure moves on to the "
                 "next SRV name)")
    if unread:
        text += (f". libpurple reads only the first {LIBPURPLE_SRV_ANSWER_BYTES} bytes of an "
                 f"SRV answer: SIPE sees {len(targets) - len(unread)} of its "
                 f"{len(targets)} records")
    return text + "."


async def resolve_host(
    resolver: dns.asyncresolver.Resolver, name: str, purpose: QueryPurpose
) -> tuple[DnsQueryResult, DnsQueryResult]:
    """A and AAAA for ``name`` at the same time (as getaddrinfo does)."""
    a_result, aaaa_result = await asyncio.gather(
        run_query(resolver, name, RecordType.A, purpose),
        run_query(resolver, name, RecordType.AAAA, purpose),
    )
    return a_result, aaaa_result
