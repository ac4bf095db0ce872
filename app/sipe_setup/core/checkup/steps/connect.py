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
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

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
from sipe_setup.core.steps import SelectedServer, StepId
from sipe_setup.core.transport import (
    CertificateRejected,
    ConnectFailed,
    SipConnection,
    open_sip_connection,
)

__all__ = ["ConnectStep", "host_addresses", "open_connection", "resolve_address"]

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


async def _system_addresses(ctx: CheckContext, host: str) -> tuple[tuple[str, ...], str]:
    """(addresses in getaddrinfo's order, why none) — libpurple's lookup, bounded in time."""
    limit = max(ctx.options.connect_timeout, ctx.options.discovery.resolver.lifetime)
    try:
        infos = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(
            host, None, family=socket.AF_UNSPEC, type=socket.SOCK_STREAM,
            flags=socket.AI_ADDRCONFIG), limit)
    except TimeoutError:
        return (), f"no answer from the system resolver within {limit:g} s"
    except socket.gaierror as exc:
        return (), exc.strerror or str(exc)
    except (OSError, UnicodeError, ValueError) as exc:
        return (), str(exc) or type(exc).__name__
    return tuple(str(info[4][0]) for info in infos), ""


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
        connect_timeout=options.connect_timeout, tls_timeout=options.connect_timeout)
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
        return text if short else (f"{text} (Pidgin waits as long as the system lets a "
                                   "connection attempt last, about 2 minutes on Linux)")
    return str(exc).rstrip(".")


class ConnectStep(Step):
    """TCP connect, each address of the name in SIPE's order until one answers; a refused
    certificate or failed TLS handshake is left to the next step."""

    id = StepId.CONNECT

    def title(self, ctx: CheckContext) -> str:
        return f"Connect to {ctx.current.candidate}"

    async def _addresses(self, ctx: CheckContext, candidate: Candidate,
                         log: StepLog) -> tuple[str, ...]:
        host = candidate.host
        if _ip_literal(host):
            return (host,)
        if _uses_system_resolver(ctx):
            addresses, why = await _system_addresses(ctx, host)
            if addresses:
                log(f"{host} → {', '.join(addresses)} (system resolver, in the order Pidgin "
                    "tries them)")
            elif candidate.addresses:
                log(f"DNS gives {host} the address(es) {', '.join(candidate.addresses)}, but "
                    f"the system resolver, which Pidgin uses, does not resolve it ({why}).")
            return addresses
        if candidate.addresses and candidate.source is not CandidateSource.MANUAL:
            addresses = candidate.addresses
        else:  # a typed server or a redirect target: every address, not just the first
            addresses = await _dns_addresses(ctx, host) or candidate.addresses
        if addresses:
            servers = ", ".join(str(ns) for ns in ctx.options.discovery.resolver.nameservers)
            log(f"{host} → {', '.join(addresses)} (from {servers}, as answered; Pidgin's "
                "system resolver may sort them differently)")
        return addresses

    async def run(self, ctx: CheckContext, log: StepLog) -> StepOutcome:
        attempt = ctx.current
        candidate = attempt.candidate
        for line in srv_choice_lines(ctx, candidate):
            log(line)
        addresses = await self._addresses(ctx, candidate, log)
        if not addresses:
            raise TryNextServer(advice("connect-dns", host=candidate.host),
                                f"{candidate.host} does not resolve")
        port, kind = candidate.port, candidate.transport.value.upper()
        started = ctx.since_start()
        failures: list[tuple[str, ConnectFailed]] = []
        for number, address in enumerate(addresses, 1):
            attempt.address = address
            where = f"{address} port {port} ({kind})"
            try:
                conn = await open_connection(ctx, candidate, address,
                                             ctx.options.trusted_fingerprints)
            except CertificateRejected as rejected:
                attempt.rejected_certificate = rejected.certificate
                log(f"{where}: connected; the certificate is checked next")
                return StepOutcome.passed(f"connected to {address}")
            except ConnectFailed as exc:
                if exc.kind in ("tls", "tls-timeout"):  # TCP worked; the TLS step explains
                    attempt.tls_failure = exc
                    log(f"{where}: connected; the TLS handshake failed (SIPE does not try "
                        "other addresses after that)")
                    return StepOutcome.passed(f"connected to {address}")
                if exc.kind not in _NEXT_ADDRESS_KINDS:
                    log(f"{where}: {_failure_text(ctx, exc)}")
                    raise TryNextServer(connect_advice(candidate, exc, ctx.account.transport),
                                        str(exc)) from None
                failures.append((address, exc))
                more = "; SIPE tries the next address" if number < len(addresses) else ""
                log(f"{where}: {_failure_text(ctx, exc)}{more}")
                continue
            mark_connected(ctx, conn, started)
            log(f"{where}: connected")
            if conn.transport is Transport.TCP:
                log("Plain TCP: this connection is not encrypted.")
            which = (f" (address {number} of {len(addresses)})" if len(addresses) > 1 else "")
            return StepOutcome.passed(f"connected to {conn.peer_ip}:{conn.port} from "
                                      f"{conn.local_ip}:{conn.local_port}{which}")
        last = failures[-1][1]
        if len(failures) > 1:
            summary = (f"no address of {candidate.host} accepted the connection: " + "; ".join(
                f"{address} {_failure_text(ctx, exc, short=True)}"
                for address, exc in failures))
        else:
            summary = str(last)
        raise TryNextServer(connect_advice(candidate, last, ctx.account.transport), summary)
