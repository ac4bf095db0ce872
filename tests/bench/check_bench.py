"""Benchmark: wall time and round trips of a check, with 50 ms added on every hop.

    .venv/bin/python -m tests.bench.check_bench

Setup (all on 127.0.0.1): dnsmasq behind the delaying DNS proxy (every answer +50 ms) publishes
``_sipinternal._tcp.example.test`` → ``server.example.test:<port>``; the port is a TCP proxy that
delays every chunk by 50 ms in each direction, in front of the test registrar (NTLM v4, and
Kerberos with a real KDC when krb5kdc is installed).

The minimum possible for a sign-in is two DNS rounds (all SRV/A names are asked at once; the
SRV target's address is asked when the SRV answer arrives) plus the REGISTER round trips SIPE
needs (NTLM: 3, Kerberos: 2), each 2 × 50 ms. The TCP handshake is
not delayed by the proxy, so connect time is not part of either figure. Printed: time from start
to the verdict (signed 200 verified), the minimum, and the REGISTERs sent before the verdict.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

from sipe_setup.core.account import Secret, parse_account
from sipe_setup.core.checkup import CheckOptions, run_check
from sipe_setup.core.discovery import DiscoveryOptions, Nameserver, ResolverSettings
from tests.bench.support import TcpDelayProxy
from tests.servers.dns_proxy import DnsProxy
from tests.servers.dnsmasq import Dnsmasq, DnsZone, free_udp_port
from tests.servers.kdc import MitKdc
from tests.servers.registrar import Registrar, RegistrarConfig

HOP = 0.050
PASSWORD = "Passw0rd!"
RUNS = 5


async def one_check(dns_port: int, login: str, auth: str) -> tuple[float, float, int]:
    account = parse_account("alice@example.test", login=login, transport="tcp", auth=auth)
    options = CheckOptions(discovery=DiscoveryOptions(
        resolver=ResolverSettings((Nameserver("127.0.0.1", dns_port),), timeout=2, attempts=2),
        autodiscover=False))
    result = await run_check(account, Secret(PASSWORD), options)
    if not result.ok:
        raise SystemExit(f"check failed: {result.code} {result.summary}")
    return (result.timings["verdict"], result.timings["discovery"],
            int(result.timings["register_round_trips_to_verdict"]))


async def bench(label: str, registrar: Registrar, dns_port: int, proxy_port: int, login: str,
                auth: str, sipe_round_trips: int) -> None:
    upstream = await registrar.start()
    proxy = TcpDelayProxy(upstream, HOP)
    await proxy.start(proxy_port)
    try:
        runs = [await one_check(dns_port, login, auth) for _ in range(RUNS)]
    finally:
        await proxy.stop()
        await registrar.stop()
    verdict = statistics.median(r[0] for r in runs)
    discovery = statistics.median(r[1] for r in runs)
    trips = runs[0][2]
    # Two DNS rounds (the SRV answer names a host whose A record is asked next), then the
    # REGISTER round trips.
    minimum = 2 * HOP + sipe_round_trips * 2 * HOP
    print(f"{label:9} start→verdict {verdict:.3f} s (median of {RUNS}); discovery "
          f"{discovery:.3f} s; REGISTERs before the verdict: {trips} (SIPE: "
          f"{sipe_round_trips}); minimum possible {minimum:.3f} s; overhead "
          f"{(verdict - minimum) * 1000:+.0f} ms")


def main() -> int:
    proxy_port = free_udp_port()
    zone = (DnsZone("example.test")
            .srv("_sipinternal._tcp", "server.example.test", proxy_port)
            .host("server.example.test", "127.0.0.1"))
    with tempfile.TemporaryDirectory() as tmp, Dnsmasq(zone) as dns, \
            DnsProxy(dns.port, delay_ms=int(HOP * 1000)) as dns_proxy:
        print(f"every DNS answer and every TCP chunk each way delayed by {HOP * 1000:.0f} ms")
        users = [("EXAMPLE", "alice", PASSWORD)]
        asyncio.run(bench("NTLM v4", Registrar(RegistrarConfig(users=users)), dns_proxy.port,
                          proxy_port, "EXAMPLE\\alice", "ntlm", 3))
        if os.path.exists("/usr/sbin/krb5kdc"):
            with MitKdc.start(Path(tmp) / "kdc") as kdc:
                kdc.add_user("alice", PASSWORD)
                keytab = kdc.add_service("sip/server.example.test")
                os.environ.update(kdc.client_env(f"FILE:{Path(tmp) / 'ccache'}"))
                registrar = Registrar(RegistrarConfig(users=users, keytab=keytab))
                asyncio.run(bench("Kerberos", registrar, dns_proxy.port, proxy_port,
                                  "alice@EXAMPLE.TEST", "kerberos", 2))
        else:
            print("Kerberos: skipped (krb5kdc not installed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
