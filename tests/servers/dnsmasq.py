"""A real dnsmasq on 127.0.0.1:<free port> serving one test zone.

Usage::

    zone = DnsZone("example.test").srv("_sip._tls", "sip.example.test", 443)
    zone = zone.host("sip.example.test", "127.0.0.1")
    with Dnsmasq(zone) as server:
        server.port  # point the resolver at 127.0.0.1:server.port

Everything under the zone's domain is answered from the configuration only
(``--local=/domain/``): a name that is not configured is NXDOMAIN, a configured name without a
record of the asked type is NODATA (dnspython's NoAnswer) — the distinction discovery reports.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import dns.exception
import dns.message
import dns.query
import dns.rcode

__all__ = ["DnsZone", "Dnsmasq", "SrvRecord", "free_udp_port"]


@dataclass(frozen=True, slots=True)
class SrvRecord:
    name: str  # full owner name, e.g. _sip._tls.example.test
    target: str
    port: int
    priority: int = 0
    weight: int = 0


@dataclass(frozen=True, slots=True)
class DnsZone:
    """The records of one test domain (immutable; the builders return a new zone)."""

    domain: str
    srv_records: tuple[SrvRecord, ...] = ()
    hosts: tuple[tuple[str, tuple[str, ...]], ...] = ()
    extra_local_domains: tuple[str, ...] = field(default=())

    def srv(self, prefix: str, target: str, port: int, priority: int = 0,
            weight: int = 0) -> DnsZone:
        """Add ``<prefix>.<domain> SRV priority weight port target``."""
        record = SrvRecord(f"{prefix}.{self.domain}", target, port, priority, weight)
        return DnsZone(self.domain, (*self.srv_records, record), self.hosts,
                       self.extra_local_domains)

    def host(self, name: str, *addresses: str) -> DnsZone:
        """Add A/AAAA records for ``name`` (a full name)."""
        return DnsZone(self.domain, self.srv_records, (*self.hosts, (name, addresses)),
                       self.extra_local_domains)

    def also_local(self, domain: str) -> DnsZone:
        """Answer NXDOMAIN for unknown names under another domain too (outside-domain tests)."""
        return DnsZone(self.domain, self.srv_records, self.hosts,
                       (*self.extra_local_domains, domain))

    def arguments(self) -> list[str]:
        args = [f"--local=/{d}/" for d in (self.domain, *self.extra_local_domains)]
        for record in self.srv_records:
            args.append(f"--srv-host={record.name},{record.target},{record.port},"
                        f"{record.priority},{record.weight}")
        for name, addresses in self.hosts:
            args.append(f"--host-record={name},{','.join(addresses)}")
        return args


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that was free a moment ago (also checked free for TCP)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port on 127.0.0.1")


class Dnsmasq:
    """dnsmasq in the foreground, on loopback only, stopped on exit."""

    def __init__(self, zone: DnsZone, *, binary: str = "/usr/sbin/dnsmasq",
                 log_queries: bool = False, log_path: Path | None = None) -> None:
        self.zone = zone
        self.binary = binary
        self.log_queries = log_queries
        self.log_path = log_path
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Dnsmasq:
        last_error = ""
        for _ in range(5):
            self.port = free_udp_port()
            command = [
                self.binary, "--keep-in-foreground", "--conf-file=/dev/null",
                "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces",
                "--listen-address=127.0.0.1", f"--port={self.port}",
                "--cache-size=0", "--log-facility=-", "--pid-file=",
                "--user=" + _current_user(),
                *self.zone.arguments(),
            ]
            if self.log_queries:
                command.append("--log-queries")
            stderr = (self.log_path.open("ab") if self.log_path is not None
                      else subprocess.DEVNULL)
            try:
                self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                                 stdout=subprocess.DEVNULL, stderr=stderr)
            finally:
                if self.log_path is not None and not isinstance(stderr, int):
                    stderr.close()
            if self._wait_ready(5.0):
                return self
            last_error = f"exit status {self._process.poll()}"
            self.stop()
        raise RuntimeError(f"dnsmasq did not start ({last_error})")

    def _wait_ready(self, seconds: float) -> bool:
        assert self._process is not None
        query = dns.message.make_query(f"ready-check.{self.zone.domain}", "A")
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self._process.poll() is not None:
                return False
            with contextlib.suppress(OSError, dns.exception.Timeout):
                response = dns.query.udp(query, "127.0.0.1", port=self.port, timeout=0.2)
                if response.rcode() in (dns.rcode.NXDOMAIN, dns.rcode.NOERROR):
                    return True
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def __enter__(self) -> Dnsmasq:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _current_user() -> str:
    import getpass

    return getpass.getuser()
