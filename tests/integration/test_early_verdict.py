"""The verdict comes as soon as the signed 200 OK is verified; the sign-out follows and is still
a step of the result (test registrar on 127.0.0.1, behind a delaying proxy where the order in
time is asserted)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipe_setup.core.account import Secret, parse_account
from sipe_setup.core.checkup import CheckOptions, run_check
from sipe_setup.core.report import report_json, report_text
from sipe_setup.core.steps import CheckResult, StepId, StepStatus, Verdict
from tests.servers.registrar import Registrar, RegistrarConfig
from tests.servers.tcp_delay import TcpDelayProxy

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Passw0rd!"
USERS = [("EXAMPLE", "alice", PASSWORD)]
HOP = 0.25


def test_the_verdict_comes_before_the_sign_out() -> None:
    seen: list[tuple[CheckResult, int]] = []

    async def go() -> tuple[CheckResult, Registrar]:
        registrar = Registrar(RegistrarConfig(users=USERS))
        port = await registrar.start()
        try:
            account = parse_account("alice@example.test", login="EXAMPLE\\alice",
                                    server=f"127.0.0.1:{port}", transport="tcp")
            result = await run_check(
                account, Secret(PASSWORD), CheckOptions(response_timeout=5, deadline=30),
                on_verdict=lambda early: seen.append((early, registrar.stats.registers)))
        finally:
            await registrar.stop()
        return result, registrar

    result, registrar = asyncio.run(go())
    assert result.verdict is Verdict.SIGNED_IN, report_text(result)
    assert len(seen) == 1
    early, registers_then = seen[0]
    assert (early.verdict, early.code, early.summary) == (result.verdict, result.code,
                                                          result.summary)
    assert StepId.DEREGISTER not in {s.step for s in early.steps}
    assert registers_then == registrar.stats.registers - 1  # the sign-out REGISTER came after
    signout = [s for s in result.steps if s.step is StepId.DEREGISTER]
    assert len(signout) == 1 and signout[0].status is StepStatus.PASS
    assert '"id": "deregister"' in report_json(result)


@pytest.fixture
def slow_registrar() -> Iterator[int]:
    """The registrar behind a proxy adding ``HOP`` s each way; yields the proxy's port."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    registrar = Registrar(RegistrarConfig(users=USERS))

    def run(coroutine: object) -> object:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(10)  # type: ignore[arg-type]

    upstream = run(registrar.start())
    proxy = TcpDelayProxy(int(upstream), HOP)  # type: ignore[call-overload]
    port = run(proxy.start(0))
    try:
        yield int(port)  # type: ignore[call-overload]
    finally:
        run(proxy.stop())
        run(registrar.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def test_the_cli_prints_the_code_first_then_the_report_after_the_sign_out(
        slow_registrar: int) -> None:
    command = [sys.executable, "-m", "sipe_setup", "check", "alice@example.test", "--login",
               "EXAMPLE\\alice", "--server", f"127.0.0.1:{slow_registrar}", "--transport",
               "tcp", "--auth", "ntlm", "--password-env", "PW"]
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=ROOT, env={**env, "PW": PASSWORD})
    assert process.stdout is not None
    first = process.stdout.readline()
    first_at = time.monotonic()
    rest = process.stdout.read()
    ended_at = time.monotonic()
    assert process.wait(30) == 0, rest + (process.stderr.read() if process.stderr else "")
    assert first == "Code: SS-OK\n"
    # The sign-out (a signed REGISTER and its answer: one round trip, 2 × HOP) comes after the
    # code was printed; the rest of the report after it.
    assert ended_at - first_at >= 2 * HOP * 0.9
    assert rest.startswith("Result: Signed in as alice@example.test")
    assert "Sign out again: signed out" in rest
    assert "Code:" not in rest
