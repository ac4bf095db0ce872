"""Run the real pidgin-sipe (Debian ``pidgin-sipe`` + ``finch``) headless and read its verdict.

finch needs a terminal, so it runs under ``script``; ``-d`` sends libpurple's debug log to
stderr, which we collect. ``PURPLE_UNSAFE_DEBUG=1`` makes SIPE print whole SIP messages.

The judge is SIPE's own debug log:
- success: "authentication handshake completed successfully", and no "Invalid message
  signature received";
- failure: any of SIPE's error texts (reference §3.10) or the account's connection error.

TLS-DSK (reference tls-dsk.md §4.3) needs two more things from the profile and the run:
- the web-services HTTPS certificate in ``certificates/x509/tls_peers/<host of sts-uri>``
  (:func:`add_tls_peer`), the only certificate SIPE checks in a TLS-DSK sign-in;
- SIPE must be able to parse XML. On Debian 12's libxml2 it cannot (§0.1), so
  ``run_finch(..., sax1_shim=True)`` preloads the test-only shim (``sax1_shim.py``) into finch,
  but only when the product's own probe (``sipe_setup.core.sipe_xml_probe``) says BROKEN.

SIPE's debug log prints TLS-DSK session secrets (pre-master and master secret, key block, the
signing keys) and WS-Trust entropy: :func:`redact_secrets` blanks them, and ``run_finch``
rewrites finch's log file and returns the log only in that redacted form.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
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
    # TLS-DSK (tls-dsk.md §1.9): certificate provisioning and web ticket failures
    "Web ticket request to",
    "Certificate request to",
    "No URI for certificate provisioning service provided",
    "Can't request certificate from",
)

REDACTED = "[redacted]"
_SECRET_VALUE = re.compile(
    # sipe-tls.c debug_secrets: "pre-master secret ( 48) = HEX", "master secret", "key block",
    # "TLS-DSK client key ( 32) = HEX", "TLS-DSK server key"
    r"((?:pre-master secret|master secret|key block|TLS-DSK client key|TLS-DSK server key)"
    r"\s*\(\s*\d+\)\s*=\s*)\S+"
    # NTLM: "exported session key (not encrypted): HEX"
    r"|(exported session key[^:\n]*:\s*)\S+"
)
# WS-Trust entropy (client and server): together they give the web ticket's proof key.
_BINARY_SECRET = re.compile(r"(<(?:[\w.-]+:)?BinarySecret\b[^>]*>)[^<]+")


def redact_secrets(text: str) -> str:
    """``text`` (a SIPE debug log) with session keys and WS-Trust entropy replaced."""
    text = _SECRET_VALUE.sub(lambda m: (m.group(1) or m.group(2)) + REDACTED, text)
    return _BINARY_SECRET.sub(lambda m: m.group(1) + REDACTED, text)


@dataclass
class FinchRun:
    """What one finch run showed."""

    log: str
    """The debug log, secrets redacted (:func:`redact_secrets`)."""
    returncode: int | None
    elapsed: float
    preload: str | None = None
    """The ``LD_PRELOAD`` finch ran with (the SAX1 shim), None when none."""

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

    def in_order(self, *texts: str) -> list[str]:
        """The ``texts`` that do NOT appear in this order in the log (empty: all in order)."""
        missing: list[str] = []
        position = 0
        for text in texts:
            found = self.log.find(text, position)
            if found < 0:
                missing.append(text)
            else:
                position = found + len(text)
        return missing


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


def sipe_settings(port: int, *, transport: str = "tcp", auth: str = "ntlm",
                  host: str = "127.0.0.1") -> dict[str, tuple[str, str]]:
    """SIPE account settings for a registrar on ``host:port`` (auth: ntlm, krb5, tls-dsk, auto).

    Loopback only: finch must never talk to anything but 127.0.0.1.
    """
    if host != "127.0.0.1":
        raise ValueError("finch tests talk to 127.0.0.1 only")
    return {
        "server": ("string", f"{host}:{port}"),
        "transport": ("string", transport),
        "authentication": ("string", auth),
        "sso": ("bool", "0"),
    }


def url_host(url: str) -> str:
    """The host of an ``sts-uri`` (or any URL): the name libpurple files its certificate under."""
    host = urlsplit(url).hostname
    if not host:
        raise ValueError(f"no host in {url!r}")
    return host


def add_tls_peer(purple_dir: Path, host: str, cert_pem: bytes) -> Path:
    """Trust ``cert_pem`` for ``host`` the way libpurple does ("Peer cert matched cached").

    For TLS-DSK this is the web-services HTTPS certificate under the host of the 401's
    ``sts-uri`` (tls-dsk.md §4.3); SIPE never checks the certificate inside TLS-DSK.
    """
    if b"-----BEGIN CERTIFICATE-----" not in cert_pem:
        raise ValueError("expected a PEM certificate")
    peers = purple_dir / "certificates" / "x509" / "tls_peers"
    peers.mkdir(parents=True, exist_ok=True)
    path = peers / host
    path.write_bytes(cert_pem)
    return path


def sax1_shim_env() -> dict[str, str]:
    """The environment finch needs so that SIPE can parse XML on this machine.

    Asks the product's probe: OK → nothing; BROKEN → ``LD_PRELOAD`` of the test-only SAX1
    shim (built with gcc; a missing gcc/libxml2-dev fails under CI); UNKNOWN → the test fails,
    as SIPE's XML would be in an unknown state.
    """
    import pytest

    from sipe_setup.core.sipe_xml_probe import SipeXmlStatus, probe_sipe_xml
    from tests.servers.sax1_shim import preload_env, require_sax1_shim

    probe = probe_sipe_xml()
    if probe.status is SipeXmlStatus.OK:
        return {}
    if probe.status is SipeXmlStatus.UNKNOWN:
        pytest.fail(f"cannot tell whether SIPE can parse XML here: {probe.reason}")
    return preload_env(require_sax1_shim())


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
              linger: float = 1.5, env: dict[str, str] | None = None,
              sax1_shim: bool = False) -> FinchRun:
    """Start finch on ``purple_dir`` and stop it after ``until`` appears (+linger) or timeout.

    ``linger`` keeps finch running a little after success so that SIPE's first signed
    SUBSCRIBEs reach the registrar and their signed answers come back. ``sax1_shim``: let
    SIPE parse XML on a libxml2 that breaks it (:func:`sax1_shim_env`); needed for TLS-DSK.
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
    preload: str | None = None
    if sax1_shim:
        shim_env = sax1_shim_env()
        run_env.update(shim_env)
        preload = shim_env.get("LD_PRELOAD")
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
    elapsed = time.monotonic() - started
    log = redact_secrets(log_path.read_text(errors="replace"))
    log_path.write_text(log)  # no session secrets left behind in tmp_path either
    return FinchRun(log=log, returncode=process.returncode, elapsed=elapsed, preload=preload)
