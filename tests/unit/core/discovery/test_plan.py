"""The discovery plan follows SIPE's order exactly (reference §1.1–1.4); no network."""

from __future__ import annotations

import pytest

from sipe_setup.core.account import Transport, parse_account
from sipe_setup.core.discovery import (
    CandidateSource,
    build_plan,
    connect_transport,
    is_inside_domain,
    parse_nameserver,
    recommended_records,
)
from sipe_setup.core.discovery.dns import Nameserver

SRV_NAMES = {
    "auto": [("_sipinternaltls._tcp.example.test", Transport.TLS),
             ("_sipinternal._tcp.example.test", Transport.TCP),
             ("_sip._tls.example.test", Transport.TLS),
             ("_sip._tcp.example.test", Transport.TCP)],
    "tls": [("_sipinternaltls._tcp.example.test", Transport.TLS),
            ("_sip._tls.example.test", Transport.TLS)],
    "tcp": [("_sipinternal._tcp.example.test", Transport.TCP),
            ("_sip._tcp.example.test", Transport.TCP)],
}


@pytest.mark.parametrize("transport", ["auto", "tls", "tcp"])
def test_srv_names_and_transports_per_connection_type(transport: str) -> None:
    plan = build_plan(parse_account("alice@Example.Test", transport=transport))
    assert [(s.name, s.transport) for s in plan.srv] == SRV_NAMES[transport]


@pytest.mark.parametrize(("transport", "connect", "domain_port"),
                         [("auto", Transport.TLS, 5061), ("tls", Transport.TLS, 5061),
                          ("tcp", Transport.TCP, 5060)])
def test_address_fallbacks_then_bare_domain(transport: str, connect: Transport,
                                            domain_port: int) -> None:
    plan = build_plan(parse_account("alice@example.test", transport=transport))
    assert [(a.name, a.port, a.transport, a.source) for a in plan.addresses] == [
        ("sipinternal.example.test", 5061, connect, CandidateSource.A_RECORD),
        ("sipexternal.example.test", 443, connect, CandidateSource.A_RECORD),
        ("sip.example.test", 443, connect, CandidateSource.A_RECORD),
        ("example.test", domain_port, connect, CandidateSource.DOMAIN),
    ]


@pytest.mark.parametrize("transport", ["auto", "tls", "tcp"])
def test_autodiscover_internal_before_external_https_and_http(transport: str) -> None:
    plan = build_plan(parse_account("alice@example.test", transport=transport))
    assert [s.url for s in plan.autodiscover] == [
        "https://LyncDiscoverInternal.example.test/?sipuri=alice@example.test",
        "http://LyncDiscoverInternal.example.test/?sipuri=alice@example.test",
        "https://LyncDiscover.example.test/?sipuri=alice@example.test",
        "http://LyncDiscover.example.test/?sipuri=alice@example.test",
    ]
    assert [s.internal for s in plan.autodiscover] == [True, True, False, False]
    assert plan.autodiscover_hosts == ("lyncdiscoverinternal.example.test",
                                       "lyncdiscover.example.test")
    assert plan.manual is None


def test_idn_domain_uses_ascii_form() -> None:
    plan = build_plan(parse_account("anna@bücher.example"))
    assert plan.srv[0].name == "_sipinternaltls._tcp.xn--bcher-kva.example"
    assert plan.addresses[-1].name == "xn--bcher-kva.example"


@pytest.mark.parametrize(("server", "transport", "host", "port", "connect"), [
    ("sip.example.test", "auto", "sip.example.test", 5061, Transport.TLS),
    ("sip.example.test", "tcp", "sip.example.test", 5060, Transport.TCP),
    ("sip.example.test:443", "auto", "sip.example.test", 443, Transport.TLS),
    ("sip.example.test:5070", "tcp", "sip.example.test", 5070, Transport.TCP),
    ("127.0.0.1", "tls", "127.0.0.1", 5061, Transport.TLS),
])
def test_manual_server_skips_discovery(server: str, transport: str, host: str, port: int,
                                       connect: Transport) -> None:
    plan = build_plan(parse_account("alice@example.test", server=server, transport=transport))
    assert plan.manual is not None
    assert (plan.manual.host, plan.manual.port, plan.manual.transport) == (host, port, connect)
    assert plan.manual.source is CandidateSource.MANUAL
    assert plan.autodiscover == () and plan.srv == () and plan.addresses == ()
    assert plan.manual.outside_domain is False


def test_manual_server_outside_domain_is_flagged() -> None:
    plan = build_plan(parse_account("alice@example.test", server="sipdir.online.lync.com:443"))
    assert plan.manual is not None and plan.manual.outside_domain


@pytest.mark.parametrize(("host", "inside"), [
    ("example.test", True), ("pool.example.test", True), ("POOL.Example.Test.", True),
    ("a.b.example.test", True), ("badexample.test", False), ("example.test.evil", False),
    ("sipdir.online.lync.com", False),
])
def test_strict_naming_rule(host: str, inside: bool) -> None:
    assert is_inside_domain(host, "example.test") is inside


def test_connect_transport_auto_is_tls() -> None:
    assert connect_transport(Transport.AUTO) is Transport.TLS
    assert connect_transport(Transport.TCP) is Transport.TCP


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1", Nameserver("127.0.0.1", 53)),
    ("127.0.0.1:5353", Nameserver("127.0.0.1", 5353)),
    ("[::1]:5353", Nameserver("::1", 5353)),
    ("::1", Nameserver("::1", 53)),
])
def test_parse_nameserver(text: str, expected: Nameserver) -> None:
    assert parse_nameserver(text) == expected


@pytest.mark.parametrize("text", ["dns.example.test", "127.0.0.1:0", "127.0.0.1:x",
                                  "127.0.0.1:70000", "[::1", ""])
def test_parse_nameserver_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_nameserver(text)


def test_recommended_records_name_the_domain() -> None:
    records = recommended_records("example.test")
    assert "_sipinternaltls._tcp.example.test. SRV 0 0 5061 pool.example.test." in records
    assert "_sip._tls.example.test. SRV 0 0 443 sip.example.test." in records
    assert any(r.startswith("lyncdiscover.example.test.") for r in records)
    assert any(r.startswith("sip.example.test. A") for r in records)
