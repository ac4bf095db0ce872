"""Lync web-services answers from the network (mex, RSTR, GetAndPublishCert): a value or
WebServiceFormatError — nothing else — in bounded time. Seeds: the TLS-DSK captures."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given

from sipe_setup.core.webservices import (
    WebServiceFormatError,
    parse_certprov_mex,
    parse_get_and_publish_cert_response,
    parse_rstr,
    parse_soap_fault,
    parse_webticket_mex,
    soap_fault_text,
)
from tests.unit.core.webservices.wire import response_to

from .support import budget, mutated, never_raises_but, within

CAPTURES = ("tlsdsk-signin.wire.txt", "tlsdsk-negotiate.wire.txt", "tlsdsk-shortcert.wire.txt")
_PATHS = ("/CertProv/CertProvisioningService.svc/mex", "/WebTicket/WebTicketService.svc/mex",
          "WinNegotiate", "POST /CertProv/")


def _seeds() -> list[bytes]:
    found: list[bytes] = []
    for capture in CAPTURES:
        for path in _PATHS:
            try:
                found.append(response_to(capture, path))
            except IndexError:
                continue
    assert len(found) >= 4
    return found


XML_TOKENS = (b"<?xml version='1.0' encoding='t'?>",
              b"<", b">", b"</", b"/>", b"<!--", b"-->", b"<![CDATA[", b"]]>", b"&amp;", b"&#0;",
              b"<!DOCTYPE r [<!ENTITY e 'x'>]>", b"&e;", b"xmlns:x='u'", b"x:", b"wsu:",
              b"<s:Fault><faultstring>f</faultstring></s:Fault>", b"Assertion", b"Lifetime",
              b"BinarySecret", b"BinarySecurityToken", b"MIIB", b"====", b"\0")
bodies = mutated(_seeds(), XML_TOKENS, max_size=64 * 1024)

PARSERS: list[Callable[[bytes], object]] = [
    parse_certprov_mex, parse_webticket_mex, parse_rstr, parse_get_and_publish_cert_response]


@pytest.mark.parametrize("parse", PARSERS, ids=lambda p: p.__name__)
@budget(400)
@given(body=bodies)
def test_webservice_parsers_raise_only_format_error(parse: Callable[[bytes], object],
                                                   body: bytes) -> None:
    never_raises_but(WebServiceFormatError, lambda: parse(body))


@budget(300)
@given(body=bodies)
def test_soap_fault_reading_never_raises(body: bytes) -> None:
    text = soap_fault_text(body)
    assert text is None or isinstance(text, str)
    parse_soap_fault(body)


@pytest.mark.parametrize("parse", PARSERS, ids=lambda p: p.__name__)
def test_huge_and_deep_documents_are_bounded(parse: Callable[[bytes], object]) -> None:
    deep = b"<Envelope>" + b"<a>" * 40000 + b"</a>" * 40000 + b"</Envelope>"
    big = b"<Envelope><Body>" + b"<x>" + b"A" * (2 * 1024 * 1024) + b"</x></Body></Envelope>"
    for body in (deep, big):
        with within(3.0):
            never_raises_but(WebServiceFormatError, lambda b=body: parse(b))
