"""The CLI's trust question on a real terminal (a pty): Ctrl-D means no, and the question does
not outlive the check's --timeout."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.servers.registrar import RegistrarConfig, RegistrarThread, tls_context
from tests.servers.testca import self_signed

PASSWORD = "Passw0rd!"


def _run_on_a_terminal(tmp_path: Path, *, reply: bytes | None, timeout: float
                       ) -> tuple[int, str, float]:
    """``sipe-setup check`` against a self-signed TLS registrar, stdin/stdout on a pty."""
    leaf = self_signed(tmp_path / "self", ["server.example.test"], ip_addresses=["127.0.0.1"])
    config = RegistrarConfig(users=[("EXAMPLE", "alice", PASSWORD)])
    with RegistrarThread(config, tls=tls_context(*leaf)) as registrar:
        exe = Path(sys.executable).with_name("sipe-setup")
        primary, secondary = pty.openpty()
        started = time.monotonic()
        process = subprocess.Popen(
            [str(exe), "check", "alice@example.test", "--login", "EXAMPLE\\alice",
             "--server", f"127.0.0.1:{registrar.port}", "--transport", "tls",
             "--password-env", "PW", "--timeout", str(timeout)],
            stdin=secondary, stdout=secondary, stderr=secondary, close_fds=True,
            env={**os.environ, "PW": PASSWORD})
        os.close(secondary)
        output = b""
        answered = False
        deadline = started + timeout + 15
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(primary, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
            if reply is not None and not answered and b"Accept? [y/N]" in output:
                os.write(primary, reply)
                answered = True
            if process.poll() is not None and not ready:
                break
        code = process.wait(timeout=5)
        os.close(primary)
        return code, output.decode(errors="replace"), time.monotonic() - started


def test_ctrl_d_at_the_trust_question_means_no(tmp_path: Path) -> None:
    code, output, _ = _run_on_a_terminal(tmp_path, reply=b"\x04", timeout=30)
    assert "Traceback" not in output, output
    assert "Code: SS-TLS-CA" in output, output
    assert code == 1


def test_an_unanswered_trust_question_ends_with_the_check_deadline(tmp_path: Path) -> None:
    code, output, elapsed = _run_on_a_terminal(tmp_path, reply=None, timeout=3)
    assert "Traceback" not in output, output
    assert "Accept? [y/N]" in output
    assert "Code: SS-TIMEOUT" in output, output
    assert code == 1
    assert elapsed < 3 + 5, elapsed
