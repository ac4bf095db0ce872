"""Helpers shared by the benchmarks (not tests): child-process timing, a delaying TCP proxy.

Every figure a benchmark prints is a median over runs interleaved with its reference, so that
a slow moment of the machine hits both sides alike.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.servers.tcp_delay import TcpDelayProxy

__all__ = ["ROOT", "VENV_BIN", "ChildRun", "TcpDelayProxy", "median_ms", "python_env",
           "run_child"]

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True, slots=True)
class ChildRun:
    """One child process: when it started, when its first stdout line came, when it ended."""

    started: float  # time.monotonic() just before exec
    first_line_at: float | None
    ended: float
    returncode: int
    peak_rss_kib: int  # ru_maxrss of the child
    first_line: str
    output: str

    @property
    def to_first_line(self) -> float:
        return (self.first_line_at if self.first_line_at is not None else self.ended) \
            - self.started

    @property
    def wall(self) -> float:
        return self.ended - self.started


def run_child(command: Sequence[str], *, env: dict[str, str] | None = None,
              stdin: bytes | None = None, timeout: float = 120.0) -> ChildRun:
    """Run ``command``; time to its first line on stdout and to its exit, and its peak RSS."""
    started = time.monotonic()
    process = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.PIPE if stdin is not None else
                               subprocess.DEVNULL, env=env, cwd=ROOT)
    assert process.stdout is not None and process.stderr is not None
    if stdin is not None:
        assert process.stdin is not None
        process.stdin.write(stdin)
        process.stdin.close()
    first = process.stdout.readline()
    first_at = time.monotonic() if first else None
    rest = process.stdout.read()
    errors = process.stderr.read()
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"{command[0]} did not end within {timeout:g} s")
        time.sleep(0.001)
    ended = time.monotonic()
    process.returncode = os.waitstatus_to_exitcode(status)
    text = (first + rest).decode(errors="replace")
    return ChildRun(started, first_at, ended, process.returncode, int(usage.ru_maxrss),
                    first.decode(errors="replace").rstrip("\n"),
                    text + errors.decode(errors="replace"))


def median_ms(values: Sequence[float]) -> str:
    """``123.4 ms (min 120.0)``."""
    return f"{statistics.median(values) * 1000:7.1f} ms (min {min(values) * 1000:.1f})"


def python_env() -> dict[str, str]:
    """The environment for a child Python that must find ``tests`` and ``sipe_setup``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env
