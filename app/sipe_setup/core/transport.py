"""TCP and TLS connections to a SIP server, with the server certificate captured and explained.

Invariants:
- Every network operation has a timeout; reads are bounded by the caller's parser.
- One check builds its SSL contexts once (:class:`TlsContexts`: the CA store is read once) and
  every connection of the check reuses them.
- TLS is verified the way libpurple does it (reference §2): the chain against the system CA
  store (plus ``ca_file``) and the host name against the *connect host* (the SRV target or the
  name typed), never against the IP it resolved to.
- A certificate that fails verification is never used silently: the connection is refused with
  :class:`CertificateRejected` carrying the certificate's details, unless its SHA-256
  fingerprint was explicitly trusted (``trusted_fingerprints``) by the user.

Importing this module is cheap (the wizard's first page and ``sipe-setup --help`` reach it
through the profile store): ``asyncio``, ``ssl`` and ``cryptography`` are imported by the
functions that use them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sipe_setup.core.account import Transport

if TYPE_CHECKING:
    import asyncio
    import ssl

    from cryptography import x509

__all__ = [
    "CertificateInfo",
    "CertificateRejected",
    "ConnectFailed",
    "ConnectionClosed",
    "SipConnection",
    "TcpStream",
    "TlsContexts",
    "TransportError",
    "connect_tcp",
    "describe_certificate",
    "finish_sip_connection",
    "hostname_matches",
    "open_sip_connection",
]

MAX_READ_CHUNK = 65536


class TransportError(Exception):
    """A network-level failure; ``kind`` is a stable short word the advice catalog keys on."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class ConnectFailed(TransportError):
    """TCP connect or TLS handshake failed.

    ``kind``: refused, timeout (TCP connect), unreachable, dns, tls (the handshake failed),
    tls-timeout (the TCP connection was made but the server did not answer the handshake),
    tls-cert (:class:`CertificateRejected`).
    """


class ConnectionClosed(TransportError):
    """The server closed the connection or a read timed out (kind: closed, timeout)."""


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """What a person (or IT) needs to judge a server certificate."""

    subject: str
    issuer: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    sha256_fingerprint: str  # "AB:CD:..." upper-case, as browsers show it
    serial: str
    self_signed: bool
    pem: str
    checked_host: str
    host_matches: bool
    chain_trusted: bool
    trust_problem: str = ""  # OpenSSL's verify message when chain_trusted is False

    @property
    def expired(self) -> bool:
        """True when notAfter is in the past."""
        return dt.datetime.now(dt.UTC) > self.not_after

    @property
    def not_yet_valid(self) -> bool:
        """True when notBefore is in the future."""
        return dt.datetime.now(dt.UTC) < self.not_before

    @property
    def acceptable(self) -> bool:
        """Trusted chain, matching host, inside its validity period."""
        return (self.chain_trusted and self.host_matches and not self.expired
                and not self.not_yet_valid)

    def problems(self) -> list[str]:
        """Each problem in a plain sentence (empty when acceptable)."""
        found: list[str] = []
        if self.expired:
            found.append(f"The certificate expired on {self.not_after:%Y-%m-%d}.")
        if self.not_yet_valid:
            found.append(f"The certificate is not valid before {self.not_before:%Y-%m-%d} "
                         "(check this computer's clock).")
        if not self.host_matches:
            names = ", ".join(self.dns_names + self.ip_addresses) or self.subject
            found.append(f"The certificate is for {names}, not for {self.checked_host}.")
        if not self.chain_trusted and not self.expired:
            reason = "it is self-signed" if self.self_signed else (
                self.trust_problem or "its issuer is not a trusted certificate authority")
            found.append(f"This computer does not trust the certificate: {reason}.")
        return found

    def to_json(self) -> dict[str, object]:
        """JSON form for reports (no PEM: reports stay short; the fingerprint identifies it)."""
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "dns_names": list(self.dns_names),
            "ip_addresses": list(self.ip_addresses),
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "sha256": self.sha256_fingerprint,
            "serial": self.serial,
            "self_signed": self.self_signed,
            "checked_host": self.checked_host,
            "host_matches": self.host_matches,
            "chain_trusted": self.chain_trusted,
            "trust_problem": self.trust_problem,
            "problems": self.problems(),
        }


def normalize_sha256_fingerprint(text: str) -> str | None:
    """``AB:CD:…`` (upper case, colons) for 64 hex digits with or without colons; else None.

    The form :attr:`CertificateInfo.sha256_fingerprint` and ``trusted_fingerprints`` use.
    """
    hexdigits = text.replace(":", "").strip().upper()
    if len(hexdigits) != 64 or any(c not in "0123456789ABCDEF" for c in hexdigits):
        return None
    return ":".join(hexdigits[i:i + 2] for i in range(0, 64, 2))


class CertificateRejected(ConnectFailed):
    """The TLS certificate is not acceptable and its fingerprint was not trusted."""

    def __init__(self, certificate: CertificateInfo) -> None:
        super().__init__("; ".join(certificate.problems()) or "certificate rejected", "tls-cert")
        self.certificate = certificate


def _name_text(name: x509.Name) -> str:
    from cryptography.x509.oid import NameOID

    parts = []
    for attr in name:
        key = {NameOID.COMMON_NAME: "CN", NameOID.ORGANIZATION_NAME: "O",
               NameOID.ORGANIZATIONAL_UNIT_NAME: "OU", NameOID.COUNTRY_NAME: "C"}.get(attr.oid)
        if key:
            parts.append(f"{key}={attr.value!s}")
    return ", ".join(parts) or name.rfc4514_string()


def _dns_label_match(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        # RFC 6125: the wildcard covers exactly one left-most label.
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    from cryptography import x509

    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def hostname_matches(cert: x509.Certificate, host: str) -> bool:
    """RFC 6125 check of ``host`` (name or IP) against SANs; CN only when no SAN exists."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    san = _san(cert)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if san is not None:
        if ip is not None:
            return ip in san.get_values_for_type(x509.IPAddress)
        return any(_dns_label_match(n, host) for n in san.get_values_for_type(x509.DNSName))
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return ip is None and any(_dns_label_match(str(cn.value), host) for cn in cns)


def describe_certificate(der: bytes, checked_host: str, *, chain_trusted: bool,
                         trust_problem: str = "") -> CertificateInfo:
    """Parse a DER certificate into :class:`CertificateInfo`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    cert = x509.load_der_x509_certificate(der)
    san = _san(cert)
    dns_names = tuple(san.get_values_for_type(x509.DNSName)) if san else ()
    ips = tuple(str(i) for i in san.get_values_for_type(x509.IPAddress)) if san else ()
    digest = cert.fingerprint(hashes.SHA256())
    return CertificateInfo(
        subject=_name_text(cert.subject),
        issuer=_name_text(cert.issuer),
        dns_names=dns_names,
        ip_addresses=ips,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256_fingerprint=":".join(f"{b:02X}" for b in digest),
        serial=f"{cert.serial_number:X}",
        self_signed=cert.issuer == cert.subject,
        pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        checked_host=checked_host,
        host_matches=hostname_matches(cert, checked_host),
        chain_trusted=chain_trusted,
        trust_problem=trust_problem,
    )


def _tls_context(*, verify: bool, ca_file: str | None) -> ssl.SSLContext:
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    # We check the host name ourselves against the *connect host*, like libpurple, so that a
    # chain problem and a name problem are reported separately.
    ctx.check_hostname = False
    if verify:
        ctx.verify_mode = ssl.CERT_REQUIRED
        if ca_file:
            ctx.load_verify_locations(cafile=ca_file)
    else:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class TlsContexts:
    """The SSL contexts of one check, each built on first use and then reused.

    Building a verifying context reads the system CA store (and ``ca_file``): 20–45 ms each
    time. A check makes one of each kind, whatever the number of servers it dials.
    """

    def __init__(self, ca_file: str | None = None) -> None:
        self.ca_file = ca_file
        self._verifying: ssl.SSLContext | None = None
        self._unverified: ssl.SSLContext | None = None

    def verifying(self) -> ssl.SSLContext:
        """Chain verified against the system store plus ``ca_file`` (host names: ours)."""
        if self._verifying is None:
            self._verifying = _tls_context(verify=True, ca_file=self.ca_file)
        return self._verifying

    def unverified(self) -> ssl.SSLContext:
        """No verification: only to show a refused certificate (or use an accepted one)."""
        if self._unverified is None:
            self._unverified = _tls_context(verify=False, ca_file=None)
        return self._unverified


def _classify_os_error(exc: OSError) -> str:
    import socket

    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, socket.gaierror):
        return "dns"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "unreachable"


@dataclass(slots=True)
class SipConnection:
    """An open TCP or TLS stream to a SIP server."""

    host: str
    port: int
    transport: Transport
    local_ip: str
    local_port: int
    peer_ip: str
    certificate: CertificateInfo | None
    tls_version: str
    _reader: asyncio.StreamReader = field(repr=False)
    _writer: asyncio.StreamWriter = field(repr=False)

    async def send(self, data: bytes, timeout: float) -> None:
        """Write ``data`` and wait until it is flushed."""
        import asyncio

        try:
            self._writer.write(data)
            await asyncio.wait_for(self._writer.drain(), timeout)
        except TimeoutError as exc:
            raise ConnectionClosed("The server stopped accepting data.", "timeout") from exc
        except (ConnectionError, OSError) as exc:
            raise ConnectionClosed(f"Write error: {exc.strerror or exc}", "closed") from exc

    async def receive(self, timeout: float) -> bytes:
        """Up to ``MAX_READ_CHUNK`` bytes; raises ConnectionClosed on EOF or timeout."""
        import asyncio
        import ssl

        try:
            data = await asyncio.wait_for(self._reader.read(MAX_READ_CHUNK), timeout)
        except TimeoutError as exc:
            raise ConnectionClosed(f"No answer from the server within {timeout:g} s.",
                                   "timeout") from exc
        except (ConnectionError, OSError, ssl.SSLError) as exc:
            raise ConnectionClosed(f"Read error: {exc}", "closed") from exc
        if not data:
            raise ConnectionClosed("The server closed the connection.", "closed")
        return data

    async def close(self) -> None:
        """Close the stream (bounded wait; never raises)."""
        await _close_writer(self._writer)


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    import asyncio

    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 2.0)


@dataclass(slots=True)
class TcpStream:
    """A TCP connection to a SIP server, before any TLS (:func:`connect_tcp`)."""

    host: str
    address: str
    port: int
    reader: asyncio.StreamReader = field(repr=False)
    writer: asyncio.StreamWriter = field(repr=False)

    async def close(self) -> None:
        """Close it (bounded wait; never raises)."""
        await _close_writer(self.writer)


async def connect_tcp(host: str, port: int, *, connect_to: str | None = None,
                      timeout: float = 10.0) -> TcpStream:
    """The TCP connect alone, within ``timeout``.

    Raises:
        ConnectFailed: kind refused, timeout, unreachable or dns.
    """
    import asyncio

    target = connect_to or host
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(target, port, limit=MAX_READ_CHUNK), timeout)
    except TimeoutError as exc:
        raise ConnectFailed(f"Connecting to {host}:{port} timed out after "
                            f"{timeout:g} s.", "timeout") from exc
    except OSError as exc:
        kind = _classify_os_error(exc)
        text = {"refused": "refused the connection", "dns": "could not be resolved",
                "timeout": "did not answer"}.get(kind, f"could not be reached ({exc})")
        raise ConnectFailed(f"{host}:{port} {text}.", kind) from exc
    return TcpStream(host, target, port, reader, writer)


async def _handshake(stream: TcpStream, ctx: ssl.SSLContext, server_hostname: str | None,
                     tls_timeout: float) -> None:
    """The TLS handshake on ``stream`` within ``tls_timeout``: a server that accepts the
    connection but never answers the ClientHello is told apart from one that cannot be
    reached. The stream is aborted when the handshake fails."""
    import asyncio
    import ssl

    host, port, writer = stream.host, stream.port, stream.writer
    try:
        # asyncio's own handshake timeout is a backstop only; ours is the one that fires.
        await asyncio.wait_for(
            writer.start_tls(ctx, server_hostname=server_hostname,
                             ssl_handshake_timeout=tls_timeout + 5.0),
            tls_timeout)
    except BaseException as exc:
        writer.transport.abort()
        if isinstance(exc, ssl.SSLCertVerificationError):
            raise
        if isinstance(exc, ssl.SSLError):
            raise ConnectFailed(f"TLS handshake with {host}:{port} failed: "
                                f"{exc.reason or exc}", "tls") from exc
        if isinstance(exc, TimeoutError):
            raise ConnectFailed(f"{host}:{port} accepted the connection but did not answer "
                                f"the TLS handshake within {tls_timeout:g} s.",
                                "tls-timeout") from exc
        if isinstance(exc, OSError):
            raise ConnectFailed(f"{host}:{port} closed the connection during the TLS "
                                f"handshake ({exc.strerror or type(exc).__name__}).",
                                "tls") from exc
        raise


def _server_name(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    return None  # no SNI for IP literals


async def finish_sip_connection(
    stream: TcpStream,
    transport: Transport,
    *,
    tls: TlsContexts | None = None,
    trusted_fingerprints: frozenset[str] = frozenset(),
    connect_timeout: float = 10.0,
    tls_timeout: float = 10.0,
) -> SipConnection:
    """Make a SIP connection of a TCP one: for TLS, the handshake and the certificate check.

    A certificate that fails the chain check is fetched again over a second connection to
    the same address without verification, to be shown (or used, when the user trusted
    exactly this one). ``stream`` belongs to this function from now on (closed on failure).

    Raises:
        CertificateRejected: the certificate is not acceptable (details attached).
        ConnectFailed: handshake failure (``kind`` says which).
    """
    import ssl

    if transport is Transport.AUTO:
        await stream.close()
        raise ValueError("resolve AUTO to TLS or TCP before connecting")
    contexts = tls or TlsContexts()
    host, port = stream.host, stream.port
    certificate: CertificateInfo | None = None
    if transport is Transport.TLS:
        sni = _server_name(host)
        try:
            await _handshake(stream, contexts.verifying(), sni, tls_timeout)
            chain_trusted, problem = True, ""
        except ssl.SSLCertVerificationError as exc:
            chain_trusted, problem = False, str(exc.verify_message or exc.reason or exc)
            # Connect again without verification only to show the certificate (and to go on
            # if the user explicitly trusted exactly this one).
            stream = await connect_tcp(host, port, connect_to=stream.address,
                                       timeout=connect_timeout)
            await _handshake(stream, contexts.unverified(), sni, tls_timeout)
        ssl_object = stream.writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        if not der:
            stream.writer.close()
            raise ConnectFailed(f"{host}:{port} sent no TLS certificate.", "tls")
        certificate = describe_certificate(der, host, chain_trusted=chain_trusted,
                                           trust_problem=problem)
        if not certificate.acceptable and \
                certificate.sha256_fingerprint not in trusted_fingerprints:
            await stream.close()
            raise CertificateRejected(certificate)
    writer = stream.writer
    sockname = writer.get_extra_info("sockname") or ("0.0.0.0", 0)  # noqa: S104
    peername = writer.get_extra_info("peername") or (stream.address, port)
    ssl_object = writer.get_extra_info("ssl_object")
    return SipConnection(
        host=host,
        port=port,
        transport=transport,
        local_ip=str(sockname[0]),
        local_port=int(sockname[1]),
        peer_ip=str(peername[0]),
        certificate=certificate,
        tls_version=str(ssl_object.version()) if ssl_object else "",
        _reader=stream.reader,
        _writer=writer,
    )


async def open_sip_connection(
    host: str,
    port: int,
    transport: Transport,
    *,
    connect_to: str | None = None,
    ca_file: str | None = None,
    trusted_fingerprints: frozenset[str] = frozenset(),
    connect_timeout: float = 10.0,
    tls_timeout: float = 10.0,
    tls: TlsContexts | None = None,
) -> SipConnection:
    """Connect to ``host:port`` over TCP or TLS (:func:`connect_tcp`, then
    :func:`finish_sip_connection`).

    Args:
        host: the connect host — the name TLS is checked against (SRV target, typed server).
        connect_to: an address to dial instead of resolving ``host`` with the system resolver
            (discovery resolves names through its own resolver).
        trusted_fingerprints: SHA-256 fingerprints ("AB:CD:…") the user explicitly accepted.
        tls: the check's SSL contexts (default: new ones for ``ca_file``).

    Raises:
        CertificateRejected: the certificate is not acceptable (details attached).
        ConnectFailed: connect or handshake failure (``kind`` says which).
    """
    if transport is Transport.AUTO:
        raise ValueError("resolve AUTO to TLS or TCP before connecting")
    stream = await connect_tcp(host, port, connect_to=connect_to, timeout=connect_timeout)
    return await finish_sip_connection(
        stream, transport, tls=tls or TlsContexts(ca_file),
        trusted_fingerprints=trusted_fingerprints, connect_timeout=connect_timeout,
        tls_timeout=tls_timeout)
