"""Hostile input: any bytes give a value or WebServiceFormatError — never anything else."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipe_setup.core.webservices import (
    WebServiceFormatError,
    parse_certprov_mex,
    parse_get_and_publish_cert_response,
    parse_rstr,
    parse_soap_fault,
    parse_webticket_mex,
    soap_fault_text,
    timestamp_canonical_form,
    timestamp_is_canonical,
    webticket_header_value,
    wsse_security,
)
from sipe_setup.core.webservices.c14n import exclusive_c14n
from sipe_setup.core.webservices.sipexml import extract_raw, glib_base64_decode

from .test_webticket import rstr

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Pieces that steer random text into the parsers' interesting corners.
_PIECES = [
    "<", ">", "/", ":", "=", '"', "'", " ", "\r\n", "\0", "&amp;", "&#13;", "&#0;", "&bogus;",
    "<!--", "-->", "<![CDATA[", "]]>", "<?pi x?>", "<!DOCTYPE r>", "xmlns", "xmlns:p=\"urn:p\"",
    "p:", "wsu:", "s:", "Envelope", "Body", "Fault", "Detail", "error", "internalerror", "text",
    "faultstring", "Policy", "Id", "ExactlyOne", "All", "EndorsingSupportingTokens",
    "SignedSupportingTokens", "IssuedToken", "Issuer", "Address", "service", "port", "name",
    "address", "location", "https://h/p", "http://h/p",
    "CertProvisioningServiceWebTicketProof_SHA1", "_policy", "WebTicketServiceWinNegotiate",
    "WsFedBearer", "Lifetime", "Created", "Expires", "Assertion", "AssertionID", "BinarySecret",
    "GetAndPublishCertResponse", "RequestSecurityTokenResponse", "RequestedSecurityToken",
    "BinarySecurityToken", "MIIB", "QUJD", "2026-11-29T18:26:40Z", "é",
]
xmlish = st.lists(st.sampled_from(_PIECES) | st.text(max_size=4), max_size=60).map("".join)
xmlish_bytes = xmlish.map(lambda text: text.encode("utf-8"))
any_bytes = st.binary(max_size=2048) | xmlish_bytes

PARSERS: list[Callable[[bytes], object]] = [
    parse_certprov_mex, parse_webticket_mex, parse_rstr, parse_get_and_publish_cert_response]


@pytest.mark.parametrize("parse", PARSERS)
@FUZZ
@given(body=any_bytes)
def test_parsers_only_raise_their_error(parse: Callable[[bytes], object], body: bytes) -> None:
    try:
        parse(body)
    except WebServiceFormatError as exc:
        assert str(exc)


_DER_STARTS = [b"", b"\x30\x82", b"\x30\x80", bytes.fromhex("3082000006092a864886f70d010702"),
               bytes.fromhex("06092a864886f70d010702a0"), bytes.fromhex("308201003081")]


@FUZZ
@given(start=st.sampled_from(_DER_STARTS), tail=st.binary(max_size=600))
def test_certificate_tokens_only_raise_their_error(start: bytes, tail: bytes) -> None:
    token = base64.b64encode(start + tail).decode()
    body = ("<Envelope><Body><GetAndPublishCertResponse><RequestSecurityTokenResponse>"
            f"<RequestedSecurityToken><BinarySecurityToken>{token}</BinarySecurityToken>"
            "</RequestedSecurityToken></RequestSecurityTokenResponse></GetAndPublishCertResponse>"
            "</Body></Envelope>").encode()
    with contextlib.suppress(WebServiceFormatError):
        parse_get_and_publish_cert_response(body)


@FUZZ
@given(body=any_bytes)
def test_fault_reading_never_raises(body: bytes) -> None:
    text = soap_fault_text(body)
    assert text is None or isinstance(text, str)
    parse_soap_fault(body)


@FUZZ
@given(lifetime=xmlish, assertion_tail=xmlish, entropy=xmlish)
def test_whatever_rstr_parses_can_be_used_or_is_refused(lifetime: str, assertion_tail: str,
                                                        entropy: str) -> None:
    body = rstr(lifetime=lifetime, entropy=entropy,
                assertion=f'<saml:Assertion AssertionID="x">{assertion_tail}</saml:Assertion>')
    try:
        ticket = parse_rstr(body)
    except WebServiceFormatError:
        return
    assert isinstance(timestamp_is_canonical(ticket), bool)
    form = timestamp_canonical_form(ticket)
    assert form is None or form.startswith("<wsu:Timestamp")
    assert wsse_security(ticket, b"", signed=False).startswith("<wsu:Timestamp")
    try:
        assert "<SignatureValue>" in wsse_security(ticket, b"\x01" * 32, signed=True)
        webticket_header_value(ticket)
    except WebServiceFormatError:
        pass


@FUZZ
@given(text=any_bytes, tag=st.sampled_from(["Lifetime", "Assertion", "T", "BinarySecret"]),
       include=st.booleans())
def test_raw_extraction_never_crashes(text: bytes, tag: str, include: bool) -> None:
    try:
        found = extract_raw(text, tag, include_tag=include)
    except WebServiceFormatError:
        return
    assert found is None or found in text


@FUZZ
@given(data=st.binary(max_size=512), noise=st.binary(max_size=64))
def test_glib_base64_is_lenient_and_exact_on_clean_input(data: bytes, noise: bytes) -> None:
    assert glib_base64_decode(base64.b64encode(data)) == data
    glib_base64_decode(noise + base64.b64encode(data) + noise)


@FUZZ
@given(fragment=xmlish)
def test_canonicalization_never_raises(fragment: str) -> None:
    result = exclusive_c14n(fragment, {"p": "urn:p", "wsu": "urn:wsu"})
    assert result is None or result.startswith("<")
