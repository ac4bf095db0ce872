"""A complete fake company on loopback for the wizard: the registrar + dnsmasq (+ a test CA).

Used by the GUI tests, ``scripts/demo.py``, ``scripts/screenshots.py`` and the GUI benchmark::

    with LoopbackSite(tmp_path, tls="ca") as site:
        site.nameserver      # 127.0.0.1:<port> of dnsmasq
        site.ca_file         # PEM of the test CA (None for tls="self-signed"/"none")
        site.port            # the registrar's port

dnsmasq answers ``_sipinternaltls._tcp.example.test`` (or ``_sipinternal._tcp`` without TLS)
with ``sip.example.test:<port>`` and ``sip.example.test`` with 127.0.0.1, so the wizard finds
the registrar by real DNS discovery with an empty Server field. The registrar runs as its own
process (``python -m tests.servers.registrar``), so it adds no thread or socket to the process
under test.
"""

from __future__ import annotations

import select
import shutil
import subprocess
import sys
from pathlib import Path
from types import TracebackType

from sipe_setup.core.discovery import Nameserver
from tests.servers.dnsmasq import Dnsmasq, DnsZone
from tests.servers.testca import TestCA, self_signed

__all__ = ["DEMO_LOGIN", "DEMO_PASSWORD", "DEMO_SIGNIN", "LoopbackSite", "dnsmasq_binary"]

ROOT = Path(__file__).resolve().parents[2]
DEMO_SIGNIN = "alice@example.test"
DEMO_LOGIN = "EXAMPLE\\alice"
DEMO_PASSWORD = "Passw0rd!"  # the test registrar's published demo password
SERVER_NAME = "sip.example.test"


def dnsmasq_binary() -> str | None:
    """dnsmasq's path, or None."""
    found = shutil.which("dnsmasq")
    if found:
        return found
    for candidate in (Path("/usr/sbin/dnsmasq"), Path("/sbin/dnsmasq")):
        if candidate.exists():
            return str(candidate)
    return None


class LoopbackSite:
    """The registrar (scenario, TLS mode) and dnsmasq pointing at it."""

    def __init__(self, directory: Path, *, scenario: str = "success", tls: str = "ca",
                 dnsmasq: str | None = None, verbose: bool = False) -> None:
        if tls not in ("ca", "self-signed", "none"):
            raise ValueError(f"tls must be ca, self-signed or none, not {tls!r}")
        self.directory = directory
        self.scenario = scenario
        self.tls = tls
        self.verbose = verbose
        self._dnsmasq_binary = dnsmasq or dnsmasq_binary()
        self.ca_file: str | None = None
        #: The registrar's own certificate (PEM), issued for sip.example.test; None without TLS.
        self.cert_file: str | None = None
        self.port = 0
        self._registrar: subprocess.Popen[str] | None = None
        self._dns: Dnsmasq | None = None

    @property
    def nameserver(self) -> Nameserver:
        """dnsmasq's address."""
        assert self._dns is not None
        return Nameserver("127.0.0.1", self._dns.port)

    def start(self) -> LoopbackSite:
        """Start the registrar, then dnsmasq with its port."""
        if self._dnsmasq_binary is None:
            raise RuntimeError("dnsmasq is not installed (Debian: dnsmasq-base)")
        command = [sys.executable, "-m", "tests.servers.registrar", "--port", "0",
                   "--user", f"{DEMO_LOGIN}:{DEMO_PASSWORD}", "--scenario", self.scenario]
        if self.tls == "ca":
            ca = TestCA.create(self.directory / "ca")
            issued = ca.issue([SERVER_NAME])
            self.ca_file = str(ca.ca_path)
            self.cert_file = str(issued.cert_path)
            command += ["--tls", str(issued.cert_path), str(issued.key_path)]
        elif self.tls == "self-signed":
            issued = self_signed(self.directory / "self-signed", [SERVER_NAME])
            self.cert_file = str(issued.cert_path)
            command += ["--tls", str(issued.cert_path), str(issued.key_path)]
        if self.verbose:
            command.append("-v")
        try:
            self._registrar = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL,
                                               stdout=subprocess.PIPE, text=True)
            self.port = self._read_port(self._registrar)
            prefix = "_sipinternal._tcp" if self.tls == "none" else "_sipinternaltls._tcp"
            zone = (DnsZone("example.test").srv(prefix, SERVER_NAME, self.port)
                    .host(SERVER_NAME, "127.0.0.1"))
            self._dns = Dnsmasq(zone, binary=self._dnsmasq_binary).start()
        except BaseException:
            self.stop()
            raise
        return self

    @staticmethod
    def _read_port(process: subprocess.Popen[str]) -> int:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 20)
        line = process.stdout.readline() if ready else ""
        if "127.0.0.1:" not in line:
            raise RuntimeError(f"the registrar did not start: {line!r}")
        return int(line.split("127.0.0.1:")[1].split()[0])

    def stop(self) -> None:
        """Stop both servers (idempotent)."""
        dns, self._dns = self._dns, None
        if dns is not None:
            dns.stop()
        process, self._registrar = self._registrar, None
        if process is not None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            if process.stdout is not None:
                process.stdout.close()

    def __enter__(self) -> LoopbackSite:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
