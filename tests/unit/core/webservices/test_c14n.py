"""Exclusive XML Canonicalization 1.0 of one element (what a WCF-like verifier digests)."""

from __future__ import annotations

import pytest

from sipe_setup.core.webservices.c14n import exclusive_c14n
from sipe_setup.core.webservices.soap import SIPE_ENVELOPE_NAMESPACES

WSU = SIPE_ENVELOPE_NAMESPACES["wsu"]
TS_OPEN = f'<wsu:Timestamp xmlns:wsu="{WSU}" wsu:Id="timestamp">'


def c14n(fragment: str) -> str | None:
    return exclusive_c14n(fragment, SIPE_ENVELOPE_NAMESPACES)


def test_canonical_timestamp_is_unchanged() -> None:
    ts = (f"{TS_OPEN}<wsu:Created>2026-11-29T18:26:40.697Z</wsu:Created>"
          "<wsu:Expires>2026-11-30T02:26:40.697Z</wsu:Expires></wsu:Timestamp>")
    assert c14n(ts) == ts


def test_redundant_declarations_on_children_are_dropped() -> None:
    ts = (f'{TS_OPEN}<wsu:Created xmlns:wsu="{WSU}">c</wsu:Created>'
          f'<wsu:Expires xmlns:wsu="{WSU}">e</wsu:Expires></wsu:Timestamp>')
    assert c14n(ts) == (f"{TS_OPEN}<wsu:Created>c</wsu:Created>"
                        "<wsu:Expires>e</wsu:Expires></wsu:Timestamp>")


def test_prefix_bound_only_in_sipes_envelope_gets_declared() -> None:
    ts = f"{TS_OPEN}<wsse:Nonce>n</wsse:Nonce></wsu:Timestamp>"
    wsse = SIPE_ENVELOPE_NAMESPACES["wsse"]
    assert c14n(ts) == f'{TS_OPEN}<wsse:Nonce xmlns:wsse="{wsse}">n</wsse:Nonce></wsu:Timestamp>'


def test_unbound_prefix_cannot_be_parsed_by_a_server() -> None:
    assert c14n(f"{TS_OPEN}<u:Created>c</u:Created></wsu:Timestamp>") is None


def test_unused_declarations_vanish_and_attributes_are_sorted() -> None:
    text = ('<a:e xmlns:z="urn:z" xmlns:a="urn:a" xmlns:b="urn:b" b:y="1" x=\'2\' a:x="3">'
            "<a:f/></a:e>")
    assert exclusive_c14n(text, {}) == (
        '<a:e xmlns:a="urn:a" xmlns:b="urn:b" x="2" a:x="3" b:y="1"><a:f></a:f></a:e>')


def test_default_namespace_rules() -> None:
    assert exclusive_c14n('<e xmlns="urn:d"><f/><g xmlns=""/></e>', {}) == (
        '<e xmlns="urn:d"><f></f><g xmlns=""></g></e>')
    assert exclusive_c14n('<e xmlns=""><f/></e>', {}) == "<e><f></f></e>"


def test_text_and_attribute_escaping() -> None:
    text = '<e a="&lt;&amp;&quot;&#9;&#10;&#13;>">x &gt; y &amp; &#13;&lt;\r\n</e>'
    assert exclusive_c14n(text, {}) == (
        '<e a="&lt;&amp;&quot;&#x9;&#xA;&#xD;>">x &gt; y &amp; &#xD;&lt;\n</e>')


def test_comments_go_cdata_becomes_text_pis_stay() -> None:
    assert exclusive_c14n("<e><!-- c --><![CDATA[<&>]]><?pi data?><?p?></e>", {}) == (
        "<e>&lt;&amp;&gt;<?pi data?><?p?></e>")


def test_xml_prefix_is_never_declared() -> None:
    assert exclusive_c14n('<e xml:lang="en"/>', {}) == '<e xml:lang="en"></e>'


def test_only_the_first_element_counts() -> None:
    assert exclusive_c14n("<a/><b/>", {}) == "<a></a>"
    assert exclusive_c14n("text only", {}) is None


def test_sipes_signed_info_canonical_form() -> None:
    original = (
        '<SignedInfo xmlns="http://www.w3.org/2000/09/xmldsig#">'
        '<CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
        '<SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1"/>'
        '<Reference URI="#timestamp"><Transforms>'
        '<Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></Transforms>'
        '<DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/>'
        "<DigestValue>e8vseSEbSILhIeO6zbyfzA+CjL8=</DigestValue></Reference></SignedInfo>")
    canonical = (  # as libxml2 produced it in tlsdsk-signin.wire.txt
        '<SignedInfo xmlns="http://www.w3.org/2000/09/xmldsig#">'
        '<CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#">'
        "</CanonicalizationMethod>"
        '<SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1">'
        "</SignatureMethod><Reference URI=\"#timestamp\"><Transforms>"
        '<Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"></Transform>'
        "</Transforms>"
        '<DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"></DigestMethod>'
        "<DigestValue>e8vseSEbSILhIeO6zbyfzA+CjL8=</DigestValue></Reference></SignedInfo>")
    assert exclusive_c14n(original, {}) == canonical


@pytest.mark.parametrize("fragment", [
    '<e xmlns:p=""/>', "<p:/>", "<:e/>", "<a:b:c xmlns:a='urn:a'/>", '<e xmlns:xml="urn:x"/>',
    '<e xmlns:q="http://www.w3.org/XML/1998/namespace"/>', '<e xmlns:xmlns="urn:x"/>',
    '<e xmlns:a="urn:x" xmlns:b="urn:x" a:k="1" b:k="2"/>', "<e", "<!DOCTYPE e><e/>",
])
def test_not_namespace_well_formed_is_none(fragment: str) -> None:
    assert exclusive_c14n(fragment, {}) is None


def test_deep_nesting_is_streamed() -> None:
    depth = 20_000
    text = "<a>" * depth + "</a>" * depth
    assert exclusive_c14n(text, {}) == text
