"""Against real pidgin-sipe 1.25.0: what SIPE sent and accepted in the TLS-DSK captures.

Byte-identical RST and GetAndPublishCert, the §2.3 proof vector, the mex documents, the RSTR,
the CSR structure and the issued certificate of ``tests/golden/captures/tlsdsk-*.wire.txt``.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sipe_setup.core.sip.register import sip_instance
from sipe_setup.core.webservices import (
    build_csr,
    build_csr_der,
    build_get_and_publish_cert,
    build_rst,
    certificate_validity,
    message_id_for,
    parse_certprov_mex,
    parse_get_and_publish_cert_response,
    parse_rstr,
    parse_webticket_mex,
    psha1,
    timestamp_is_canonical,
    uuid_from_text,
    webticket_header_value,
    wsse_security,
)

from .wire import requests_with, response_to

SIGNIN = "alice@example.test"
EPID = "b34afb6ebb23"
INSTANCE = "085e0bd8-031c-5a0d-8d9a-f149aae6954a"
BASE = "https://127.0.0.1:4443"
AUTH_URI = f"{BASE}/CertProv/CertProvisioningService.svc/WebTicket_Proof_SHA1"
CAPTURES = ("tlsdsk-signin.wire.txt", "tlsdsk-negotiate.wire.txt", "tlsdsk-shortcert.wire.txt")

# reference/tls-dsk.md §2.3 (tlsdsk-signin)
CLIENT_ENTROPY = base64.b64decode("JZUSWNQZAhl4JGqISuo30eqjm9RloWGfMwH+lDn1i+4=")
SERVER_ENTROPY = base64.b64decode("EldQhzk1Vh3joBH2k8SjBK1lkMXB3co69ASCzJFef/w=")
PSHA1_KEY = bytes.fromhex("2e90f4b18390599daf3b7e7f76cbb00980996e87201707ff57e4c2e6cc737f60")
TIMESTAMP = (
    '<wsu:Timestamp xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-'
    'wssecurity-utility-1.0.xsd" wsu:Id="timestamp"><wsu:Created>2026-11-29T18:26:40.697Z'
    "</wsu:Created><wsu:Expires>2026-11-30T02:26:40.697Z</wsu:Expires></wsu:Timestamp>")
DIGEST_VALUE = "e8vseSEbSILhIeO6zbyfzA+CjL8="
SIGNATURE_VALUE = "jWO9tsejaFXfvh5UCGVCf4jR074="


def _rst_request(capture: str) -> bytes:
    return requests_with(capture, "WinNegotiate")[-1].body


def _gapc_requests(capture: str) -> list[bytes]:
    return [m.body for m in requests_with(capture, "POST /CertProv/")]


def _entropy_of(rst: bytes) -> bytes:
    match = re.search(rb"<wst:BinarySecret>([^<]*)</wst:BinarySecret>", rst)
    assert match is not None
    return base64.b64decode(match.group(1))


def _between(body: bytes, start: bytes, end: bytes) -> bytes:
    i = body.index(start) + len(start)
    return body[i:body.index(end, i)]


# --- identifiers -------------------------------------------------------------------------------


def test_uuid_from_text_is_sipes_epid_uuid() -> None:
    assert uuid_from_text(EPID) == INSTANCE == sip_instance(EPID)


@pytest.mark.parametrize("capture", CAPTURES)
def test_message_id_is_the_uuid_of_the_wsse_text(capture: str) -> None:
    for body in _gapc_requests(capture):
        wsse = _between(body, b"<wsse:Security>", b"</wsse:Security>").decode()
        message_id = _between(body, b"<wsa:MessageID>uuid:", b"</wsa:MessageID>").decode()
        assert message_id_for(wsse) == message_id


# --- mex ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("capture", CAPTURES)
def test_certprov_mex_of_the_capture(capture: str) -> None:
    meta = parse_certprov_mex(response_to(capture, "/CertProv/CertProvisioningService.svc/mex"))
    assert meta.webticket_url == f"{BASE}/WebTicket/WebTicketService.svc"
    assert meta.auth_uri == AUTH_URI
    assert meta.signing_required is True


@pytest.mark.parametrize("capture", CAPTURES)
def test_webticket_mex_of_the_capture(capture: str) -> None:
    meta = parse_webticket_mex(response_to(capture, "/WebTicket/WebTicketService.svc/mex"))
    assert meta.win_negotiate_url == f"{BASE}/WebTicket/WebTicketService.svc/WinNegotiate"
    assert meta.wsfed_bearer_url is None


# --- RST ---------------------------------------------------------------------------------------


def test_rst_is_byte_identical_with_the_reference_entropy() -> None:
    rst = _rst_request("tlsdsk-signin.wire.txt")
    assert build_rst(applies_to=AUTH_URI, signin=SIGNIN, instance_uuid=INSTANCE,
                     client_entropy=CLIENT_ENTROPY) == rst


@pytest.mark.parametrize("capture", CAPTURES)
def test_every_rst_sent_is_byte_identical(capture: str) -> None:
    for request in requests_with(capture, "WinNegotiate"):
        assert build_rst(applies_to=AUTH_URI, signin=SIGNIN, instance_uuid=INSTANCE,
                         client_entropy=_entropy_of(request.body)) == request.body


# --- RSTR and the proof (§2.3) -----------------------------------------------------------------


def test_proof_vector_of_section_2_3() -> None:
    ticket = parse_rstr(response_to("tlsdsk-signin.wire.txt", "WinNegotiate"))
    assert ticket.server_entropy == SERVER_ENTROPY
    assert ticket.timestamp == TIMESTAMP
    assert psha1(CLIENT_ENTROPY, SERVER_ENTROPY) == PSHA1_KEY
    wsse = wsse_security(ticket, CLIENT_ENTROPY, signed=True)
    assert f"<DigestValue>{DIGEST_VALUE}</DigestValue>" in wsse
    assert f"<SignatureValue>{SIGNATURE_VALUE}</SignatureValue>" in wsse


def test_rstr_fields_of_the_capture() -> None:
    ticket = parse_rstr(response_to("tlsdsk-signin.wire.txt", "WinNegotiate"))
    assert ticket.assertion_id == "SamlSecurityToken-f5e3b2f1-cb3e-44bb-b35b-638245a6885d"
    assert ticket.assertion.startswith('<saml:Assertion MajorVersion="1"')
    assert ticket.assertion.endswith("</saml:Assertion>")
    assert ticket.created == datetime(2026, 11, 29, 18, 26, 40, 697000, tzinfo=UTC)
    assert ticket.expires == datetime(2026, 11, 30, 2, 26, 40, 697000, tzinfo=UTC)
    assert timestamp_is_canonical(ticket)


@pytest.mark.parametrize("capture", CAPTURES)
def test_wsse_security_is_byte_identical(capture: str) -> None:
    ticket = parse_rstr(response_to(capture, "WinNegotiate"))
    entropy = _entropy_of(_rst_request(capture))
    wsse = wsse_security(ticket, entropy, signed=True).encode()
    for body in _gapc_requests(capture):
        assert _between(body, b"<wsse:Security>", b"</wsse:Security>") == wsse


def test_autodiscover_header_carries_the_raw_assertion() -> None:
    ticket = parse_rstr(response_to("tlsdsk-signin.wire.txt", "WinNegotiate"))
    value = webticket_header_value(ticket)
    assert value.startswith("opaque=")
    assert base64.b64decode(value[len("opaque="):]).decode() == ticket.assertion


# --- GetAndPublishCert -------------------------------------------------------------------------


@pytest.mark.parametrize("capture", CAPTURES)
def test_get_and_publish_cert_is_byte_identical(capture: str) -> None:
    ticket = parse_rstr(response_to(capture, "WinNegotiate"))
    wsse = wsse_security(ticket, _entropy_of(_rst_request(capture)), signed=True)
    for body in _gapc_requests(capture):
        csr = _between(body, b'#Base64Binary"  >\r\n', b"</wsse:BinarySecurityToken>").decode()
        request_id = _between(body, b"<wstep:RequestID>", b"</wstep:RequestID>").decode()
        assert build_get_and_publish_cert(auth_uri=AUTH_URI, wsse=wsse, signin=SIGNIN,
                                          instance_uuid=INSTANCE, csr=csr,
                                          request_id=request_id) == body


def test_shortcert_loop_reuses_ticket_and_csr() -> None:
    bodies = _gapc_requests("tlsdsk-shortcert.wire.txt")
    assert len(bodies) == 4
    strip = [re.sub(rb"<wstep:RequestID>[^<]*</wstep:RequestID>", b"", b) for b in bodies]
    assert len(set(strip)) == 1  # only the RequestID differs: same wsse, MessageID, CSR
    assert len({_between(b, b"<wstep:RequestID>", b"<") for b in bodies}) == 4


def _capture_csr(capture: str = "tlsdsk-signin.wire.txt") -> tuple[str, bytes]:
    body = _gapc_requests(capture)[0]
    text = _between(body, b'#Base64Binary"  >\r\n', b"</wsse:BinarySecurityToken>").decode()
    return text, base64.b64decode(text.replace("\r\n", ""))


def test_csr_structure_matches_sipes_except_key_and_signature() -> None:
    text, sipe_der = _capture_csr()
    sipe = x509.load_der_x509_csr(sipe_der)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ours = x509.load_der_x509_csr(build_csr_der(key, SIGNIN))

    def skeleton(csr: x509.CertificateSigningRequest) -> bytes:
        spki = csr.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        return csr.tbs_certrequest_bytes.replace(spki, b"<SPKI>")

    assert skeleton(ours) == skeleton(sipe)
    assert skeleton(sipe) == (bytes.fromhex("3082014a020100301d311b301906035504030c12")
                              + SIGNIN.encode() + b"<SPKI>" + bytes.fromhex("a000"))
    assert sipe.signature_algorithm_oid == ours.signature_algorithm_oid
    assert ours.is_signature_valid and sipe.is_signature_valid
    assert sipe.public_key().key_size == ours.public_key().key_size == 2048
    assert sipe.public_key().public_numbers().e == 65537  # type: ignore[union-attr]
    # SIPE's line layout: 76 + CRLF per full line, no CRLF after the short last line.
    ours_text = build_csr(key, SIGNIN)
    assert [len(line) for line in ours_text.split("\r\n")] == \
        [len(line) for line in text.split("\r\n")]


# --- the certificate ---------------------------------------------------------------------------


@pytest.mark.parametrize("capture", CAPTURES)
def test_certificate_is_the_requested_security_token(capture: str) -> None:
    body = response_to(capture, "POST /CertProv/")
    der = parse_get_and_publish_cert_response(body)
    token = _between(body, b"<RequestedSecurityToken><BinarySecurityToken", b"</Binary")
    assert der == base64.b64decode(token.split(b">", 1)[1])
    _, csr_der = _capture_csr(capture)
    csr_key = x509.load_der_x509_csr(csr_der).public_key()
    assert isinstance(csr_key, rsa.RSAPublicKey)
    assert certificate_validity(der, datetime.now(UTC), client_key=csr_key).public_key_matches


def test_signin_certificate_lasts_eight_hours() -> None:
    der = parse_get_and_publish_cert_response(
        response_to("tlsdsk-signin.wire.txt", "POST /CertProv/"))
    validity = certificate_validity(der, datetime(2026, 11, 29, 18, 26, 40, tzinfo=UTC))
    assert validity.seconds_left == validity.sipe_expires == 28800  # debug log: "expires 28799"
    assert validity.sipe_loops is False
    assert validity.subject == "CN=sip:alice@example.test"


def test_shortcert_makes_sipe_loop() -> None:
    der = parse_get_and_publish_cert_response(
        response_to("tlsdsk-shortcert.wire.txt", "POST /CertProv/"))
    validity = certificate_validity(der, datetime(2026, 11, 29, 18, 26, 26, tzinfo=UTC))
    assert validity.seconds_left == 30 * 60
    assert validity.sipe_loops is True
