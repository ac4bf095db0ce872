"""Inside a private network namespace: our check and the real pidgin-sipe, same DNS, same servers.

Run by :func:`tests.servers.netns.run_in_netns` as ``python -m tests.servers.sipe_choices
SCENARIO.json RESULT.json``. It

1. enters the private network (:func:`tests.servers.netns.enter_private_network`):
   ``/etc/resolv.conf`` → 127.0.0.1, loopback up;
2. starts :class:`~tests.servers.ordered_dns.OrderedDnsServer` on 127.0.0.1:53 with the
   scenario's records, in the scenario's order;
3. starts one test registrar per listener (``host``, ``port``; any 127.x address);
4. runs our check (empty Server field, the system resolver — as a user's check does);
5. runs finch with the same account (empty Server field: SIPE discovers on its own);
6. writes what each did to RESULT.json: the check's prediction, where it connected, its
   connect-step lines; SIPE's SRV answers, the servers it dialled, the addresses libpurple
   tried, where it connected; and which listener each of them reached.

Scenario JSON: ``{"zone": [{name, type, text}…], "listeners": [[host, port]…],
"purple_dir": PATH, "work_dir": PATH, "transport": "tcp", "finch_timeout": S,
"expect_sign_in": bool}``.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sipe_setup.core.account import Secret, parse_account
from sipe_setup.core.checkup import CheckOptions, run_check
from sipe_setup.core.discovery import DiscoveryOptions, ResolverSettings
from sipe_setup.core.steps import StepId
from tests.servers.finch import SUCCESS_TEXT, run_finch, write_accounts_xml
from tests.servers.netns import enter_private_network
from tests.servers.ordered_dns import OrderedDnsServer, OrderedZone
from tests.servers.registrar import Registrar, RegistrarConfig

SIGNIN = "alice@example.test"
LOGIN = "EXAMPLE\\alice"
PASSWORD = "Passw0rd!"
USERS = [("EXAMPLE", "alice", PASSWORD)]

# SIPE / libpurple debug lines (sip-transport.c, purple-transport.c, libpurple proxy.c)
_DIALLED = re.compile(r"transport_connect - hostname: (\S*) port: (\d+)")
_SRV_RESOLVED = re.compile(r"sipe_core_dns_resolved - SRV hostname: (\S*) port: (\d+)")
_CONNECTED = re.compile(r"sip_transport_connected: '([^']*):(\d+)'")
_ATTEMPT = re.compile(r"proxy: Attempting connection to (\S+)")
_SRV_QUERY = re.compile(r"dnssrv: querying SRV record for \S+: (\S+)")


class Listeners:
    """Test registrars on given loopback addresses, in one background event loop."""

    def __init__(self, addresses: list[tuple[str, int]]) -> None:
        self.addresses = addresses
        self.registrars: dict[str, Registrar] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Listeners:
        self._thread.start()
        for host, port in self.addresses:
            registrar = Registrar(RegistrarConfig(users=USERS))
            asyncio.run_coroutine_threadsafe(registrar.start(host, port), self._loop).result(10)
            self.registrars[f"{host}:{port}"] = registrar
        return self

    def connections(self) -> dict[str, int]:
        return {key: r.stats.connections for key, r in self.registrars.items()}

    def __exit__(self, *exc: object) -> None:
        for registrar in self.registrars.values():
            asyncio.run_coroutine_threadsafe(registrar.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}


def run_our_check(transport: str) -> dict[str, Any]:
    account = parse_account(SIGNIN, login=LOGIN, transport=transport)
    options = CheckOptions(
        discovery=DiscoveryOptions(resolver=ResolverSettings(timeout=1.0, attempts=2),
                                   deadline=8.0),
        connect_timeout=3.0, response_timeout=3.0, deadline=40.0)
    started = time.monotonic()
    result = asyncio.run(run_check(account, Secret(PASSWORD), options))
    selected = result.selected
    discovery: dict[str, Any] = result.discovery or {}
    return {
        "elapsed": time.monotonic() - started,
        "verdict": result.verdict.value,
        "code": result.code,
        "selected": (None if selected is None else
                     {"host": selected.host, "port": selected.port,
                      "address": selected.connected_address}),
        "candidates": [[c["host"], c["port"]] for c in discovery.get("candidates", [])],
        "srv": {q["name"]: {"choices": q.get("sipe_choices", []), "detail": q["detail"]}
                for q in discovery.get("queries", [])
                if q["type"] == "SRV" and q["outcome"] == "answer"},
        "warnings": [f"{w['code']}: {w['message']}" for w in discovery.get("warnings", [])],
        "connect_lines": [line for step in result.steps if step.step is StepId.CONNECT
                          for line in step.lines],
        "connect_summaries": [step.summary for step in result.steps
                              if step.step is StepId.CONNECT],
    }


def run_sipe(purple_dir: Path, transport: str, timeout: float,
             expect_sign_in: bool) -> dict[str, Any]:
    write_accounts_xml(purple_dir, name=f"{SIGNIN},{LOGIN}", password=PASSWORD, settings={
        "server": ("string", ""),  # empty: SIPE discovers the server itself
        "transport": ("string", transport),
        "authentication": ("string", "ntlm"),
        "sso": ("bool", "0"),
    })
    run = run_finch(purple_dir, timeout=timeout,
                    until=SUCCESS_TEXT if expect_sign_in else "sip_transport_connected",
                    linger=0.3)
    log = run.log
    connected = _CONNECTED.search(log)
    return {
        "elapsed": run.elapsed,
        "srv_queries": _SRV_QUERY.findall(log),
        "srv_resolved": [[h, int(p)] for h, p in _SRV_RESOLVED.findall(log)],
        "dialled": [[h, int(p)] for h, p in _DIALLED.findall(log)],
        "attempted_addresses": _ATTEMPT.findall(log),
        "connected": None if connected is None else [connected[1], int(connected[2])],
        "signed_in": run.signed_in,
        "log_tail": run.tail(80),
    }


def main(argv: list[str]) -> int:
    scenario = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    out_path = Path(argv[1])
    enter_private_network(Path(scenario["work_dir"]))
    transport = scenario.get("transport", "tcp")
    listeners = [(str(h), int(p)) for h, p in scenario["listeners"]]
    output: dict[str, Any] = {}
    with OrderedDnsServer(OrderedZone.from_json(scenario["zone"]), host="127.0.0.1",
                          port=53) as dns_server, Listeners(listeners) as servers:
        before = servers.connections()
        if scenario.get("run_check", True):
            output["check"] = run_our_check(transport)
        middle = servers.connections()
        output["sipe"] = run_sipe(Path(scenario["purple_dir"]), transport,
                                  float(scenario.get("finch_timeout", 12.0)),
                                  bool(scenario.get("expect_sign_in", True)))
        after = servers.connections()
        output.setdefault("check", {})["reached"] = _delta(before, middle)
        output["sipe"]["reached"] = _delta(middle, after)
        output["dns_queries"] = [list(q) for q in dns_server.queries]
    out_path.write_text(json.dumps(output, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
