"""DNS queries, each ending in one distinct outcome, sent the way the system's resolver sends them.

Queries go out through dnspython's message and transport functions, but the retry loop is
glibc's (``res_send.c``), so that the check gives up on a silent name exactly when Pidgin's
``getaddrinfo``/``res_query`` would:

- the system configuration is ``/etc/resolv.conf`` (then ``RES_OPTIONS``) as glibc reads it:
  at most 3 nameservers, ``timeout:n`` (default 5 s, at most 30), ``attempts:n`` (default 2,
  at most 5), ``rotate``, ``edns0``;
- each attempt asks every nameserver in turn; server *i* > 0 waits
  ``(timeout << i) / count`` whole seconds (at least 1), as glibc computes it; ``rotate``
  starts each query at the next server;
- SERVFAIL, REFUSED and NOTIMP move on to the next server; an answer (records, NXDOMAIN or
  none of that type) ends the query; a truncated UDP answer is asked again over TCP;
- no pause between tries and none after the last one (dnspython's own loop adds a growing
  backoff: 0.1 s, 0.2 s … before giving up).

With explicit nameservers (``--nameserver``) the documented defaults apply: 2 s per try,
2 tries in all, going round the servers. No cache, no search list: every query goes to the
wire and is reported as it was answered.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import dns.asyncbackend
import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset

from .model import DnsQueryResult, QueryOutcome, QueryPurpose, RecordType, SrvTarget
from .plan import LIBPURPLE_SRV_ANSWER_BYTES, sipe_srv_chances

__all__ = ["AppliedResolverSettings", "Nameserver", "Resolver", "ResolverSettings",
           "format_chance", "list_some", "make_resolver", "parse_nameserver", "read_resolv_conf",
           "run_query", "srv_pick_sentence"]

# More than any real SIP deployment publishes and more SRV records than fit in libpurple's
# 1024-byte answer buffer (about 52 at the very least); bounds the report.
_MAX_RECORDS = 64

# glibc (resolv/resolv.h): RES_TIMEOUT, RES_DFLRETRY, RES_MAXRETRANS, RES_MAXRETRY, MAXNS
GLIBC_TIMEOUT: Final = 5
GLIBC_ATTEMPTS: Final = 2
_GLIBC_MAX_TIMEOUT: Final = 30
_GLIBC_MAX_ATTEMPTS: Final = 5
_GLIBC_MAX_NAMESERVERS: Final = 3
# ``--nameserver``: the documented defaults (README, "discover")
EXPLICIT_TIMEOUT: Final = 2.0
EXPLICIT_ATTEMPTS: Final = 2
RESOLV_CONF: Final = "/etc/resolv.conf"


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
        timeout: seconds to wait for one answer from one server; None = the system's
            (resolv.conf ``timeout:``, glibc's 5 s without one) or, with explicit
            nameservers, 2 s.
        attempts: None = the system's (``attempts:``, glibc's 2) or, with explicit
            nameservers, 2. System: rounds over all servers; explicit: tries in all.
        rotate: None = the system's (``options rotate``); explicit nameservers: False.
        resolv_conf: the file the system configuration is read from.
    """

    nameservers: tuple[Nameserver, ...] = ()
    timeout: float | None = None
    attempts: int | None = None
    rotate: bool | None = None
    resolv_conf: str = RESOLV_CONF

    @property
    def lifetime(self) -> float:
        """How long one query may take before it gives up, all tries included."""
        return self.applied().lifetime

    def applied(self) -> AppliedResolverSettings:
        """The settings in force: explicit values over the system's (reads resolv.conf)."""
        if self.nameservers:
            base = AppliedResolverSettings(
                nameservers=self.nameservers, timeout=EXPLICIT_TIMEOUT,
                attempts=EXPLICIT_ATTEMPTS, rotate=False, glibc=False,
                source="the nameservers given, with the documented defaults")
            explicit_source = "the nameservers given, with the timeout and attempts set"
        else:
            base = read_resolv_conf(self.resolv_conf)
            explicit_source = f"{base.source}, with the timeout and attempts set"
        if self.timeout is None and self.attempts is None and self.rotate is None:
            return base
        return replace(base, timeout=base.timeout if self.timeout is None else self.timeout,
                       attempts=base.attempts if self.attempts is None else self.attempts,
                       rotate=base.rotate if self.rotate is None else self.rotate,
                       source=explicit_source)


@dataclass(frozen=True, slots=True)
class AppliedResolverSettings:
    """The resolver settings a run used, and where they came from (for the report).

    ``glibc``: the retry loop is glibc's (attempts are rounds over every server, per-server
    timeouts as ``res_send.c`` computes them); else ``attempts`` tries in all, round the
    servers, ``timeout`` each.
    """

    nameservers: tuple[Nameserver, ...]
    timeout: float
    attempts: int
    rotate: bool
    glibc: bool
    source: str
    edns0: bool = False
    notes: tuple[str, ...] = field(default=())

    def server_timeouts(self) -> tuple[float, ...]:
        """The wait for an answer from each server (by index), as glibc computes it."""
        count = len(self.nameservers)
        if not self.glibc:
            return (self.timeout,) * count
        out = []
        for index in range(count):
            seconds = int(self.timeout) << index
            if index > 0:
                seconds //= count
            out.append(float(max(1, seconds)))
        return tuple(out)

    def schedule(self, offset: int = 0) -> tuple[tuple[int, float], ...]:
        """Every try of one query, in order: (server index, seconds to wait for it)."""
        count = len(self.nameservers)
        if count == 0:
            return ()
        if not self.glibc:
            return tuple(((offset + k) % count, self.timeout) for k in range(self.attempts))
        waits = self.server_timeouts()
        return tuple(((offset + shift) % count, waits[(offset + shift) % count])
                     for _ in range(self.attempts) for shift in range(count))

    @property
    def lifetime(self) -> float:
        """The longest one query takes: every try waited out."""
        return sum(wait for _, wait in self.schedule())

    def describe(self) -> str:
        """One line for the report: servers, timeout, attempts, rotate, and the source."""
        servers = ", ".join(str(ns) for ns in self.nameservers) or "none"
        tries = (f"{self.attempts} round{'s' if self.attempts != 1 else ''} over the servers"
                 if self.glibc and len(self.nameservers) > 1 else
                 f"{self.attempts} tr{'ies' if self.attempts != 1 else 'y'}")
        rotate = ", rotate" if self.rotate else ""
        text = (f"{servers}; {self.timeout:g} s per try, {tries}{rotate} (a silent name is "
                f"given up after {self.lifetime:g} s); from {self.source}")
        return text + "".join(f"; {note}" for note in self.notes)

    def to_json(self) -> dict[str, object]:
        return {"nameservers": [str(ns) for ns in self.nameservers], "timeout": self.timeout,
                "attempts": self.attempts, "rotate": self.rotate, "retry_loop":
                "glibc" if self.glibc else "round-robin", "give_up_after": self.lifetime,
                "source": self.source, "notes": list(self.notes)}


def _option_number(value: str) -> int | None:
    digits = ""
    for char in value:  # glibc reads the number with atoi: leading digits
        if not char.isdigit():
            break
        digits += char
    return int(digits) if digits else None


def read_resolv_conf(path: str = RESOLV_CONF, *,
                     environ: dict[str, str] | None = None) -> AppliedResolverSettings:
    """The system's resolver settings as glibc's ``res_init`` reads them.

    ``nameserver`` lines (the first 3 valid ones; none = 127.0.0.1), ``options`` lines
    (``timeout:``, ``attempts:``, ``rotate``, ``edns0``; later ones win), then the
    ``RES_OPTIONS`` environment variable. Where there is no resolv.conf (Windows, macOS
    without one) the servers come from dnspython's reading of the system, with glibc's
    defaults.
    """
    env = os.environ if environ is None else environ
    timeout, attempts, rotate, edns0 = GLIBC_TIMEOUT, GLIBC_ATTEMPTS, False, False
    servers: list[Nameserver] = []
    notes: list[str] = []
    options_seen = False
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = None
    option_lines: list[str] = []
    if text is not None:
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            keyword, _, rest = line.replace("\t", " ").partition(" ")
            rest = rest.strip()
            if keyword == "nameserver" and len(servers) < _GLIBC_MAX_NAMESERVERS:
                address = rest.split()[0].split("%")[0] if rest.split() else ""
                try:
                    servers.append(Nameserver(str(ipaddress.ip_address(address))))
                except ValueError:
                    notes.append(f"nameserver “{address}” ignored (not an IP address)")
            elif keyword == "options":
                options_seen = True
                option_lines.append(rest)
    if env.get("RES_OPTIONS"):
        option_lines.append(env["RES_OPTIONS"])
    for line in option_lines:
        for option in line.split():
            name, _, value = option.partition(":")
            number = _option_number(value)
            if name == "timeout" and number is not None:
                timeout = min(number, _GLIBC_MAX_TIMEOUT)
            elif name == "attempts" and number is not None:
                attempts = min(number, _GLIBC_MAX_ATTEMPTS)
            elif name == "rotate":
                rotate = True
            elif name == "edns0":
                edns0 = True
    if attempts < 1:
        notes.append("attempts:0 read as 1 (glibc would not ask at all)")
        attempts = 1
    if text is None:
        servers = _platform_nameservers()
        source = "the system's DNS configuration, with glibc's defaults"
    else:
        if not servers:
            servers = [Nameserver("127.0.0.1")]
            notes.append("no nameserver line: 127.0.0.1, as glibc")
        if options_seen or env.get("RES_OPTIONS"):
            source = path + (" and RES_OPTIONS" if env.get("RES_OPTIONS") else "")
        else:
            source = f"glibc's defaults ({path} has no options line)"
    return AppliedResolverSettings(nameservers=tuple(servers), timeout=float(timeout),
                                   attempts=attempts, rotate=rotate, glibc=True, source=source,
                                   edns0=edns0, notes=tuple(notes))


def _platform_nameservers() -> list[Nameserver]:
    """Nameservers where there is no resolv.conf (dnspython reads the registry on Windows)."""
    try:
        configured = dns.resolver.Resolver(configure=True).nameservers
    except (dns.resolver.NoResolverConfiguration, OSError):
        return [Nameserver("127.0.0.1")]
    out = []
    for ns in configured:
        if isinstance(ns, dns.nameserver.AddressAndPortNameserver):
            out.append(Nameserver(ns.address, ns.port))
        elif isinstance(ns, str):
            out.append(Nameserver(ns))
    return out[:_GLIBC_MAX_NAMESERVERS] or [Nameserver("127.0.0.1")]


class Resolver:
    """One discovery run's resolver: the applied settings, and glibc's rotation counter."""

    def __init__(self, settings: AppliedResolverSettings) -> None:
        self.settings = settings
        self._servers = [dns.nameserver.Do53Nameserver(ns.address, ns.port)
                         for ns in settings.nameservers]
        # glibc starts ``rotate`` at a random server, then takes the next one per query.
        self._next_offset = random.randrange(len(self._servers)) if self._servers else 0

    @property
    def timeout(self) -> float:
        return self.settings.timeout

    @property
    def lifetime(self) -> float:
        return self.settings.lifetime

    def _offset(self) -> int:
        if not self.settings.rotate or len(self._servers) <= 1:
            return 0
        offset = self._next_offset
        self._next_offset = (offset + 1) % len(self._servers)
        return offset

    async def exchange(self, request: dns.message.QueryMessage
                       ) -> tuple[dns.message.Message | None, list[tuple[str, str]]]:
        """The first final answer to ``request`` (None when every try failed), and what each
        failed try met: (server, problem) with problem an rcode name, "timeout" or an error."""
        backend = dns.asyncbackend.get_default_backend()
        problems: list[tuple[str, str]] = []
        for index, wait in self.settings.schedule(self._offset()):
            server = self._servers[index]
            where = str(self.settings.nameservers[index])
            try:
                try:
                    response = await server.async_query(request, timeout=wait, source=None,
                                                        source_port=0, max_size=False,
                                                        backend=backend)
                except dns.message.Truncated:
                    response = await server.async_query(request, timeout=wait, source=None,
                                                        source_port=0, max_size=True,
                                                        backend=backend)
            except dns.exception.Timeout:
                problems.append((where, "timeout"))
                continue
            except (dns.exception.DNSException, OSError, EOFError, ValueError) as exc:
                problems.append((where, f"{type(exc).__name__}: {exc}"))
                continue
            rcode = response.rcode()
            if rcode in (dns.rcode.SERVFAIL, dns.rcode.REFUSED, dns.rcode.NOTIMP):
                problems.append((where, dns.rcode.to_text(rcode)))
                continue
            return response, problems
        return None, problems


def make_resolver(settings: ResolverSettings) -> Resolver:
    """The resolver of one run: the settings in force, no cache, no search list."""
    return Resolver(settings.applied())


def resolver_description(resolver: Resolver) -> tuple[str, ...]:
    """The resolver's servers as ``ip:port`` strings for the report."""
    return tuple(str(ns) for ns in resolver.settings.nameservers)


def _failure_outcome(problems: Sequence[tuple[str, str]],
                     settings: AppliedResolverSettings) -> tuple[QueryOutcome, str]:
    """How a query ended when no try got a final answer."""
    if problems and all(problem == "timeout" for _, problem in problems):
        per_try = ", ".join(sorted({f"{wait:g} s" for wait in settings.server_timeouts()}))
        return QueryOutcome.TIMEOUT, (f"no answer within {settings.lifetime:g} s "
                                      f"({per_try} per try, {len(problems)} tries)")
    outcome = QueryOutcome.ERROR
    texts = []
    for server, problem in problems:
        if problem == "timeout":
            texts.append(f"{server}: no answer")
            continue
        if problem in ("SERVFAIL", "REFUSED", "NOTIMP"):
            texts.append(f"{server} answered {problem}")
            if problem == "SERVFAIL":
                outcome = QueryOutcome.SERVFAIL
            elif problem == "REFUSED" and outcome is not QueryOutcome.SERVFAIL:
                outcome = QueryOutcome.REFUSED
        else:
            texts.append(f"{server}: {problem}")
    return outcome, "; ".join(dict.fromkeys(texts)) or "no nameserver gave a usable answer"


async def run_query(
    resolver: Resolver,
    name: str,
    record_type: RecordType,
    purpose: QueryPurpose,
) -> DnsQueryResult:
    """Send one query and classify how it ended. Never raises except on cancellation."""
    started = time.monotonic()
    qname = dns.name.from_text(name)  # absolute: no search list applies
    rdtype = dns.rdatatype.from_text(record_type.value)
    outcome = QueryOutcome.ERROR
    detail = ""
    srv_targets: tuple[SrvTarget, ...] = ()
    addresses: tuple[str, ...] = ()
    request = dns.message.make_query(qname, rdtype, dns.rdataclass.IN,
                                     use_edns=0 if resolver.settings.edns0 else None)
    response, problems = await resolver.exchange(request)
    rcode = response.rcode() if response is not None else None
    if response is None:
        outcome, detail = _failure_outcome(problems, resolver.settings)
    elif rcode == dns.rcode.NXDOMAIN:
        outcome, detail = QueryOutcome.NXDOMAIN, "the name does not exist"
    elif rcode == dns.rcode.YXDOMAIN:
        outcome, detail = QueryOutcome.ERROR, "the server answered YXDOMAIN"
    elif rcode is not None and rcode != dns.rcode.NOERROR:
        outcome, detail = QueryOutcome.ERROR, f"the server answered {dns.rcode.to_text(rcode)}"
    else:
        try:
            if not isinstance(response, dns.message.QueryMessage):
                raise ValueError("the answer is not a query response")
            answer = dns.resolver.Answer(qname, rdtype, dns.rdataclass.IN, response)
        except (dns.exception.DNSException, ValueError) as exc:
            answer = None
            outcome, detail = QueryOutcome.ERROR, f"{type(exc).__name__}: {exc}"
        rrset = answer.rrset if answer is not None else None
        rdatas = list(rrset)[:_MAX_RECORDS] if rrset is not None else []
        if answer is not None and not rdatas:
            outcome = QueryOutcome.NO_ANSWER
            detail = f"the name exists but has no {record_type.value} record"
        elif rdatas:
            outcome = QueryOutcome.ANSWER
            if record_type is RecordType.SRV:
                srv_targets = _srv_targets(rdatas, _srv_records_read(response, qname))
                detail = srv_pick_sentence(srv_targets)
            else:
                addresses = tuple(str(r.address) for r in rdatas if hasattr(r, "address"))
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
    resolver: Resolver, name: str, purpose: QueryPurpose
) -> tuple[DnsQueryResult, DnsQueryResult]:
    """A and AAAA for ``name`` at the same time (as getaddrinfo does)."""
    a_result, aaaa_result = await asyncio.gather(
        run_query(resolver, name, RecordType.A, purpose),
        run_query(resolver, name, RecordType.AAAA, purpose),
    )
    return a_result, aaaa_result
