"""``sipe-setup check`` end to end: a real process against the standalone registrar."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "sipe_setup"]


@pytest.fixture(scope="module")
def registrar_port() -> Iterator[int]:
    """The standalone registrar, started exactly as the README tells a person to."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.servers.registrar", "--port", "0",
         "--user", "EXAMPLE\\alice:Passw0rd!"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    port = int(line.split("127.0.0.1:")[1].split()[0])
    yield port
    process.terminate()
    process.wait(5)


def run(*args: str, stdin: str = "", env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env={**os.environ, **(env or {})})


def test_signs_in_and_exits_0(registrar_port: int) -> None:
    done = run("check", "alice@example.test", "--login", "EXAMPLE\\alice", "--server",
               f"127.0.0.1:{registrar_port}", "--transport", "tcp", "--password-stdin",
               stdin="Passw0rd!\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Code: SS-OK\n")
    assert "Passw0rd!" not in done.stdout + done.stderr


def test_wrong_password_exits_1_with_the_code_first(registrar_port: int) -> None:
    done = run("check", "alice@example.test", "--login", "EXAMPLE\\alice", "--server",
               f"127.0.0.1:{registrar_port}", "--transport", "tcp", "--password-env", "PW",
               "--json", env={"PW": "Wrong-Secret-99"})
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert doc["code"] == "SS-AUTH-401"
    assert doc["schema_version"] == 1
    assert {s["id"] for s in doc["steps"]} >= {"validate", "discover", "connect", "register",
                                                 "authenticate"}
    assert "Wrong-Secret-99" not in done.stdout + done.stderr


def test_redaction_flags(registrar_port: int) -> None:
    done = run("check", "alice@example.test", "--login", "EXAMPLE\\alice", "--server",
               f"127.0.0.1:{registrar_port}", "--transport", "tcp", "--password-stdin",
               "--redact-user", "--redact-hosts", stdin="Passw0rd!\n")
    assert done.returncode == 0
    assert "alice" not in done.stdout and "example.test" not in done.stdout
    assert "127.0.0.1" not in done.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["check", "alice"], "needs an @"),
    (["check", "alice@example.test", "--server", "x:99999", "--password-env", "PW"],
     "out of range"),
    (["check", "alice@example.test", "--password-env", "UNSET_VARIABLE_X"], "is not set"),
    (["check", "alice@example.test"], "--password-stdin"),
])
def test_bad_input_exits_2_with_a_clear_message(args: list[str], message: str) -> None:
    done = run(*args, env={"PW": "x"})
    assert done.returncode == 2
    assert message in done.stderr


def test_there_is_no_way_to_put_a_password_on_argv() -> None:
    done = run("check", "alice@example.test", "--password", "secret")
    assert done.returncode == 2
    assert "unrecognized arguments" in done.stderr or "error" in done.stderr
