"""Benchmark: exec → sign-in verdict, sipe-setup against SIPE's order and real pidgin-sipe.

    .venv/bin/python -m tests.bench.e2e_bench      (or: make bench; root: a private netns)

Everything runs inside a private network + mount namespace (``tests.servers.netns``) so that
every client uses the *system* resolver the same way: ``/etc/resolv.conf`` points at
127.0.0.1:53, where a delaying proxy (``DnsProxy``) forwards to dnsmasq. The zone publishes
``_sipinternal._tcp.example.test`` → ``server.example.test:5060`` and its A record; port 5060
is the test registrar (NTLM), behind a proxy delaying every TCP chunk by the same amount when
the hop delay is above 0.

Per hop delay (0 and 50 ms), runs interleaved, each a fresh process:

- **sipe-setup**: ``sipe-setup check alice@example.test --transport tcp --auth ntlm`` (system
  resolver, discovery, sign-in, verdict, sign-out, report);
- **sequential**: the same flow run step by step in SIPE's order (``sequential_flow``: each
  name of SIPE's plan after the previous one, as ``discovery_bench``'s sequential walk, then
  the sign-in to the server found);
- **pidgin-sipe**: finch with the same account and an empty Server field, when installed.

Printed per client: exec → the registrar completing the authentication (the signed 200 OK
leaves the server; measured by the server, the same way for all), and for the two sipe-setup
flows exec → their verdict line on stdout (one hop after the server's figure at 50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tests.bench.support import VENV_BIN, TcpDelayProxy, median_ms, python_env, run_child

SIGNIN = "alice@example.test"
LOGIN = "EXAMPLE\\alice"
PASSWORD = "Passw0rd!"
USERS = [("EXAMPLE", "alice", PASSWORD)]
SIP_PORT = 5060


class _Loop:
    """A background asyncio loop for the TCP delay proxy."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _new_auth_time(stats: Any, before: int, timeout: float = 5.0) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(stats.authenticated_at) > before:
            return float(stats.authenticated_at[before])
        time.sleep(0.005)
    return None


def _sipe_setup(stats: Any) -> tuple[float, float]:
    before = len(stats.authenticated_at)
    command = [str(VENV_BIN / "sipe-setup"), "check", SIGNIN, "--login", LOGIN,
               "--transport", "tcp", "--auth", "ntlm", "--password-env", "BENCH_PW"]
    env = {k: v for k, v in python_env().items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    run = run_child(command, env={**env, "BENCH_PW": PASSWORD}, timeout=60)
    if run.returncode != 0:
        raise SystemExit(f"sipe-setup check failed:\n{run.output[-3000:]}")
    authenticated = _new_auth_time(stats, before)
    assert authenticated is not None
    return authenticated - run.started, run.to_first_line


def _timings() -> dict[str, float]:
    """One more run with ``--json``: the check's own timings (seconds from its start)."""
    import json as _json

    command = [str(VENV_BIN / "sipe-setup"), "check", SIGNIN, "--login", LOGIN,
               "--transport", "tcp", "--auth", "ntlm", "--password-env", "BENCH_PW", "--json"]
    env = {k: v for k, v in python_env().items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    run = run_child(command, env={**env, "BENCH_PW": PASSWORD}, timeout=60)
    document = _json.loads(run.output[:run.output.rindex("}") + 1])
    timings = {k: float(v) for k, v in document["timings"].items() if isinstance(v, float)}
    timings["exec_to_exit"] = run.wall
    return timings


def _sequential(stats: Any) -> tuple[float, float]:
    before = len(stats.authenticated_at)
    command = [str(VENV_BIN / "python"), "-m", "tests.bench.sequential_flow", SIGNIN, LOGIN]
    run = run_child(command, env={**python_env(), "BENCH_PW": PASSWORD}, timeout=60)
    if run.returncode != 0 or not run.first_line.startswith("Code: SS-OK"):
        raise SystemExit(f"sequential flow failed:\n{run.output[-3000:]}")
    authenticated = _new_auth_time(stats, before)
    assert authenticated is not None
    return authenticated - run.started, run.to_first_line


def _finch(stats: Any, purple: Path) -> float | None:
    from tests.servers.finch import run_finch, write_accounts_xml

    write_accounts_xml(purple, name=f"{SIGNIN},{LOGIN}", password=PASSWORD, settings={
        "server": ("string", ""), "transport": ("string", "tcp"),
        "authentication": ("string", "ntlm"), "sso": ("bool", "0")})
    before = len(stats.authenticated_at)
    started = time.monotonic()
    # linger: SIPE logs "Could not connect" for the autodiscover names (they do not resolve),
    # which run_finch takes for a verdict; the registrar's record is the figure anyway.
    run = run_finch(purple, timeout=20, linger=4.0)
    authenticated = _new_auth_time(stats, before, timeout=0.5)
    if not run.signed_in or authenticated is None:
        print(f"finch did not sign in ({run.elapsed:.1f} s; {run.errors}):\n" + run.tail(8),
              file=sys.stderr)
        return None
    return authenticated - started


def _one_delay(delay_ms: float, runs: int, dnsmasq_port: int, work: Path,
               finch: bool) -> dict[str, Any]:
    from tests.servers.dns_proxy import DnsProxy
    from tests.servers.registrar import RegistrarConfig, RegistrarThread

    loop = _Loop()
    registrar_port = SIP_PORT if delay_ms == 0 else 0
    out: dict[str, Any] = {"delay_ms": delay_ms, "ours": [], "sequential": [], "finch": []}
    with DnsProxy(dnsmasq_port, delay_ms=delay_ms, listen_port=53), \
            RegistrarThread(RegistrarConfig(users=USERS), port=registrar_port) as registrar:
        proxy = None
        if delay_ms:
            proxy = TcpDelayProxy(registrar.port, delay_ms / 1000)
            loop.run(proxy.start(SIP_PORT))
        stats = registrar.registrar.stats
        try:
            for index in range(runs):
                out["ours"].append(_sipe_setup(stats))
                out["sequential"].append(_sequential(stats))
                if finch:
                    result = _finch(stats, work / f"purple-{delay_ms:g}-{index}")
                    if result is not None:
                        out["finch"].append(result)
            out["timings"] = _timings()
        finally:
            if proxy is not None:
                loop.run(proxy.stop())
            loop.close()
    return out


def inside(args: argparse.Namespace) -> int:
    from tests.servers.dnsmasq import Dnsmasq, DnsZone
    from tests.servers.netns import enter_private_network

    work = Path(args.work)
    enter_private_network(work / "net")
    zone = (DnsZone("example.test").srv("_sipinternal._tcp", "server.example.test", SIP_PORT)
            .host("server.example.test", "127.0.0.1"))
    finch = shutil.which("finch") is not None and not args.no_finch
    results = []
    with Dnsmasq(zone) as dnsmasq:
        for delay in args.delays:
            results.append(_one_delay(delay, args.runs, dnsmasq.port, work, finch))
    (work / "result.json").write_text(json.dumps(results), encoding="utf-8")
    return 0


def _print(results: list[dict[str, Any]], runs: int) -> None:
    print("exec → sign-in verdict (system resolver in a private netns; TCP, NTLM; median (min) "
          f"of {runs})")
    for block in results:
        delay = block["delay_ms"]
        print(f"\n{delay:g} ms per DNS answer and per TCP chunk each way:")
        ours = block["ours"]
        seq = block["sequential"]
        theirs = block["finch"]
        print("  server signed the 200 OK after exec:")
        print(f"    sipe-setup              {median_ms([r[0] for r in ours])}")
        print(f"    sequential (SIPE order) {median_ms([r[0] for r in seq])}")
        if theirs:
            print(f"    pidgin-sipe (finch)     {median_ms(theirs)}")
        else:
            print("    pidgin-sipe (finch)     not installed or did not sign in")
        print("  verdict line on stdout after exec:")
        print(f"    sipe-setup              {median_ms([r[1] for r in ours])}")
        print(f"    sequential (SIPE order) {median_ms([r[1] for r in seq])}")
        timings = block.get("timings", {})
        if timings:
            shown = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in timings.items()
                              if k in ("discovery", "connect", "first_register", "verdict",
                                       "total", "exec_to_exit"))
            print(f"  one sipe-setup run, its own timings (from the check's start): {shown}")
        ours_server = statistics.median(r[0] for r in ours)
        print(f"  sequential / sipe-setup: "
              f"{statistics.median(r[0] for r in seq) / ours_server:.2f}x", end="")
        if theirs:
            print(f";  pidgin-sipe / sipe-setup: {statistics.median(theirs) / ours_server:.2f}x"
                  "  (target >= 1.0)")
        else:
            print()


def main() -> int:
    parser = argparse.ArgumentParser(description="exec → verdict benchmark")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--delays", type=float, nargs="*", default=[0.0, 50.0])
    parser.add_argument("--no-finch", action="store_true")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        return inside(args)
    from tests.servers.netns import netns_problem, run_in_netns

    problem = netns_problem()
    if problem is not None:
        print(f"e2e benchmark skipped: {problem}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        command = ["--inside", "--work", tmp, "--runs", str(args.runs), "--delays",
                   *(f"{d:g}" for d in args.delays)]
        if args.no_finch:
            command.append("--no-finch")
        done = run_in_netns("tests.bench.e2e_bench", *command,
                            timeout=120 + 60 * args.runs * len(args.delays))
        if done.stderr.strip():
            print(done.stderr[-5000:], file=sys.stderr)
        if done.returncode != 0:
            print(done.stdout[-3000:], file=sys.stderr)
            return 1
        results = json.loads((Path(tmp) / "result.json").read_text(encoding="utf-8"))
    _print(results, args.runs)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
