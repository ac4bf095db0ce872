"""A tiny authoritative DNS server that answers records in exactly the order it is given.

dnsmasq (and dnspython's own renderer, which shuffles an RRset by default) decide the order of
the records in an answer themselves; tests of "what SIPE does with the answer as returned" need
to choose it. This server renders every record as its own one-record RRset, in the zone's
order, so the answer on the wire is the zone's order.

- Names in the zone answer their records of the asked type, or NODATA (NOERROR, no answer);
  every other name is NXDOMAIN. No recursion, no other zone: nothing leaves the machine.
- UDP answers larger than 512 bytes (or the query's EDNS size) are sent truncated (TC bit, no
  records) so that a resolver retries over TCP, as a real server does; TCP answers are whole.
- Loopback only (``127.0.0.0/8`` or ``::1``).

Usage::

    zone = OrderedZone().srv("_sip._tcp.example.test", "a.example.test", 5060, priority=10)
    with OrderedDnsServer(zone, host="127.0.0.1", port=0) as server:
        server.port
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import socketserver
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

__all__ = ["OrderedDnsServer", "OrderedZone", "ZoneRecord"]

_UDP_LIMIT = 512
_TTL = 5


@dataclass(frozen=True, slots=True)
class ZoneRecord:
    """One record: ``name`` (full, any case), ``rtype`` (SRV, A, AAAA) and its text form."""

    name: str
    rtype: str
    text: str  # "10 60 5060 pool.example.test." or "127.0.0.1"

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "type": self.rtype, "text": self.text}


@dataclass(frozen=True, slots=True)
class OrderedZone:
    """Records in answer order (immutable; the builders return a new zone)."""

    records: tuple[ZoneRecord, ...] = ()
    extra: tuple[str, ...] = field(default=())  # names that exist without records (NODATA)

    def srv(self, name: str, target: str, port: int, *, priority: int = 0,
            weight: int = 0) -> OrderedZone:
        """Add ``name SRV priority weight port target`` (target ``.`` allowed)."""
        target_text = target if target.endswith(".") else target + "."
        return self._with(ZoneRecord(name, "SRV", f"{priority} {weight} {port} {target_text}"))

    def host(self, name: str, *addresses: str) -> OrderedZone:
        """Add A/AAAA records for ``name``, in this order."""
        zone = self
        for address in addresses:
            rtype = "AAAA" if ipaddress.ip_address(address).version == 6 else "A"
            zone = zone._with(ZoneRecord(name, rtype, address))
        return zone

    def _with(self, record: ZoneRecord) -> OrderedZone:
        return OrderedZone((*self.records, record), self.extra)

    def to_json(self) -> list[dict[str, str]]:
        return [r.to_json() for r in self.records]

    @classmethod
    def from_json(cls, data: Iterable[dict[str, str]]) -> OrderedZone:
        return cls(tuple(ZoneRecord(d["name"], d["type"], d["text"]) for d in data))

    def answer(self, qname: dns.name.Name, qtype: int) -> tuple[bool, list[dns.rrset.RRset]]:
        """(name exists, one-record RRsets in zone order)."""
        exists = False
        out: list[dns.rrset.RRset] = []
        for record in self.records:
            name = dns.name.from_text(record.name)
            if name != qname:
                continue
            exists = True
            rtype = dns.rdatatype.from_text(record.rtype)
            if rtype != qtype:
                continue
            rrset = dns.rrset.RRset(name, dns.rdataclass.IN, rtype)
            rrset.update_ttl(_TTL)
            rrset.add(dns.rdata.from_text(dns.rdataclass.IN, rtype, record.text))
            out.append(rrset)
        exists = exists or any(dns.name.from_text(n) == qname for n in self.extra)
        return exists, out


def _respond(zone: OrderedZone, wire: bytes, *, udp: bool) -> bytes | None:
    try:
        query = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return None
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    response.flags &= ~dns.flags.RA
    if len(query.question) != 1:
        response.set_rcode(dns.rcode.FORMERR)
        return response.to_wire()
    question = query.question[0]
    exists, rrsets = zone.answer(question.name, question.rdtype)
    if not exists:
        response.set_rcode(dns.rcode.NXDOMAIN)
    response.answer.extend(rrsets)  # one record per RRset: rendered in zone order
    full = response.to_wire()
    limit = max(_UDP_LIMIT, query.payload if query.edns >= 0 else 0)
    if udp and len(full) > limit:
        truncated = dns.message.make_response(query)
        truncated.flags |= dns.flags.AA | dns.flags.TC
        truncated.flags &= ~dns.flags.RA
        return truncated.to_wire()
    return full


class _UdpHandler(socketserver.BaseRequestHandler):
    server: _UdpServer

    def handle(self) -> None:
        data, sock = self.request
        self.server.owner.note(data)
        reply = _respond(self.server.owner.zone, data, udp=True)
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _TcpHandler(socketserver.BaseRequestHandler):
    server: _TcpServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(5)
        with contextlib.suppress(OSError):
            while True:
                head = _read_exactly(sock, 2)
                if head is None:
                    return
                data = _read_exactly(sock, struct.unpack("!H", head)[0])
                if data is None:
                    return
                self.server.owner.note(data)
                reply = _respond(self.server.owner.zone, data, udp=False)
                if reply is None:
                    return
                sock.sendall(struct.pack("!H", len(reply)) + reply)


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks = b""
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return chunks


class _UdpServer(socketserver.ThreadingUDPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: OrderedDnsServer) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.owner = owner
        super().__init__(address, _UdpHandler)


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: OrderedDnsServer) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.owner = owner
        super().__init__(address, _TcpHandler)


class OrderedDnsServer:
    """UDP + TCP on ``host:port`` (port 0: a free port, the same for both)."""

    def __init__(self, zone: OrderedZone, *, host: str = "127.0.0.1", port: int = 0) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError("the test DNS server listens on loopback only")
        self.zone = zone
        self.host = host
        self.port = port
        self.queries: list[tuple[str, str]] = []  # (name, type) in arrival order
        self._lock = threading.Lock()
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []

    def note(self, wire: bytes) -> None:
        with contextlib.suppress(dns.exception.DNSException, IndexError):
            question = dns.message.from_wire(wire).question[0]
            with self._lock:
                self.queries.append((question.name.to_text(omit_final_dot=True).lower(),
                                     dns.rdatatype.to_text(question.rdtype)))

    def start(self) -> OrderedDnsServer:
        for _ in range(20):
            udp = _UdpServer((self.host, self.port), self)
            port = int(udp.server_address[1])
            try:
                tcp = _TcpServer((self.host, port), self)
            except OSError:
                udp.server_close()
                if self.port:
                    raise
                continue
            self.port = port
            self._servers = [udp, tcp]
            break
        else:
            raise RuntimeError("no free port for the test DNS server")
        for server in self._servers:
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                      name="ordered-dns", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(5)
        self._servers, self._threads = [], []

    def __enter__(self) -> OrderedDnsServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
