"""A Lync-like SIP registrar for tests and demos: the server side of MS-SIPAE.

It speaks SIP over TCP or TLS, challenges with NTLM (connectionless, versions 4/3/none),
Kerberos (keytab) and TLS-DSK, checks the NTLMv2 response against its user table, signs every
answer after the handshake (``Authentication-Info`` with ``rspauth``/``srand``/``snum``) and
verifies the client's signatures on everything it sends afterwards — so real pidgin-sipe runs
its own signature checks against it. Scenarios reproduce the failures sipe-setup explains.

The ``tls-dsk*`` scenarios also run the Lync web services a TLS-DSK client needs first
(:mod:`tests.servers.webservices`: mex, web ticket over HTTP NTLM, certificate provisioning
from the test CA) and do the TLS handshake inside REGISTER with
:mod:`tests.servers.tls_dsk_acceptor`, accepting only the client certificate the web services
published for the From user. In-process::

    with RegistrarThread(RegistrarConfig(users=USERS, scenario="tls-dsk")) as registrar:
        registrar.port, registrar.webservices.sts_uri, registrar.webservices.https_cert_pem

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
import signal
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from sipe_setup.core.auth.signature import fields_from_message
from sipe_setup.core.sip.message import (
    AuthParams,
    SipProtocolError,
    SipRequest,
    SipResponse,
    SipStreamParser,
    parse_auth_params,
)
from tests.servers.ntlm_acceptor import (
    Accounts,
    NtlmAcceptor,
    NtlmServerHandshake,
    NtlmServerSession,
    request_signature,
)
from tests.servers.tls_dsk_acceptor import (
    TlsDskAcceptor,
    TlsDskOptions,
    TlsDskServerHandshake,
    TlsDskServerSession,
)
from tests.servers.webservices import (
    HttpsCertificate,
    WebServicesOptions,
    WebServicesServer,
    WebServicesStats,
    WebTicketFailure,
)

LOG = logging.getLogger("registrar")
REALM = "SIP Communications Service"
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")

SCENARIOS: dict[str, str] = {
    "success": "sign-in works (signed 200 OK), later requests are verified and signed",
    "wrong-login-form": "accepts only the DOMAIN\\user form of the users' logins",
    "forbidden-17002": "403 ms-diagnostics 17002 unless the User-Agent starts with UCCAPI/",
    "client-version-310": "403 Warning 310 lcs.microsoft.com unless the User-Agent is UCCAPI/",
    "client-version-312": "403 Warning 312 (update URL) unless the User-Agent is UCCAPI/",
    "client-version-314": "403 Warning 314 (Microsoft Update) unless the User-Agent is UCCAPI/",
    "ok-with-313": "200 OK with Warning 313 (allowed, upgrade advised) unless UCCAPI/",
    "remote-access-4003": "403 ms-diagnostics-public 4003 after authentication (Edge: no "
                          "remote access)",
    "forbidden": "403 after authentication without any reason",
    "not-found-4005": "404 ms-diagnostics 4005 after authentication (not enabled for SIP)",
    "not-in-pool-4006": "404 ms-diagnostics 4006 after authentication (wrong pool)",
    "redirect": "301 to --redirect HOST:PORT after authentication (director → home pool)",
    "redirect-early": "301 to --redirect HOST:PORT before any authentication",
    "redirect-unsigned": "like redirect, but the 301 is not signed",
    "unavailable-480": "480 Temporarily Unavailable to the first REGISTER",
    "error-500": "500 Server Internal Error to the first REGISTER",
    "unavailable-503": "503 Service Unavailable with ms-diagnostics 1007",
    "timeout-504": "504 Server time-out to the first REGISTER",
    "dns-srv-1008": "504 Server time-out with ms-diagnostics 1008 (next hop's SRV)",
    "voip-405": "a SIP server that is no registrar: 405 Method Not Allowed, Server: Asterisk",
    "proxy-digest-407": "a proxy in front: 407 with Proxy-Authenticate: Digest",
    "proxy-407-ntlm": "a SIP proxy in front asks for NTLM (407, Proxy-Authorization), then "
                      "the registrar for NTLM (401)",
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
    "hostile-text": "403 whose reason phrase, Warning and Server hold terminal escapes and markup",
    "trying-forever": "100 Trying to the first REGISTER, again and again, never a final answer",
}
HOSTILE_TEXT = ("Forbidden <b>bold</b> \x1b[2J\x1b[H\x1b]0;pwned\x07 \x1b]52;c;cm0gLXJmIH4K\x07 "
                "\u009b31m \x7f \u202egnp.exe \u2028Code: SS-OK \x1b[1ACode: SS-OK")
"""What the hostile-text scenario puts in its reason phrase, Warning and Server headers: clear
screen, cursor home/up, window title, an OSC 52 clipboard write, C1 CSI, DEL, a bidi override,
a line separator and HTML (CR and LF cannot travel inside a SIP header)."""


@dataclass(frozen=True)
class TlsDskScenario:
    """A TLS-DSK scenario: what the 401 offers and how the two TLS-DSK servers behave.

    Attributes:
        offer_ntlm: offer NTLM (and Kerberos, with a keytab) besides TLS-DSK, as Lync 2013 and
            Skype for Business do.
        sts_uri: put ``sts-uri`` in the TLS-DSK offer.
        version: the TLS-DSK ``version`` (3: the REGISTER that completes the handshake is not
            signed).
        corrupt_rspauth: a wrong ``rspauth`` on the 200 OK.
    """

    description: str
    offer_ntlm: bool = False
    sts_uri: bool = True
    version: int = 4
    corrupt_rspauth: bool = False
    acceptor: TlsDskOptions = field(default_factory=TlsDskOptions)
    webservices: WebServicesOptions = field(default_factory=WebServicesOptions)


TLS_DSK_SCENARIOS: dict[str, TlsDskScenario] = {
    "tls-dsk": TlsDskScenario("TLS-DSK only, with web services: sign-in works"),
    "tls-dsk+ntlm": TlsDskScenario("TLS-DSK and NTLM in one 401 (Lync 2013/SfB)",
                                   offer_ntlm=True),
    "tls-dsk-no-sts": TlsDskScenario("TLS-DSK without sts-uri", sts_uri=False),
    "tls-dsk-v3": TlsDskScenario("TLS-DSK version=3: the completing REGISTER is unsigned",
                                 version=3),
    "tls-dsk-bad-rspauth": TlsDskScenario("TLS-DSK, the 200 OK's rspauth is wrong",
                                          corrupt_rspauth=True),
    "tls-dsk-split-flight": TlsDskScenario(
        "TLS-DSK server flight one record per message (SIPE fails)",
        acceptor=TlsDskOptions(coalesce=False)),
    "tls-dsk-rc4-md5": TlsDskScenario(
        "TLS-DSK server picks RC4-MD5 (SIPE's first choice): HMAC-MD5 signatures",
        acceptor=TlsDskOptions(rc4_md5=True)),
    "tls-dsk-tls12-only": TlsDskScenario(
        "TLS-DSK server wants TLS 1.2: SIPE's TLS 1.0 hello gets an alert",
        acceptor=TlsDskOptions(tls12_only=True)),
    "tls-dsk-unpublished": TlsDskScenario(
        "certificate issued but not published: 401 1000 after the handshake",
        webservices=WebServicesOptions(publish=False)),
    "tls-dsk-webticket-401": TlsDskScenario(
        "web ticket: 401 with X-Ms-diagnostics after NTLM",
        webservices=WebServicesOptions(webticket_failure=WebTicketFailure.UNAUTHORIZED)),
    "tls-dsk-webticket-fault": TlsDskScenario(
        "web ticket: SOAP fault with internalerror/text, HTTP 200",
        webservices=WebServicesOptions(webticket_failure=WebTicketFailure.FAULT)),
    "tls-dsk-webticket-fault-500": TlsDskScenario(
        "web ticket: the same SOAP fault with HTTP 500",
        webservices=WebServicesOptions(webticket_failure=WebTicketFailure.FAULT_500)),
    "tls-dsk-negotiate": TlsDskScenario(
        "web ticket offers Negotiate and NTLM (SIPE tries Kerberos, then NTLM)",
        webservices=WebServicesOptions(offer_negotiate=True)),
    "tls-dsk-certprov-500": TlsDskScenario(
        "certificate provisioning answers HTTP 500",
        webservices=WebServicesOptions(certprov_500=True)),
    "tls-dsk-short-cert": TlsDskScenario(
        "client certificates valid 30 min (SIPE re-provisions forever)",
        webservices=WebServicesOptions(certificate_lifetime=dt.timedelta(minutes=30))),
    "tls-dsk-noncanonical-lifetime": TlsDskScenario(
        "RSTR Lifetime redeclares wsu: the ticket's digest fails",
        webservices=WebServicesOptions(canonical_lifetime=False)),
    "tls-dsk-mex-no-policy": TlsDskScenario(
        "CertProv mex without the web ticket policy",
        webservices=WebServicesOptions(mex_policy=False)),
    "tls-dsk-untrusted-sts": TlsDskScenario(
        "web services on a self-signed HTTPS certificate",
        webservices=WebServicesOptions(https_certificate=HttpsCertificate.SELF_SIGNED)),
    "tls-dsk-ecdsa-https": TlsDskScenario(
        "web services on an ECDSA HTTPS certificate (allowed)",
        webservices=WebServicesOptions(https_certificate=HttpsCertificate.ECDSA)),
}
SCENARIOS.update({name: scenario.description for name, scenario in TLS_DSK_SCENARIOS.items()})


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
    webservices: WebServicesOptions | None = None
    """Web services behaviour for a ``tls-dsk*`` scenario, instead of the scenario's own."""

    @property
    def tls_dsk(self) -> TlsDskScenario | None:
        """The TLS-DSK scenario, if this is one (``tls-dsk-only`` is not: it only challenges)."""
        return TLS_DSK_SCENARIOS.get(self.scenario)

    @property
    def offers_kerberos(self) -> bool:
        tls_dsk = self.tls_dsk
        return (self.keytab is not None and self.scenario not in ("tls-dsk-only",)
                and (tls_dsk is None or tls_dsk.offer_ntlm))

    @property
    def offers_ntlm(self) -> bool:
        tls_dsk = self.tls_dsk
        return (self.offer_ntlm and self.scenario not in ("kerberos-only", "tls-dsk-only")
                and (tls_dsk is None or tls_dsk.offer_ntlm))

    def accounts(self) -> Accounts:
        """The user table (only DOMAIN\\user logins in the wrong-login-form scenario)."""
        return Accounts(tuple(self.users), self.domain,
                        domain_form_only=self.scenario == "wrong-login-form")


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
    register_auth_schemes: list[str] = field(default_factory=list)
    proxy_authenticated: int = 0  # proxy-407-ntlm: connections the proxy let through
    """The Authorization scheme of every authorized REGISTER, in order."""
    register_times: list[float] = field(default_factory=list)
    """``time.monotonic()`` when each REGISTER arrived (benchmarks)."""
    authenticated_at: list[float] = field(default_factory=list)
    """``time.monotonic()`` of each completed authentication (benchmarks)."""
    tls_dsk_handshakes: int = 0
    webservices: WebServicesStats | None = None
    """The web services' own counts (``tls-dsk*`` scenarios)."""

    @property
    def http_requests(self) -> int:
        return self.webservices.requests if self.webservices is not None else 0


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


ServerSession = NtlmServerSession | KerberosServerSession | TlsDskServerSession


@dataclass
class SecurityAssociation:
    """The state of one client's completed (or ongoing) authentication on a connection.

    TLS-DSK holds its keys (``session``) one REGISTER before it is ``complete``: the TLS
    handshake ends with the server's Finished in a 401, and the next REGISTER completes it.
    """

    scheme: str  # "NTLM", "Kerberos" or "TLS-DSK"
    opaque: str
    target: str  # targetname as challenged
    version: int | None
    session: ServerSession | None = None
    handshake: NtlmServerHandshake | None = None
    complete: bool = False
    snum: int = 0
    tls: TlsDskServerHandshake | None = None
    certificate_accepted: bool = False
    """TLS-DSK: the client's certificate is the one published for the From user."""

    @property
    def signature_version(self) -> int:
        return self.version if self.version is not None else 2


#: The client version filter's Warning values, as [MS-SIPREGE] §3.4.2.5 spells them (313's
#: text is unquoted in its own example).
_VERSION_FILTER_WARNINGS = {
    310: '310 lcs.microsoft.com "You are currently not using the recommended version of the '
         'client"',
    312: '312 lcs.microsoft.com "https://server.example.test/AutoUpdate/Int/Handler/'
         'update.aspx?folder=OCv3.1"',
    313: "313 lcs.microsoft.com http://server.example.test/ClientDownload",
    314: '314 lcs.microsoft.com "Check Microsoft Update for the newest version."',
}


def _post_auth_refusal(scenario: str, user_agent: str) -> list[tuple[str, str]] | None:
    """The headers of a 403 a scenario sends after authentication, or None."""
    if scenario.startswith("client-version-") and not user_agent.startswith("UCCAPI/"):
        return [("Warning", _VERSION_FILTER_WARNINGS[int(scenario.rsplit("-", 1)[1])])]
    if scenario == "remote-access-4003":
        return [("ms-diagnostics-public",
                 '4003;reason="From URI not enabled for remote access"')]
    return None


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
        self.proxy_handshake: NtlmServerHandshake | None = None
        self.proxy_passed = False  # the proxy-407-ntlm scenario's proxy let us through

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
        if sa.scheme == "TLS-DSK":  # the order of captures/tlsdsk-signin.wire.txt
            info = (f'TLS-DSK qop="auth", opaque="{sa.opaque}", srand="{srand}", '
                    f'snum="{sa.snum}", rspauth="{signature}", targetname="{sa.target}", '
                    f'realm="{REALM}", version={sa.version}')
        else:
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
        tls_dsk = self.config.tls_dsk
        if scenario == "tls-dsk-only":
            offers.append(("WWW-Authenticate",
                           f'TLS-DSK realm="{REALM}", targetname="{self.config.target}", '
                           f'version=4, sts-uri="https://{self.config.target}/CertProv/'
                           'CertProvisioningService.svc"'))
        elif tls_dsk is not None:
            offer = (f'TLS-DSK realm="{REALM}", targetname="{self.config.target}", '
                     f'version={tls_dsk.version}')
            webservices = self.registrar.webservices
            if tls_dsk.sts_uri and webservices is not None:
                offer += f', sts-uri="{webservices.sts_uri}"'
            offers.append(("WWW-Authenticate", offer))
        if self.config.offers_kerberos:
            offers.append(("WWW-Authenticate", f'Kerberos realm="{REALM}", '
                           f'targetname="sip/{self.config.target}"{vtext}'))
        if self.config.offers_ntlm:
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
        self.stats.register_times.append(time.monotonic())
        self.registers_seen += 1
        ua = request.header("User-Agent") or ""
        self.stats.user_agents.append(ua)
        scenario = self.config.scenario
        if (scenario == "proxy-407-ntlm" and not self.proxy_passed
                and not await self.proxy_step(request)):
            return True

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
            if scenario == "redirect-early" and self.config.redirect_to:
                await self.send(self.response(request, 301, "Redirect request", [
                    ("Contact", f"<sip:{self.config.redirect_to}>")]))
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
                    ("ms-diagnostics", '1007;reason="Temporarily cannot route";'
                                       'source="server.example.test"')]))
                return True
            if scenario in ("timeout-504", "dns-srv-1008"):
                extra = [("ms-diagnostics", '1008;reason="Unable to resolve DNS SRV record";'
                                            'source="server.example.test"')]
                await self.send(self.response(request, 504, "Server time-out",
                                              extra if scenario == "dns-srv-1008" else []))
                return True
            if scenario in ("voip-405", "proxy-digest-407"):
                await self.send(self.not_a_registrar(request))
                return True
            if scenario == "hostile-text":
                await self.send(SipResponse(headers=(
                    *_copy_dialog_headers(request, self.to_tag),
                    ("Warning", f'399 lcs.microsoft.com "{HOSTILE_TEXT}"'),
                    ("Server", HOSTILE_TEXT),
                    ("Content-Length", "0")), status=403, reason=HOSTILE_TEXT))
                return True
            if scenario == "trying-forever":
                trying = SipResponse(headers=(*_copy_dialog_headers(request, self.to_tag),
                                              ("Content-Length", "0")),
                                     status=100, reason="Trying")
                while True:  # until the client gives up and hangs up
                    await self.send(trying)
                    with contextlib.suppress(TimeoutError):
                        if not await asyncio.wait_for(self.reader.read(65536), 0.002):
                            return False
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
        self.registrar.stats.register_auth_schemes.append(scheme)
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

        if scheme.upper() == "TLS-DSK" and self.registrar.tls_dsk is not None:
            return await self.tls_dsk_step(request, params)
        gssapi_data = params.get("gssapi-data")
        if gssapi_data is None:
            await self.send(self.first_challenge(request))
            return True
        if scheme.upper() == "NTLM" and self.config.offers_ntlm:
            return await self.ntlm_step(request, params.get("opaque"), gssapi_data)
        if scheme.lower() == "kerberos" and self.config.offers_kerberos:
            return await self.kerberos_step(request, gssapi_data)
        await self.send(self.first_challenge(request))
        return True

    async def proxy_step(self, request: SipRequest) -> bool:
        """A SIP proxy in front (RFC 3261 §22.3) with connectionless NTLM: True once the
        request may pass on to the registrar."""
        target = self.config.target
        offer = f'NTLM realm="{REALM}", targetname="{target}", version=4'
        auth = request.header("Proxy-Authorization")
        gssapi = parse_auth_params(auth).get("gssapi-data") if auth else None
        if gssapi is None:
            await self.send(self.response(request, 407, "Proxy Authentication Required",
                                          [("Proxy-Authenticate", offer)]))
            return False
        if gssapi == "":
            self.proxy_handshake = self.registrar.ntlm_acceptor().new_handshake()
            token = base64.b64encode(self.proxy_handshake.challenge).decode("ascii")
            await self.send(self.response(request, 407, "Proxy Authentication Required", [(
                "Proxy-Authenticate", f'NTLM opaque="{secrets.randbits(32):08X}", '
                f'gssapi-data="{token}", realm="{REALM}", targetname="{target}", version=4')]))
            return False
        handshake, self.proxy_handshake = self.proxy_handshake, None
        outcome = (handshake.accept(base64.b64decode(gssapi, validate=True))
                   if handshake is not None else None)
        if outcome is None or not outcome.ok:
            self.stats.auth_failures += 1
            await self.send(self.response(request, 407, "Proxy Authentication Required",
                                          [("Proxy-Authenticate", offer)]))
            return False
        self.proxy_passed = True
        self.stats.proxy_authenticated += 1
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

    async def tls_dsk_step(self, request: SipRequest, params: AuthParams) -> bool:
        """One TLS-DSK REGISTER: a TLS flight in ``gssapi-data``, or the completing REGISTER.

        Flights are answered with 401s carrying the server's flight (reference §1.5): the
        ClientHello starts an association (and its ``opaque``), the client's second flight
        ends the handshake and gets ChangeCipherSpec + Finished. The next REGISTER, without
        ``gssapi-data``, completes authentication if the client's certificate is the one
        published for its From URI.
        """
        tls_dsk, acceptor = self.config.tls_dsk, self.registrar.tls_dsk
        assert tls_dsk is not None and acceptor is not None
        opaque, data = params.get("opaque"), params.get("gssapi-data")
        sa = self.association
        if opaque is None and data:
            handshake = acceptor.new_handshake()
            sa = SecurityAssociation("TLS-DSK", f"{secrets.randbits(32):08X}",
                                     self.config.target, tls_dsk.version, tls=handshake)
            self.association = sa
        elif sa is None or sa.tls is None or opaque != sa.opaque:
            await self.send(self.first_challenge(request))
            return True
        else:
            handshake = sa.tls
        if data:
            try:
                records = base64.b64decode(data, validate=True)
            except ValueError:
                await self.send(self.response(request, 400, "Bad Request"))
                return True
            step = handshake.step(records)
            if step.error:
                return await self.reject_tls_dsk(request, step.error, gssapi_data=step.output)
            if step.complete:
                sa.session = handshake.session
                self.stats.tls_dsk_handshakes += 1
                sa.certificate_accepted = self.registrar.certificate_published(
                    self._uri(request, "From"), handshake.client_certificate)
            await self.send(self.tls_dsk_flight(request, sa, step.output))
            return True
        if sa.session is None:
            await self.send(self.first_challenge(request))
            return True
        if not sa.certificate_accepted:
            return await self.reject_tls_dsk(
                request, "the client certificate is not the one published for the From user")
        sa.complete = True
        certificate = handshake.client_certificate
        self.stats.last_principal = certificate.subject.rfc4514_string() if certificate else ""
        return await self.after_handshake(request)

    async def reject_tls_dsk(self, request: SipRequest, why: str, *,
                             gssapi_data: bytes = b"") -> bool:
        """A failed TLS-DSK handshake: 401 with the TLS alert (if any) or ms-diagnostics 1000."""
        LOG.info("TLS-DSK rejected: %s", why)
        self.stats.auth_failures += 1
        self.stats.last_reject = why
        sa, self.association = self.association, None
        if gssapi_data and sa is not None:
            await self.send(self.tls_dsk_flight(request, sa, gssapi_data))
        else:
            await self.send(self.failed_auth(request))
        return True

    def tls_dsk_flight(self, request: SipRequest, sa: SecurityAssociation,
                       records: bytes) -> SipResponse:
        """A 401 carrying the server's TLS records (as SIPE's capture shows it, §1.5)."""
        token = base64.b64encode(records).decode("ascii")
        return self.response(request, 401, "Unauthorized", [(
            "WWW-Authenticate",
            f'TLS-DSK opaque="{sa.opaque}", gssapi-data="{token}", '
            f'targetname="{sa.target}", realm="{REALM}", version={sa.version}')])

    def not_a_registrar(self, request: SipRequest) -> SipResponse:
        """What a VoIP server (405) or a Digest proxy in front of Lync (407) answers."""
        headers = _copy_dialog_headers(request, self.to_tag)
        if self.config.scenario == "voip-405":
            headers += [("Server", "Asterisk PBX 18.10.0"),
                        ("Allow", "INVITE, ACK, CANCEL, OPTIONS, BYE")]
            status, reason = 405, "Method Not Allowed"
        else:
            headers += [("Proxy-Authenticate", f'Digest realm="{self.config.domain}", '
                         f'nonce="{secrets.token_hex(16)}", algorithm=MD5, qop="auth"'),
                        ("Server", "Kamailio (5.6.4 (x86_64/linux))")]
            status, reason = 407, "Proxy Authentication Required"
        return SipResponse(headers=(*headers, ("Content-Length", "0")), status=status,
                           reason=reason)

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
        self.stats.authenticated_at.append(time.monotonic())
        ua = request.header("User-Agent") or ""
        refusal = _post_auth_refusal(scenario, ua)
        if refusal is not None:
            await self.send(self.signed(self.response(request, 403, "Forbidden", refusal)))
            return True
        if scenario == "forbidden-17002" and not ua.startswith("UCCAPI/"):
            await self.send(self.signed(self.response(request, 403, "Forbidden", [
                ("ms-diagnostics-public", '17002;reason="Invalid protocol client version";'
                                          'source="server.example.test"'),
                ("ms-diagnostics", '17002;reason="Invalid protocol client version";'
                                   'source="server.example.test"')])))
            return True
        if scenario == "forbidden":
            await self.send(self.signed(self.response(request, 403, "Forbidden")))
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
        if scenario in ("redirect", "redirect-unsigned") and self.config.redirect_to:
            moved = self.response(request, 301, "Redirect request", [
                ("Contact", f"<sip:{self.config.redirect_to}>")])
            await self.send(moved if scenario == "redirect-unsigned" else self.signed(moved))
            return True
        ok = self.ok_response(request, "7200")
        if scenario == "ok-with-313" and not ua.startswith("UCCAPI/"):
            ok = ok.with_header("Warning", _VERSION_FILTER_WARNINGS[313])
        tls_dsk = self.config.tls_dsk
        corrupt = scenario == "bad-signature" or (tls_dsk is not None and tls_dsk.corrupt_rspauth)
        if scenario == "unsigned-ok":
            await self.send(ok)
        else:
            await self.send(self.signed(ok, corrupt=corrupt))
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

    @staticmethod
    def _uri(request: SipRequest, header: str) -> str:
        value = request.header(header) or ""
        start, end = value.find("<"), value.find(">")
        return value[start + 1:end] if 0 <= start < end else value.split(";", 1)[0].strip()

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
        self.webservices: WebServicesServer | None = None
        self.tls_dsk: TlsDskAcceptor | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    def ntlm_acceptor(self) -> NtlmAcceptor:
        """An acceptor for the configured users.

        Like Active Directory, it accepts DOMAIN\\user, the UPN user@<dns domain> and the bare
        user name (empty domain) — except in the wrong-login-form scenario, which accepts only
        DOMAIN\\user.
        """
        return self.config.accounts().acceptor(self.config.target)

    def certificate_published(self, sip_uri: str,
                              certificate: x509.Certificate | None) -> bool:
        """True if ``certificate`` is the one the web services published for ``sip_uri``."""
        published = self.webservices.published(sip_uri) if self.webservices else None
        return certificate is not None and published == certificate

    def _start_tls_dsk(self, host: str) -> None:
        """The web services and the TLS-DSK acceptor, both trusting one test CA."""
        tls_dsk = self.config.tls_dsk
        assert tls_dsk is not None
        webservices = WebServicesServer(self.config.accounts(),
                                        self.config.webservices or tls_dsk.webservices,
                                        host="127.0.0.1" if ":" in host else host,
                                        server_name=self.config.target)
        webservices.start()
        self.webservices = webservices
        self.stats.webservices = webservices.stats
        server = webservices.ca.issue([self.config.target], key_type="rsa")
        self.tls_dsk = TlsDskAcceptor(server.cert_path, server.key_path,
                                      webservices.ca_cert_path, tls_dsk.acceptor)

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

        if self.config.tls_dsk is not None:
            self._start_tls_dsk(host)
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
        if self.webservices is not None:
            await asyncio.to_thread(self.webservices.stop)


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

    @property
    def webservices(self) -> WebServicesServer:
        """The web services of a ``tls-dsk*`` scenario (sts-uri, CA, HTTPS certificate)."""
        if self.registrar.webservices is None:
            raise RuntimeError(f"scenario {self.registrar.config.scenario!r} runs no web services")
        return self.registrar.webservices

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


def _tls_dsk_summary(webservices: WebServicesServer, config: RegistrarConfig) -> str:
    """What a person needs to point Pidgin or the wizard at a TLS-DSK scenario."""
    users = ", ".join(f"{domain}\\{user}" if domain else user
                      for domain, user, _password in config.users) or "(none: add --user)"
    peers = f"~/.purple/certificates/x509/tls_peers/{webservices.host}"
    return "\n".join([
        f"  sts-uri      {webservices.sts_uri}",
        f"  test CA      {webservices.ca_cert_path}",
        f"  HTTPS cert   {webservices.https_cert_path}",
        f"               (for Pidgin: copy it to {peers})",
        f"  target       {config.target} (TLS-DSK), SIP domain {config.domain}",
        f"  users        {users}",
        "  authentication: TLS-DSK (or Auto); files above live until the registrar stops",
    ])


def main(argv: list[str] | None = None) -> int:
    width = max(map(len, SCENARIOS))
    scenario_help = "\n".join(f"  {name:{width}} {text}" for name, text in SCENARIOS.items())
    parser = argparse.ArgumentParser(
        prog="python -m tests.servers.registrar",
        description="A Lync-like SIP registrar (MS-SIPAE NTLM/Kerberos/TLS-DSK, signed "
                    "responses) on loopback, for testing sipe-setup and pidgin-sipe. The "
                    "tls-dsk scenarios also run the web services TLS-DSK needs.",
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
        if registrar.webservices is not None:
            print(_tls_dsk_summary(registrar.webservices, config), flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        try:
            await stop.wait()
        finally:
            await registrar.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
