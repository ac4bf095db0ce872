"""Connect to one candidate server (TCP, and the TLS handshake for TLS)."""

from __future__ import annotations

import ipaddress

from sipe_setup.core.account import Transport
from sipe_setup.core.advice import advice
from sipe_setup.core.checkup.context import CheckContext
from sipe_setup.core.checkup.diagnose import connect_advice
from sipe_setup.core.checkup.flow import Step, StepLog, StepOutcome, TryNextServer
from sipe_setup.core.discovery import Candidate
from sipe_setup.core.discovery.dns import make_resolver, resolve_host
from sipe_setup.core.discovery.model import QueryPurpose
from sipe_setup.core.steps import SelectedServer, StepId
from sipe_setup.core.transport import (
    CertificateRejected,
    ConnectFailed,
    SipConnection,
    open_sip_connection,
)

__all__ = ["ConnectStep", "host_addresses", "open_connection", "resolve_address"]


async def host_addresses(ctx: CheckContext, host: str) -> tuple[str, ...]:
    """The addresses of ``host`` through the discovery resolver (IP literals as they are)."""
    try:
        ipaddress.ip_address(host)
        return (host,)
    except ValueError:
        pass
    resolver = make_resolver(ctx.options.discovery.resolver)
    a_result, aaaa_result = await resolve_host(resolver, host, QueryPurpose.CONNECT_HOST)
    return (*a_result.addresses, *aaaa_result.addresses)


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


class ConnectStep(Step):
    """TCP connect; a refused certificate or failed TLS handshake is left to the next step."""

    id = StepId.CONNECT

    def title(self, ctx: CheckContext) -> str:
        return f"Connect to {ctx.current.candidate}"

    async def run(self, ctx: CheckContext, log: StepLog) -> StepOutcome:
        attempt = ctx.current
        candidate = attempt.candidate
        address = candidate.addresses[0] if candidate.addresses else await resolve_address(
            ctx, candidate.host)
        if address is None:
            raise TryNextServer(advice("connect-dns", host=candidate.host),
                                f"{candidate.host} does not resolve")
        attempt.address = address
        log(f"{candidate.host} → {address}, port {candidate.port}, "
            f"{candidate.transport.value.upper()}")
        started = ctx.since_start()
        try:
            conn = await open_connection(ctx, candidate, address,
                                         ctx.options.trusted_fingerprints)
        except CertificateRejected as rejected:
            attempt.rejected_certificate = rejected.certificate
            return StepOutcome.passed(f"connected to {address}")
        except ConnectFailed as exc:
            if exc.kind == "tls":
                attempt.tls_failure = exc
                return StepOutcome.passed(f"connected to {address}")
            raise TryNextServer(connect_advice(candidate, exc, ctx.account.transport),
                                str(exc)) from None
        mark_connected(ctx, conn, started)
        if conn.transport is Transport.TCP:
            log("Plain TCP: this connection is not encrypted.")
        return StepOutcome.passed(f"connected to {conn.peer_ip}:{conn.port} from "
                                  f"{conn.local_ip}:{conn.local_port}")
