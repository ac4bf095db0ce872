"""Parsing autodiscover documents as SIPE does, and refusing hostile XML (no network)."""

from __future__ import annotations

import pytest

from sipe_setup.core.discovery import (
    AutodiscoverParseError,
    AutodiscoverServer,
    parse_autodiscover_document,
)
from tests.servers.autodiscover import root_document, user_document


def test_root_document_user_link() -> None:
    doc = parse_autodiscover_document(root_document(user_href="https://web.example.test/user"))
    assert (doc.link_kind, doc.link_href) == ("User", "https://web.example.test/user")


def test_root_redirect_wins_when_first() -> None:
    body = (b'<AutodiscoverResponse><Root><Link token="Redirect" href="https://a/"/>'
            b'<Link token="User" href="https://b/"/></Root></AutodiscoverResponse>')
    doc = parse_autodiscover_document(body)
    assert (doc.link_kind, doc.link_href) == ("Redirect", "https://a/")


def test_user_document_servers_internal_then_external() -> None:
    doc = parse_autodiscover_document(user_document(internal=("pool.example.test", 5061),
                                                    external=("edge.example.test", 443)))
    assert doc.link_kind == ""
    assert doc.servers == (AutodiscoverServer("pool.example.test", 5061, True),
                           AutodiscoverServer("edge.example.test", 443, False))


@pytest.mark.parametrize(("location", "expected"), [
    ("Internal", [True]), ("External", [False]), ("", [True, False])])
def test_access_location_filters(location: str, expected: list[bool]) -> None:
    doc = parse_autodiscover_document(user_document(
        internal=("pool.example.test", 5061), external=("edge.example.test", 443),
        access_location=location))
    assert [s.internal for s in doc.servers] == expected


def test_user_redirect_link() -> None:
    doc = parse_autodiscover_document(user_document(redirect_href="https://other/"))
    assert (doc.link_kind, doc.link_href) == ("Redirect", "https://other/")


def test_server_entries_missing_port_or_zero_are_ignored() -> None:
    body = (b'<AutodiscoverResponse><User><SipClientInternalAccess fqdn="a.example.test"/>'
            b'<SipClientInternalAccess fqdn="b.example.test" port="0"/>'
            b'<SipClientExternalAccess port="443"/>'
            b'<SipClientExternalAccess fqdn="c.example.test" port="443"/></User>'
            b'</AutodiscoverResponse>')
    doc = parse_autodiscover_document(body)
    assert doc.servers == (AutodiscoverServer("c.example.test", 443, False),)


def test_namespaced_document_is_understood() -> None:
    body = (b'<a:AutodiscoverResponse xmlns:a="urn:x"><a:User><a:SipClientExternalAccess '
            b'fqdn="edge.example.test" port="443"/></a:User></a:AutodiscoverResponse>')
    assert parse_autodiscover_document(body).servers[0].fqdn == "edge.example.test"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<AutodiscoverResponse><User>&lol3;</User></AutodiscoverResponse>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<AutodiscoverResponse>&x;</AutodiscoverResponse>"""


@pytest.mark.parametrize("body", [
    b"", b"not xml at all", b"<AutodiscoverResponse><User>", BILLION_LAUGHS, EXTERNAL_ENTITY,
    b"<html><body>Sign in</body></html>", b"\xff\xfe\x00<", b'{"json": true}',
])
def test_hostile_or_broken_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(AutodiscoverParseError):
        parse_autodiscover_document(body)


def test_document_without_user_or_links_is_empty() -> None:
    doc = parse_autodiscover_document(b"<AutodiscoverResponse><Root/></AutodiscoverResponse>")
    assert doc.link_kind == "" and doc.servers == () and not doc.has_user
