"""What a hostile or broken server sends is data: it never drives the terminal, never grows the
report without limit and never stretches a timeout.

Against the Lync-like registrar (scenarios ``hostile-text`` and ``trying-forever``), a TCP
server that never answers the TLS ClientHello, and an HTTP server that dribbles an autodiscover
body one byte at a time.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipe_setup.core.account import Secret, parse_account
from sipe_setup.core.checkup import CheckOptions, run_check
from sipe_setup.core.checkup.session import MAX_PROVISIONAL_ANSWERS
from sipe_setup.core.discovery import AutodiscoverOutcome, AutodiscoverSettings
from sipe_setup.core.discovery.autodiscover import AutodiscoverClient
from sipe_setup.core.discovery.model import AutodiscoverAttempt
from sipe_setup.core.report import Redaction, report_html, report_json, report_text
from sipe_setup.core.steps import CheckResult, StepEvent, StepStatus
from sipe_setup.core.transport import ConnectFailed, open_sip_connection
from tests.servers.registrar import HOSTILE_TEXT, Registrar, RegistrarConfig

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Passw0rd!"
USERS = [("EXAMPLE", "alice", PASSWORD)]
FAST = CheckOptions(response_timeout=3.0, connect_timeout=2.0, deadline=20.0)

# Anything a terminal would obey: C0 but for LF, DEL, C1, bidi controls, LS/PS.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                         "\u202a-\u202e\u2066-\u2069]")


def _check(scenario: str, *, transport: str = "tcp", port: int | None = None,
           events: list[StepEvent] | None = None,
           options: CheckOptions = FAST) -> CheckResult:
    async def go() -> CheckResult:
        registrar = Registrar(RegistrarConfig(users=USERS, scenario=scenario))
        server_port = port or await registrar.start()
        try:
            account = parse_account("alice@example.test", login="EXAMPLE\\alice",
                                    server=f"127.0.0.1:{server_port}", transport=transport)
            return await run_check(account, Secret(PASSWORD), options,
                                   on_event=events.append if events is not None else None)
        finally:
            await registrar.stop()

    return asyncio.run(go())


# --- terminal escapes ---------------------------------------------------------------------------


def test_hostile_reason_warning_and_server_never_reach_a_report_raw() -> None:
    events: list[StepEvent] = []
    result = _check("hostile-text", events=events)
    assert not result.ok and result.code == "SS-SIP-403"
    # The facts keep the server's text exactly (data)...
    assert result.server.server_header == HOSTILE_TEXT
    assert any(HOSTILE_TEXT in event.line for event in events)
    # ...every rendering shows it without a single control character.
    text = report_text(result)
    html = report_html(result)
    assert not RAW_CONTROL.search(text), RAW_CONTROL.findall(text)
    assert not RAW_CONTROL.search(html), RAW_CONTROL.findall(html)
    assert "\\x1b]52;c;cm0gLXJmIH4K\\x07" in text  # the OSC 52 write, visible and inert
    assert "\\u202egnp.exe" in text and "\\u009b31m" in text
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html
    # Exactly one Code: line starts a line: the server's fake "Code: SS-OK" stays inside its
    # own line (no CR, no line separator, no cursor-up reaches the terminal).
    assert [line for line in text.splitlines() if line.startswith("Code:")] == [
        "Code: SS-SIP-403"]
    document = report_json(result)
    assert not RAW_CONTROL.search(document.replace("\n", " "))
    assert json.loads(document)["server"]["server_header"] == HOSTILE_TEXT  # data kept exact


def test_redacted_hostile_report_is_still_clean() -> None:
    result = _check("hostile-text")
    redaction = Redaction(secret=Secret(PASSWORD), users=("alice",), hosts=("example.test",))
    for render in (report_text, report_html):
        assert not RAW_CONTROL.search(render(result, redaction))


@pytest.fixture(scope="module")
def hostile_registrar() -> Iterator[int]:
    """The standalone registrar in the hostile-text scenario, as a person would start it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.servers.registrar", "--port", "0", "--scenario",
         "hostile-text", "--user", f"EXAMPLE\\alice:{PASSWORD}"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    yield int(line.split("127.0.0.1:")[1].split()[0])
    process.terminate()
    process.wait(5)


@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
def test_cli_prints_no_raw_control_bytes(hostile_registrar: int, json_output: bool) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sipe_setup", "check", "alice@example.test", "--login",
         "EXAMPLE\\alice", "--server", f"127.0.0.1:{hostile_registrar}", "--transport", "tcp",
         "--password-stdin", *(["--json"] if json_output else [])],
        input=f"{PASSWORD}\n".encode(), capture_output=True, timeout=60, cwd=ROOT)
    assert done.returncode == 1, done.stderr
    for stream in (done.stdout, done.stderr):
        text = stream.decode("utf-8")  # strict: no lone surrogates either
        assert not RAW_CONTROL.search(text.replace("\n", " ")), RAW_CONTROL.findall(text)
    out = done.stdout.decode("utf-8")
    if json_output:
        assert json.loads(out)["server"]["server_header"] == HOSTILE_TEXT
    else:
        assert out.startswith("Code: SS-SIP-403\n")
        assert "\\x1b[2J" in out


# --- a chatty server ----------------------------------------------------------------------------


def test_endless_100_trying_is_no_final_answer_and_bounded() -> None:
    events: list[StepEvent] = []
    started = time.monotonic()
    result = _check("trying-forever", events=events)
    assert time.monotonic() - started < FAST.response_timeout  # not waited out: bounded count
    assert result.code == "SS-SIP-NOFINAL"
    register = next(s for s in result.steps if s.status is StepStatus.FAIL)
    assert "provisional" in register.summary
    trying = [line for line in register.lines if "100 Trying" in line]
    assert len(trying) == MAX_PROVISIONAL_ANSWERS
    assert sum(1 for e in events if e.kind == "progress" and "100 Trying" in e.line) == len(trying)


# --- a stalled TLS handshake ----------------------------------------------------------------------


class _MuteServer:
    """Accepts TCP connections and reads, but never answers: a TLS ClientHello goes nowhere."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def mute_server() -> Iterator[_MuteServer]:
    server = _MuteServer()
    yield server
    server.close()


def test_stalled_tls_handshake_is_a_tls_timeout(mute_server: _MuteServer) -> None:
    from sipe_setup.core.account import Transport

    async def go() -> ConnectFailed:
        with pytest.raises(ConnectFailed) as caught:
            await open_sip_connection("127.0.0.1", mute_server.port, Transport.TLS,
                                      connect_timeout=2.0, tls_timeout=0.5)
        return caught.value

    started = time.monotonic()
    failure = asyncio.run(go())
    assert time.monotonic() - started < 2.0
    assert failure.kind == "tls-timeout"
    assert "did not answer the TLS handshake within 0.5 s" in str(failure)


def test_check_explains_a_stalled_tls_handshake(mute_server: _MuteServer) -> None:
    options = CheckOptions(response_timeout=1.0, connect_timeout=0.5, deadline=10.0)
    result = _check("success", transport="tls", port=mute_server.port, options=options)
    assert result.code == "SS-TLS-FAIL"  # the TLS handshake advice, not "could not be reached"
    assert result.advice is not None
    assert "did not answer the TLS handshake" in result.advice.explanation
    tls_step = next(s for s in result.steps if s.status is StepStatus.FAIL)
    assert tls_step.title == "TLS handshake"


# --- a dribbling autodiscover server ------------------------------------------------------------


class _Dribbler:
    """HTTP server that sends an autodiscover answer one byte every ``pause`` seconds."""

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = (b"<AutodiscoverResponse><User><SipClientInternalAccess fqdn='pool.example.test'"
                b" port='5061'/></User></AutodiscoverResponse>")
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.microsoft.rtc.autodiscover"
                b"+xml; v=1.0\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        try:
            await reader.readuntil(b"\r\n\r\n")
            for byte in head + body:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(self.pause)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def test_dribbled_autodiscover_body_is_cut_at_the_request_deadline() -> None:
    """0.05 s per byte: each read is quick, the whole answer would take ~11 s; the request
    deadline (0.8 s) ends it — the timeout is on the whole request, not per read."""

    async def go() -> tuple[list[AutodiscoverAttempt], float]:
        dribbler = _Dribbler(pause=0.05)
        port = await dribbler.start()

        async def resolve(host: str) -> tuple[str, ...]:
            return ("127.0.0.1",)

        client = AutodiscoverClient("example.test", AutodiscoverSettings(
            http_port=port, request_timeout=0.8), resolve)
        attempts: list[AutodiscoverAttempt] = []
        started = time.monotonic()
        try:
            await client.run_chain(
                f"http://lyncdiscoverinternal.example.test:{port}/?sipuri=alice@example.test",
                attempts.append)
        finally:
            elapsed = time.monotonic() - started
            await dribbler.stop()
        return attempts, elapsed

    attempts, elapsed = asyncio.run(go())
    assert [a.outcome for a in attempts] == [AutodiscoverOutcome.TIMEOUT]
    assert elapsed < 1.5
    assert "within 0.8 s" in attempts[0].detail
