"""Discovery against a real dnsmasq on 127.0.0.1 (and a delaying/dropping proxy in front), and
against a server that answers in a chosen order (what SIPE picks from an SRV answer)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from sipe_setup.core.account import Transport, parse_account
from sipe_setup.core.discovery import (
    CandidateFound,
    CandidateSource,
    DiscoveryEvent,
    DiscoveryOptions,
    DiscoveryResult,
    Nameserver,
    QueryFinished,
    QueryOutcome,
    QueryStarted,
    RecordType,
    ResolverSettings,
    ServerSelected,
    WarningCode,
    discover,
)
from tests.conftest import require_tool
from tests.servers.dns_proxy import DnsProxy
from tests.servers.dnsmasq import Dnsmasq, DnsZone
from tests.servers.ordered_dns import OrderedDnsServer, OrderedZone

DOMAIN = "example.test"
ZONE = DnsZone(DOMAIN)


@pytest.fixture
def dns_server() -> Iterator[Callable[..., int]]:
    """Start dnsmasq with a zone (optionally behind the proxy); returns the port to ask."""
    binary = require_tool("dnsmasq")
    with ExitStack() as stack:
        def start(zone: DnsZone, **proxy: object) -> int:
            server = stack.enter_context(Dnsmasq(zone, binary=binary))
            if not proxy:
                return server.port
            return stack.enter_context(DnsProxy(server.port, **proxy)).port  # type: ignore[arg-type]

        yield start


@pytest.fixture
def ordered_dns() -> Iterator[Callable[[OrderedZone], int]]:
    """A DNS server answering records in exactly the zone's order; returns its port."""
    with ExitStack() as stack:
        def start(zone: OrderedZone) -> int:
            return stack.enter_context(OrderedDnsServer(zone)).port

        yield start


def run(port: int, user: str = f"alice@{DOMAIN}", *, transport: str = "auto",
        timeout: float = 1.0, attempts: int = 2, deadline: float = 10.0,
        events: list[DiscoveryEvent] | None = None) -> DiscoveryResult:
    account = parse_account(user, transport=transport)
    options = DiscoveryOptions(
        resolver=ResolverSettings((Nameserver("127.0.0.1", port),), timeout=timeout,
                                  attempts=attempts),
        deadline=deadline)
    return asyncio.run(discover(account, options=options,
                                on_event=events.append if events is not None else None))


def outcome(result: DiscoveryResult, name: str, rtype: RecordType = RecordType.SRV) -> str:
    matches = [q for q in result.queries if q.name == name and q.record_type is rtype]
    assert len(matches) == 1, f"{name} {rtype} queried {len(matches)} times"
    return matches[0].outcome.value


def hosts(result: DiscoveryResult) -> list[tuple[str, int, str, str]]:
    return [(c.host, c.port, c.transport.value, c.source.value) for c in result.candidates]


@pytest.mark.parametrize(("prefix", "port", "transport"), [
    ("_sipinternaltls._tcp", 5061, "tls"), ("_sipinternal._tcp", 5060, "tcp"),
    ("_sip._tls", 443, "tls"), ("_sip._tcp", 5060, "tcp")])
def test_each_srv_name_alone(dns_server: Callable[..., int], prefix: str, port: int,
                             transport: str) -> None:
    zone = ZONE.srv(prefix, f"pool.{DOMAIN}", port).host(f"pool.{DOMAIN}", "127.0.0.10")
    result = run(dns_server(zone))
    assert outcome(result, f"{prefix}.{DOMAIN}") == "answer"
    others = {"_sipinternaltls._tcp", "_sipinternal._tcp", "_sip._tls", "_sip._tcp"} - {prefix}
    assert all(outcome(result, f"{p}.{DOMAIN}") == "nxdomain" for p in others)
    assert hosts(result) == [(f"pool.{DOMAIN}", port, transport, "srv")]
    assert result.selected is not None and result.selected.addresses == ("127.0.0.10",)
    assert result.selected.via == f"{prefix}.{DOMAIN}"


def test_several_srv_names_in_sipe_order(dns_server: Callable[..., int]) -> None:
    zone = (ZONE.srv("_sip._tcp", f"d.{DOMAIN}", 5060).srv("_sip._tls", f"c.{DOMAIN}", 443)
            .srv("_sipinternal._tcp", f"b.{DOMAIN}", 5060)
            .srv("_sipinternaltls._tcp", f"a.{DOMAIN}", 5061)
            .host(f"a.{DOMAIN}", "127.0.0.11").host(f"b.{DOMAIN}", "127.0.0.12")
            .host(f"c.{DOMAIN}", "127.0.0.13").host(f"d.{DOMAIN}", "127.0.0.14")
            .host(f"sip.{DOMAIN}", "127.0.0.15"))
    result = run(dns_server(zone))
    assert hosts(result) == [
        (f"a.{DOMAIN}", 5061, "tls", "srv"), (f"b.{DOMAIN}", 5060, "tcp", "srv"),
        (f"c.{DOMAIN}", 443, "tls", "srv"), (f"d.{DOMAIN}", 5060, "tcp", "srv"),
        (f"sip.{DOMAIN}", 443, "tls", "a-record")]
    assert result.selected is not None and result.selected.host == f"a.{DOMAIN}"
    # TCP candidates exist, but the selected one is TLS: no unencrypted warning.
    assert WarningCode.TCP_UNENCRYPTED not in {w.code for w in result.warnings}


def test_srv_with_several_targets_libpurple_order_and_sipe_pick(
        ordered_dns: Callable[[OrderedZone], int]) -> None:
    name = f"_sipinternaltls._tcp.{DOMAIN}"
    zone = (OrderedZone().srv(name, f"backup.{DOMAIN}", 5061, priority=20)
            .srv(name, f"light.{DOMAIN}", 5061, priority=10, weight=10)
            .srv(name, f"heavy.{DOMAIN}", 5061, priority=10, weight=60)
            .host(f"backup.{DOMAIN}", "127.0.0.21").host(f"light.{DOMAIN}", "127.0.0.22")
            .host(f"heavy.{DOMAIN}", "127.0.0.23"))
    result = run(ordered_dns(zone))
    query = next(q for q in result.queries if q.name == name)
    assert [(t.priority, t.weight, t.target, t.position) for t in query.srv_targets] == [
        (10, 60, f"heavy.{DOMAIN}", 2), (10, 10, f"light.{DOMAIN}", 1),
        (20, 0, f"backup.{DOMAIN}", 0)]
    # libpurple sorts by priority, then picks by weight: "one of these", never the backup.
    assert [(t.target, round(t.sipe_chance, 3)) for t in query.sipe_srv_choices] == [
        (f"heavy.{DOMAIN}", 0.857), (f"light.{DOMAIN}", 0.143)]
    assert query.sipe_srv_random
    assert [t.target for t in query.srv_targets if t.sipe_uses] == [f"heavy.{DOMAIN}"]
    assert "one of these" in query.detail and "86 %" in query.detail
    # The check's candidate for that SRV name is the most likely pick.
    assert [c.host for c in result.candidates] == [f"heavy.{DOMAIN}"]
    # Every target was resolved for the report.
    resolved = {q.name for q in result.queries if q.record_type is RecordType.A}
    assert {f"backup.{DOMAIN}", f"light.{DOMAIN}", f"heavy.{DOMAIN}"} <= resolved
    warning = next(w for w in result.warnings if w.code is WarningCode.SRV_ORDER)
    assert "sorts SRV records by priority" in warning.message
    assert f"one of heavy.{DOMAIN}:5061 (weight 60, 86 %), light.{DOMAIN}:5061" in \
        warning.message
    assert "ignores priority" not in warning.message
    document = query.to_json()
    assert document["sipe_choices"] == [
        {"target": f"heavy.{DOMAIN}", "port": 5061, "priority": 10, "weight": 60,
         "chance": 0.8571},
        {"target": f"light.{DOMAIN}", "port": 5061, "priority": 10, "weight": 10,
         "chance": 0.1429}]
    assert [r["sipe_uses"] for r in document["records"]] == [True, False, False]


@pytest.mark.parametrize("order", list(itertools.permutations((10, 20, 30))))
def test_the_best_priority_wins_whatever_the_answer_order(
        ordered_dns: Callable[[OrderedZone], int], order: tuple[int, ...]) -> None:
    name = f"_sip._tls.{DOMAIN}"
    zone = OrderedZone()
    for priority in order:
        zone = zone.srv(name, f"p{priority}.{DOMAIN}", 443, priority=priority, weight=5)
        zone = zone.host(f"p{priority}.{DOMAIN}", f"127.0.1.{priority}")
    result = run(ordered_dns(zone), transport="tls")
    query = next(q for q in result.queries if q.name == name)
    assert [t.target for t in query.sipe_srv_choices] == [f"p10.{DOMAIN}"]
    assert not query.sipe_srv_random
    assert result.selected is not None and result.selected.host == f"p10.{DOMAIN}"
    order_warnings = [w for w in result.warnings if w.code is WarningCode.SRV_ORDER]
    if order[0] == 10:  # the first record as returned is SIPE's: nothing to say
        assert order_warnings == []
    else:
        assert len(order_warnings) == 1
        assert (f"The server returned p{order[0]}.{DOMAIN}:443 (priority {order[0]}) first, "
                f"but SIPE sorts SRV records by priority, as Lync does, and uses "
                f"p10.{DOMAIN}:443 (priority 10).") in order_warnings[0].message


def test_equal_priorities_with_weight_0_sipe_uses_the_last_as_returned(
        ordered_dns: Callable[[OrderedZone], int]) -> None:
    name = f"_sipinternal._tcp.{DOMAIN}"
    zone = OrderedZone()
    for label in ("a", "b", "c"):
        zone = zone.srv(name, f"{label}.{DOMAIN}", 5060, priority=7)
        zone = zone.host(f"{label}.{DOMAIN}", "127.0.0.1")
    result = run(ordered_dns(zone), transport="tcp")
    query = next(q for q in result.queries if q.name == name)
    assert [t.target for t in query.sipe_srv_choices] == [f"c.{DOMAIN}"]
    assert query.sipe_srv_target is not None and query.sipe_srv_target.position == 2
    assert result.selected is not None and result.selected.host == f"c.{DOMAIN}"
    assert "last of them as returned" in query.detail
    warning = next(w for w in result.warnings if w.code is WarningCode.SRV_ORDER)
    assert "rotate" in warning.message


def test_a_weight_0_record_is_never_picked_beside_weighted_ones(
        ordered_dns: Callable[[OrderedZone], int]) -> None:
    name = f"_sipinternal._tcp.{DOMAIN}"
    zone = (OrderedZone().srv(name, f"zero.{DOMAIN}", 5060, priority=1, weight=0)
            .srv(name, f"one.{DOMAIN}", 5060, priority=1, weight=1)
            .host(f"zero.{DOMAIN}", "127.0.0.1").host(f"one.{DOMAIN}", "127.0.0.1"))
    result = run(ordered_dns(zone), transport="tcp")
    query = next(q for q in result.queries if q.name == name)
    assert [(t.target, t.sipe_chance) for t in query.sipe_srv_choices] == [(f"one.{DOMAIN}", 1)]
    assert result.selected is not None and result.selected.host == f"one.{DOMAIN}"
    assert "only it has a weight above 0" in query.detail
    warning = next(w for w in result.warnings if w.code is WarningCode.SRV_ORDER)
    assert f"uses one.{DOMAIN}:5060, the only record of priority 1 with a weight above 0" in \
        warning.message


@pytest.mark.parametrize(("transport", "prefix", "port"), [
    ("tcp", "_sipinternal._tcp", 5060), ("tls", "_sipinternaltls._tcp", 5061),
    ("auto", "_sip._tls", 5061)])
def test_srv_port_0_means_the_transports_default_port(
        ordered_dns: Callable[[OrderedZone], int], transport: str, prefix: str,
        port: int) -> None:
    zone = (OrderedZone().srv(f"{prefix}.{DOMAIN}", f"pool.{DOMAIN}", 0)
            .host(f"pool.{DOMAIN}", "127.0.0.1"))
    result = run(ordered_dns(zone), transport=transport)
    assert result.selected is not None
    assert (result.selected.host, result.selected.port) == (f"pool.{DOMAIN}", port)


def test_srv_target_dot_moves_on_to_the_next_srv_name(
        ordered_dns: Callable[[OrderedZone], int]) -> None:
    zone = (OrderedZone().srv(f"_sipinternal._tcp.{DOMAIN}", ".", 5060)
            .srv(f"_sip._tcp.{DOMAIN}", f"pool.{DOMAIN}", 5062)
            .host(f"pool.{DOMAIN}", "127.0.0.1"))
    result = run(ordered_dns(zone), transport="tcp")
    assert hosts(result)[0] == (f"pool.{DOMAIN}", 5062, "tcp", "srv")
    warning = next(w for w in result.warnings if w.code is WarningCode.SRV_NOT_AVAILABLE)
    assert "empty host name" in warning.message and "next SRV name" in warning.message


def test_libpurple_reads_only_the_first_1024_bytes_of_an_srv_answer(
        ordered_dns: Callable[[OrderedZone], int]) -> None:
    # 50 equal records need TCP; 12 + 36 (question) + 25 × 38 bytes fit in 1024, the 26th
    # does not. With all weights 0, SIPE takes the last record it read (pidgin-sipe: sip24).
    name = f"_sipinternal._tcp.{DOMAIN}"
    zone = OrderedZone()
    for i in range(50):
        zone = zone.srv(name, f"sip{i:02d}.{DOMAIN}", 6000 + i)
    zone = zone.host(f"sip24.{DOMAIN}", "127.0.0.1")
    result = run(ordered_dns(zone), transport="tcp")
    query = next(q for q in result.queries if q.name == name)
    assert len(query.srv_targets) == 50
    assert sum(t.sipe_reads for t in query.srv_targets) == 25
    assert [t.target for t in query.sipe_srv_choices] == [f"sip24.{DOMAIN}"]
    assert "SIPE sees 25 of its 50 records" in query.detail
    warning = next(w for w in result.warnings if w.code is WarningCode.SRV_ORDER)
    assert "does not see 25 of its 50 records" in warning.message
    assert "and 19 more" in warning.message  # the list of tied names is bounded


def test_a_fallbacks_only(dns_server: Callable[..., int]) -> None:
    zone = (ZONE.host(f"sipexternal.{DOMAIN}", "127.0.0.31").host(f"sip.{DOMAIN}", "127.0.0.32")
            .host(DOMAIN, "127.0.0.33"))
    result = run(dns_server(zone))
    assert hosts(result) == [(f"sipexternal.{DOMAIN}", 443, "tls", "a-record"),
                             (f"sip.{DOMAIN}", 443, "tls", "a-record"),
                             (DOMAIN, 5061, "tls", "domain")]
    assert result.selected is not None and result.selected.host == f"sipexternal.{DOMAIN}"
    assert outcome(result, f"sipinternal.{DOMAIN}", RecordType.A) == "nxdomain"
    assert outcome(result, f"sip.{DOMAIN}", RecordType.AAAA) == "no-answer"


def test_nothing_at_all_nxdomain_and_nodata_are_distinct(dns_server: Callable[..., int]) -> None:
    # The domain exists (A record) but has no SRV record: NODATA, not NXDOMAIN.
    zone = ZONE.host(f"_sip._tls.{DOMAIN}", "127.0.0.40")
    result = run(dns_server(zone), user="bob@example.test")
    assert outcome(result, f"_sip._tls.{DOMAIN}") == "no-answer"
    assert outcome(result, f"_sipinternaltls._tcp.{DOMAIN}") == "nxdomain"
    assert outcome(result, f"sipinternal.{DOMAIN}", RecordType.A) == "nxdomain"
    # The domain has names below it but no address itself: NODATA again.
    assert outcome(result, DOMAIN, RecordType.A) == "no-answer"
    assert result.candidates == () and result.selected is None and not result.found
    assert result.to_json()["selected"] is None


def test_target_outside_domain_is_a_warning(dns_server: Callable[..., int]) -> None:
    zone = (ZONE.srv("_sip._tls", "sipdir.online.example.org", 443)
            .host("sipdir.online.example.org", "127.0.0.50").also_local("example.org"))
    result = run(dns_server(zone))
    assert result.selected is not None and result.selected.outside_domain
    warning = next(w for w in result.warnings if w.code is WarningCode.OUTSIDE_DOMAIN)
    assert warning.host == "sipdir.online.example.org"
    assert "Lync" in warning.message and "SIPE" in warning.message
    assert "would connect anyway" in warning.message


@pytest.mark.parametrize(("transport", "asked", "not_asked"), [
    ("tls", {"_sipinternaltls._tcp", "_sip._tls"}, {"_sipinternal._tcp", "_sip._tcp"}),
    ("tcp", {"_sipinternal._tcp", "_sip._tcp"}, {"_sipinternaltls._tcp", "_sip._tls"}),
])
def test_forced_transport_queries_the_right_names(dns_server: Callable[..., int], transport: str,
                                                  asked: set[str], not_asked: set[str]) -> None:
    zone = (ZONE.srv("_sip._tls", f"tls.{DOMAIN}", 443).srv("_sip._tcp", f"tcp.{DOMAIN}", 5060)
            .host(f"tls.{DOMAIN}", "127.0.0.61").host(f"tcp.{DOMAIN}", "127.0.0.62")
            .host(DOMAIN, "127.0.0.63"))
    result = run(dns_server(zone), transport=transport)
    srv_asked = {q.name.removesuffix(f".{DOMAIN}") for q in result.queries
                 if q.record_type is RecordType.SRV}
    assert srv_asked == asked and not (srv_asked & not_asked)
    expected_port = 5061 if transport == "tls" else 5060
    assert hosts(result) == [(f"{transport}.{DOMAIN}", 443 if transport == "tls" else 5060,
                              transport, "srv"), (DOMAIN, expected_port, transport, "domain")]
    if transport == "tcp":
        assert WarningCode.TCP_UNENCRYPTED in {w.code for w in result.warnings}


def test_never_answering_names_are_bounded_by_the_resolver_timeout(
        dns_server: Callable[..., int]) -> None:
    zone = ZONE.srv("_sip._tls", f"sip.{DOMAIN}", 443).host(f"sip.{DOMAIN}", "127.0.0.70")
    silent = [f"_sipinternaltls._tcp.{DOMAIN}", f"_sipinternal._tcp.{DOMAIN}"]
    port = dns_server(zone, delay_ms=20, drop_names=silent)
    started = time.monotonic()
    result = run(port, timeout=0.4, attempts=2)
    elapsed = time.monotonic() - started
    assert outcome(result, silent[0]) == "timeout"
    assert outcome(result, silent[1]) == "timeout"
    assert result.selected is not None and result.selected.host == f"sip.{DOMAIN}"
    # All lookups run at once: one give-up period (0.8 s), not one per silent name.
    assert elapsed < 1.6
    assert WarningCode.DNS_UNRELIABLE in {w.code for w in result.warnings}


def test_whole_run_deadline_cuts_a_hanging_lookup(dns_server: Callable[..., int]) -> None:
    port = dns_server(ZONE.host(DOMAIN, "127.0.0.80"), drop_names=[f"_sip._tls.{DOMAIN}"])
    started = time.monotonic()
    result = run(port, timeout=5.0, attempts=2, deadline=0.7)
    assert time.monotonic() - started < 2.0
    query = next(q for q in result.queries if q.name == f"_sip._tls.{DOMAIN}")
    assert query.outcome is QueryOutcome.TIMEOUT and "deadline" in query.detail
    assert WarningCode.DEADLINE in {w.code for w in result.warnings}
    # The domain answered in time but ranks below the unanswered SRV name; it still counts.
    assert result.selected is not None and result.selected.host == DOMAIN


def test_servfail_and_refused_are_reported_as_such(dns_server: Callable[..., int]) -> None:
    zone = ZONE.host(f"sip.{DOMAIN}", "127.0.0.90")
    port = dns_server(zone, servfail_names=[f"_sipinternaltls._tcp.{DOMAIN}"],
                      refused_names=[f"_sip._tls.{DOMAIN}"])
    result = run(port)
    assert outcome(result, f"_sipinternaltls._tcp.{DOMAIN}") == "servfail"
    assert outcome(result, f"_sip._tls.{DOMAIN}") == "refused"
    assert outcome(result, f"_sip._tcp.{DOMAIN}") == "nxdomain"
    assert result.selected is not None and result.selected.host == f"sip.{DOMAIN}"
    warning = next(w for w in result.warnings if w.code is WarningCode.DNS_UNRELIABLE)
    assert "servfail" in warning.message and "refused" in warning.message


def test_events_report_each_query_and_the_selection(dns_server: Callable[..., int]) -> None:
    zone = ZONE.srv("_sip._tls", f"sip.{DOMAIN}", 443).host(f"sip.{DOMAIN}", "127.0.0.100")
    events: list[DiscoveryEvent] = []
    result = run(dns_server(zone), events=events)
    started = [e for e in events if isinstance(e, QueryStarted)]
    finished = [e.result for e in events if isinstance(e, QueryFinished)]
    assert len(started) == len(finished) == len(result.queries)
    assert sorted((r.name, r.record_type) for r in finished) == sorted(
        (q.name, q.record_type) for q in result.queries)
    selected = [e for e in events if isinstance(e, ServerSelected)]
    assert len(selected) == 1 and selected[0].candidate == result.selected
    assert any(isinstance(e, CandidateFound) and e.candidate.source is CandidateSource.SRV
               for e in events)


def test_selection_does_not_wait_for_lower_priority_lookups(
        dns_server: Callable[..., int]) -> None:
    zone = (ZONE.srv("_sipinternaltls._tcp", f"pool.{DOMAIN}", 5061)
            .host(f"pool.{DOMAIN}", "127.0.0.110"))
    port = dns_server(zone, drop_names=[f"sip.{DOMAIN}", DOMAIN])
    started = time.monotonic()
    result = asyncio.run(discover(
        parse_account(f"alice@{DOMAIN}"),
        options=DiscoveryOptions(resolver=ResolverSettings((Nameserver("127.0.0.1", port),),
                                                           timeout=3.0, attempts=2),
                                 settle_grace=0.1, autodiscover=False)))
    assert time.monotonic() - started < 1.5
    assert result.selected is not None and result.selected.host == f"pool.{DOMAIN}"
    assert outcome(result, DOMAIN, RecordType.A) == "not-waited"
    assert result.autodiscover == ()


def test_cancel_leaves_no_task_or_socket(dns_server: Callable[..., int]) -> None:
    port = dns_server(ZONE, drop_names=[f"_sip._tls.{DOMAIN}", DOMAIN])
    account = parse_account(f"alice@{DOMAIN}", transport=Transport.TLS)
    options = DiscoveryOptions(resolver=ResolverSettings((Nameserver("127.0.0.1", port),),
                                                         timeout=5.0, attempts=2))

    async def main() -> set[asyncio.Task[object]]:
        seen_queries = asyncio.Event()

        def on_event(event: DiscoveryEvent) -> None:
            if isinstance(event, QueryStarted):
                seen_queries.set()

        task = asyncio.ensure_future(discover(account, options=options, on_event=on_event))
        await seen_queries.wait()
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}

    started = time.monotonic()
    leftovers = asyncio.run(main())
    assert leftovers == set()
    assert time.monotonic() - started < 2.0
