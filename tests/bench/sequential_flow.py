"""The reference flow of ``e2e_bench``: a sign-in run step by step in SIPE's order.

    python -m tests.bench.sequential_flow SIGNIN LOGIN      (password in $BENCH_PW)

What pidgin-sipe does, with the check's own code: each name of SIPE's plan resolved after the
previous one (``discovery_bench.sequential_walk_server``; the nameserver of
``/etc/resolv.conf``, 127.0.0.1:53 in the benchmark's namespace), then a connect and the
REGISTERs to the server found (the check with that server given, TCP, NTLM). Prints
``Code: SS-OK`` the moment the signed 200 OK is verified, then exits.
"""

from __future__ import annotations

import asyncio
import os
import sys

from sipe_setup.core.account import Secret, parse_account
from sipe_setup.core.checkup import CheckOptions, run_check
from sipe_setup.core.discovery import Nameserver, ResolverSettings
from sipe_setup.core.discovery.dns import make_resolver
from sipe_setup.core.steps import StepEvent, StepId, StepStatus
from tests.bench.discovery_bench import sequential_walk_server


async def flow(signin: str, login: str, password: str) -> int:
    settings = ResolverSettings((Nameserver("127.0.0.1", 53),), timeout=1.0, attempts=2)
    host, port, _ = await sequential_walk_server(make_resolver(settings), signin, "tcp")
    if not host:
        print("Code: SS-DISC-NONE", flush=True)
        return 1
    account = parse_account(signin, login=login, server=f"{host}:{port}", transport="tcp",
                            auth="ntlm")

    def on_event(event: StepEvent) -> None:
        if event.step is StepId.SIGNED_OK and event.kind == "finished" and \
                event.status in (StepStatus.PASS, StepStatus.WARN):
            print("Code: SS-OK", flush=True)

    result = await run_check(account, Secret(password), CheckOptions(), on_event=on_event)
    if not result.ok:
        print(f"Code: {result.code}", flush=True)
    return 0 if result.ok else 1


def main(argv: list[str]) -> int:
    return asyncio.run(flow(argv[0], argv[1], os.environ["BENCH_PW"]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
