"""Connect to one candidate server (TCP, and the TLS handshake for TLS), address by address.

SIPE connects through libpurple: ``purple_proxy_connect`` for TCP, ``purple_ssl_connect``
(which uses it for the TCP part) for TLS. libpurple resolves the name with ``getaddrinfo``
(``AF_UNSPEC``, ``SOCK_STREAM``, ``AI_ADDRCONFIG``; ``dnsquery.c``) and dials the addresses in
the order it returns them until one accepts the TCP connection (``proxy.c``: ``try_connect``,
``purple_proxy_connect_data_disconnect``). A TLS handshake that fails, or a certificate that is
refused, after the TCP connection was made ends that server: SIPE does not try its other
addresses then.

The check does the same: with the system resolver (no nameservers given) it asks
``getaddrinfo`` exactly so — same order as Pidgin, including ``/etc/hosts`` and the system's
address sorting (RFC 6724) —; with explicit nameservers it uses their answers in the order
given (A before AAAA).

The work is a *probe* (:func:`probe_server`) that changes nothing in the check's context, so
that the dialer (:mod:`sipe_setup.core.checkup.dialer`) can run the probes of SIPE's next
servers while a higher-priority one is still being tried; the step then only tells what its
server's probe found. Inside one probe the addresses are dialled the same way: staggered,
used in getaddrinfo's order (a blackholed first address costs one timeout, not one each).
Where a SYN is never answered, the step says how long Pidgin would wait there: libpurple has
no connect timeout, the kernel's gives up after about 2 minutes (Linux).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass, field

from sipe_setup.core.account import Transport
from sipe_setup.core.advice import advice
from sipe_setup.core.checkup.context import CheckContext
from sipe_setup.core.checkup.diagnose import connect_advice
from sipe_setup.core.checkup.flow import Step, StepLog, StepOutcome, TryNextServer
from sipe_setup.core.discovery import Candidate, CandidateSource, RecordType
from sipe_setup.core.discovery.dns import (
    format_chance,
    list_some,
    make_resolver,
    resolve_host,
)
from sipe_setup.core.discovery.model import QueryPurpose
from sipe_setup.core.discovery.plan import sipe_connect_port
from sipe_setup.core.net.dialer import StaggeredDialer, kernel_connect_give_up, seconds_text
from sipe_setup.core.steps import SelectedServer, StepId
from sipe_setup.core.transport import (
    CertificateInfo,
    CertificateRejected,
    ConnectFailed,
    SipConnection,
    TcpStream,
    connect_tcp,
    finish_sip_connection,
    open_sip_connection,
)

__all__ = ["ConnectProbe", "ConnectStep", "cancel_prefetches", "host_addresses",
           "open_connection", "prefetch_addresses", "probe_server", "resolve_address"]

# Failures of the TCP connect itself: libpurple moves on to the next address of the name.
_NEXT_ADDRESS_KINDS = frozenset({"refused", "timeout", "unreachable"})


def _uses_system_resolver(ctx: CheckContext) -> bool:
    return not ctx.options.discovery.resolver.nameservers


def _ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _getaddrinfo(host: str) -> tuple[tuple[str, ...], str]:
    """libpurple's lookup of ``host``: (addresses in getaddrinfo's order, why none)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, None, family=socket.AF_UNSPEC, type=socket.SOCK_STREAM,
            flags=socket.AI_ADDRCONFIG)
    except socket.gaierror as exc:
        return (), exc.strerror or str(exc)
    except (OSError, UnicodeError, ValueError) as exc:
        return (), str(exc) or type(exc).__name__
    return tuple(str(info[4][0]) for info in infos), ""


def prefetch_addresses(ctx: CheckContext, host: str) -> None:
    """Start the system resolver's lookup of ``host`` now (an SRV answer just named it), so
    that it runs beside discovery's own lookups instead of after them. Only where the check
    uses the system resolver, as Pidgin does."""
    if not _uses_system_resolver(ctx) or _ip_literal(host) or not host or host == ".":
        return
    key = host.lower().rstrip(".")
    if key not in ctx.system_lookups:
        ctx.system_lookups[key] = asyncio.ensure_future(_getaddrinfo(host))


def cancel_prefetches(ctx: CheckContext) -> None:
    """The check is over: stop waiting for lookups nobody needs any more."""
    for task in ctx.system_lookups.values():
        task.cancel()


async def _system_addresses(ctx: CheckContext, host: str) -> tuple[tuple[str, ...], str]:
    """(addresses in getaddrinfo's order, why none) — libpurple's lookup, bounded in time."""
    limit = max(ctx.options.connect_timeout, ctx.options.discovery.resolver.lifetime)
    prefetch_addresses(ctx, host)
    task = ctx.system_lookups[host.lower().rstrip(".")]
    try:
        return await asyncio.wait_for(asyncio.shield(task), limit)
    except TimeoutError:
        return (), f"no answer from the system resolver within {limit:g} s"


async def _dns_addresses(ctx: CheckContext, host: str) -> tuple[str, ...]:
    resolver = make_resolver(ctx.options.discovery.resolver)
    a_result, aaaa_result = await resolve_host(resolver, host, QueryPurpose.CONNECT_HOST)
    return (*a_result.addresses, *aaaa_result.addresses)


async def host_addresses(ctx: CheckContext, host: str) -> tuple[str, ...]:
    """The addresses of ``host`` in the order SIPE (libpurple) dials them; () when it does not
    resolve. An IP literal is returned as it is.

    System resolver: ``getaddrinfo`` as libpurple calls it. Explicit nameservers: their A,
    then AAAA answers, as given.
    """
    if _ip_literal(host):
        return (host,)
    if _uses_system_resolver(ctx):
        return (await _system_addresses(ctx, host))[0]
    return await _dns_addresses(ctx, host)


async def resolve_address(ctx: CheckContext, host: str) -> str | None:
    """The first address of ``host`` (see :func:`host_addresses`)."""
    addresses = await host_addresses(ctx, host)
    return addresses[0] if addresses else None


async def open_connection(ctx: CheckContext, candidate: Candidate, address: str,
                          trusted: frozenset[str]) -> SipConnection:
    """Open (and remember, for the final clean-up) a SIP connection.

    Raises:
        CertificateRejected: TLS certificate not trusted and not accepted before.
        ConnectFailed: anything else that stops the connection.
    """
    options = ctx.options
    conn = await open_sip_connection(
        candidate.host, candidate.port, candidate.transport, connect_to=address,
        ca_file=options.ca_file, trusted_fingerprints=trusted,
        connect_timeout=options.connect_timeout, tls_timeout=options.connect_timeout,
        tls=ctx.tls_contexts())
    ctx.connections.append(conn)
    return conn


def mark_connected(ctx: CheckContext, conn: SipConnection, started: float) -> None:
    """Record the server as the one the sign-in goes to."""
    ctx.timings.setdefault("connect", ctx.since_start() - started)
    ctx.current.connection = conn
    ctx.selected = SelectedServer(ctx.current.candidate, conn.peer_ip)


def srv_choice_lines(ctx: CheckContext, candidate: Candidate) -> list[str]:
    """What SIPE picks from the SRV answer ``candidate`` came from, when that needs saying:
    a random pick ("one of these"), or port 0."""
    if candidate.source is not CandidateSource.SRV or ctx.discovery is None:
        return []
    query = next((q for q in ctx.discovery.queries
                  if q.name == candidate.via and q.record_type is RecordType.SRV), None)
    if query is None:
        return []
    lines = []
    choices = query.sipe_srv_choices
    if len(choices) > 1:
        listed = list_some(
            f"{t.target}:{sipe_connect_port(t.port, candidate.transport)} "
            f"({format_chance(t.sipe_chance)})" for t in choices)
        likely = ("the most likely one" if choices[0].sipe_chance > choices[1].sipe_chance
                  else "one of the most likely")
        lines.append(f"SIPE picks one of these at random (by SRV weight) at each sign-in: "
                     f"{listed}. The check tries {candidate.host}, {likely}.")
    pick = query.sipe_srv_target
    if pick is not None and pick.port == 0:
        lines.append(f"The SRV record gives port 0: SIPE then uses {candidate.port} "
                     f"(the {candidate.transport.value.upper()} default).")
    return lines


def _failure_text(ctx: CheckContext, exc: ConnectFailed, *, short: bool = False) -> str:
    if exc.kind == "refused":
        return "refused the connection"
    if exc.kind == "timeout":
        text = f"no answer within {ctx.options.connect_timeout:g} s"
        return text if short else (f"{text}; Pidgin would wait "
                                   f"{seconds_text(kernel_connect_give_up())} here (it has no "
                                   "connect timeout of its own: the system gives up on an "
                                   "unanswered connection attempt)")
    return str(exc).rstrip(".")


@dataclass(slots=True)
class ConnectProbe:
    """What connecting to one server found (nothing in the check's context is changed).

    Attributes:
        lines: the connect step's detail lines, in order.
        address: the address that took the TCP connection (or the last one tried).
        connection: the SIP connection, when TCP (and TLS with a trusted certificate) worked.
        rejected_certificate: TLS worked but the certificate is refused (the next step asks).
        tls_failure: TCP worked, the TLS handshake did not (SIPE tries no other address).
        failure: no address took the connection (SIPE moves on to its next server).
        summary: the step's one-line summary when it passes.
        elapsed: seconds the probe took.
        sipe_wait: seconds Pidgin would spend on this server's unanswered connection
            attempts (the kernel's give-up time for each; refusals cost nothing).
    """

    candidate: Candidate
    lines: list[str] = field(default_factory=list)
    address: str = ""
    connection: SipConnection | None = None
    rejected_certificate: CertificateInfo | None = None
    tls_failure: ConnectFailed | None = None
    failure: TryNextServer | None = None
    summary: str = ""
    elapsed: float = 0.0
    sipe_wait: float = 0.0

    @property
    def reached(self) -> bool:
        """The server took a connection that the sign-in can go on with (maybe after the
        user's word on its certificate)."""
        return self.connection is not None or self.rejected_certificate is not None

    async def close(self) -> None:
        """Close the connection (a probe the check did not use)."""
        if self.connection is not None:
            await self.connection.close()


async def _probe_addresses(ctx: CheckContext, candidate: Candidate,
                           lines: list[str]) -> tuple[str, ...]:
    host = candidate.host
    if _ip_literal(host):
        return (host,)
    if _uses_system_resolver(ctx):
        addresses, why = await _system_addresses(ctx, host)
        if addresses:
            lines.append(f"{host} → {', '.join(addresses)} (system resolver, in the order "
                         "Pidgin tries them)")
        elif candidate.addresses:
            lines.append(f"DNS gives {host} the address(es) {', '.join(candidate.addresses)}, "
                         f"but the system resolver, which Pidgin uses, does not resolve it "
                         f"({why}).")
        return addresses
    if candidate.addresses and candidate.source is not CandidateSource.MANUAL:
        addresses = candidate.addresses
    else:  # a typed server or a redirect target: every address, not just the first
        addresses = await _dns_addresses(ctx, host) or candidate.addresses
    if addresses:
        servers = ", ".join(str(ns) for ns in ctx.options.discovery.resolver.nameservers)
        lines.append(f"{host} → {', '.join(addresses)} (from {servers}, as answered; Pidgin's "
                     "system resolver may sort them differently)")
    return addresses


async def _dial(ctx: CheckContext, candidate: Candidate, addresses: tuple[str, ...],
                probe: ConnectProbe) -> tuple[int, TcpStream] | None:
    """The TCP connect, address by address in SIPE's order (staggered); the first that
    connects in that order, or None (``probe.failure`` set)."""
    port, kind = candidate.port, candidate.transport.value.upper()
    timeout, give_up = ctx.options.connect_timeout, kernel_connect_give_up()

    async def address_at(index: int) -> str | None:
        return addresses[index] if index < len(addresses) else None

    async def connect(address: str) -> TcpStream:
        return await connect_tcp(candidate.host, port, connect_to=address, timeout=timeout)

    async def close(stream: TcpStream) -> None:
        await stream.close()

    dialer: StaggeredDialer[str, TcpStream] = StaggeredDialer(
        address_at, connect, stagger=ctx.options.connect_stagger, discard=close)
    failures: list[tuple[str, ConnectFailed]] = []
    try:
        for number, address in enumerate(addresses, 1):
            probe.address = address
            where = f"{address} port {port} ({kind})"
            try:
                stream = await dialer.result(number - 1)
            except ConnectFailed as exc:
                if exc.kind == "timeout":
                    probe.sipe_wait += give_up
                if exc.kind not in _NEXT_ADDRESS_KINDS:
                    probe.lines.append(f"{where}: {_failure_text(ctx, exc)}")
                    probe.failure = TryNextServer(
                        connect_advice(candidate, exc, ctx.account.transport), str(exc))
                    return None
                failures.append((address, exc))
                more = "; SIPE tries the next address" if number < len(addresses) else ""
                probe.lines.append(f"{where}: {_failure_text(ctx, exc)}{more}")
                continue
            assert stream is not None
            dialer.take(number - 1)
            return number, stream
    finally:
        await dialer.aclose()
    last = failures[-1][1]
    if len(failures) > 1:
        summary = (f"no address of {candidate.host} accepted the connection: " + "; ".join(
            f"{address} {_failure_text(ctx, exc, short=True)}" for address, exc in failures))
    else:
        summary = str(last)
    probe.failure = TryNextServer(connect_advice(candidate, last, ctx.account.transport),
                                  summary)
    return None


async def probe_server(ctx: CheckContext, candidate: Candidate) -> ConnectProbe:
    """Connect to ``candidate`` as SIPE would (addresses, TCP, TLS); never raises for what
    the network does. Reads the context, changes nothing in it."""
    started = time.monotonic()
    probe = ConnectProbe(candidate)
    try:
        await _probe(ctx, candidate, probe)
    finally:
        probe.elapsed = time.monotonic() - started
    return probe


async def _probe(ctx: CheckContext, candidate: Candidate, probe: ConnectProbe) -> None:
    addresses = await _probe_addresses(ctx, candidate, probe.lines)
    if not addresses:
        probe.failure = TryNextServer(advice("connect-dns", host=candidate.host),
                                      f"{candidate.host} does not resolve")
        return
    dialled = await _dial(ctx, candidate, addresses, probe)
    if dialled is None:
        return
    number, stream = dialled
    where = f"{stream.address} port {candidate.port} ({candidate.transport.value.upper()})"
    options = ctx.options
    try:
        conn = await finish_sip_connection(
            stream, candidate.transport, tls=ctx.tls_contexts(),
            trusted_fingerprints=options.trusted_fingerprints,
            connect_timeout=options.connect_timeout, tls_timeout=options.connect_timeout)
    except CertificateRejected as rejected:
        probe.rejected_certificate = rejected.certificate
        probe.lines.append(f"{where}: connected; the certificate is checked next")
        probe.summary = f"connected to {stream.address}"
        return
    except ConnectFailed as exc:  # TCP worked; the TLS step explains
        probe.tls_failure = exc
        probe.lines.append(f"{where}: connected; the TLS handshake failed (SIPE does not try "
                           "other addresses after that)")
        probe.summary = f"connected to {stream.address}"
        return
    probe.connection = conn
    probe.lines.append(f"{where}: connected")
    if conn.transport is Transport.TCP:
        probe.lines.append("Plain TCP: this connection is not encrypted.")
    which = f" (address {number} of {len(addresses)})" if len(addresses) > 1 else ""
    probe.summary = (f"connected to {conn.peer_ip}:{conn.port} from "
                     f"{conn.local_ip}:{conn.local_port}{which}")


def _sipe_wait_line(ctx: CheckContext) -> str:
    sipe = ctx.timings.get("sipe_connect_wait", 0.0)
    return (f"Pidgin would get here only after about {seconds_text(sipe)} of unanswered "
            "connection attempts, one after the other; the check is here after "
            f"{seconds_text(ctx.since_start())} (it dials SIPE's servers and addresses at the "
            "same time, and still uses the first in SIPE's order that answers).")


class ConnectStep(Step):
    """TCP connect, each address of the name in SIPE's order until one answers; a refused
    certificate or failed TLS handshake is left to the next step."""

    id = StepId.CONNECT

    def title(self, ctx: CheckContext) -> str:
        return f"Connect to {ctx.current.candidate}"

    async def run(self, ctx: CheckContext, log: StepLog) -> StepOutcome:
        attempt = ctx.current
        candidate = attempt.candidate
        for line in srv_choice_lines(ctx, candidate):
            log(line)
        probe = await (attempt.probe if attempt.probe is not None
                       else probe_server(ctx, candidate))
        for line in probe.lines:
            log(line)
        attempt.address = probe.address
        if probe.connection is not None:
            ctx.connections.append(probe.connection)  # the check owns it now
        if probe.sipe_wait:
            ctx.timings["sipe_connect_wait"] = (ctx.timings.get("sipe_connect_wait", 0.0)
                                                + probe.sipe_wait)
        if probe.failure is not None:
            raise probe.failure
        if ctx.timings.get("sipe_connect_wait"):
            log(_sipe_wait_line(ctx))
        attempt.rejected_certificate = probe.rejected_certificate
        attempt.tls_failure = probe.tls_failure
        if probe.connection is not None:
            mark_connected(ctx, probe.connection, ctx.since_start() - probe.elapsed)
        return StepOutcome.passed(probe.summary)
