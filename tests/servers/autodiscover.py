"""A Lync autodiscover web service on loopback: HTTP and HTTPS, canned documents per route.

Routes are keyed by (host, path) — the host from the ``Host`` header, lower case, without
port — so one server plays LyncDiscoverInternal.<domain>, LyncDiscover.<domain> and the web
pool behind them. Each route answers with a :class:`Reply`: a document, a wrong content type,
a huge body, a slow answer, or an NTLM-protected User document (HTTP NTLM through pyspnego's
acceptor; set ``NTLM_USER_FILE`` to a file of ``DOMAIN:user:password`` lines).

It also plays the Lync web ticket service next to autodiscover ([MS-OCDISCWS], tls-dsk.md
§5.1): a User route with ``accept_web_ticket`` answers 401 + ``X-MS-WebTicketURL`` until the
request carries ``X-MS-WebTicket: opaque=<base64 Assertion>`` of a ticket this server issued;
``webticket_mex_document`` is the service's mex, and a POST route with ``web_ticket_issuer``
(usually also ``ntlm_protected``) answers a WS-Trust RST with an RSTR as Lync does.

Run standalone to poke at it::

    python -m tests.servers.autodiscover --domain example.test --pool pool.example.test:5061
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import http.server
import re
import secrets
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar
from urllib.parse import urlsplit

import spnego
import spnego.exceptions

from tests.servers.testca import IssuedCertificate

__all__ = [
    "AUTODISCOVER_XML",
    "AutodiscoverServer",
    "IssuedWebTicket",
    "RecordedRequest",
    "Reply",
    "root_document",
    "user_document",
    "webticket_mex_document",
]

AUTODISCOVER_XML = "application/vnd.microsoft.rtc.autodiscover+xml; v=1"


def root_document(*, user_href: str = "", redirect_href: str = "",
                  access_location: str = "External") -> bytes:
    """An AutodiscoverResponse with a Root element (Redirect and/or User link)."""
    links = ['<Link token="Domain" href="https://example.invalid/domain"/>']
    if redirect_href:
        links.append(f'<Link token="Redirect" href="{redirect_href}"/>')
    if user_href:
        links.append(f'<Link token="User" href="{user_href}"/>')
    location = f' AccessLocation="{access_location}"' if access_location else ""
    return (f'<?xml version="1.0" encoding="utf-8"?><AutodiscoverResponse '
            f'xmlns:xsd="http://www.w3.org/2001/XMLSchema"{location}><Root>'
            f'{"".join(links)}</Root></AutodiscoverResponse>').encode()


def user_document(*, internal: tuple[str, int] | None = None,
                  external: tuple[str, int] | None = None, redirect_href: str = "",
                  access_location: str = "") -> bytes:
    """An AutodiscoverResponse with a User element (SIP servers and/or a Redirect link)."""
    parts = []
    if internal:
        parts.append(f'<SipServerInternalAccess fqdn="ignored-server.invalid" port="5061"/>'
                     f'<SipClientInternalAccess fqdn="{internal[0]}" port="{internal[1]}"/>')
    if external:
        parts.append(f'<SipServerExternalAccess fqdn="ignored-edge.invalid" port="443"/>'
                     f'<SipClientExternalAccess fqdn="{external[0]}" port="{external[1]}"/>')
    if redirect_href:
        parts.append(f'<Link token="Redirect" href="{redirect_href}"/>')
    parts.append('<Link token="External/Ucwa" href="https://example.invalid/ucwa"/>')
    location = f' AccessLocation="{access_location}"' if access_location else ""
    return (f'<?xml version="1.0" encoding="utf-8"?><AutodiscoverResponse{location}>'
            f'<User>{"".join(parts)}</User></AutodiscoverResponse>').encode()


def webticket_mex_document(win_negotiate_url: str, *, wsfed_bearer_url: str = "") -> bytes:
    """The web ticket service's mex (its WinNegotiate and optionally WsFedBearer ports)."""
    ports = []
    if win_negotiate_url:
        ports.append(f'<wsdl:port name="WebTicketServiceWinNegotiate" binding="tns:x">'
                     f'<soap:address location="{win_negotiate_url}"/></wsdl:port>')
    if wsfed_bearer_url:
        ports.append(f'<wsdl:port name="WsFedBearer" binding="tns:y">'
                     f'<soap:address location="{wsfed_bearer_url}"/></wsdl:port>')
    return ('<?xml version="1.0" encoding="utf-8"?><wsdl:definitions name="WebTicketService" '
            'xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" '
            'xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"><wsdl:service '
            f'name="WebTicketService">{"".join(ports)}</wsdl:service>'
            '</wsdl:definitions>').encode()


def _rstr(assertion: str, issued: dt.datetime) -> bytes:
    """An RSTR like Lync's (and the capture's): canonical Lifetime, SAML 1.1 assertion."""
    created = issued.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    expires = (issued + dt.timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    entropy = base64.b64encode(secrets.token_bytes(32)).decode()
    return ('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/'
            'oasis-200401-wss-wssecurity-utility-1.0.xsd"><s:Body>'
            '<RequestSecurityTokenResponse xmlns="http://docs.oasis-open.org/ws-sx/ws-trust/200512">'
            "<TokenType>http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV1.1"
            f"</TokenType><RequestedSecurityToken>{assertion}</RequestedSecurityToken>"
            "<RequestedProofToken><ComputedKey>"
            "http://docs.oasis-open.org/ws-sx/ws-trust/200512/CK/PSHA1</ComputedKey>"
            f"</RequestedProofToken><Entropy><BinarySecret>{entropy}</BinarySecret></Entropy>"
            f"<Lifetime><wsu:Created>{created}</wsu:Created><wsu:Expires>{expires}</wsu:Expires>"
            "</Lifetime><KeySize>256</KeySize></RequestSecurityTokenResponse></s:Body>"
            "</s:Envelope>").encode()


@dataclass(frozen=True)
class IssuedWebTicket:
    """A web ticket this server handed out: for whom, for which URL, its raw assertion."""

    user: str
    applies_to: str
    claim: str
    assertion: str


@dataclass(frozen=True)
class Reply:
    """What a route answers.

    Attributes:
        ntlm_protected: answer 401 (``WWW-Authenticate: Negotiate`` and ``NTLM``) until the
            client completes HTTP NTLM with credentials from ``NTLM_USER_FILE``.
        web_ticket_url: sent as ``X-MS-WebTicketURL`` with every 401.
        always_401: answer 401 whatever the client sends (web-ticket-only services).
        huge_body: instead of ``body``, send this many filler bytes.
        delay: seconds to wait before answering (a hanging server).
        accept_web_ticket: answer ``body`` only to a request whose ``X-MS-WebTicket`` holds a
            ticket this server issued; else 401 (+ ``X-MS-WebTicketURL``).
        web_ticket_issuer: (POST) answer a WS-Trust RST with an RSTR holding a new ticket.
    """

    body: bytes = b""
    status: int = 200
    content_type: str = AUTODISCOVER_XML
    headers: tuple[tuple[str, str], ...] = ()
    ntlm_protected: bool = False
    web_ticket_url: str = ""
    always_401: bool = False
    huge_body: int = 0
    delay: float = 0.0
    accept_web_ticket: bool = False
    web_ticket_issuer: bool = False


@dataclass(frozen=True)
class RecordedRequest:
    scheme: str
    host: str
    path: str
    query: str
    headers: dict[str, str]
    sni: str
    method: str = "GET"
    body: bytes = b""


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10
    server: _Server
    _ntlm: Any = None

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._handle("GET", b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._handle("POST", self.rfile.read(min(length, 1024 * 1024)))

    def _handle(self, method: str, body: bytes) -> None:
        owner = self.server.owner
        split = urlsplit(self.path)
        host = (self.headers.get("Host") or "").lower()
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        sni = getattr(self.connection, "sni_name", "") if isinstance(
            self.connection, ssl.SSLSocket) else ""
        owner.requests.append(RecordedRequest(self.server.scheme, host, split.path,
                                              split.query, dict(self.headers.items()),
                                              sni or "", method, body))
        reply = owner.routes.get((self.server.scheme, host, split.path)) or owner.routes.get(
            ("*", host, split.path))
        if reply is None:
            self._send(404, "text/html", b"<html>not found</html>")
            return
        if reply.delay:
            time.sleep(reply.delay)
        if reply.always_401:
            self._unauthorized()
            return
        if reply.accept_web_ticket and not self._web_ticket_ok():
            self._unauthorized()
            return
        if reply.ntlm_protected and not self._ntlm_done():
            return
        if reply.web_ticket_issuer:
            self._issue_web_ticket(body)
            return
        if reply.huge_body:
            self._send_huge(reply)
            return
        self._send(reply.status, reply.content_type, reply.body, reply.headers)

    def _unauthorized(self, extra: tuple[tuple[str, str], ...] = ()) -> None:
        reply_headers: list[tuple[str, str]] = list(extra)
        if not extra:
            reply_headers += [("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "NTLM")]
        route_reply = self._current_reply()
        if route_reply is not None and route_reply.web_ticket_url:
            reply_headers.append(("X-MS-WebTicketURL", route_reply.web_ticket_url))
        self._send(401, "text/html", b"<html>401</html>", tuple(reply_headers))

    def _current_reply(self) -> Reply | None:
        split = urlsplit(self.path)
        host = (self.headers.get("Host") or "").lower()
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        routes = self.server.owner.routes
        return routes.get((self.server.scheme, host, split.path)) or routes.get(
            ("*", host, split.path))

    def _web_ticket_ok(self) -> bool:
        owner = self.server.owner
        value = self.headers.get("X-MS-WebTicket", "")
        if not value.startswith("opaque="):
            return False
        try:
            assertion = base64.b64decode(value[len("opaque="):], validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        ticket = next((t for t in owner.issued_web_tickets if t.assertion == assertion), None)
        if ticket is None or not ticket.applies_to.endswith(urlsplit(self.path).path):
            owner.web_ticket_failures += 1
            return False
        owner.web_ticket_uses.append(ticket)
        return True

    def _issue_web_ticket(self, body: bytes) -> None:
        owner = self.server.owner
        text = body.decode("utf-8", "replace")
        applies = re.search(r"<wsa:Address>([^<]*)</wsa:Address>", text)
        claim = re.search(r"<auth:Value>([^<]*)</auth:Value>", text)
        if "RequestSecurityToken" not in text or applies is None:
            self._send(400, "text/html", b"<html>not an RST</html>")
            return
        issued = dt.datetime.now(dt.UTC)
        assertion = (
            '<saml:Assertion MajorVersion="1" MinorVersion="1" '
            f'AssertionID="SamlSecurityToken-{uuid.uuid4()}" Issuer="autodiscover-test" '
            'xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion"><saml:Conditions><saml:'
            f"AudienceRestrictionCondition><saml:Audience>{applies.group(1)}</saml:Audience>"
            "</saml:AudienceRestrictionCondition></saml:Conditions><saml:AuthenticationStatement>"
            f"<saml:Subject><saml:NameIdentifier>{claim.group(1) if claim else ''}"
            "</saml:NameIdentifier></saml:Subject></saml:AuthenticationStatement>"
            "</saml:Assertion>")
        owner.issued_web_tickets.append(IssuedWebTicket(
            owner.authenticated_users[-1] if owner.authenticated_users else "",
            applies.group(1), claim.group(1) if claim else "", assertion))
        self._send(200, "text/xml; charset=utf-8", _rstr(assertion, issued))

    def _ntlm_done(self) -> bool:
        """Drive the NTLM acceptor; True once authenticated (else a 401 was sent)."""
        authorization = self.headers.get("Authorization", "")
        scheme, _, token_text = authorization.partition(" ")
        if scheme.lower() not in ("ntlm", "negotiate") or not token_text.strip():
            self._ntlm = None
            self._unauthorized()
            return False
        try:
            token = base64.b64decode(token_text.strip())
            if self._ntlm is None:
                self._ntlm = spnego.server(protocol="ntlm")
            out = self._ntlm.step(token)
        except (spnego.exceptions.SpnegoError, ValueError):
            self._ntlm = None
            self.server.owner.auth_failures += 1
            self._unauthorized()
            return False
        if self._ntlm.complete:
            self.server.owner.authenticated_users.append(str(self._ntlm.client_principal))
            self._ntlm = None
            return True
        self._unauthorized(((
            "WWW-Authenticate", f"{scheme} {base64.b64encode(out or b'').decode()}"),))
        return False

    def _send(self, status: int, content_type: str, body: bytes,
              headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(body)

    def _send_huge(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(reply.huge_body))
        self.end_headers()
        chunk = b"<x>" + b"A" * 65530 + b"</x>"
        remaining = reply.huge_body
        with contextlib.suppress(OSError):
            while remaining > 0:
                part = chunk[:remaining]
                self.wfile.write(part)
                remaining -= len(part)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: AutodiscoverServer, scheme: str,
                 context: ssl.SSLContext | None) -> None:
        self.owner = owner
        self.scheme = scheme
        super().__init__(("127.0.0.1", 0), _Handler)
        if context is not None:
            # Handshake lazily in the handler thread, so a client rejecting the certificate
            # never blocks the accept loop.
            self.socket = context.wrap_socket(self.socket, server_side=True,
                                              do_handshake_on_connect=False)

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # clients hanging up mid-answer are expected here


@dataclass
class AutodiscoverServer:
    """HTTP + HTTPS autodiscover server on 127.0.0.1 (free ports)."""

    certificate: IssuedCertificate | None = None
    routes: dict[tuple[str, str, str], Reply] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    authenticated_users: list[str] = field(default_factory=list)
    auth_failures: int = 0
    issued_web_tickets: list[IssuedWebTicket] = field(default_factory=list)
    web_ticket_uses: list[IssuedWebTicket] = field(default_factory=list)
    web_ticket_failures: int = 0
    http_port: int = 0
    https_port: int = 0
    _servers: list[_Server] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)

    _DEFAULT_PATH: ClassVar[str] = "/"

    def route(self, host: str, path: str, reply: Reply, *, scheme: str = "*") -> None:
        """Answer ``reply`` for ``scheme://host/path`` (scheme ``*`` = both)."""
        self.routes[(scheme, host.lower(), path)] = reply

    def url(self, scheme: str, host: str, path: str) -> str:
        port = self.https_port if scheme == "https" else self.http_port
        return f"{scheme}://{host}:{port}{path}"

    def start(self) -> AutodiscoverServer:
        context = None
        if self.certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.certificate.cert_path, self.certificate.key_path)

            def remember_sni(sock: ssl.SSLObject | ssl.SSLSocket, name: str | None,
                             _ctx: ssl.SSLContext) -> None:
                sock.sni_name = name or ""  # type: ignore[union-attr]

            context.sni_callback = remember_sni  # type: ignore[assignment]
        plain = _Server(self, "http", None)
        self._servers.append(plain)
        self.http_port = plain.server_address[1]
        if context is not None:
            secure = _Server(self, "https", context)
            self._servers.append(secure)
            self.https_port = secure.server_address[1]
        for server in self._servers:
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                      daemon=True, name=f"autodiscover-{server.scheme}")
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> AutodiscoverServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", default="example.test")
    parser.add_argument("--pool", default="pool.example.test:5061", help="fqdn:port listed")
    args = parser.parse_args()
    fqdn, _, port = args.pool.partition(":")
    server = AutodiscoverServer().start()
    for prefix in ("lyncdiscoverinternal", "lyncdiscover"):
        server.route(f"{prefix}.{args.domain}", "/", Reply(
            user_document(internal=(fqdn, int(port or 5061)))))
    print(f"http on 127.0.0.1:{server.http_port} (Ctrl-C stops)")
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(3600)
    server.stop()


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    main()
