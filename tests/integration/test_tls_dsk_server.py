"""The TLS-DSK test server, proven with an independent client.

The client here shares no authentication code with the servers: HTTP NTLM comes from pyspnego,
the TLS 1.0 handshake from a pyOpenSSL memory-BIO client (as close to SIPE's hello as OpenSSL
gets: AES128-SHA at SECLEVEL 0, no extensions), the WS-Trust bodies and the ``wsse:Security``
proof are built from strings the way SIPE builds them (reference ``tls-dsk.md`` §1.3–1.4,
shapes from ``captures/tlsdsk-signin.wire.txt``), and the SIP signature strings are written
out field by field. Real pidgin-sipe against the same servers: ``test_tls_dsk_finch.py``.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import http.client
import re
import secrets
import socket
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import spnego
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from OpenSSL import SSL

from sipe_setup.core.sip.message import SipResponse, SipStreamParser
from tests.servers.ntlm_acceptor import Accounts
from tests.servers.registrar import RegistrarConfig, RegistrarThread
from tests.servers.testca import TestCA
from tests.servers.tls_dsk_acceptor import coalesce_handshake_records, p_hash
from tests.servers.webservices import (
    HttpsCertificate,
    WebServicesOptions,
    WebServicesServer,
    exclusive_c14n,
    read_csr,
)

PASSWORD = "Passw0rd!"
USERS = [("EXAMPLE", "alice", PASSWORD), ("EXAMPLE", "bob", "B0b-passw0rd")]
REALM = "SIP Communications Service"
TARGET = "server.example.test"
INSTANCE = "085e0bd8-031c-5a0d-8d9a-f149aae6954a"
UA = "Purple/2.14.12 Sipe/1.25.0 (linux-x86_64)"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NAMESPACES = (
    'xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion" '
    'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:wst="http://docs.oasis-open.org/ws-sx/ws-trust/200512" '
    'xmlns:auth="http://schemas.xmlsoap.org/ws/2006/12/authorization" '
    'xmlns:wsa="http://www.w3.org/2005/08/addressing" '
    'xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy" '
    f'xmlns:wsse="{WSSE}" '
    f'xmlns:wsu="{WSU}" '
)
_ALERT_PROTOCOL_VERSION = bytes.fromhex("15030100020246")


# --- the client's HTTP side: mex, web ticket (pyspnego NTLM), GetAndPublishCert ----------------

def _extract(text: str, tag: str, *, whole: bool = False) -> str:
    """SIPE's raw extraction (``sipe_xml_extract_raw``): ``<T`` or ``:T`` up to its end tag."""
    match = re.search(rf"<((?:\w+:)?){tag}[\s>].*?</\1{tag}>", text, re.S)
    if match is None:
        return ""
    if whole:
        return match.group(0)
    return match.group(0)[match.group(0).index(">") + 1:match.group(0).rindex("<")]


@dataclass
class Provisioned:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey


class StepFailed(Exception):
    """A web-services step did not answer 200 (what SIPE reports as a failed request)."""

    def __init__(self, step: str, status: int, body: str) -> None:
        super().__init__(f"{step}: HTTP {status}: {body[:300]}")
        self.step, self.status, self.body = step, status, body


@dataclass
class WebClient:
    """SIPE's web-services steps, over one kept-alive HTTPS connection per service."""

    sts_uri: str
    ca_file: Path
    login: str = "EXAMPLE\\alice"
    password: str = PASSWORD
    signin: str = "alice@example.test"
    scheme: str = "NTLM"
    log: list[tuple[str, int]] = field(default_factory=list)

    def _connection(self) -> http.client.HTTPSConnection:
        host_port = self.sts_uri.split("/")[2]
        host, port = host_port.rsplit(":", 1)
        context = ssl.create_default_context(cafile=str(self.ca_file))
        return http.client.HTTPSConnection(host, int(port), context=context, timeout=5)

    def _request(self, conn: http.client.HTTPSConnection, method: str, url: str,
                 body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        path = "/" + url.split("/", 3)[3]
        all_headers = {"Host": conn.host, "User-Agent": UA, **(headers or {})}
        conn.request(method, path, body=body, headers=all_headers)
        response = conn.getresponse()
        response.body = response.read()  # type: ignore[attr-defined]
        self.log.append((f"{method} {path}", response.status))
        return response

    def metadata(self) -> tuple[str, str, str]:
        """(web ticket URL, auth URI, WinNegotiate URL) from the two mex documents."""
        conn = self._connection()
        mex = self._request(conn, "GET", self.sts_uri + "/mex").body.decode()  # type: ignore
        webticket = _extract(mex, "Address")
        auth_uri = re.search(r'<soap:address location="([^"]+)"', mex)
        assert webticket and auth_uri, mex
        wt_mex = self._request(conn, "GET", webticket + "/mex").body.decode()  # type: ignore
        winnegotiate = re.search(r'name="WebTicketServiceWinNegotiate".*?location="([^"]+)"',
                                 wt_mex, re.S)
        assert winnegotiate, wt_mex
        return webticket, auth_uri.group(1), winnegotiate.group(1)

    def rst(self, winnegotiate: str, auth_uri: str,
            entropy: bytes) -> http.client.HTTPResponse:
        """The RST over HTTP NTLM (pyspnego): unauthenticated, NEGOTIATE, AUTHENTICATE."""
        body = (
            f'<?xml version="1.0"?>\r\n<soap:Envelope {NAMESPACES}> <soap:Body>'
            f'<wst:RequestSecurityToken Context="{INSTANCE}"> <wst:TokenType>'
            'http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV1.1'
            '</wst:TokenType> <wst:RequestType>http://schemas.xmlsoap.org/ws/2005/02/trust/Issue'
            '</wst:RequestType> <wsp:AppliesTo>  <wsa:EndpointReference>   <wsa:Address>'
            f'{auth_uri}</wsa:Address>  </wsa:EndpointReference> </wsp:AppliesTo> '
            '<wst:Claims Dialect="urn:component:Microsoft.Rtc.WebAuthentication.2010:authclaims">'
            '  <auth:ClaimType Uri="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/uri" '
            f'Optional="false">   <auth:Value>sip:{self.signin}</auth:Value>  </auth:ClaimType> '
            '</wst:Claims> <wst:Entropy>  <wst:BinarySecret>'
            f'{base64.b64encode(entropy).decode()}</wst:BinarySecret> </wst:Entropy> '
            '<wst:KeyType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/SymmetricKey'
            '</wst:KeyType></wst:RequestSecurityToken></soap:Body></soap:Envelope>'
        ).encode()
        soap = {"SOAPAction": '"http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue"',
                "Content-Type": "text/xml"}
        conn = self._connection()
        first = self._request(conn, "POST", winnegotiate, body, soap)
        if first.status != 401:
            return first
        ntlm = spnego.client(self.login, self.password, protocol="ntlm")
        negotiate = ntlm.step()
        assert negotiate is not None
        response = self._request(conn, "POST", winnegotiate, body, {
            "Authorization": f"{self.scheme} {base64.b64encode(negotiate).decode()}", **soap})
        offer = response.getheader("WWW-Authenticate") or ""
        if response.status != 401 or " " not in offer:
            return response
        authenticate = ntlm.step(base64.b64decode(offer.split(" ", 1)[1]))
        assert authenticate is not None
        return self._request(conn, "POST", winnegotiate, body, {
            "Authorization": f"{self.scheme} {base64.b64encode(authenticate).decode()}",
            **soap})

    @staticmethod
    def wsse_security(rstr: str, client_entropy: bytes) -> str:
        """SIPE's ``generate_sha1_proof_wsse``: raw strings, digest over its own Timestamp."""
        timestamp = (f'<wsu:Timestamp xmlns:wsu="{WSU}" wsu:Id="timestamp">'
                     f'{_extract(rstr, "Lifetime")}</wsu:Timestamp>')
        assertion = _extract(rstr, "Assertion", whole=True)
        assertion_id = re.search(r'AssertionID="([^"]+)"', assertion)
        assert assertion_id, rstr
        key = p_hash("sha1", client_entropy, base64.b64decode(_extract(rstr, "BinarySecret")), 32)
        digest = base64.b64encode(hashlib.sha1(timestamp.encode()).digest()).decode()
        algorithm = "http://www.w3.org/2000/09/xmldsig#"
        signed_info = (
            f'<SignedInfo xmlns="{algorithm}"><CanonicalizationMethod Algorithm='
            '"http://www.w3.org/2001/10/xml-exc-c14n#"></CanonicalizationMethod>'
            f'<SignatureMethod Algorithm="{algorithm}hmac-sha1"></SignatureMethod>'
            '<Reference URI="#timestamp"><Transforms><Transform Algorithm='
            '"http://www.w3.org/2001/10/xml-exc-c14n#"></Transform></Transforms>'
            f'<DigestMethod Algorithm="{algorithm}sha1"></DigestMethod>'
            f'<DigestValue>{digest}</DigestValue></Reference></SignedInfo>')
        signature = base64.b64encode(hmac.new(key, signed_info.encode(), "sha1").digest())
        return (
            f'{timestamp}{assertion}<Signature xmlns="{algorithm}"> {signed_info} '
            f'<SignatureValue>{signature.decode()}</SignatureValue> <KeyInfo>  '
            '<wsse:SecurityTokenReference wsse:TokenType="http://docs.oasis-open.org/wss/'
            'oasis-wss-saml-token-profile-1.1#SAMLV1.1">   <wsse:KeyIdentifier ValueType="'
            'http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.0#SAMLAssertionID">'
            f'{assertion_id.group(1)}</wsse:KeyIdentifier>  </wsse:SecurityTokenReference> '
            '</KeyInfo></Signature>')

    def get_and_publish_cert(self, auth_uri: str, wsse: str,
                             csr_der: bytes) -> http.client.HTTPResponse:
        csr = base64.b64encode(csr_der).decode()
        csr_lines = "\r\n".join(csr[i:i + 76] for i in range(0, len(csr), 76))
        action = "http://schemas.microsoft.com/OCS/AuthWebServices/GetAndPublishCert"
        body = (
            f'<?xml version="1.0"?>\r\n<soap:Envelope {NAMESPACES}><soap:Header> '
            f'<wsa:To>{auth_uri}</wsa:To> <wsa:ReplyTo>  <wsa:Address>'
            'http://www.w3.org/2005/08/addressing/anonymous</wsa:Address> </wsa:ReplyTo> '
            f'<wsa:MessageID>uuid:{uuid.uuid4()}</wsa:MessageID> <wsa:Action>{action}'
            f'</wsa:Action> <wsse:Security>{wsse}</wsse:Security></soap:Header> <soap:Body>'
            '<GetAndPublishCert xmlns="http://schemas.microsoft.com/OCS/AuthWebServices/" '
            'xmlns:wst="http://docs.oasis-open.org/ws-sx/ws-trust/200512/" '
            'xmlns:wstep="http://schemas.microsoft.com/windows/pki/2009/01/enrollment" '
            f'DeviceId="{{{INSTANCE}}}" Entity="{self.signin}"> <wst:RequestSecurityToken>  '
            '<wst:TokenType>http://docs.oasis-open.org/wss/2004/01/'
            'oasis-200401-wss-x509-token-profile-1.0#X509v3</wst:TokenType>  <wst:RequestType>'
            'http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue</wst:RequestType>  '
            '<wsse:BinarySecurityToken   ValueType="http://schemas.microsoft.com/OCS/'
            'AuthWebServices.xsd#PKCS10"   EncodingType="http://docs.oasis-open.org/wss/2004/01/'
            'oasis-200401-wss-wssecurity-secext-1.0.xsd#Base64Binary"  >\r\n'
            f'{csr_lines}</wsse:BinarySecurityToken>  <wstep:RequestID>{uuid.uuid4()}'
            '</wstep:RequestID> </wst:RequestSecurityToken></GetAndPublishCert></soap:Body>'
            '</soap:Envelope>').encode()
        return self._request(self._connection(), "POST", auth_uri, body, {
            "SOAPAction": f'"{action}"', "Content-Type": "text/xml"})

    def provision(self, key: rsa.RSAPrivateKey, *, csr_der: bytes | None = None) -> Provisioned:
        """All of it; fails the test at the first step that does not succeed."""
        _webticket, auth_uri, winnegotiate = self.metadata()
        entropy = secrets.token_bytes(32)
        rstr = self.rst(winnegotiate, auth_uri, entropy)
        rstr_body = rstr.body.decode()  # type: ignore[attr-defined]
        if rstr.status != 200:
            raise StepFailed("web ticket", rstr.status, rstr_body)
        wsse = self.wsse_security(rstr_body, entropy)
        response = self.get_and_publish_cert(auth_uri, wsse, csr_der or _csr(key, self.signin))
        body = response.body.decode()  # type: ignore[attr-defined]
        if response.status != 200:
            raise StepFailed("certificate", response.status, body)
        token = _extract(_extract(body, "RequestedSecurityToken"), "BinarySecurityToken")
        return Provisioned(x509.load_der_x509_certificate(base64.b64decode(token)), key)


def _csr(key: rsa.RSAPrivateKey, signin: str) -> bytes:
    """SIPE's NSS CSR: version 0, ``CN=<sign-in>``, RSA-2048, SHA-256."""
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, signin)]))
            .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))


def _openssl_backend_csr(key: rsa.RSAPrivateKey, signin: str) -> bytes:
    """SIPE's OpenSSL-backend CSR: version field 2 and SHA-1, re-signed by hand (DER lengths
    do not change: same-size version byte and signature)."""
    der = bytearray(_csr(key, signin))
    csr = x509.load_der_x509_csr(bytes(der))
    tbs = bytearray(csr.tbs_certrequest_bytes)
    version_at = 2 + (tbs[1] & 0x7F if tbs[1] & 0x80 else 0) + 2
    assert tbs[version_at - 2:version_at + 1] == b"\x02\x01\x00"
    tbs[version_at] = 2
    start = bytes(der).index(csr.tbs_certrequest_bytes)
    der[start:start + len(tbs)] = tbs
    sha256_rsa = bytes.fromhex("06092a864886f70d01010b")  # OID sha256WithRSAEncryption
    sha1_rsa = bytes.fromhex("06092a864886f70d010105")
    tail = start + len(tbs)
    der[tail:] = bytes(der[tail:]).replace(sha256_rsa, sha1_rsa, 1)
    signature = key.sign(bytes(tbs), padding.PKCS1v15(), hashes.SHA1())
    assert der.endswith(csr.signature)
    der[len(der) - len(signature):] = signature
    return bytes(der)


# --- the client's SIP side: REGISTERs carrying a pyOpenSSL TLS 1.0 handshake ------------------

def _auth_params(value: str) -> dict[str, str]:
    return {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in re.finditer(r'([\w-]+)=(?:"([^"]*)"|([^,\s]+))', value)}


def _tls_records(data: bytes) -> list[tuple[int, bytes]]:
    records, offset = [], 0
    while offset < len(data):
        length = int.from_bytes(data[offset + 3:offset + 5], "big")
        records.append((data[offset], data[offset + 5:offset + 5 + length]))
        offset += 5 + length
    return records


class SipClient:
    """One TCP connection to the registrar; REGISTER/SUBSCRIBE shaped like SIPE's."""

    def __init__(self, port: int, *, signin: str = "alice@example.test") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.local_port = self.sock.getsockname()[1]
        self.parser = SipStreamParser()
        self.uri = f"sip:{signin}"
        self.call_id = uuid.uuid4().hex
        self.cseq = 0
        self.cnum = 0
        self.from_tag = ""
        self.version = 4  # TLS-DSK version, as the 401 offered it
        self.tls: SSL.Connection | None = None
        self.client_key = self.server_key = b""
        self.opaque = ""

    def close(self) -> None:
        self.sock.close()

    def register(self, authorization: str = "", *, signed: bool = False,
                 skip_cseq: bool = False) -> SipResponse:
        """A REGISTER; ``signed``: with crand/cnum/response computed over this very message."""
        self.cseq += 2 if skip_cseq else 1
        self.from_tag = f"{secrets.randbits(32)}"
        if signed:
            authorization = self.signed_authorization("REGISTER")
        lines = [
            f"REGISTER sip:{self.uri.split('@')[1]} SIP/2.0",
            f"Via: SIP/2.0/tcp 127.0.0.1:{self.local_port};branch=z9hG4bK{secrets.token_hex(10)}",
            f"From: <{self.uri}>;tag={self.from_tag};epid=b34afb6ebb23",
            f"To: <{self.uri}>", "Max-Forwards: 70", f"CSeq: {self.cseq} REGISTER",
            f"User-Agent: {UA}", f"Call-ID: {self.call_id}",
            f"Contact: <sip:127.0.0.1:{self.local_port};transport=tcp;ms-opaque=d3470f2e1d>;"
            f'methods="INVITE, MESSAGE, INFO, SUBSCRIBE, OPTIONS, BYE, CANCEL, NOTIFY, ACK, '
            f'REFER, BENOTIFY";proxy=replace;+sip.instance="<urn:uuid:{INSTANCE}>"',
            "Event: registration", "Content-Length: 0"]
        if authorization:
            lines.append(f"Authorization: {authorization}")
        return self._exchange(lines)

    def subscribe(self) -> SipResponse:
        """A signed SUBSCRIBE in a new dialog (signed without ``version``, as SIPE does)."""
        self.from_tag = f"{secrets.randbits(32)}"
        self.call_id = uuid.uuid4().hex
        authorization = self.signed_authorization("SUBSCRIBE", version=False)
        lines = [
            f"SUBSCRIBE {self.uri} SIP/2.0",
            f"Via: SIP/2.0/tcp 127.0.0.1:{self.local_port};branch=z9hG4bK{secrets.token_hex(10)}",
            f"From: <{self.uri}>;tag={self.from_tag};epid=b34afb6ebb23", f"To: <{self.uri}>",
            "Max-Forwards: 70", "CSeq: 1 SUBSCRIBE", f"User-Agent: {UA}",
            f"Call-ID: {self.call_id}", "Event: vnd-microsoft-roaming-self", "Content-Length: 0",
            f"Authorization: {authorization}"]
        return self._exchange(lines)

    def _exchange(self, lines: list[str]) -> SipResponse:
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while True:
            data = self.sock.recv(65536)
            assert data, "the registrar closed the connection"
            for message in self.parser.feed(data):
                assert isinstance(message, SipResponse)
                return message

    # TLS-DSK

    def start_tls(self, provisioned: Provisioned) -> bytes:
        """The ClientHello (like SIPE's: TLS 1.0, AES128-SHA, no extensions)."""
        context = SSL.Context(SSL.TLS_METHOD)
        context.set_min_proto_version(SSL.TLS1_VERSION)
        context.set_max_proto_version(SSL.TLS1_VERSION)
        context.set_cipher_list(b"AES128-SHA:@SECLEVEL=0")
        # NO_ENCRYPT_THEN_MAC | NO_EXTENDED_MASTER_SECRET (no pyOpenSSL constants): no extensions
        context.set_options(SSL.OP_NO_TICKET | 0x80000 | 0x1)
        context.use_certificate(provisioned.certificate)
        context.use_privatekey(provisioned.key)
        self.tls = SSL.Connection(context, None)
        self.tls.set_connect_state()
        return self._tls_step()

    def tls_step(self, incoming: bytes) -> bytes:
        """Feed the server's flight; the client's next flight."""
        assert self.tls is not None
        self.tls.bio_write(incoming)
        return self._tls_step()

    def _tls_step(self) -> bytes:
        assert self.tls is not None
        with contextlib.suppress(SSL.WantReadError):
            self.tls.do_handshake()
        out = b""
        while True:
            try:
                out += self.tls.bio_read(65536)
            except SSL.WantReadError:
                return out

    def tls_register(self, data: bytes) -> SipResponse:
        opaque = f'opaque="{self.opaque}", ' if self.opaque else ""
        return self.register(
            f'TLS-DSK qop="auth", {opaque}realm="{REALM}", targetname="{TARGET}", '
            f'gssapi-data="{base64.b64encode(data).decode()}", version={self.version}')

    def server_flight(self, response: SipResponse) -> bytes:
        params = _auth_params(response.header("WWW-Authenticate") or "")
        self.opaque = params.get("opaque", self.opaque)
        return base64.b64decode(params["gssapi-data"])

    def finish_tls(self, final_flight: bytes) -> None:
        assert self.tls is not None
        self.tls.bio_write(final_flight)
        self.tls.do_handshake()
        keys = self.tls.export_keying_material(b"client EAP encryption", 128)
        self.client_key, self.server_key = keys[64:96], keys[96:128]

    def signed_authorization(self, method: str, *, version: bool = True) -> str:
        """``Authorization`` with crand/cnum/response over the v3+ string, written out."""
        self.cnum += 1
        crand = f"{secrets.randbits(32):08x}"
        cseq = self.cseq if method == "REGISTER" else 1
        text = (f"<TLS-DSK><{crand}><{self.cnum}><{REALM}><{TARGET}><{self.call_id}><{cseq}>"
                f"<{method}><{self.uri}><{self.from_tag}><{self.uri}><><><><>")
        signature = hmac.new(self.client_key, text.encode(), "sha1").hexdigest().upper()
        version_text = ", version=4" if version else ""
        return (f'TLS-DSK qop="auth", opaque="{self.opaque}", realm="{REALM}", '
                f'targetname="{TARGET}"{version_text}, crand="{crand}", cnum="{self.cnum}", '
                f'response="{signature}"')

    def rspauth_ok(self, response: SipResponse, method: str, cseq: int) -> bool:
        """The server's signature, checked with the server key (as SIPE does)."""
        info = _auth_params(response.header("Authentication-Info") or "")
        to = response.header("To") or ""
        to_tag = to.split(";tag=", 1)[1].split(";")[0] if ";tag=" in to else ""
        text = (f"<TLS-DSK><{info['srand']}><{info['snum']}><{REALM}><{TARGET}>"
                f"<{self.call_id}><{cseq}><{method}><{self.uri}><{self.from_tag}><{self.uri}>"
                f"<{to_tag}><><><{response.header('Expires') or ''}><{response.status}>")
        expected = hmac.new(self.server_key, text.encode(), "sha1").hexdigest()
        return hmac.compare_digest(expected, info["rspauth"])


@dataclass
class SignIn:
    """What a TLS-DSK sign-in produced, step by step."""

    challenge: SipResponse
    server_flight: bytes = b""
    final: SipResponse | None = None
    ok: SipResponse | None = None


def _sign_in(client: SipClient, provisioned: Provisioned, *, sign: bool = True,
             flight_check: bool = True) -> SignIn:
    """SIPE's CSeq 1 (401), [2 consumed], 3 (401), 4 ClientHello, 5 client flight, 6 signed."""
    first = client.register()
    client.version = int(_auth_params(first.header("WWW-Authenticate") or "")["version"])
    client.register(skip_cseq=True)  # SIPE's fresh REGISTER after provisioning
    result = SignIn(first)
    response = client.tls_register(client.start_tls(provisioned))
    assert response.status == 401, response
    result.server_flight = client.server_flight(response)
    if flight_check:
        assert [kind for kind, _ in _tls_records(result.server_flight)] == [22], \
            "the server flight is not one handshake record"
    result.final = client.tls_register(client.tls_step(result.server_flight))
    assert result.final.status == 401, result.final
    client.finish_tls(client.server_flight(result.final))
    result.ok = (client.register(signed=True) if sign else client.register(
        f'TLS-DSK qop="auth", opaque="{client.opaque}", realm="{REALM}", '
        f'targetname="{TARGET}", version={client.version}'))
    return result


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Iterator[RegistrarThread]:
    """A registrar in the scenario ``request.param`` (default ``tls-dsk``)."""
    config = RegistrarConfig(users=USERS, scenario=getattr(request, "param", "tls-dsk"))
    with RegistrarThread(config) as registrar:
        yield registrar


def scenario(name: str) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("lab", [name], indirect=True)


def _web(registrar: RegistrarThread, **kw: Any) -> WebClient:
    return WebClient(registrar.webservices.sts_uri, registrar.webservices.ca_cert_path, **kw)


# --- the sign-in ------------------------------------------------------------------------------

def test_signed_sign_in_with_an_independent_client(lab: RegistrarThread,
                                                   client_key: rsa.RSAPrivateKey) -> None:
    web = _web(lab)
    provisioned = web.provision(client_key)
    webservices, stats = lab.webservices, lab.registrar.stats
    assert provisioned.certificate == webservices.published("sip:alice@example.test")
    assert provisioned.certificate.subject.rfc4514_string() == "CN=sip:alice@example.test"
    lifetime = (provisioned.certificate.not_valid_after_utc - dt.datetime.now(dt.UTC))
    assert dt.timedelta(hours=7, minutes=59) < lifetime <= dt.timedelta(hours=8)
    assert [status for _request, status in web.log] == [200, 200, 401, 401, 200, 200]

    client = SipClient(lab.port)
    try:
        result = _sign_in(client, provisioned)
        challenge = result.challenge.header("WWW-Authenticate") or ""
        assert challenge == (f'TLS-DSK realm="{REALM}", targetname="{TARGET}", version=4, '
                             f'sts-uri="{webservices.sts_uri}"')
        assert result.challenge.header_values("WWW-Authenticate") == [challenge]
        # The final 401 carries ChangeCipherSpec + Finished; the 200 OK is signed by the server
        # key with Lync's parameter order and lower-case hex.
        assert result.final is not None and result.ok is not None
        final = result.final.header("WWW-Authenticate") or ""
        assert final.startswith(f'TLS-DSK opaque="{client.opaque}", gssapi-data="')
        assert final.endswith(f'targetname="{TARGET}", realm="{REALM}", version=4')
        assert [kind for kind, _ in _tls_records(client.server_flight(result.final))] == [20, 22]
        assert result.ok.status == 200
        info = result.ok.header("Authentication-Info") or ""
        assert re.fullmatch(
            rf'TLS-DSK qop="auth", opaque="{client.opaque}", srand="[0-9A-F]{{8}}", snum="1", '
            rf'rspauth="[0-9a-f]{{40}}", targetname="{TARGET}", realm="{REALM}", version=4',
            info), info
        assert client.rspauth_ok(result.ok, "REGISTER", client.cseq)
        assert client.cseq == 6
        # Later requests: signed both ways (no version, as SIPE sends them).
        subscribe = client.subscribe()
        assert subscribe.status == 200
        assert client.rspauth_ok(subscribe, "SUBSCRIBE", 1)
    finally:
        client.close()
    assert stats.registers == 5 and stats.tls_dsk_handshakes == 1
    assert stats.authenticated == 1 and stats.auth_failures == 0
    assert stats.client_signatures_verified == 2 and stats.client_signature_failures == 0
    assert stats.signed_responses == 2
    assert stats.last_principal == "CN=sip:alice@example.test"
    assert stats.http_requests == 6 and stats.webservices is webservices.stats
    assert webservices.stats.ntlm_logins == ["EXAMPLE\\alice"]
    assert webservices.stats.refusals == []


def test_a_wrong_client_signature_is_refused(lab: RegistrarThread,
                                             client_key: rsa.RSAPrivateKey) -> None:
    provisioned = _web(lab).provision(client_key)
    client = SipClient(lab.port)
    try:
        client.register()
        response = client.tls_register(client.start_tls(provisioned))
        response = client.tls_register(client.tls_step(client.server_flight(response)))
        client.finish_tls(client.server_flight(response))
        client.client_key = bytes(32)  # not the derived key
        refused = client.register(signed=True)
    finally:
        client.close()
    assert refused.status == 401
    assert refused.header("ms-diagnostics") == (
        '1000;reason="Final handshake failed";source="server.example.test"')
    assert lab.registrar.stats.client_signature_failures == 1


def test_another_users_certificate_is_refused_after_the_handshake(
        lab: RegistrarThread, client_key: rsa.RSAPrivateKey) -> None:
    """Bob's valid, published certificate does not sign in alice (401 1000, like Lync)."""
    bobs = _web(lab, login="EXAMPLE\\bob", password="B0b-passw0rd",
                signin="bob@example.test").provision(client_key)
    client = SipClient(lab.port)
    try:
        result = _sign_in(client, bobs)
    finally:
        client.close()
    assert result.ok is not None and result.ok.status == 401
    assert "Final handshake failed" in (result.ok.header("ms-diagnostics") or "")
    assert lab.registrar.stats.tls_dsk_handshakes == 1
    assert lab.registrar.stats.authenticated == 0


def test_a_certificate_from_another_ca_gets_a_tls_alert(lab: RegistrarThread,
                                                        client_key: rsa.RSAPrivateKey,
                                                        tmp_path: Path) -> None:
    rogue = TestCA.create(tmp_path / "rogue", key_type="rsa")
    provisioned = Provisioned(rogue.certify(client_key.public_key(), "sip:alice@example.test"),
                              client_key)
    client = SipClient(lab.port)
    try:
        client.register()
        response = client.tls_register(client.start_tls(provisioned))
        refused = client.tls_register(client.tls_step(client.server_flight(response)))
    finally:
        client.close()
    records = _tls_records(client.server_flight(refused))
    assert refused.status == 401 and [kind for kind, _ in records] == [21]  # alert
    assert records[0][1][0] == 2  # fatal
    assert "TLS handshake failed" in lab.registrar.stats.last_reject


# --- TLS-DSK scenarios --------------------------------------------------------------------------

@scenario("tls-dsk-v3")
def test_version_3_completes_with_an_unsigned_register(lab: RegistrarThread,
                                                       client_key: rsa.RSAPrivateKey) -> None:
    client = SipClient(lab.port)
    try:
        result = _sign_in(client, _web(lab).provision(client_key), sign=False)
    finally:
        client.close()
    assert "version=3" in (result.challenge.header("WWW-Authenticate") or "")
    assert result.ok is not None and result.ok.status == 200
    assert (result.ok.header("Authentication-Info") or "").endswith("version=3")
    assert client.rspauth_ok(result.ok, "REGISTER", client.cseq)
    assert lab.registrar.stats.client_signatures_verified == 0


@scenario("tls-dsk-bad-rspauth")
def test_bad_rspauth(lab: RegistrarThread, client_key: rsa.RSAPrivateKey) -> None:
    client = SipClient(lab.port)
    try:
        result = _sign_in(client, _web(lab).provision(client_key))
    finally:
        client.close()
    assert result.ok is not None and result.ok.status == 200
    assert not client.rspauth_ok(result.ok, "REGISTER", client.cseq)
    assert lab.registrar.stats.client_signatures_verified == 1


@scenario("tls-dsk-split-flight")
def test_split_flight_puts_server_hello_done_in_its_own_record(
        lab: RegistrarThread, client_key: rsa.RSAPrivateKey) -> None:
    client = SipClient(lab.port)
    try:
        result = _sign_in(client, _web(lab).provision(client_key), flight_check=False)
    finally:
        client.close()
    records = _tls_records(result.server_flight)
    # ServerHello, Certificate, CertificateRequest, ServerHelloDone: one record each; the last
    # starts with ServerHelloDone (type 14), which is what SIPE cannot parse.
    assert [kind for kind, _ in records] == [22, 22, 22, 22]
    assert [fragment[0] for _kind, fragment in records] == [2, 11, 13, 14]
    assert coalesce_handshake_records(result.server_flight)[5] == 2  # re-framed: one record
    assert len(_tls_records(coalesce_handshake_records(result.server_flight))) == 1
    assert result.ok is not None and result.ok.status == 200  # OpenSSL itself copes


@scenario("tls-dsk-tls12-only")
def test_tls_1_0_is_refused_with_an_alert(lab: RegistrarThread,
                                          client_key: rsa.RSAPrivateKey) -> None:
    client = SipClient(lab.port)
    try:
        client.register()
        response = client.tls_register(client.start_tls(_web(lab).provision(client_key)))
    finally:
        client.close()
    assert response.status == 401
    assert client.server_flight(response) == _ALERT_PROTOCOL_VERSION
    assert lab.registrar.stats.auth_failures == 1


@scenario("tls-dsk-unpublished")
def test_unpublished_certificate_fails_after_the_handshake(
        lab: RegistrarThread, client_key: rsa.RSAPrivateKey) -> None:
    provisioned = _web(lab).provision(client_key)
    assert lab.webservices.published("sip:alice@example.test") is None
    client = SipClient(lab.port)
    try:
        result = _sign_in(client, provisioned)
    finally:
        client.close()
    assert result.ok is not None and result.ok.status == 401
    assert result.ok.header("ms-diagnostics") == (
        '1000;reason="Final handshake failed";source="server.example.test"')
    assert lab.registrar.stats.tls_dsk_handshakes == 1
    assert lab.webservices.stats.certificates_issued == 1
    assert lab.webservices.stats.certificates_published == 0


# SIPE's own ClientHello (captures/tlsdsk-signin.wire.txt, reference §2.2): TLS 1.0, suites
# RC4-MD5, RC4-SHA, AES128-SHA, AES256-SHA, EXP-RC4-MD5, no extensions.
_SIPE_CLIENT_HELLO = bytes.fromhex(
    "16030100350100003103016b0c6e609d3e21bc0dfa4108730a2e81cb2e3201295aa1a4de7d74f6f49a7a76"
    "00000a00040005002f003500030100")


@pytest.mark.parametrize(("lab", "suite"), [("tls-dsk", "002f"), ("tls-dsk-rc4-md5", "0004")],
                         indirect=["lab"])
def test_the_server_flight_for_sipes_client_hello(lab: RegistrarThread, suite: str) -> None:
    """One handshake record: ServerHello (TLS 1.0, the suite), Certificate (RSA, then the CA),
    CertificateRequest (a certificate type), ServerHelloDone."""
    client = SipClient(lab.port)
    try:
        client.register()
        flight = client.server_flight(client.tls_register(_SIPE_CLIENT_HELLO))
    finally:
        client.close()
    records = _tls_records(flight)
    assert [kind for kind, _ in records] == [22] and flight[1:3] == b"\x03\x01"
    messages, data = [], records[0][1]
    while data:
        length = int.from_bytes(data[1:4], "big")
        messages.append((data[0], data[4:4 + length]))
        data = data[4 + length:]
    assert [kind for kind, _ in messages] == [2, 11, 13, 14]
    hello = messages[0][1]
    assert hello[:2] == b"\x03\x01"
    suite_at = 35 + hello[34]
    assert hello[suite_at:suite_at + 2].hex() == suite
    chain = messages[1][1]
    leaf = x509.load_der_x509_certificate(chain[6:6 + int.from_bytes(chain[3:6], "big")])
    assert isinstance(leaf.public_key(), rsa.RSAPublicKey)  # SIPE takes RSA only
    assert leaf.subject.rfc4514_string() == f"CN={TARGET}"
    assert messages[2][1][0] >= 1  # at least one certificate type


@scenario("tls-dsk-rc4-md5")
def test_rc4_md5_refuses_a_client_without_rc4(lab: RegistrarThread,
                                             client_key: rsa.RSAPrivateKey) -> None:
    """pyOpenSSL cannot offer RC4: handshake_failure, as a server with only RC4-MD5 sends.
    (Real pidgin-sipe, the one RC4 client here, completes this scenario with HMAC-MD5.)"""
    client = SipClient(lab.port)
    try:
        client.register()
        response = client.tls_register(client.start_tls(_web(lab).provision(client_key)))
    finally:
        client.close()
    assert client.server_flight(response) == bytes.fromhex("15030100020228")
    assert "RC4-MD5" in lab.registrar.stats.last_reject


@pytest.mark.parametrize(("lab", "offers"), [
    ("tls-dsk+ntlm", ["TLS-DSK", "NTLM"]),
    ("tls-dsk-no-sts", ["TLS-DSK"]),
], indirect=["lab"])
def test_the_first_challenge(lab: RegistrarThread, offers: list[str]) -> None:
    client = SipClient(lab.port)
    try:
        challenge = client.register()
    finally:
        client.close()
    headers = challenge.header_values("WWW-Authenticate")
    assert [h.split(" ", 1)[0] for h in headers] == offers
    assert ("sts-uri=" in headers[0]) is (lab.registrar.config.scenario == "tls-dsk+ntlm")


# --- the web services' checks and knobs ---------------------------------------------------------

def test_wrong_password_is_refused_by_the_web_ticket_service(lab: RegistrarThread) -> None:
    web = _web(lab, password="not-the-password")
    _webticket, auth_uri, winnegotiate = web.metadata()
    response = web.rst(winnegotiate, auth_uri, secrets.token_bytes(32))
    assert response.status == 401
    assert response.getheader("WWW-Authenticate") == "NTLM"
    assert (response.getheader("X-Ms-diagnostics") or "").startswith("28002;source=")
    assert lab.webservices.stats.ntlm_failures == 1
    assert "wrong-password" in lab.webservices.stats.refusals[0]


def test_a_user_cannot_claim_another_users_uri(lab: RegistrarThread) -> None:
    web = _web(lab, login="EXAMPLE\\bob", password="B0b-passw0rd")  # claims alice
    _webticket, auth_uri, winnegotiate = web.metadata()
    response = web.rst(winnegotiate, auth_uri, secrets.token_bytes(32))
    assert response.status == 500
    assert "does not own 'sip:alice@example.test'" in lab.webservices.stats.refusals[0]


@scenario("tls-dsk-negotiate")
def test_negotiate_is_offered_and_raw_ntlm_under_it_works(
        lab: RegistrarThread, client_key: rsa.RSAPrivateKey) -> None:
    web = _web(lab, scheme="Negotiate")
    web.provision(client_key)
    first_401 = lab.webservices.stats.exchanges[2]
    assert first_401.status == 401
    assert lab.webservices.stats.ntlm_logins == ["EXAMPLE\\alice"]


@pytest.mark.parametrize(("lab", "status", "detail"), [
    ("tls-dsk-webticket-401", 401, "X-Ms-diagnostics"),
    ("tls-dsk-webticket-fault", 200, "internalerror"),
    ("tls-dsk-webticket-fault-500", 500, "internalerror"),
], indirect=["lab"])
def test_web_ticket_refusals(lab: RegistrarThread, status: int, detail: str) -> None:
    web = _web(lab)
    _webticket, auth_uri, winnegotiate = web.metadata()
    response = web.rst(winnegotiate, auth_uri, secrets.token_bytes(32))
    body = response.body.decode()  # type: ignore[attr-defined]
    assert response.status == status
    assert lab.webservices.stats.ntlm_logins == ["EXAMPLE\\alice"]  # NTLM itself worked
    if detail == "X-Ms-diagnostics":
        assert (response.getheader("X-Ms-diagnostics") or "").startswith("28020;")
        assert response.getheader("WWW-Authenticate") is None
    else:
        # The path SIPE reads: Body/Fault/Detail/error/internalerror/text
        assert re.search(r"<S:Body><S:Fault>.*<S:Detail><psf:error>.*<psf:internalerror>.*"
                         r"<psf:text>The user account is disabled.</psf:text>", body)
    assert lab.webservices.stats.tickets_issued == 0


@scenario("tls-dsk-certprov-500")
def test_certificate_provisioning_500(lab: RegistrarThread,
                                      client_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(StepFailed) as failure:
        _web(lab).provision(client_key)
    assert (failure.value.step, failure.value.status) == ("certificate", 500)
    assert lab.webservices.stats.tickets_issued == 1
    assert lab.webservices.stats.certificates_issued == 0


@scenario("tls-dsk-short-cert")
def test_short_certificate(lab: RegistrarThread, client_key: rsa.RSAPrivateKey) -> None:
    certificate = _web(lab).provision(client_key).certificate
    lifetime = certificate.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=29) < lifetime <= dt.timedelta(minutes=30)


@scenario("tls-dsk-noncanonical-lifetime")
def test_non_canonical_lifetime_breaks_sipes_digest(lab: RegistrarThread,
                                                    client_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(StepFailed) as failure:
        _web(lab).provision(client_key)
    assert (failure.value.step, failure.value.status) == ("certificate", 500)
    assert "DigestValue is not the SHA-1 of the canonical Timestamp" in failure.value.body
    rstr = lab.webservices.stats.exchanges[4]
    assert rstr.status == 200
    assert lab.webservices.stats.certificates_issued == 0


@scenario("tls-dsk-mex-no-policy")
def test_mex_without_policy(lab: RegistrarThread) -> None:
    web = _web(lab)
    conn = web._connection()
    mex = web._request(conn, "GET", web.sts_uri + "/mex").body  # type: ignore[attr-defined]
    assert b"WebTicketProof_SHA1_policy" not in mex and b"Issuer" not in mex
    assert b'wsdl:port name="CertProvisioningServiceWebTicketProof_SHA1"' in mex


@scenario("tls-dsk-untrusted-sts")
def test_untrusted_web_services_certificate(lab: RegistrarThread) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        _web(lab).metadata()
    pem = lab.webservices.https_cert_pem
    certificate = x509.load_pem_x509_certificate(pem)
    assert certificate.issuer == certificate.subject


@scenario("tls-dsk-ecdsa-https")
def test_ecdsa_web_services_certificate_is_fine(lab: RegistrarThread,
                                                client_key: rsa.RSAPrivateKey) -> None:
    _web(lab).provision(client_key)
    certificate = x509.load_pem_x509_certificate(lab.webservices.https_cert_pem)
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)


def test_openssl_backend_csr_is_accepted_leniently(lab: RegistrarThread,
                                                   client_key: rsa.RSAPrivateKey) -> None:
    csr = _openssl_backend_csr(client_key, "alice@example.test")
    with pytest.raises(x509.InvalidVersion):
        x509.load_der_x509_csr(csr)  # what cryptography thinks of it
    _web(lab).provision(client_key, csr_der=csr)
    facts = lab.webservices.stats.csr_facts[0]
    assert (facts.version, facts.hash_name, facts.key_bits) == (2, "sha1", 2048)
    assert facts.subject == "CN=alice@example.test"


def test_a_tampered_csr_is_refused(lab: RegistrarThread,
                                   client_key: rsa.RSAPrivateKey) -> None:
    csr = bytearray(_csr(client_key, "alice@example.test"))
    csr[-1] ^= 1  # the signature's last byte
    with pytest.raises(StepFailed, match="does not verify"):
        _web(lab).provision(client_key, csr_der=bytes(csr))
    with pytest.raises(ValueError, match="does not verify"):
        read_csr(bytes(csr))


# --- what the server's checks rest on, pinned by real SIPE's values ----------------------------

# From captures/tlsdsk-signin.wire.txt: SIPE's Timestamp and SignedInfo (its wsse:Security),
# both entropies, and the DigestValue/SignatureValue SIPE computed (reference §2.3).
_CAPTURE_SECURITY = (
    '<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-'
    'wssecurity-secext-1.0.xsd"><wsu:Timestamp xmlns:wsu="' + WSU + '" wsu:Id="timestamp">'
    '<wsu:Created>2026-11-29T18:26:40.697Z</wsu:Created><wsu:Expires>2026-11-30T02:26:40.697Z'
    '</wsu:Expires></wsu:Timestamp><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"> '
    '<SignedInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><CanonicalizationMethod Algorithm='
    '"http://www.w3.org/2001/10/xml-exc-c14n#"></CanonicalizationMethod><SignatureMethod '
    'Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1"></SignatureMethod><Reference '
    'URI="#timestamp"><Transforms><Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#">'
    '</Transform></Transforms><DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1">'
    '</DigestMethod><DigestValue>e8vseSEbSILhIeO6zbyfzA+CjL8=</DigestValue></Reference>'
    '</SignedInfo> <SignatureValue>jWO9tsejaFXfvh5UCGVCf4jR074=</SignatureValue></Signature>'
    '</wsse:Security>').encode()
_CLIENT_ENTROPY = "JZUSWNQZAhl4JGqISuo30eqjm9RloWGfMwH+lDn1i+4="
_SERVER_ENTROPY = "EldQhzk1Vh3joBH2k8SjBK1lkMXB3co69ASCzJFef/w="


def test_canonicalization_and_psha1_reproduce_sipes_proof() -> None:
    timestamp = exclusive_c14n(_CAPTURE_SECURITY, lambda tag, _a: tag == f"{{{WSU}}}Timestamp")
    assert base64.b64encode(hashlib.sha1(timestamp).digest()) == b"e8vseSEbSILhIeO6zbyfzA+CjL8="
    key = p_hash("sha1", base64.b64decode(_CLIENT_ENTROPY), base64.b64decode(_SERVER_ENTROPY), 32)
    assert key.hex() == "2e90f4b18390599daf3b7e7f76cbb00980996e87201707ff57e4c2e6cc737f60"
    signed_info = exclusive_c14n(
        _CAPTURE_SECURITY, lambda tag, _a: tag == "{http://www.w3.org/2000/09/xmldsig#}SignedInfo")
    assert base64.b64encode(hmac.new(key, signed_info, "sha1").digest()) == \
        b"jWO9tsejaFXfvh5UCGVCf4jR074="
    # wsu declared only on an ancestor: exc-c14n declares it on the Timestamp itself.
    inherited = _CAPTURE_SECURITY.replace(f' xmlns:wsu="{WSU}" wsu:Id'.encode(), b" wsu:Id")
    inherited = inherited.replace(b"<wsse:Security ", f'<wsse:Security xmlns:wsu="{WSU}" '.encode())
    assert exclusive_c14n(inherited, lambda tag, _a: tag == f"{{{WSU}}}Timestamp") == timestamp
    # Redundant declarations (a non-canonical Lifetime copied by SIPE) canonicalize away.
    redundant = _CAPTURE_SECURITY.replace(b"<wsu:Created>", f'<wsu:Created xmlns:wsu="{WSU}">'
                                          .encode())
    assert exclusive_c14n(redundant, lambda tag, _a: tag == f"{{{WSU}}}Timestamp") == timestamp


def test_web_services_run_standalone(tmp_path: Path, client_key: rsa.RSAPrivateKey) -> None:
    accounts = Accounts((("EXAMPLE", "alice", PASSWORD),), "example.test")
    options = WebServicesOptions(https_certificate=HttpsCertificate.RSA)
    with WebServicesServer(accounts, options, directory=tmp_path) as server:
        provisioned = WebClient(server.sts_uri, server.ca_cert_path).provision(client_key)
        assert server.published("sip:alice@example.test") == provisioned.certificate
        assert server.stats.requests == 6
    assert (tmp_path / "ca" / "test-ca.pem").exists()  # the caller's directory is kept
