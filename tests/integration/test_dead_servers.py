"""Dead servers cost one connect timeout, not one each — and SIPE's priority still decides.

In a private network namespace (root; ``tests.servers.dead_servers``), SIPE's TCP plan has
six candidates on six addresses; nftables drops every TCP segment to the first ones, so their
SYNs are never answered. pidgin-sipe would wait the kernel's give-up time for each in turn
(libpurple has no connect timeout: 127 s each with Linux's defaults); the check dials them
staggered and uses the first in SIPE's order that answers. Under CI=true a machine that cannot
run this fails (no skip).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_tool
from tests.servers.netns import require_netns, run_in_netns

DOMAIN = "example.test"
# SIPE's TCP plan in order: the two SRV names, then sipinternal:5061, sipexternal:443,
# sip:443 and the bare domain:5060 — each on its own address.
PLAN = [("_sipinternal._tcp", f"dead1.{DOMAIN}", "127.0.0.11", 5060),
        ("_sip._tcp", f"dead2.{DOMAIN}", "127.0.0.12", 5060),
        (None, f"sipinternal.{DOMAIN}", "127.0.0.13", 5061),
        (None, f"sipexternal.{DOMAIN}", "127.0.0.14", 443),
        (None, f"sip.{DOMAIN}", "127.0.0.15", 443),
        (None, DOMAIN, "127.0.0.16", 5060)]
TIMEOUT = 2.0
STAGGER = 0.1


def run_scenario(tmp_path: Path, dead: int) -> dict[str, Any]:
    require_netns()
    require_tool("nft")
    srv = [[prefix, name, port] for prefix, name, _, port in PLAN if prefix]
    hosts = [[name, address] for _, name, address, _ in PLAN]
    listeners = [[address, port] for _, _, address, port in PLAN[dead:]]
    scenario = {"zone": {"srv": srv, "hosts": hosts},
                "dead": [address for _, _, address, _ in PLAN[:dead]],
                "listeners": listeners, "work_dir": str(tmp_path / "etc"),
                "transport": "tcp", "connect_timeout": TIMEOUT, "stagger": STAGGER}
    (tmp_path / "scenario.json").write_text(json.dumps(scenario), encoding="utf-8")
    done = run_in_netns("tests.servers.dead_servers", str(tmp_path / "scenario.json"),
                        str(tmp_path / "result.json"), timeout=120)
    assert done.returncode == 0, done.stderr[-4000:]
    return dict(json.loads((tmp_path / "result.json").read_text(encoding="utf-8")))


def test_four_dead_servers_cost_one_timeout_and_the_next_in_sipe_order_is_used(
        tmp_path: Path) -> None:
    out = run_scenario(tmp_path, dead=4)
    why = json.dumps(out, indent=1)
    assert out["verdict"] == "signed-in", why
    _, live, address, port = PLAN[4]
    assert out["selected"] == [live, port], why
    # Sequentially that is 4 × TIMEOUT of connects; dialled staggered, one timeout.
    assert out["elapsed"] < TIMEOUT + 4 * STAGGER + 1.5, why
    # Only SIPE's choice got the sign-in: the server after it was never even dialled.
    assert out["registers"][f"{address}:{port}"] >= 3, why
    after = f"{PLAN[5][2]}:{PLAN[5][3]}"
    assert out["connections"][after] == 0 and out["registers"][after] == 0, why
    # What Pidgin would have waited on that path, said in the report.
    assert out["timings"]["sipe_connect_wait"] == pytest.approx(4 * 127.0), why
    assert sum("Pidgin would wait 2 min 7 s here" in line for line in out["connect_lines"]) \
        == 4, why
    assert any("Pidgin would get here only after about 8 min 28 s" in line
               for line in out["connect_lines"]), why
    # The system resolver's settings, as glibc reads them, are in the report.
    assert "1 s per try" in out["resolver"] and "resolv.conf" in out["resolver"], why


def test_a_live_first_server_is_used_at_once(tmp_path: Path) -> None:
    out = run_scenario(tmp_path, dead=0)
    why = json.dumps(out, indent=1)
    assert out["verdict"] == "signed-in", why
    assert out["selected"] == [PLAN[0][1], PLAN[0][3]], why
    assert "sipe_connect_wait" not in out["timings"], why
    others = [f"{address}:{port}" for _, _, address, port in PLAN[1:]]
    assert all(out["registers"][key] == 0 for key in others), why
