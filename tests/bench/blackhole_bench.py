"""Benchmark: N blackholed candidate servers before the one that works.

    .venv/bin/python -m tests.bench.blackhole_bench [--dead N]   (make bench; root: netns)

Inside a private network namespace (``tests.servers.netns``) with ``/etc/resolv.conf`` →
127.0.0.1:53 (dnsmasq), the zone gives SIPE's TCP plan six candidates, each on its own
address: ``_sipinternal._tcp`` → dead1, ``_sip._tcp`` → dead2, then ``sipinternal``,
``sipexternal``, ``sip`` and the bare domain. The first N addresses are blackholed with an
nftables rule (every TCP segment to them is dropped: a SYN is never answered); the test
registrar listens on candidate N+1.

Printed: ``sipe-setup check … --transport tcp`` from exec to its verdict line and to its exit,
against what pidgin-sipe would wait on the same path: libpurple has no connect timeout of its
own, so each blackholed server costs the kernel's SYN give-up time (``tcp_syn_retries``
retransmissions with a doubling 1 s timeout: 127 s with Linux's default of 6), one after
the other. ``--finch`` also runs real finch (N × ~2 minutes).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench.support import VENV_BIN, python_env, run_child

SIGNIN = "alice@example.test"
LOGIN = "EXAMPLE\\alice"
PASSWORD = "Passw0rd!"
USERS = [("EXAMPLE", "alice", PASSWORD)]
DOMAIN = "example.test"
# SIPE's TCP plan, in order: (DNS name, address, port the candidate is dialled on)
CANDIDATES = [(f"dead1.{DOMAIN}", "127.0.0.11", 5060), (f"dead2.{DOMAIN}", "127.0.0.12", 5060),
              (f"sipinternal.{DOMAIN}", "127.0.0.13", 5061),
              (f"sipexternal.{DOMAIN}", "127.0.0.14", 443), (f"sip.{DOMAIN}", "127.0.0.15", 443),
              (DOMAIN, "127.0.0.16", 5060)]


def syn_give_up_seconds() -> float:
    """How long Linux waits for an unanswered SYN: 1 + 2 + 4 … (tcp_syn_retries + 1 waits)."""
    try:
        retries = int(Path("/proc/sys/net/ipv4/tcp_syn_retries").read_text().strip())
    except (OSError, ValueError):
        retries = 6
    return float(2 ** (retries + 1) - 1)


def _nft(dead: list[str]) -> None:
    nft = shutil.which("nft") or "/usr/sbin/nft"
    rules = (f"add table inet blackhole\n"
             "add chain inet blackhole input { type filter hook input priority 0; }\n"
             f"add rule inet blackhole input ip daddr {{ {', '.join(dead)} }} "
             "meta l4proto tcp drop\n")
    subprocess.run([nft, "-f", "-"], input=rules, text=True, check=True, timeout=20)


def inside(args: argparse.Namespace) -> int:
    from tests.servers.dns_proxy import DnsProxy
    from tests.servers.dnsmasq import Dnsmasq, DnsZone
    from tests.servers.netns import enter_private_network
    from tests.servers.registrar import RegistrarConfig, RegistrarThread

    work = Path(args.work)
    enter_private_network(work / "net")
    zone = (DnsZone(DOMAIN).srv("_sipinternal._tcp", CANDIDATES[0][0], CANDIDATES[0][2])
            .srv("_sip._tcp", CANDIDATES[1][0], CANDIDATES[1][2]))
    live_host, _, live_port = CANDIDATES[args.dead]
    for name, address, _ in CANDIDATES:
        # the live candidate on 127.0.0.1, where the registrar listens
        zone = zone.host(name, "127.0.0.1" if name == live_host else address)
    dead = [address for _, address, _ in CANDIDATES[:args.dead]]
    _nft(dead)
    out: dict[str, Any] = {"dead": args.dead, "live": f"{live_host}:{live_port}",
                           "syn_give_up": syn_give_up_seconds(), "runs": []}
    env = {k: v for k, v in python_env().items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    with Dnsmasq(zone) as dnsmasq, DnsProxy(dnsmasq.port, listen_port=53), \
            RegistrarThread(RegistrarConfig(users=USERS), port=live_port) as registrar:
        del registrar
        for _ in range(args.runs):
            command = [str(VENV_BIN / "sipe-setup"), "check", SIGNIN, "--login", LOGIN,
                       "--transport", "tcp", "--auth", "ntlm", "--password-env", "BENCH_PW"]
            run = run_child(command, env={**env, "BENCH_PW": PASSWORD}, timeout=600)
            json_run = run_child([*command, "--json"], env={**env, "BENCH_PW": PASSWORD},
                                 timeout=600)
            document = json.loads(json_run.output[:json_run.output.rindex("}") + 1])
            out["runs"].append({"verdict_line": run.to_first_line, "exit": run.wall,
                                "code": run.first_line, "returncode": run.returncode,
                                "timings": document.get("timings", {}),
                                "summary": document.get("summary", "")})
        if args.finch and shutil.which("finch"):
            from tests.servers.finch import run_finch, write_accounts_xml

            purple = work / "purple"
            write_accounts_xml(purple, name=f"{SIGNIN},{LOGIN}", password=PASSWORD, settings={
                "server": ("string", ""), "transport": ("string", "tcp"),
                "authentication": ("string", "ntlm"), "sso": ("bool", "0")})
            started = time.monotonic()
            finch = run_finch(purple, timeout=args.dead * 140 + 30, linger=0.1)
            out["finch"] = {"signed_in": finch.signed_in, "elapsed": time.monotonic() - started}
    (work / "result.json").write_text(json.dumps(out), encoding="utf-8")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="blackholed candidates benchmark")
    parser.add_argument("--dead", type=int, default=5, choices=range(1, len(CANDIDATES)))
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--finch", action="store_true", help="also run finch (slow)")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        return inside(args)
    from tests.servers.netns import netns_problem, run_in_netns

    problem = netns_problem() or (None if shutil.which("nft") or Path("/usr/sbin/nft").exists()
                                  else "nft is not installed (Debian package nftables)")
    if problem is not None:
        print(f"blackhole benchmark skipped: {problem}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        command = ["--inside", "--work", tmp, "--dead", str(args.dead), "--runs",
                   str(args.runs)]
        if args.finch:
            command.append("--finch")
        done = run_in_netns("tests.bench.blackhole_bench", *command,
                            timeout=args.runs * args.dead * 60 + 200 + (
                                args.dead * 140 if args.finch else 0))
        if done.returncode != 0:
            print(done.stdout[-3000:], done.stderr[-5000:], file=sys.stderr)
            return 1
        out = json.loads((Path(tmp) / "result.json").read_text(encoding="utf-8"))
    sipe_wait = out["dead"] * out["syn_give_up"]
    print(f"{out['dead']} blackholed candidates before {out['live']} (TCP; SYNs dropped by "
          "nftables in a private netns)")
    for run in out["runs"]:
        said = run["timings"].get("sipe_connect_wait")
        print(f"  sipe-setup: verdict line after {run['verdict_line']:6.2f} s, exit after "
              f"{run['exit']:6.2f} s ({run['code'] or run['returncode']})"
              + (f"; its report: SIPE would wait {said:.0f} s" if said is not None else ""))
    print(f"  pidgin-sipe would wait {sipe_wait:.0f} s before connecting "
          f"({out['dead']} x {out['syn_give_up']:.0f} s: no connect timeout in libpurple, "
          "the kernel gives up on a SYN after tcp_syn_retries)")
    if "finch" in out:
        print(f"  finch measured: {out['finch']['elapsed']:.1f} s "
              f"(signed in: {out['finch']['signed_in']})")
    best = min(run["verdict_line"] for run in out["runs"])
    print(f"  speed-up {sipe_wait / best:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
