"""Inside a private network namespace: SIPE's servers behind blackholes, and our check.

Run by :func:`tests.servers.netns.run_in_netns` as ``python -m tests.servers.dead_servers
SCENARIO.json RESULT.json``. It

1. enters the private network (:func:`tests.servers.netns.enter_private_network`):
   ``/etc/resolv.conf`` → 127.0.0.1 (``options timeout:1 attempts:2``), loopback up;
2. serves the scenario's zone with dnsmasq behind a proxy on 127.0.0.1:53;
3. drops every TCP segment to the ``dead`` addresses with an nftables rule (a SYN is never
   answered, as behind a firewall that drops);
4. starts a test registrar on each ``listeners`` entry;
5. runs our check (empty Server field: the system resolver, discovery, connect) and writes
   what it did to RESULT.json: verdict, where it connected, how long it took, its timings
   and connect lines, and the REGISTERs each listener received.

Scenario JSON: ``{"zone": {"srv": [[prefix, target, port]…], "hosts": [[name, address]…]},
"dead": [address…], "listeners": [[address, port]…], "work_dir": PATH, "transport": "tcp",
"connect_timeout": S, "stagger": S}``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sipe_setup.core.account import Secret, parse_account
from sipe_setup.core.checkup import CheckOptions, run_check
from sipe_setup.core.discovery import DiscoveryOptions, ResolverSettings
from sipe_setup.core.steps import StepId
from tests.servers.dns_proxy import DnsProxy
from tests.servers.dnsmasq import Dnsmasq, DnsZone
from tests.servers.netns import enter_private_network
from tests.servers.registrar import Registrar, RegistrarConfig

PASSWORD = "Passw0rd!"
USERS = [("EXAMPLE", "alice", PASSWORD)]


def blackhole(addresses: list[str]) -> None:
    """nftables: drop every TCP segment to ``addresses`` (inside the namespace only)."""
    if not addresses:
        return
    nft = shutil.which("nft") or "/usr/sbin/nft"
    rules = ("add table inet blackhole\n"
             "add chain inet blackhole input { type filter hook input priority 0; }\n"
             f"add rule inet blackhole input ip daddr {{ {', '.join(addresses)} }} "
             "meta l4proto tcp drop\n")
    subprocess.run([nft, "-f", "-"], input=rules, text=True, check=True, timeout=20)


def main(argv: list[str]) -> int:
    scenario = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    enter_private_network(Path(scenario["work_dir"]))
    zone = DnsZone("example.test")
    for prefix, target, port in scenario["zone"]["srv"]:
        zone = zone.srv(prefix, target, int(port))
    for name, address in scenario["zone"]["hosts"]:
        zone = zone.host(name, address)
    blackhole(scenario["dead"])
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    listeners: dict[str, Registrar] = {}
    output: dict[str, Any] = {}
    with Dnsmasq(zone) as dnsmasq, DnsProxy(dnsmasq.port, listen_port=53):
        for host, port in scenario["listeners"]:
            registrar = Registrar(RegistrarConfig(users=USERS))
            asyncio.run_coroutine_threadsafe(registrar.start(host, int(port)), loop).result(10)
            listeners[f"{host}:{port}"] = registrar
        account = parse_account("alice@example.test", login="EXAMPLE\\alice",
                                transport=scenario.get("transport", "tcp"), auth="ntlm")
        options = CheckOptions(
            discovery=DiscoveryOptions(resolver=ResolverSettings(), deadline=8.0,
                                       autodiscover=False),
            connect_timeout=float(scenario["connect_timeout"]),
            connect_stagger=float(scenario["stagger"]), response_timeout=5.0, deadline=60.0)
        started = time.monotonic()
        result = asyncio.run(run_check(account, Secret(PASSWORD), options))
        output = {
            "elapsed": time.monotonic() - started,
            "verdict": result.verdict.value,
            "code": result.code,
            "selected": None if result.selected is None else [result.selected.host,
                                                              result.selected.port],
            "timings": result.timings,
            "connect_lines": [line for step in result.steps if step.step is StepId.CONNECT
                              for line in step.lines],
            "connect_summaries": [step.summary for step in result.steps
                                  if step.step is StepId.CONNECT],
            "resolver": (result.discovery or {}).get("resolver", ""),
            "registers": {key: r.stats.registers for key, r in listeners.items()},
            "connections": {key: r.stats.connections for key, r in listeners.items()},
        }
        for registrar in listeners.values():
            asyncio.run_coroutine_threadsafe(registrar.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    Path(argv[1]).write_text(json.dumps(output, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
