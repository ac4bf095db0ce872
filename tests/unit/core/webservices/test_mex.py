"""Mex documents (a) CertProv and (b) web ticket service, read with SIPE 1.25.0's rules."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sipe_setup.core.webservices import (
    WebServiceFormatError,
    mex_url,
    parse_certprov_mex,
    parse_webticket_mex,
)
from sipe_setup.core.webservices.sipexml import MAX_DOCUMENT_BYTES

TICKET = "https://pool.example.test/WebTicket/WebTicketService.svc"
AUTH = "https://pool.example.test/CertProv/CertProvisioningService.svc/WebTicket_Proof_SHA1"
PORT = "CertProvisioningServiceWebTicketProof_SHA1"


def policy(*, tokens: str = "EndorsingSupportingTokens", ticket: str = TICKET,
           policy_id: str = f"{PORT}_policy") -> str:
    """The web ticket policy as the capture's (and Lync's) mex writes it."""
    return (f'<wsp:Policy wsu:Id="{policy_id}"><wsp:ExactlyOne><wsp:All>'
            f"<sp:{tokens}><wsp:Policy><sp:IssuedToken><sp:Issuer>"
            f"<wsa10:Address>{ticket}</wsa10:Address></sp:Issuer></sp:IssuedToken></wsp:Policy>"
            f"</sp:{tokens}></wsp:All></wsp:ExactlyOne></wsp:Policy>")


def certprov(*, policies: str | None = None, ports: str | None = None,
             tokens: str = "EndorsingSupportingTokens", ticket: str = TICKET,
             auth: str = AUTH, policy_id: str = f"{PORT}_policy") -> bytes:
    """A CertProv mex document shaped like Lync's, with parts replaceable."""
    if policies is None:
        policies = policy(tokens=tokens, ticket=ticket, policy_id=policy_id)
    if ports is None:
        ports = (f'<wsdl:service name="CertProvisioningService"><wsdl:port name="{PORT}">'
                 f'<soap:address location="{auth}"/></wsdl:port></wsdl:service>')
    return ('<?xml version="1.0" encoding="utf-8"?><wsdl:definitions '
            'xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" '
            'xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy" '
            'xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-'
            'utility-1.0.xsd" xmlns:sp="http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702" '
            'xmlns:wsa10="http://www.w3.org/2005/08/addressing" '
            f'xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/">{policies}{ports}'
            "</wsdl:definitions>").encode()


def webticket(ports: str) -> bytes:
    return (f"<definitions><service>{ports}</service></definitions>").encode()


def port(name: str, location: str) -> str:
    return f'<port name="{name}"><address location="{location}"/></port>'


# --- (a) ---------------------------------------------------------------------------------------


def test_endorsing_supporting_tokens_mean_signing() -> None:
    meta = parse_certprov_mex(certprov())
    assert (meta.webticket_url, meta.auth_uri, meta.signing_required) == (TICKET, AUTH, True)


def test_signed_supporting_tokens_only_mean_no_signing() -> None:
    meta = parse_certprov_mex(certprov(tokens="SignedSupportingTokens"))
    assert meta.signing_required is False
    assert meta.webticket_url == TICKET


def test_empty_endorsing_address_falls_back_to_signed() -> None:
    policies = (
        f'<Policy Id="{PORT}_policy"><ExactlyOne><All>'
        "<EndorsingSupportingTokens><Policy><IssuedToken><Issuer><Address/></Issuer>"
        "</IssuedToken></Policy></EndorsingSupportingTokens>"
        f"<SignedSupportingTokens><Policy><IssuedToken><Issuer><Address>{TICKET}</Address>"
        "</Issuer></IssuedToken></Policy></SignedSupportingTokens></All></ExactlyOne></Policy>")
    meta = parse_certprov_mex(certprov(policies=policies))
    assert (meta.webticket_url, meta.signing_required) == (TICKET, False)


def test_other_prefixes_and_no_prefixes_work() -> None:
    policies = (
        f'<p15:Policy xmlns:p15="urn:p" u:ID="{PORT.lower()}_POLICY"><p15:ExactlyOne><p15:All>'
        "<x:EndorsingSupportingTokens xmlns:x='urn:x'><Policy><IssuedToken><Issuer>"
        f"<a:Address xmlns:a='urn:a'>{TICKET}</a:Address></Issuer></IssuedToken></Policy>"
        "</x:EndorsingSupportingTokens></p15:All></p15:ExactlyOne></p15:Policy>")
    ports = (f'<service><port NAME="{PORT.upper()}"><s12:address LOCATION="{AUTH}"/></port>'
             "</service>")
    meta = parse_certprov_mex(certprov(policies=policies, ports=ports))
    assert (meta.webticket_url, meta.auth_uri, meta.signing_required) == (TICKET, AUTH, True)


def test_the_captures_own_shape_with_a_custom_port_name() -> None:
    body = certprov(policy_id="Other_policy").replace(f'name="{PORT}"'.encode(), b'name="Other"')
    assert parse_certprov_mex(body, port_name="Other").auth_uri == AUTH


def test_only_the_first_matching_policy_is_used() -> None:
    broken = f'<Policy Id="{PORT}_policy"><ExactlyOne/></Policy>'
    body = certprov(policies=broken + policy())
    with pytest.raises(WebServiceFormatError, match="names no web ticket issuer"):
        parse_certprov_mex(body)


def test_non_matching_policies_are_skipped() -> None:
    other = '<Policy Id="SomethingElse_policy"><ExactlyOne/></Policy>'
    nested = f"<Wrapper>{policy(ticket=TICKET + 'X')}</Wrapper>"  # not a root child
    body = certprov(policies=other + nested + policy())
    assert parse_certprov_mex(body).webticket_url == TICKET


def test_path_steps_do_not_backtrack() -> None:
    policies = (
        f'<Policy Id="{PORT}_policy"><ExactlyOne><All/><All>'
        f"<EndorsingSupportingTokens><Policy><IssuedToken><Issuer><Address>{TICKET}</Address>"
        "</Issuer></IssuedToken></Policy></EndorsingSupportingTokens></All></ExactlyOne></Policy>")
    with pytest.raises(WebServiceFormatError, match="names no web ticket issuer"):
        parse_certprov_mex(certprov(policies=policies))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"policies": ""}, "no top-level Policy with Id"),
    ({"policy_id": "Wrong_policy"}, "no top-level Policy with Id"),
    ({"policies": f'<policy Id="{PORT}_policy"/>'}, "no top-level Policy"),  # case-sensitive
    ({"ports": ""}, f"no service/port named '{PORT}'"),
    ({"ports": f'<service>{port("Wrong", AUTH)}</service>'}, "no service/port named"),
    ({"ports": f'<service/><service>{port(PORT, AUTH)}</service>'}, "no service/port named"),
    ({"ports": f'<service><port name="{PORT}"/></service>'}, "has no address with a location"),
    ({"ports": f'<service><port name="{PORT}"><address/></port></service>'}, "no address"),
    ({"auth": "http://pool.example.test/CertProv"}, "plain http://"),
    ({"auth": "HTTPS://pool.example.test/CertProv"}, "not an https:// URL"),
    ({"auth": "ftp://pool.example.test/x"}, "not an https:// URL"),
    ({"auth": "https://pool.example.test"}, "no path"),
    ({"auth": "https:///path"}, "names no host"),
    ({"auth": ""}, "is empty"),
    ({"auth": f" {AUTH}"}, "white space"),
    ({"ticket": f"\n  {TICKET}\n"}, "white space"),
    ({"ticket": "http://pool.example.test/WebTicket"}, "plain http://"),
])
def test_unusable_certprov_mex(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(WebServiceFormatError, match=message):
        parse_certprov_mex(certprov(**kwargs))


def test_webticket_url_needs_no_path() -> None:
    assert parse_certprov_mex(certprov(ticket="https://pool:443")).webticket_url == "https://pool:443"


def test_the_error_names_the_document() -> None:
    with pytest.raises(WebServiceFormatError, match="Certificate Provisioning service metadata"):
        parse_certprov_mex(b"<r/>")


# --- (b) ---------------------------------------------------------------------------------------

NEGOTIATE = "https://pool.example.test/WebTicket/WebTicketService.svc/WinNegotiate"
BEARER = "https://pool.example.test/WebTicket/WebTicketService.svc/WsFed_bearer"


def test_both_ports() -> None:
    meta = parse_webticket_mex(webticket(port("WebTicketServiceWinNegotiate", NEGOTIATE)
                                         + port("wsfedbearer", BEARER)))
    assert (meta.win_negotiate_url, meta.wsfed_bearer_url) == (NEGOTIATE, BEARER)


def test_bearer_only() -> None:
    meta = parse_webticket_mex(webticket(port("WsFedBearer", BEARER)))
    assert (meta.win_negotiate_url, meta.wsfed_bearer_url) == (None, BEARER)


def test_a_later_port_of_the_same_name_wins_and_portless_ones_are_skipped() -> None:
    later = NEGOTIATE + "2"
    meta = parse_webticket_mex(webticket(
        port("WebTicketServiceWinNegotiate", NEGOTIATE)
        + '<port name="WebTicketServiceWinNegotiate"/>'
        + port("WebTicketServiceWinNegotiate", later)))
    assert meta.win_negotiate_url == later


@pytest.mark.parametrize(("ports", "message"), [
    ("", "no service/port named"),
    (port("WebTicketServiceKerberos", NEGOTIATE), "no service/port named"),
    ('<port name="WsFedBearer"><address/></port>', "no service/port named"),
    (port("WsFedBearer", "http://pool.example.test/x"), "plain http://"),
    (port("WebTicketServiceWinNegotiate", ""), "is empty"),
])
def test_unusable_webticket_mex(ports: str, message: str) -> None:
    with pytest.raises(WebServiceFormatError, match=message):
        parse_webticket_mex(webticket(ports))


# --- hostile bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize("parse", [parse_certprov_mex, parse_webticket_mex])
@pytest.mark.parametrize(("body", "message"), [
    (b"", "empty"),
    (b"<definitions>" + b"x" * MAX_DOCUMENT_BYTES + b"</definitions>", "bytes long"),
    (b'<!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><d>&b;</d>',
     "forbidden XML feature"),
    (b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/hostname">]><d>&x;</d>', "forbidden"),
    (b"<definitions><service>", "not well-formed"),
    (b"\x00<definitions/>", "empty"),
])
def test_hostile_bodies(parse: Callable[[bytes], object], body: bytes, message: str) -> None:
    with pytest.raises(WebServiceFormatError, match=message):
        parse(body)


def test_mex_url_is_plain_concatenation() -> None:
    assert mex_url("https://h/CertProv/CertProvisioningService.svc") == (
        "https://h/CertProv/CertProvisioningService.svc/mex")
