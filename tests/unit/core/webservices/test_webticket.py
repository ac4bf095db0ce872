"""The WS-Trust RST, the RSTR read SIPE's raw way, the PSHA1 proof and ``wsse:Security``."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from sipe_setup.core.webservices import (
    WebServiceFormatError,
    WebTicket,
    build_rst,
    parse_rstr,
    parse_soap_fault,
    psha1,
    soap_fault_text,
    timestamp_canonical_form,
    timestamp_is_canonical,
    webticket_header_value,
    wsse_security,
)
from sipe_setup.core.webservices.sipexml import parse_tree

from .test_golden import (
    CLIENT_ENTROPY,
    DIGEST_VALUE,
    PSHA1_KEY,
    SERVER_ENTROPY,
    SIGNATURE_VALUE,
    TIMESTAMP,
)

WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
LIFETIME = ("<wsu:Created>2026-11-29T18:26:40.697Z</wsu:Created>"
            "<wsu:Expires>2026-11-30T02:26:40.697Z</wsu:Expires>")
ASSERTION = ('<saml:Assertion MajorVersion="1" AssertionID="SamlSecurityToken-1" '
             'xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion"><saml:Conditions/>'
             "</saml:Assertion>")
ENTROPY_B64 = base64.b64encode(SERVER_ENTROPY).decode()


def rstr(*, lifetime: str = LIFETIME, assertion: str = ASSERTION,
         entropy: str | None = ENTROPY_B64, collection: bool = False) -> bytes:
    """An RSTR like the capture's, or a WS-Trust 1.3 RSTRC with ``trust:`` prefixes."""
    secret = "" if entropy is None else f"<Entropy><BinarySecret>{entropy}</BinarySecret></Entropy>"
    inner = (f"<RequestedSecurityToken>{assertion}</RequestedSecurityToken>{secret}"
             f"<Lifetime>{lifetime}</Lifetime>")
    if collection:
        inner = (inner.replace("<", "<trust:").replace("<trust:/", "</trust:")
                 .replace("<trust:saml:", "<saml:").replace("</trust:saml:", "</saml:")
                 .replace("<trust:wsu:", "<wsu:").replace("</trust:wsu:", "</wsu:"))
        body = ('<trust:RequestSecurityTokenResponseCollection xmlns:trust="http://docs.oasis-'
                'open.org/ws-sx/ws-trust/200512"><trust:RequestSecurityTokenResponse>'
                f"{inner}</trust:RequestSecurityTokenResponse>"
                "</trust:RequestSecurityTokenResponseCollection>")
    else:
        body = ('<RequestSecurityTokenResponse xmlns="http://docs.oasis-open.org/ws-sx/ws-trust/'
                f'200512">{inner}</RequestSecurityTokenResponse>')
    return (f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
            f'xmlns:wsu="{WSU}"><s:Body>{body}</s:Body></s:Envelope>').encode()


def ticket(**changes: object) -> WebTicket:
    fields: dict[str, object] = {
        "lifetime": LIFETIME, "assertion": ASSERTION, "assertion_id": "SamlSecurityToken-1",
        "server_entropy": SERVER_ENTROPY, "created": None, "expires": None}
    fields.update(changes)
    return WebTicket(**fields)  # type: ignore[arg-type]


# --- PSHA1 and the signature (§2.3) ------------------------------------------------------------


def test_psha1_vector() -> None:
    assert psha1(CLIENT_ENTROPY, SERVER_ENTROPY, 32) == PSHA1_KEY


def test_psha1_is_the_tls_p_hash_and_prefix_stable() -> None:
    a1 = hmac.digest(b"k", b"seed", "sha1")
    first = hmac.digest(b"k", a1 + b"seed", "sha1")
    assert psha1(b"k", b"seed", 20) == first
    assert psha1(b"k", b"seed", 64)[:32] == psha1(b"k", b"seed", 32)
    assert len(psha1(b"k", b"", 1)) == 1
    with pytest.raises(ValueError, match="at least 1"):
        psha1(b"k", b"seed", 0)


def test_signed_wsse_vector_and_layout() -> None:
    wsse = wsse_security(ticket(), CLIENT_ENTROPY, signed=True)
    assert wsse.startswith(TIMESTAMP + ASSERTION + '<Signature xmlns="http://www.w3.org/2000/09/'
                           'xmldsig#"> <SignedInfo xmlns="http://www.w3.org/2000/09/xmldsig#">')
    assert f"<DigestValue>{DIGEST_VALUE}</DigestValue>" in wsse
    assert f"</SignedInfo> <SignatureValue>{SIGNATURE_VALUE}</SignatureValue> <KeyInfo>" in wsse
    assert wsse.endswith(
        '  <wsse:SecurityTokenReference wsse:TokenType="http://docs.oasis-open.org/wss/'
        'oasis-wss-saml-token-profile-1.1#SAMLV1.1">   <wsse:KeyIdentifier ValueType="http://'
        'docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.0#SAMLAssertionID">'
        "SamlSecurityToken-1</wsse:KeyIdentifier>  </wsse:SecurityTokenReference> </KeyInfo>"
        "</Signature>")
    digest = base64.b64encode(hashlib.sha1(TIMESTAMP.encode()).digest()).decode()
    assert digest == DIGEST_VALUE


def test_signature_key_length_follows_the_client_entropy() -> None:
    short = wsse_security(ticket(), b"0123456789", signed=True)
    long = wsse_security(ticket(), CLIENT_ENTROPY, signed=True)
    assert short.split("<SignatureValue>")[1] != long.split("<SignatureValue>")[1]


def test_unsigned_wsse_is_timestamp_plus_assertion() -> None:
    assert wsse_security(ticket(), b"", signed=False) == TIMESTAMP + ASSERTION


@pytest.mark.parametrize(("changes", "message"), [
    ({"assertion_id": None}, "no AssertionID"),
    ({"server_entropy": None}, "no BinarySecret"),
])
def test_signing_needs_assertion_id_and_server_entropy(changes: dict[str, object],
                                                       message: str) -> None:
    with pytest.raises(WebServiceFormatError, match=message):
        wsse_security(ticket(**changes), CLIENT_ENTROPY, signed=True)
    assert wsse_security(ticket(**changes), CLIENT_ENTROPY, signed=False)


def test_signing_without_client_entropy_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="client entropy"):
        wsse_security(ticket(), b"", signed=True)


def test_empty_server_entropy_still_signs_as_sipe_does() -> None:
    assert "<SignatureValue>" in wsse_security(ticket(server_entropy=b""), CLIENT_ENTROPY,
                                               signed=True)


# --- the RST -----------------------------------------------------------------------------------


def test_rst_escapes_what_sipe_would_not() -> None:
    body = build_rst(applies_to="https://h/p?a=1&b=<2>", signin='a"b&c@example.test',
                     instance_uuid='x"y', client_entropy=b"\x01")
    root = parse_tree(body, document="RST")
    rst = root.child("Body/RequestSecurityToken")
    assert rst is not None
    assert rst.attribute("Context") == 'x"y'
    address = rst.child("AppliesTo/EndpointReference/Address")
    assert address is not None
    assert address.data == "https://h/p?a=1&b=<2>"
    value = rst.child("Claims/ClaimType/Value")
    assert value is not None
    assert value.data == 'sip:a"b&c@example.test'


@pytest.mark.parametrize("kwargs", [
    {"client_entropy": b""},
    {"signin": "a\x00b@example.test"},
    {"applies_to": "https://h/\x0b"},
])
def test_rst_refuses_bad_arguments(kwargs: dict[str, object]) -> None:
    arguments: dict[str, object] = {"applies_to": "https://h/p", "signin": "a@example.test",
                                    "instance_uuid": "u", "client_entropy": b"\x01"}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=r"must not be empty|cannot carry"):
        build_rst(**arguments)  # type: ignore[arg-type]


# --- the RSTR ----------------------------------------------------------------------------------


@pytest.mark.parametrize("collection", [False, True])
def test_bare_rstr_and_rstrc_read_alike(collection: bool) -> None:
    parsed = parse_rstr(rstr(collection=collection))
    assert parsed.lifetime == LIFETIME
    assert parsed.assertion == ASSERTION
    assert parsed.assertion_id == "SamlSecurityToken-1"
    assert parsed.server_entropy == SERVER_ENTROPY
    assert parsed.created == datetime(2026, 11, 29, 18, 26, 40, 697000, tzinfo=UTC)
    assert parsed.expires == datetime(2026, 11, 30, 2, 26, 40, 697000, tzinfo=UTC)
    assert parsed.timestamp == TIMESTAMP
    assert timestamp_is_canonical(parsed)


def test_non_canonical_lifetime_is_detected() -> None:
    lifetime = (f'<wsu:Created xmlns:wsu="{WSU}">2026-11-29T18:26:40.697Z</wsu:Created>'
                f'<wsu:Expires xmlns:wsu="{WSU}">2026-11-30T02:26:40.697Z</wsu:Expires>')
    parsed = parse_rstr(rstr(lifetime=lifetime))
    assert parsed.lifetime == lifetime  # kept raw, as SIPE pastes it
    assert not timestamp_is_canonical(parsed)
    assert timestamp_canonical_form(parsed) == TIMESTAMP
    assert parsed.expires == datetime(2026, 11, 30, 2, 26, 40, 697000, tzinfo=UTC)


def test_lifetime_with_a_prefix_sipes_envelope_lacks() -> None:
    lifetime = "<u:Created>2026-11-29T18:26:40Z</u:Created><u:Expires>x</u:Expires>"
    body = rstr(lifetime=lifetime).replace(b"<s:Envelope ", b'<s:Envelope xmlns:u="urn:u" ')
    parsed = parse_rstr(body)
    assert timestamp_canonical_form(parsed) is None
    assert not timestamp_is_canonical(parsed)
    assert parsed.created == datetime(2026, 11, 29, 18, 26, 40, tzinfo=UTC)
    assert parsed.expires is None  # unreadable → SIPE's 0 → no caching


def test_times_without_zone_are_utc_as_in_sipe() -> None:
    lifetime = "<wsu:Created>2026-11-29T18:26:40</wsu:Created>"
    assert parse_rstr(rstr(lifetime=lifetime)).created == datetime(2026, 11, 29, 18, 26, 40,
                                                                    tzinfo=UTC)


def test_entropy_is_decoded_leniently_and_missing_pieces_are_none() -> None:
    wrapped = ENTROPY_B64[:10] + "\r\n  " + ENTROPY_B64[10:]
    assert parse_rstr(rstr(entropy=wrapped)).server_entropy == SERVER_ENTROPY
    assert parse_rstr(rstr(entropy="")).server_entropy == b""
    assert parse_rstr(rstr(entropy=None)).server_entropy is None
    no_id = ASSERTION.replace('AssertionID="SamlSecurityToken-1" ', "")
    assert parse_rstr(rstr(assertion=no_id)).assertion_id is None


@pytest.mark.parametrize(("body", "message"), [
    (rstr(lifetime="").replace(b"<Lifetime></Lifetime>", b""), "no Lifetime element"),
    (rstr(assertion="<x/>"), "no Assertion element"),
    (b"<Lifetime>x</Lifetime><Assertion/>", "not well-formed"),  # SIPE needs XML too
    (b"", "empty"),
    (rstr().replace(b"<s:Body>", b"<s:Body><!-- <Lifetime</Lifetime> -->"), "crash"),
    (rstr().replace(b"Z</wsu:Created>", "\u00e9".encode("latin-1") + b"</wsu:Created>")
     .replace(b"<s:Envelope", b'<?xml version="1.0" encoding="iso-8859-1"?><s:Envelope'),
     "not UTF-8"),
])
def test_unusable_rstr(body: bytes, message: str) -> None:
    with pytest.raises(WebServiceFormatError, match=message):
        parse_rstr(body)


def test_a_soap_fault_is_quoted_in_the_error() -> None:
    fault = (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
             b"<faultcode>s:Client</faultcode><faultstring>Access denied</faultstring><Detail>"
             b"<error><internalerror><text>  The user is disabled.&#x000D;&#x000A;</text>"
             b"</internalerror></error></Detail></s:Fault></s:Body></s:Envelope>")
    with pytest.raises(WebServiceFormatError, match=r"SOAP fault: The user is disabled\.$"):
        parse_rstr(fault)
    parsed = parse_soap_fault(fault)
    assert parsed is not None
    assert parsed.sipe_text == "The user is disabled."
    assert parsed.fault_string == "Access denied"


def test_decoy_in_a_comment_is_taken_as_sipe_would() -> None:
    body = rstr().replace(b"<s:Body>", b"<s:Body><!-- <Lifetime>decoy</Lifetime> -->")
    assert parse_rstr(body).lifetime == "decoy"


def test_text_after_a_nul_is_ignored() -> None:
    assert parse_rstr(rstr() + b"\0 garbage <<<").lifetime == LIFETIME


def test_repr_hides_the_assertion_and_entropy() -> None:
    text = repr(parse_rstr(rstr()))
    assert "Conditions" not in text and ENTROPY_B64 not in text
    assert "SamlSecurityToken-1" in text and "32 bytes" in text


def test_autodiscover_header() -> None:
    value = webticket_header_value(ticket())
    assert value == "opaque=" + base64.b64encode(ASSERTION.encode()).decode()


# --- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "expected"), [
    (b"<Envelope><Body><Fault><faultstring>oops</faultstring></Fault></Body></Envelope>",
     "oops"),
    (b"<E><Body><Fault><detail><error><internalerror><text>hidden</text></internalerror>"
     b"</error></detail><faultstring> shown </faultstring></Fault></Body></E>", "shown"),
    (b"<e:Envelope xmlns:e='urn:soap12'><e:Body><e:Fault><e:Reason><e:Text>r</e:Text>"
     b"</e:Reason></e:Fault></e:Body></e:Envelope>", "r"),
    (b"<Envelope><Body><Fault/></Body></Envelope>", None),
    (b"<Envelope><Body/></Envelope>", None),
    (b"not xml", None),
    (b"", None),
])
def test_soap_fault_text(body: bytes, expected: str | None) -> None:
    assert soap_fault_text(body) == expected


def test_sipe_text_only_from_the_capitalised_detail_path() -> None:
    body = (b"<E><Body><Fault><detail><error><internalerror><text>x</text></internalerror>"
            b"</error></detail></Fault></Body></E>")
    parsed = parse_soap_fault(body)
    assert parsed is not None
    assert parsed.sipe_text is None
    long = b"<E><Body><Fault><faultstring>" + b"y" * 1000 + b"</faultstring></Fault></Body></E>"
    text = soap_fault_text(long)
    assert text is not None
    assert len(text) == 301
