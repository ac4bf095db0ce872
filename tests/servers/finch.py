"""Run the real pidgin-sipe (Debian ``pidgin-sipe`` + ``finch``) headless and read its verdict.

finch needs a terminal, so it runs under ``script``; ``-d`` sends libpurple's debug log to
stderr, which we collect. ``PURPLE_UNSAFE_DEBUG=1`` makes SIPE print whole SIP messages.

The judge is SIPE's own debug log:
- success: "authentication handshake completed successfully", and no "Invalid message
  signature received";
- failure: any of SIPE's error texts (reference §3.10) or the account's connection error.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

SUCCESS_TEXT = "authentication handshake completed successfully"
BAD_SIGNATURE_TEXT = "Invalid message signature received"
_ERROR_PATTERNS = (
    BAD_SIGNATURE_TEXT,
    "Failed to authenticate to server",
    "Authentication failed",
    "Incompatible authentication scheme chosen",
    "You have been rejected by the server",
    "Service unavailable",
    "Could not connect",
    "Server has disconnected",
    "Corrupted message received",
)


@dataclass
class FinchRun:
    """What one finch run showed."""

    log: str
    returncode: int | None
    elapsed: float

    @property
    def handshake_completed(self) -> bool:
        return SUCCESS_TEXT in self.log

    @property
    def bad_signature(self) -> bool:
        return BAD_SIGNATURE_TEXT in self.log

    @property
    def errors(self) -> list[str]:
        return [p for p in _ERROR_PATTERNS if p in self.log]

    @property
    def signed_in(self) -> bool:
        return self.handshake_completed and not self.bad_signature

    @property
    def unsigned_ignored(self) -> int:
        """How many incoming messages SIPE dropped for lack of a signature."""
        return self.log.count("message without authentication data - ignoring")

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.splitlines()[-lines:])


KEYRING_PLUGIN = Path("/usr/lib/purple-2/gnome-keyring.so")  # Debian pidgin-gnome-keyring


def require_finch(*, keyring_plugin: bool = False) -> None:
    """finch + pidgin-sipe (and the keyring plugin when asked): a failure under CI when
    missing, a skip on a developer machine (see ``tests.conftest.require_tool``)."""
    from tests.conftest import require_tool

    require_tool("finch")
    require_tool("script")
    if not sipe_plugin_installed():
        require_tool("libsipe.so (Debian package pidgin-sipe)")
    if keyring_plugin and not KEYRING_PLUGIN.exists():
        require_tool(f"{KEYRING_PLUGIN} (Debian package pidgin-gnome-keyring)")


def sipe_plugin_installed() -> bool:
    """True when libpurple's SIPE plugin (Debian pidgin-sipe) is on this machine."""
    return any(Path("/usr/lib").glob("**/purple-2/libsipe.so"))


def write_accounts_xml(purple_dir: Path, *, name: str, password: str | None,
                       settings: dict[str, tuple[str, str]]) -> Path:
    """A minimal accounts.xml with one prpl-sipe account enabled for finch.

    ``settings`` maps a SIPE setting name to (type, value).
    """
    purple_dir.mkdir(parents=True, exist_ok=True)
    rows = "".join(
        f"   <setting name='{escape(k)}' type='{escape(t)}'>{escape(v)}</setting>\n"
        for k, (t, v) in settings.items()
    )
    pw = f"  <password>{escape(password)}</password>\n" if password is not None else ""
    text = (
        "<?xml version='1.0' encoding='UTF-8' ?>\n<account version='1.0'>\n <account>\n"
        "  <protocol>prpl-sipe</protocol>\n"
        f"  <name>{escape(name)}</name>\n{pw}"
        f"  <settings>\n{rows}  </settings>\n"
        "  <settings ui='gnt-purple'>\n"
        "   <setting name='auto-login' type='bool'>1</setting>\n  </settings>\n"
        " </account>\n</account>\n"
    )
    path = purple_dir / "accounts.xml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def run_finch(purple_dir: Path, *, timeout: float = 20.0, until: str = SUCCESS_TEXT,
              linger: float = 1.5, env: dict[str, str] | None = None) -> FinchRun:
    """Start finch on ``purple_dir`` and stop it after ``until`` appears (+linger) or timeout.

    ``linger`` keeps finch running a little after success so that SIPE's first signed
    SUBSCRIBEs reach the registrar and their signed answers come back.
    """
    log_path = purple_dir / "finch-debug.log"
    log_path.write_bytes(b"")
    command = f"finch -c {purple_dir} -d 2>>{log_path}"
    run_env = dict(os.environ)
    run_env.update({"PURPLE_UNSAFE_DEBUG": "1", "TERM": "xterm", "HOME": str(purple_dir),
                    "NSS_DISABLE_ARENA_FREE_LIST": "1"})
    # No desktop session: finch must not reach the developer's D-Bus or keyring by accident.
    run_env.pop("DISPLAY", None)
    run_env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    if env:
        run_env.update(env)
    started = time.monotonic()
    process = subprocess.Popen(["script", "-qfec", command, "/dev/null"],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=run_env, start_new_session=True)
    deadline = started + timeout
    matched_at: float | None = None
    pattern = re.compile(re.escape(until))
    error_pattern = re.compile("|".join(re.escape(p) for p in _ERROR_PATTERNS))
    try:
        while time.monotonic() < deadline and process.poll() is None:
            text = log_path.read_text(errors="replace")
            if matched_at is None and (pattern.search(text) or error_pattern.search(text)):
                matched_at = time.monotonic()
            if matched_at is not None and time.monotonic() - matched_at >= linger:
                break
            time.sleep(0.1)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
    return FinchRun(log=log_path.read_text(errors="replace"), returncode=process.returncode,
                    elapsed=time.monotonic() - started)
