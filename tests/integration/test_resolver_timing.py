"""When a silent name is given up, and what discovery waits for (real dnsmasq on 127.0.0.1,
the dropping/delaying proxy in front).

- a query gives up after exactly its tries (no backoff after the last one);
- glibc's retry loop: each server of a round in turn, with res_send's per-server waits;
- discovery names SIPE's first server without waiting for lower-priority lookups (no grace),
  and a running discovery still hands out SIPE's next servers as their lookups end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from sipe_setup.core.account import parse_account
from sipe_setup.core.discovery import (
    DiscoveryOptions,
    DiscoveryRun,
    Nameserver,
    QueryOutcome,
    QueryPurpose,
    RecordType,
    ResolverSettings,
    discover,
)
from sipe_setup.core.discovery.dns import AppliedResolverSettings, Resolver, run_query
from tests.conftest import require_tool
from tests.servers.dns_proxy import DnsProxy
from tests.servers.dnsmasq import Dnsmasq, DnsZone

DOMAIN = "example.test"
SILENT = f"silent.{DOMAIN}"


@pytest.fixture
def dns_server() -> Iterator[Callable[..., int]]:
    binary = require_tool("dnsmasq")
    with ExitStack() as stack:
        def start(zone: DnsZone, **proxy: object) -> int:
            server = stack.enter_context(Dnsmasq(zone, binary=binary))
            return stack.enter_context(DnsProxy(server.port, **proxy)).port  # type: ignore[arg-type]

        yield start


def _timed_query(resolver: Resolver, name: str) -> tuple[float, QueryOutcome, str]:
    async def go() -> tuple[float, QueryOutcome, str]:
        started = time.monotonic()
        result = await run_query(resolver, name, RecordType.A, QueryPurpose.A_FALLBACK)
        return time.monotonic() - started, result.outcome, result.detail

    return asyncio.run(go())


def test_a_silent_name_is_given_up_after_its_tries_and_no_more(
        dns_server: Callable[..., int]) -> None:
    port = dns_server(DnsZone(DOMAIN), drop_names=[SILENT])
    resolver = Resolver(ResolverSettings((Nameserver("127.0.0.1", port),), timeout=0.3,
                                         attempts=2).applied())
    elapsed, outcome, detail = _timed_query(resolver, SILENT)
    assert outcome is QueryOutcome.TIMEOUT
    assert "no answer within 0.6 s" in detail and "2 tries" in detail
    # dnspython's own loop waits 0.1 s, then 0.2 s … between rounds and before giving up
    assert 0.59 <= elapsed < 0.6 + 0.08, elapsed


def test_glibcs_loop_asks_each_server_of_a_round_in_turn(dns_server: Callable[..., int]) -> None:
    """Two servers, the first silent for everything, 1 s per try: glibc asks the first (1 s),
    then the second, which answers; a server that answers ends the query at once."""
    zone = DnsZone(DOMAIN).host(f"pool.{DOMAIN}", "127.0.0.5")
    silent = dns_server(zone, drop_names=[f"pool.{DOMAIN}"])
    answering = dns_server(zone)
    settings = AppliedResolverSettings(
        nameservers=(Nameserver("127.0.0.1", silent), Nameserver("127.0.0.1", answering)),
        timeout=1.0, attempts=2, rotate=False, glibc=True, source="test")
    assert settings.server_timeouts() == (1.0, 1.0)
    elapsed, outcome, _ = _timed_query(Resolver(settings), f"pool.{DOMAIN}")
    assert outcome is QueryOutcome.ANSWER
    assert 0.95 <= elapsed < 1.3, elapsed


def test_selection_is_known_without_waiting_for_silent_lower_lookups(
        dns_server: Callable[..., int]) -> None:
    zone = (DnsZone(DOMAIN).srv("_sipinternaltls._tcp", f"pool.{DOMAIN}", 5061)
            .host(f"pool.{DOMAIN}", "127.0.0.110"))
    silent = [f"sipinternal.{DOMAIN}", f"sipexternal.{DOMAIN}", f"sip.{DOMAIN}", DOMAIN]
    port = dns_server(zone, drop_names=silent)
    options = DiscoveryOptions(resolver=ResolverSettings((Nameserver("127.0.0.1", port),),
                                                         timeout=3.0, attempts=2),
                               autodiscover=False)
    started = time.monotonic()
    result = asyncio.run(discover(parse_account(f"alice@{DOMAIN}"), options=options))
    elapsed = time.monotonic() - started
    assert result.selected is not None and result.selected.host == f"pool.{DOMAIN}"
    assert elapsed < 0.25, elapsed  # two loopback round trips, no grace period
    silent_outcomes = {q.outcome for q in result.queries if q.name in silent}
    assert silent_outcomes == {QueryOutcome.NOT_WAITED}
    assert "3 s per try, 2 tries" in result.resolver


def test_a_running_discovery_hands_out_the_next_servers_as_they_are_found(
        dns_server: Callable[..., int]) -> None:
    """SIPE's first server is known at once. The next one in SIPE's order that resolves is
    ``sip.<domain>``, but ``sipinternal.<domain>`` comes before it and never answers: the run
    keeps that lookup going after the selection (instead of abandoning it) and names
    ``sip.<domain>`` only once ``sipinternal.<domain>`` has been given up."""
    zone = (DnsZone(DOMAIN).srv("_sipinternaltls._tcp", f"pool.{DOMAIN}", 5061)
            .host(f"pool.{DOMAIN}", "127.0.0.110").host(f"sip.{DOMAIN}", "127.0.0.111"))
    port = dns_server(zone, drop_names=[f"sipinternal.{DOMAIN}"])
    options = DiscoveryOptions(resolver=ResolverSettings((Nameserver("127.0.0.1", port),),
                                                         timeout=0.3, attempts=1),
                               autodiscover=False)

    async def go() -> tuple[list[str], list[str | None], float, float]:
        async with DiscoveryRun(parse_account(f"alice@{DOMAIN}"), options=options) as run:
            started = time.monotonic()
            first = await run.selection()
            selected_after = time.monotonic() - started
            at_selection = [c.host for c in run.known_candidates()]
            second = await run.candidate(1)
            second_after = time.monotonic() - started
            third = await run.candidate(2)
            result = await run.close()
        assert result.selected == first
        return (at_selection, [c.host if c else None for c in (first, second, third)],
                selected_after, second_after)

    at_selection, found, selected_after, second_after = asyncio.run(go())
    assert at_selection == [f"pool.{DOMAIN}"]
    assert found == [f"pool.{DOMAIN}", f"sip.{DOMAIN}", None]
    assert selected_after < 0.2
    assert 0.29 <= second_after < 0.6
