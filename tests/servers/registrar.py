"""A Lync-like SIP registrar for tests and demos: the server side of MS-SIPAE.

It speaks SIP over TCP or TLS, challenges with NTLM (connectionless, versions 4/3/none) and
Kerberos (keytab), checks the NTLMv2 response against its user table, signs every answer after
the handshake (``Authentication-Info`` with ``rspauth``/``srand``/``snum``) and verifies the
client's signatures on everything it sends afterwards — so real pidgin-sipe runs its own
signature checks against it. Scenarios reproduce the failures sipe-setup explains.

Standalone, so a person can point the wizard or Pidgin at it::

    python -m tests.servers.registrar --port 5061 --tls cert.pem key.pem \\
        --domain example.test --target server.example.test \\
        --user 'EXAMPLE\\alice:Passw0rd!' [--scenario NAME]

``--help`` lists the scenarios. Listens on loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import email.utils
import logging
import secrets
import ssl
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sipe_setup.core.auth.signature import fields_from_message
from sipe_setup.core.sip.message import (
    SipProtocolError,
    SipRequest,
    SipResponse,
    SipStreamParser,
    parse_auth_params,
)
from tests.servers.ntlm_acceptor import (
    NtlmAcceptor,
    NtlmServerHandshake,
    NtlmServerSession,
    request_signature,
)

LOG = logging.getLogger("registrar")
REALM = "SIP Communications Service"
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")

SCENARIOS: dict[str, str] = {
    "success": "sign-in works (signed 200 OK), later requests are verified and signed",
    "wrong-login-form": "accepts only the DOMAIN\\user form of the users' logins",
    "forbidden-17002": "403 ms-diagnostics 17002 unless the User-Agent starts with UCCAPI/",
    "forbidden": "403 with a Warning after authentication (remote access not allowed)",
    "not-found-4005": "404 ms-diagnostics 4005 after authentication (not enabled for SIP)",
    "not-in-pool-4006": "404 ms-diagnostics 4006 after authentication (wrong pool)",
    "redirect": "301 to --redirect HOST:PORT after authentication (director → home pool)",
    "unavailable-480": "480 Temporarily Unavailable to the first REGISTER",
    "error-500": "500 Server Internal Error to the first REGISTER",
    "unavailable-503": "503 Service Unavailable with ms-diagnostics",
    "silent": "accepts the connection but never answers",
    "garbage": "answers with an HTTP response instead of SIP",
    "close": "closes the connection on the first REGISTER",
    "voip-digest": "a VoIP PBX: 401 Digest only, Server: Asterisk PBX",
    "bad-signature": "like success but the 200 OK's rspauth is wrong",
    "auth-loop": "401 again after a completed handshake, whatever the password",
    "tls-dsk-only": "offers only TLS-DSK",
    "kerberos-only": "offers only Kerberos (needs --keytab)",
    "clock-skew": "Date header one hour ahead and authentication refused",
    "unsigned-ok": "200 OK to REGISTER without Authentication-Info",
}


@dataclass
class RegistrarConfig:
    """What the registrar accepts and how it misbehaves."""

    domain: str = "example.test"
    target: str = "server.example.test"
    users: list[tuple[str, str, str]] = field(default_factory=list)  # (DOMAIN, user, password)
    scenario: str = "success"
    ntlm_version: int | None = 4  # None: no version parameter (OCS 2007 form)
    keytab: Path | None = None
    redirect_to: str = ""  # host:port[;transport=tcp]
    server_header: str = "RTC/6.0.9319.0"
    offer_ntlm: bool = True

    @property
    def offers_kerberos(self) -> bool:
        return self.keytab is not None and self.scenario not in ("tls-dsk-only",)


@dataclass
class RegistrarStats:
    """What happened, for the tests to assert on."""

    connections: int = 0
    registers: int = 0
    authenticated: int = 0
    auth_failures: int = 0
    client_signatures_verified: int = 0
    client_signature_failures: int = 0
    signed_responses: int = 0
    requests_by_method: dict[str, int] = field(default_factory=dict)
    user_agents: list[str] = field(default_factory=list)
    last_principal: str = ""
    last_reject: str = ""


class KerberosServerSession:
    """Kerberos acceptor from a keytab (gssapi), integrity only, as Lync does it."""

    def __init__(self, keytab: Path) -> None:
        import gssapi  # imported lazily: Kerberos is an optional extra

        creds = gssapi.Credentials(usage="accept", store={"keytab": str(keytab)})
        self._ctx = gssapi.SecurityContext(creds=creds, usage="accept")
        self.principal = ""

    def accept(self, token: bytes) -> bool:
        self._ctx.step(token)
        if self._ctx.complete:
            self.principal = str(self._ctx.initiator_name)
        return bool(self._ctx.complete)

    def sign(self, text: str) -> str:
        return bytes(self._ctx.get_signature(text.encode("utf-8"))).hex()

    def verify_client(self, text: str, signature_hex: str) -> bool:
        try:
            self._ctx.verify_signature(text.encode("utf-8"), bytes.fromhex(signature_hex))
        except Exception:
            return False
        return True


ServerSession = NtlmServerSession | KerberosServerSession


@dataclass
class SecurityAssociation:
    """The state of one client's completed (or ongoing) authentication on a connection."""

    scheme: str  # "NTLM" or "Kerberos"
    opaque: str
    target: str  # targetname as challenged
    version: int | None
    session: ServerSession | None = None
    handshake: NtlmServerHandshake | None = None
    complete: bool = False
    snum: int = 0

    @property
    def signature_version(self) -> int:
        return self.version if self.version is not None else 2


def _copy_dialog_headers(request: SipRequest, to_tag: str) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for name in ("Via", "From", "Call-ID", "CSeq"):
        headers += [(name, v) for v in request.header_values(name)]
    to = request.header("To") or ""
    if ";tag=" not in to:
        to = f"{to};tag={to_tag}"
    headers.append(("To", to))
    return headers


class SipRegistrarConnection:
    """One client connection: reads SIP, answers per scenario."""

    def __init__(self, registrar: Registrar, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.registrar = registrar
        self.config = registrar.config
        self.stats = registrar.stats
        self.reader = reader
        self.writer = writer
        self.parser = SipStreamParser()
        self.to_tag = f"{secrets.randbits(32):08x}"
        self.association: SecurityAssociation | None = None
        self.registers_seen = 0

    async def run(self) -> None:
        self.stats.connections += 1
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    return
                try:
                    messages = self.parser.feed(data)
                except SipProtocolError as exc:
                    LOG.warning("bad SIP from client: %s", exc)
                    return
                for message in messages:
                    if isinstance(message, SipRequest) and not await self.handle(message):
                        return
        except (ConnectionError, OSError, ssl.SSLError) as exc:
            LOG.info("connection ended: %s", exc)
        finally:
            self.writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self.writer.wait_closed()

    async def send(self, response: SipResponse) -> None:
        self.writer.write(response.to_bytes())
        await self.writer.drain()

    def response(self, request: SipRequest, status: int, reason: str,
                 extra: list[tuple[str, str]] | None = None,
                 date: str | None = None) -> SipResponse:
        headers = _copy_dialog_headers(request, self.to_tag)
        headers += extra or []
        if date is not None:
            headers.append(("Date", date))
        headers += [("Server", self.config.server_header), ("Content-Length", "0")]
        return SipResponse(headers=tuple(headers), status=status, reason=reason)

    # --- signing ------------------------------------------------------------------------------

    def signed(self, response: SipResponse, *, corrupt: bool = False) -> SipResponse:
        """Append Authentication-Info with a valid (or, for a test, a corrupted) rspauth."""
        sa = self.association
        if sa is None or not sa.complete or sa.session is None:
            return response
        sa.snum += 1
        srand = f"{secrets.randbits(32):08X}"
        fields = fields_from_message(response, scheme=sa.scheme, rand=srand,
                                     num=str(sa.snum), realm=REALM, target_name=sa.target)
        signature = sa.session.sign(fields.to_string(sa.signature_version))
        if corrupt:
            signature = signature[:-8] + ("0" * 8 if not signature.endswith("0" * 8)
                                          else "1" * 8)
        info = (f'{sa.scheme} rspauth="{signature}", srand="{srand}", snum="{sa.snum}", '
                f'opaque="{sa.opaque}", qop="auth", targetname="{sa.target}", '
                f'realm="{REALM}"')
        if sa.version is not None and sa.version >= 4 and sa.scheme != "NTLM":
            info += f", version={sa.version}"
        self.stats.signed_responses += 1
        return response.with_header("Authentication-Info", info)

    def verify_client_signature(self, request: SipRequest) -> bool | None:
        """True/False for a signed request; None when it carries no signature."""
        sa = self.association
        if sa is None or not sa.complete or sa.session is None:
            return None
        signed = request_signature(request, sa.signature_version)
        if signed is None:
            return None
        ok = sa.session.verify_client(*signed)
        if ok:
            self.stats.client_signatures_verified += 1
        else:
            self.stats.client_signature_failures += 1
            LOG.warning("client signature does not verify on %s", request.method)
        return ok

    # --- challenges ---------------------------------------------------------------------------

    def first_challenge(self, request: SipRequest) -> SipResponse:
        version = self.config.ntlm_version
        vtext = f", version={version}" if version is not None else ""
        offers: list[tuple[str, str]] = []
        scenario = self.config.scenario
        if scenario == "tls-dsk-only":
            offers.append(("WWW-Authenticate",
                           f'TLS-DSK realm="{REALM}", targetname="{self.config.target}", '
                           f'version=4, sts-uri="https://{self.config.target}/CertProv/'
                           'CertProvisioningService.svc"'))
        else:
            if self.config.offers_kerberos:
                offers.append(("WWW-Authenticate", f'Kerberos realm="{REALM}", '
                               f'targetname="sip/{self.config.target}"{vtext}'))
            if self.config.offer_ntlm and scenario != "kerberos-only":
                offers.append(("WWW-Authenticate", f'NTLM realm="{REALM}", '
                               f'targetname="{self.config.target}"{vtext}'))
        return self.response(request, 401, "Unauthorized", offers, date=self._date())

    def _date(self) -> str:
        now = dt.datetime.now(dt.UTC)
        if self.config.scenario == "clock-skew":
            now += dt.timedelta(hours=1)
        return email.utils.format_datetime(now, usegmt=True)

    # --- request handling ---------------------------------------------------------------------

    async def handle(self, request: SipRequest) -> bool:
        """Answer one request. False closes the connection."""
        method = request.method
        self.stats.requests_by_method[method] = self.stats.requests_by_method.get(method, 0) + 1
        if method != "REGISTER":
            return await self.handle_other(request)
        self.stats.registers += 1
        self.registers_seen += 1
        ua = request.header("User-Agent") or ""
        self.stats.user_agents.append(ua)
        scenario = self.config.scenario

        if self.registers_seen == 1:
            if scenario == "silent":
                return True
            if scenario == "close":
                return False
            if scenario == "garbage":
                self.writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n"
                                  b"Content-Length: 13\r\n\r\n<h1>400</h1>\n")
                await self.writer.drain()
                return True
            if scenario == "unavailable-480":
                await self.send(self.response(request, 480, "Temporarily Unavailable", [
                    ("ms-diagnostics", '1003;reason="User is temporarily unavailable";'
                                       'source="server.example.test"')]))
                return True
            if scenario == "error-500":
                await self.send(self.response(request, 500, "Server Internal Error"))
                return True
            if scenario == "unavailable-503":
                await self.send(self.response(request, 503, "Service Unavailable", [
                    ("ms-diagnostics", '1008;reason="Unable to resolve DNS SRV record";'
                                       'source="server.example.test"')]))
                return True
            if scenario == "voip-digest":
                nonce = secrets.token_hex(16)
                await self.send(SipResponse(headers=(
                    *_copy_dialog_headers(request, self.to_tag),
                    ("WWW-Authenticate", f'Digest realm="asterisk", nonce="{nonce}", '
                                         'algorithm=MD5, qop="auth"'),
                    ("Server", "Asterisk PBX 18.10.0"),
                    ("Content-Length", "0")), status=401, reason="Unauthorized"))
                return True

        auth = request.header("Authorization")
        if auth is None:
            self.association = None
            await self.send(self.first_challenge(request))
            return True
        return await self.handle_authorized_register(request, auth)

    async def handle_authorized_register(self, request: SipRequest, auth: str) -> bool:
        params = parse_auth_params(auth)
        scheme = params.scheme
        sa = self.association
        if sa is not None and sa.complete:
            # Re-REGISTER or de-REGISTER in the signed form.
            ok = self.verify_client_signature(request)
            if ok is False:
                await self.send(self.first_challenge(request))
                return True
            expires = request.header("Expires")
            await self.send(self.signed(self.ok_response(request, expires or "7200")))
            return True

        gssapi_data = params.get("gssapi-data")
        if gssapi_data is None:
            await self.send(self.first_challenge(request))
            return True
        if scheme.upper() == "NTLM" and self.config.offer_ntlm:
            return await self.ntlm_step(request, params.get("opaque"), gssapi_data)
        if scheme.lower() == "kerberos" and self.config.offers_kerberos:
            return await self.kerberos_step(request, gssapi_data)
        await self.send(self.first_challenge(request))
        return True

    async def ntlm_step(self, request: SipRequest, opaque: str | None,
                        gssapi_data: str) -> bool:
        config = self.config
        version = config.ntlm_version
        vtext = f", version={version}" if version is not None else ""
        if gssapi_data == "":
            handshake = self.registrar.ntlm_acceptor().new_handshake()
            opaque = f"{secrets.randbits(32):08X}"
            self.association = SecurityAssociation("NTLM", opaque, config.target, version,
                                                   handshake=handshake)
            token = base64.b64encode(handshake.challenge).decode("ascii")
            await self.send(self.response(request, 401, "Unauthorized", [(
                "WWW-Authenticate",
                f'NTLM opaque="{opaque}", gssapi-data="{token}", realm="{REALM}", '
                f'targetname="{config.target}"{vtext}')], date=self._date()))
            return True
        sa = self.association
        if sa is None or sa.handshake is None or opaque != sa.opaque:
            await self.send(self.first_challenge(request))
            return True
        try:
            authenticate = base64.b64decode(gssapi_data, validate=True)
        except ValueError:
            await self.send(self.response(request, 400, "Bad Request"))
            return True
        outcome = sa.handshake.accept(authenticate)
        if not outcome.ok or outcome.session is None:
            LOG.info("NTLM rejected: %s (%s)", outcome.reason, outcome.detail)
            self.stats.auth_failures += 1
            self.stats.last_reject = str(outcome.reason)
            self.association = None
            await self.send(self.failed_auth(request))
            return True
        sa.session = outcome.session
        sa.complete = True
        self.stats.last_principal = f"{outcome.domain}\\{outcome.user}"
        return await self.after_handshake(request)

    async def kerberos_step(self, request: SipRequest, gssapi_data: str) -> bool:
        assert self.config.keytab is not None
        session = KerberosServerSession(self.config.keytab)
        try:
            complete = session.accept(base64.b64decode(gssapi_data, validate=True))
        except Exception as exc:
            LOG.info("Kerberos rejected: %s", exc)
            self.stats.auth_failures += 1
            await self.send(self.failed_auth(request))
            return True
        if not complete:
            await self.send(self.failed_auth(request))
            return True
        opaque = f"{secrets.randbits(32):08X}"
        self.association = SecurityAssociation("Kerberos", opaque,
                                               f"sip/{self.config.target}",
                                               self.config.ntlm_version, session, complete=True)
        self.stats.last_principal = session.principal
        return await self.after_handshake(request)

    def failed_auth(self, request: SipRequest) -> SipResponse:
        response = self.first_challenge(request)
        return response.with_header(
            "ms-diagnostics", '1000;reason="Final handshake failed";source="server.example.test"')

    async def after_handshake(self, request: SipRequest) -> bool:
        """The handshake completed: check the client's signature, then answer per scenario."""
        sa = self.association
        assert sa is not None
        scenario = self.config.scenario
        if scenario == "auth-loop":
            # The handshake completed (we hold the session key, so the 401 is signed) but the
            # account may not sign in: locked, disabled, expired password.
            self.stats.auth_failures += 1
            await self.send(self.signed(self.failed_auth(request)))
            self.association = None
            return True
        if scenario == "clock-skew":
            self.stats.auth_failures += 1
            self.association = None
            await self.send(self.failed_auth(request))
            return True
        if sa.version is not None and sa.version > 3:
            ok = self.verify_client_signature(request)
            if ok is not True:
                self.stats.auth_failures += 1
                self.association = None
                await self.send(self.failed_auth(request))
                return True
        self.stats.authenticated += 1
        ua = request.header("User-Agent") or ""
        if scenario == "forbidden-17002" and not ua.startswith("UCCAPI/"):
            await self.send(self.signed(self.response(request, 403, "Forbidden", [
                ("ms-diagnostics-public", '17002;reason="Invalid protocol client version";'
                                          'source="server.example.test"'),
                ("ms-diagnostics", '17002;reason="Invalid protocol client version";'
                                   'source="server.example.test"')])))
            return True
        if scenario == "forbidden":
            await self.send(self.signed(self.response(request, 403, "Forbidden", [
                ("Warning", '310 lcs.microsoft.com "Remote access is not allowed for this '
                            'user"')])))
            return True
        if scenario == "not-found-4005":
            await self.send(self.signed(self.response(request, 404, "Not Found", [
                ("ms-diagnostics", '4005;reason="Destination URI either not enabled for SIP '
                                   'or does not exist";source="server.example.test"')])))
            return True
        if scenario == "not-in-pool-4006":
            await self.send(self.signed(self.response(request, 404, "Not Found", [
                ("ms-diagnostics", '4006;reason="User not found in pool";'
                                   'source="server.example.test"')])))
            return True
        if scenario == "redirect" and self.config.redirect_to:
            await self.send(self.signed(self.response(request, 301, "Redirect request", [
                ("Contact", f"<sip:{self.config.redirect_to}>")])))
            return True
        ok = self.ok_response(request, "7200")
        if scenario == "unsigned-ok":
            await self.send(ok)
        else:
            await self.send(self.signed(ok, corrupt=scenario == "bad-signature"))
        return True

    def ok_response(self, request: SipRequest, expires: str) -> SipResponse:
        contact = request.header("Contact") or ""
        extra = [("Expires", expires)]
        if contact and expires != "0":
            extra.append(("Contact", f'{contact};expires={expires};'
                          f'gruu="sip:{self._aor(request)};opaque=user:epid:'
                          f'{secrets.token_urlsafe(16)};gruu"'))
        extra += [("Supported", "msrtc-event-categories"), ("Supported", "adhoclist"),
                  ("Allow-Events", "vnd-microsoft-provisioning-v2,"
                                   "vnd-microsoft-roaming-self,presence"),
                  ("ms-keep-alive", "UAS; tcp=no; hop-hop=yes; end-end=no; timeout=300")]
        return self.response(request, 200, "OK", extra)

    @staticmethod
    def _aor(request: SipRequest) -> str:
        to = request.header("To") or ""
        start, end = to.find("<sip:"), to.find(">")
        return to[start + 5:end] if 0 <= start < end else "unknown"

    async def handle_other(self, request: SipRequest) -> bool:
        """SUBSCRIBE, SERVICE, NOTIFY... after sign-in: verify the signature, answer signed."""
        ok = self.verify_client_signature(request)
        if request.method == "ACK":
            return True
        if ok is False:
            await self.send(self.response(request, 401, "Unauthorized"))
            return True
        if ok is None:
            await self.send(self.response(request, 403, "Forbidden", [
                ("Warning", '399 lcs.microsoft.com "request is not signed"')]))
            return True
        extra: list[tuple[str, str]] = []
        if request.method == "SUBSCRIBE":
            extra.append(("Expires", request.header("Expires") or "3600"))
        await self.send(self.signed(self.response(request, 200, "OK", extra)))
        return True


class Registrar:
    """The server; ``stats`` accumulates over all connections."""

    def __init__(self, config: RegistrarConfig) -> None:
        if config.scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {config.scenario!r}")
        self.config = config
        self.stats = RegistrarStats()
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    def ntlm_acceptor(self) -> NtlmAcceptor:
        """An acceptor for the configured users.

        Like Active Directory, it accepts DOMAIN\\user, the UPN user@<dns domain> and the bare
        user name (empty domain) — except in the wrong-login-form scenario, which accepts only
        DOMAIN\\user.
        """
        table: dict[tuple[str, str], str] = {}
        for domain, user, password in self.config.users:
            table[(domain.upper(), user.lower())] = password
            if domain and self.config.scenario != "wrong-login-form":
                table[("", f"{user}@{self.config.domain}".lower())] = password
                table[("", user.lower())] = password
        nb_domain = next((d.upper() for d, _u, _p in self.config.users if d),
                         self.config.domain.split(".")[0].upper())
        return NtlmAcceptor(table, nb_domain=nb_domain, dns_domain=self.config.domain,
                            nb_computer=self.config.target.split(".")[0].upper(),
                            dns_computer=self.config.target)

    async def start(self, host: str = "127.0.0.1", port: int = 0,
                    tls: ssl.SSLContext | None = None) -> int:
        """Listen; returns the port (a free one when ``port`` is 0)."""
        if host not in LOOPBACK_HOSTS and not host.startswith("127."):
            raise ValueError("the test registrar listens on loopback only")

        async def on_connect(reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._connections.add(task)
            try:
                await SipRegistrarConnection(self, reader, writer).run()
            finally:
                self._connections.discard(task)

        self._server = await asyncio.start_server(on_connect, host, port, ssl=tls)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            tasks = list(self._connections)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=2)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """Server TLS context from a PEM certificate (chain) and key."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


class RegistrarThread:
    """Run a registrar in a background thread with its own event loop (for finch tests)."""

    def __init__(self, config: RegistrarConfig, *, tls: ssl.SSLContext | None = None,
                 port: int = 0) -> None:
        self.registrar = Registrar(config)
        self._tls = tls
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.port = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self.port = self._loop.run_until_complete(
            self.registrar.start(port=self._port, tls=self._tls))
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> RegistrarThread:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("registrar did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        fut = asyncio.run_coroutine_threadsafe(self.registrar.stop(), self._loop)
        with contextlib.suppress(Exception):
            fut.result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def call(self, fn: Callable[[], object]) -> object:
        """Run ``fn`` on the registrar's loop (to read stats consistently)."""
        fut: asyncio.Future[object] = asyncio.run_coroutine_threadsafe(
            _call_async(fn), self._loop)
        return fut.result(5)


async def _call_async(fn: Callable[[], object]) -> object:
    return fn()


def parse_user(text: str) -> tuple[str, str, str]:
    """``DOMAIN\\user:password`` or ``user@domain:password`` → (domain, user, password)."""
    ident, sep, password = text.partition(":")
    if not sep or not password:
        raise argparse.ArgumentTypeError("--user wants DOMAIN\\user:password")
    if "\\" in ident:
        domain, _, user = ident.partition("\\")
        return domain, user, password
    return "", ident, password


def main(argv: list[str] | None = None) -> int:
    scenario_help = "\n".join(f"  {name:18} {text}" for name, text in SCENARIOS.items())
    parser = argparse.ArgumentParser(
        prog="python -m tests.servers.registrar",
        description="A Lync-like SIP registrar (MS-SIPAE NTLM/Kerberos, signed responses) on "
                    "loopback, for testing sipe-setup and pidgin-sipe.",
        epilog="scenarios:\n" + scenario_help,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, required=True, help="port (0 = any free port)")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), type=Path,
                        help="serve TLS with this PEM certificate and key")
    parser.add_argument("--domain", default="example.test", help="SIP domain")
    parser.add_argument("--target", default="server.example.test",
                        help="server FQDN used as NTLM/Kerberos targetname")
    parser.add_argument("--user", action="append", type=parse_user, default=[],
                        metavar="DOMAIN\\USER:PASSWORD",
                        help="an account (repeatable; user@domain:password for UPN logins)")
    parser.add_argument("--scenario", default="success", choices=sorted(SCENARIOS))
    parser.add_argument("--ntlm-version", default="4", choices=["4", "3", "none"])
    parser.add_argument("--keytab", type=Path, help="keytab with sip/<target> to offer Kerberos")
    parser.add_argument("--redirect", default="", metavar="HOST:PORT",
                        help="where the redirect scenario sends clients")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s registrar: %(message)s")
    config = RegistrarConfig(domain=args.domain, target=args.target, users=list(args.user),
                             scenario=args.scenario,
                             ntlm_version=None if args.ntlm_version == "none"
                             else int(args.ntlm_version),
                             keytab=args.keytab, redirect_to=args.redirect)
    tls = tls_context(*args.tls) if args.tls else None

    async def serve() -> None:
        registrar = Registrar(config)
        port = await registrar.start(args.host, args.port, tls)
        print(f"registrar listening on {args.host}:{port} ({'TLS' if tls else 'TCP'}), "
              f"scenario {args.scenario}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await registrar.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
