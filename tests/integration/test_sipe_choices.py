"""SIPE's choices, predicted exactly: which SRV record, which port, which address.

Two parts:

- The check against explicit nameservers (no root needed): every address of a name is tried
  in order, one line each, until one accepts the TCP connection; a failed TLS handshake ends
  the server instead.
- The check and the real pidgin-sipe side by side, in a private network + mount namespace
  whose ``/etc/resolv.conf`` points at a DNS server on 127.0.0.1:53 that answers in a chosen
  order (``tests/servers/sipe_choices.py``). finch runs with an empty Server field, so SIPE
  discovers on its own through the system resolver; so does the check. Each case asserts what
  SIPE did and that the check predicted and did the same. These need root, unshare, finch and
  pidgin-sipe: under CI=true a missing one fails the test.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sipe_setup.core.account import Secret, parse_account
from sipe_setup.core.checkup import CheckOptions, run_check
from sipe_setup.core.discovery import DiscoveryOptions, Nameserver, ResolverSettings
from sipe_setup.core.report import report_text
from sipe_setup.core.steps import CheckResult, StepId, StepStatus, Verdict
from tests.servers.netns import require_netns, run_in_netns
from tests.servers.ordered_dns import OrderedDnsServer, OrderedZone
from tests.servers.registrar import Registrar, RegistrarConfig

DOMAIN = "example.test"
PASSWORD = "Passw0rd!"
USERS = [("EXAMPLE", "alice", PASSWORD)]
_TRIED = re.compile(r"^(\S+) port (\d+) \((?:TCP|TLS)\): ")


def tried_addresses(lines: list[str]) -> list[str]:
    """The addresses the connect step dialled, in order (one line each)."""
    return [m[1] for line in lines if (m := _TRIED.match(line))]


def connect_lines(result: CheckResult) -> list[str]:
    return [line for step in result.steps if step.step is StepId.CONNECT for line in step.lines]


# --- the check, explicit nameservers ----------------------------------------------------------


def _refuses(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) != 0


def _check_via(dns_port: int, transport: str) -> CheckResult:
    account = parse_account(f"alice@{DOMAIN}", login="EXAMPLE\\alice", transport=transport)
    options = CheckOptions(
        discovery=DiscoveryOptions(resolver=ResolverSettings(
            (Nameserver("127.0.0.1", dns_port),), timeout=1.0, attempts=1), deadline=5.0,
            autodiscover=False),
        connect_timeout=2.0, response_timeout=2.0, deadline=30.0)
    return asyncio.run(run_check(account, Secret(PASSWORD), options))


@pytest.fixture
def second_address_registrar() -> Iterator[tuple[Registrar, int]]:
    """A registrar on 127.0.0.2:<port> while 127.0.0.1:<port> refuses, in its own thread."""
    loop = asyncio.new_event_loop()
    registrar = Registrar(RegistrarConfig(users=USERS))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        for _ in range(20):
            port = asyncio.run_coroutine_threadsafe(
                registrar.start("127.0.0.2", 0), loop).result(10)
            if _refuses("127.0.0.1", port):
                break
            asyncio.run_coroutine_threadsafe(registrar.stop(), loop).result(10)
        else:
            pytest.fail("no port free on both 127.0.0.1 and 127.0.0.2")
        yield registrar, port
    finally:
        asyncio.run_coroutine_threadsafe(registrar.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def test_the_check_tries_each_address_in_order_until_one_connects(
        second_address_registrar: tuple[Registrar, int]) -> None:
    registrar, port = second_address_registrar
    zone = (OrderedZone().srv(f"_sipinternal._tcp.{DOMAIN}", f"pool.{DOMAIN}", port)
            .host(f"pool.{DOMAIN}", "127.0.0.1", "127.0.0.2"))
    with OrderedDnsServer(zone) as dns_server:
        result = _check_via(dns_server.port, "tcp")
    text = report_text(result)
    assert result.verdict is Verdict.SIGNED_IN, text
    lines = connect_lines(result)
    assert tried_addresses(lines) == ["127.0.0.1", "127.0.0.2"], lines
    assert f"127.0.0.1 port {port} (TCP): refused the connection; SIPE tries the next " \
           "address" in lines
    assert f"127.0.0.2 port {port} (TCP): connected" in lines
    assert result.selected is not None and result.selected.connected_address == "127.0.0.2"
    connect = next(s for s in result.steps if s.step is StepId.CONNECT)
    assert connect.status is StepStatus.PASS and "(address 2 of 2)" in connect.summary
    assert registrar.stats.registers >= 1


def test_when_no_address_connects_each_is_named() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    if not _refuses("127.0.0.2", port):
        pytest.skip("the port is in use on 127.0.0.2")
    zone = (OrderedZone().srv(f"_sipinternal._tcp.{DOMAIN}", f"pool.{DOMAIN}", port)
            .host(f"pool.{DOMAIN}", "127.0.0.1", "127.0.0.2"))
    with OrderedDnsServer(zone) as dns_server:
        result = _check_via(dns_server.port, "tcp")
    assert result.verdict is Verdict.FAILED
    lines = connect_lines(result)
    assert tried_addresses(lines) == ["127.0.0.1", "127.0.0.2"], lines
    connect = next(s for s in result.steps if s.step is StepId.CONNECT)
    assert connect.summary == (f"no address of pool.{DOMAIN} accepted the connection: "
                               "127.0.0.1 refused the connection; 127.0.0.2 refused the "
                               "connection")


def test_a_failed_tls_handshake_does_not_try_the_next_address(
        second_address_registrar: tuple[Registrar, int]) -> None:
    registrar, port = second_address_registrar
    # 127.0.0.1:<port> accepts TCP and hangs up at once: the TLS handshake fails there.
    closer = socket.socket()
    closer.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    closer.bind(("127.0.0.1", port))
    closer.listen(4)
    stop = False

    def hang_up() -> None:
        closer.settimeout(0.2)
        while not stop:
            try:
                conn, _ = closer.accept()
            except OSError:
                continue
            conn.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    try:
        zone = (OrderedZone().srv(f"_sipinternaltls._tcp.{DOMAIN}", f"pool.{DOMAIN}", port)
                .host(f"pool.{DOMAIN}", "127.0.0.1", "127.0.0.2"))
        with OrderedDnsServer(zone) as dns_server:
            result = _check_via(dns_server.port, "tls")
    finally:
        stop = True
        thread.join(5)
        closer.close()
    lines = connect_lines(result)
    assert tried_addresses(lines) == ["127.0.0.1"], lines
    assert any("the TLS handshake failed (SIPE does not try other addresses" in line
               for line in lines), lines
    assert result.verdict is Verdict.FAILED
    assert registrar.stats.connections == 0


# --- the check and the real pidgin-sipe, side by side ---------------------------------------


@pytest.fixture
def sipe_in_netns(finch: None, tmp_path: Path) -> Callable[..., tuple[dict[str, Any],
                                                                      dict[str, Any]]]:
    """Run a scenario in a private namespace; returns (the check's part, SIPE's part)."""
    require_netns()
    counter = iter(range(100))

    def run(zone: OrderedZone, listeners: list[tuple[str, int]], *,
            expect_sign_in: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
        case = tmp_path / f"case{next(counter)}"
        case.mkdir()
        scenario = {"zone": zone.to_json(), "listeners": listeners,
                    "purple_dir": str(case / "purple"), "work_dir": str(case / "etc"),
                    "transport": "tcp", "finch_timeout": 12.0,
                    "expect_sign_in": expect_sign_in}
        (case / "scenario.json").write_text(json.dumps(scenario), encoding="utf-8")
        started = time.monotonic()
        done = run_in_netns("tests.servers.sipe_choices", str(case / "scenario.json"),
                            str(case / "result.json"), timeout=90)
        assert done.returncode == 0, done.stderr[-4000:]
        output = json.loads((case / "result.json").read_text(encoding="utf-8"))
        check, sipe = output["check"], output["sipe"]
        print(f"namespace run {time.monotonic() - started:.1f} s (finch {sipe['elapsed']:.1f} "
              f"s, check {check['elapsed']:.1f} s)")
        return check, sipe

    return run


def _why(check: dict[str, Any], sipe: dict[str, Any]) -> str:
    shown = {k: v for k, v in check.items() if k != "srv"}
    return (f"\ncheck: {json.dumps(shown, indent=1)}\nSIPE: "
            f"{json.dumps({k: v for k, v in sipe.items() if k != 'log_tail'}, indent=1)}\n"
            f"finch log tail:\n{sipe['log_tail']}")


def _srv_pick(sipe: dict[str, Any]) -> tuple[str, int]:
    """The (host, port) SIPE's first SRV answer gave it (sipe_core_dns_resolved)."""
    assert sipe["srv_resolved"], "SIPE resolved no SRV record"
    host, port = sipe["srv_resolved"][0]
    return host, port


def _choices(check: dict[str, Any], name: str) -> dict[tuple[str, int], float]:
    return {(c["target"], c["port"]): c["chance"] for c in check["srv"][name]["choices"]}


SRV_TCP = f"_sipinternal._tcp.{DOMAIN}"


def test_sipe_and_the_check_use_the_best_priority_whatever_the_order(
        sipe_in_netns: Callable[..., tuple[dict[str, Any], dict[str, Any]]]) -> None:
    zone = OrderedZone()
    for label, priority, port in (("b", 20, 5071), ("a", 10, 5072), ("c", 30, 5073)):
        zone = zone.srv(SRV_TCP, f"{label}.{DOMAIN}", port, priority=priority)
        zone = zone.host(f"{label}.{DOMAIN}", "127.0.0.1")
    check, sipe = sipe_in_netns(zone, [("127.0.0.1", p) for p in (5071, 5072, 5073)])
    why = _why(check, sipe)
    assert _srv_pick(sipe) == (f"a.{DOMAIN}", 5072), why
    assert sipe["signed_in"] and sipe["reached"] == {"127.0.0.1:5072": 1}, why
    assert _choices(check, SRV_TCP) == {(f"a.{DOMAIN}", 5072): 1.0}, why
    assert check["verdict"] == "signed-in" and check["reached"] == {"127.0.0.1:5072": 1}, why
    assert any(w.startswith("SS-DISC-SRV-ORDER") and "sorts SRV records by priority" in w
               for w in check["warnings"]), why


def test_equal_priorities_with_weights_sipe_uses_one_of_these(
        sipe_in_netns: Callable[..., tuple[dict[str, Any], dict[str, Any]]]) -> None:
    zone = (OrderedZone().srv(SRV_TCP, f"zero.{DOMAIN}", 5073, priority=10, weight=0)
            .srv(SRV_TCP, f"left.{DOMAIN}", 5071, priority=10, weight=50)
            .srv(SRV_TCP, f"backup.{DOMAIN}", 5074, priority=20, weight=100)
            .srv(SRV_TCP, f"right.{DOMAIN}", 5072, priority=10, weight=50))
    for label in ("zero", "left", "backup", "right"):
        zone = zone.host(f"{label}.{DOMAIN}", "127.0.0.1")
    check, sipe = sipe_in_netns(zone, [("127.0.0.1", p) for p in (5071, 5072, 5073, 5074)])
    why = _why(check, sipe)
    one_of = {(f"left.{DOMAIN}", 5071), (f"right.{DOMAIN}", 5072)}
    # SIPE's pick is random: only "one of these" can be asserted.
    assert _srv_pick(sipe) in one_of, why
    assert sipe["signed_in"] and len(sipe["reached"]) == 1, why
    assert set(sipe["reached"]) <= {"127.0.0.1:5071", "127.0.0.1:5072"}, why
    # The check says "one of these" with the chances, and itself connects to one of them.
    assert _choices(check, SRV_TCP) == {pick: 0.5 for pick in one_of}, why
    assert "one of these" in check["srv"][SRV_TCP]["detail"], why
    assert check["verdict"] == "signed-in", why
    assert (check["selected"]["host"], check["selected"]["port"]) in one_of, why
    assert any(line.startswith("SIPE picks one of these at random") for line in
               check["connect_lines"]), why


def test_equal_priorities_without_weights_sipe_uses_the_last_as_returned(
        sipe_in_netns: Callable[..., tuple[dict[str, Any], dict[str, Any]]]) -> None:
    zone = OrderedZone()
    for label, port in (("a", 5081), ("b", 5082), ("c", 5083)):
        zone = zone.srv(SRV_TCP, f"{label}.{DOMAIN}", port, priority=10)
        zone = zone.host(f"{label}.{DOMAIN}", "127.0.0.1")
    check, sipe = sipe_in_netns(zone, [("127.0.0.1", p) for p in (5081, 5082, 5083)])
    why = _why(check, sipe)
    assert _srv_pick(sipe) == (f"c.{DOMAIN}", 5083), why
    assert sipe["reached"] == {"127.0.0.1:5083": 1}, why
    assert _choices(check, SRV_TCP) == {(f"c.{DOMAIN}", 5083): 1.0}, why
    assert check["reached"] == {"127.0.0.1:5083": 1}, why


@pytest.mark.parametrize("answer_order", [("127.0.0.1", "127.0.0.2"),
                                          ("127.0.0.2", "127.0.0.1")])
def test_a_refused_first_address_moves_on_to_the_next_one(
        sipe_in_netns: Callable[..., tuple[dict[str, Any], dict[str, Any]]],
        answer_order: tuple[str, str]) -> None:
    zone = (OrderedZone().srv(SRV_TCP, f"pool.{DOMAIN}", 5060)
            .host(f"pool.{DOMAIN}", *answer_order))
    check, sipe = sipe_in_netns(zone, [("127.0.0.2", 5060)])  # 127.0.0.1:5060 refuses
    why = _why(check, sipe)
    # libpurple dials the addresses in getaddrinfo's order (which may sort the DNS answer)
    # until one connects; the check, on the system resolver, dials the same ones in the same
    # order, one line each.
    assert sipe["attempted_addresses"][-1] == "127.0.0.2", why
    assert sipe["reached"] == {"127.0.0.2:5060": 1} and sipe["signed_in"], why
    assert tried_addresses(check["connect_lines"]) == sipe["attempted_addresses"], why
    assert check["reached"] == {"127.0.0.2:5060": 1}, why
    assert check["selected"]["address"] == "127.0.0.2", why
    if sipe["attempted_addresses"] == ["127.0.0.1", "127.0.0.2"]:
        assert any("refused the connection; SIPE tries the next address" in line
                   for line in check["connect_lines"]), why


def test_srv_port_0_is_the_default_port(
        sipe_in_netns: Callable[..., tuple[dict[str, Any], dict[str, Any]]]) -> None:
    zone = OrderedZone().srv(SRV_TCP, f"pool.{DOMAIN}", 0).host(f"pool.{DOMAIN}", "127.0.0.1")
    check, sipe = sipe_in_netns(zone, [("127.0.0.1", 5060)])
    why = _why(check, sipe)
    assert sipe["connected"] == [f"pool.{DOMAIN}", 5060] and sipe["signed_in"], why
    assert check["selected"] == {"host": f"pool.{DOMAIN}", "port": 5060,
                                 "address": "127.0.0.1"}, why
    assert "The SRV record gives port 0: SIPE then uses 5060 (the TCP default)." in \
        check["connect_lines"], why


def test_srv_target_dot_moves_on_to_the_next_srv_name(
        sipe_in_netns: Callable[..., tuple[dict[str, Any], dict[str, Any]]]) -> None:
    zone = (OrderedZone().srv(SRV_TCP, ".", 5060)
            .srv(f"_sip._tcp.{DOMAIN}", f"pool.{DOMAIN}", 5062)
            .host(f"pool.{DOMAIN}", "127.0.0.1"))
    check, sipe = sipe_in_netns(zone, [("127.0.0.1", 5060), ("127.0.0.1", 5062)])
    why = _why(check, sipe)
    # SIPE gets an empty host name for ".", fails to connect and asks the next SRV name.
    assert sipe["srv_resolved"] == [["", 5060], [f"pool.{DOMAIN}", 5062]], why
    assert sipe["reached"] == {"127.0.0.1:5062": 1}, why
    assert check["candidates"][0] == [f"pool.{DOMAIN}", 5062], why
    assert check["reached"] == {"127.0.0.1:5062": 1}, why
    assert any(w.startswith("SS-DISC-SRV-DOT") for w in check["warnings"]), why


def test_sipe_reads_only_the_first_1024_bytes_of_an_srv_answer(
        sipe_in_netns: Callable[..., tuple[dict[str, Any], dict[str, Any]]]) -> None:
    zone = OrderedZone()
    for i in range(50):  # all weight 0: SIPE takes the last record it read
        zone = zone.srv(SRV_TCP, f"sip{i:02d}.{DOMAIN}", 6000 + i)
    check, sipe = sipe_in_netns(zone, [], expect_sign_in=False)
    why = _why(check, sipe)
    assert _srv_pick(sipe) == (f"sip24.{DOMAIN}", 6024), why
    assert _choices(check, SRV_TCP) == {(f"sip24.{DOMAIN}", 6024): 1.0}, why
    assert "SIPE sees 25 of its 50 records" in check["srv"][SRV_TCP]["detail"], why
