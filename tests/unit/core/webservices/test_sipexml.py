"""SIPE's two XML readers: the prefix-blind tree and the raw extraction; glib base64."""

from __future__ import annotations

import base64

import pytest

from sipe_setup.core.webservices.errors import WebServiceFormatError
from sipe_setup.core.webservices.sipexml import (
    MAX_DOCUMENT_BYTES,
    ascii_equal_ignore_case,
    extract_raw,
    glib_base64_decode,
    parse_tree,
    raw_attribute,
)

# --- the tree ----------------------------------------------------------------------------------


def test_names_lose_their_prefix_and_namespaces_are_ignored() -> None:
    root = parse_tree(b'<a:root xmlns:a="urn:x"><b:child q:Id="1" other="2">t</b:child></a:root>',
                      document="doc")
    assert root.name == "root"
    child = root.child("child")
    assert child is not None
    assert child.attribute("id") == "1"
    assert child.attribute("ID") == "1"
    assert child.attribute("other") == "2"
    assert child.data == "t"


def test_unbound_prefixes_parse_like_sipes_sax1() -> None:
    root = parse_tree(b"<undeclared:root><x:y/></undeclared:root>", document="doc")
    assert root.child("y") is not None


def test_element_names_are_case_sensitive() -> None:
    root = parse_tree(b"<r><Child/></r>", document="doc")
    assert root.child("child") is None
    assert root.child("Child") is not None


def test_path_takes_the_first_match_per_step_without_backtracking() -> None:
    root = parse_tree(b"<r><a><x/></a><a><b>found</b></a></r>", document="doc")
    assert root.child("a/b") is None
    assert [n.data for n in root.all_children("a")] == [None, None]


def test_all_children_lists_twins_of_the_first_parent_only() -> None:
    root = parse_tree(b"<r><s><p n='1'/><q/><p n='2'/></s><s><p n='3'/></s></r>",
                      document="doc")
    assert [p.attribute("n") for p in root.all_children("s/p")] == ["1", "2"]
    assert root.all_children("missing/p") == []


def test_data_is_direct_text_including_tails_entities_decoded() -> None:
    root = parse_tree(b"<r> a<c>inner</c>b &amp; <![CDATA[<c>]]></r>", document="doc")
    assert root.data == " ab & <c>"
    empty = parse_tree(b"<r><c/></r>", document="doc")
    assert empty.data is None


def test_later_attribute_with_the_same_local_name_wins() -> None:
    root = parse_tree(b'<r Id="first" wsu:Id="second"/>', document="doc")
    assert root.attribute("Id") == "second"


def test_body_ends_at_the_first_nul_like_a_c_string() -> None:
    root = parse_tree(b"<r>ok</r>\0<<garbage", document="doc")
    assert root.data == "ok"


@pytest.mark.parametrize("body", [b"", b"   ", b"\0<r/>", b"<r>", b"not xml", b"<a></b>",
                                  b"\xff\xfe<\x00r\x00/\x00>\x00",
                                  b'<?xml version="1.0" encoding="x-unknown"?><r/>'])
def test_unusable_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(WebServiceFormatError, match="the doc "):
        parse_tree(body, document="doc")


def test_size_is_bounded_before_parsing() -> None:
    body = b"<r>" + b" " * MAX_DOCUMENT_BYTES + b"</r>"
    with pytest.raises(WebServiceFormatError, match="bytes long"):
        parse_tree(body, document="doc")


@pytest.mark.parametrize("body", [
    b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><r>&c;</r>',
    b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
    b'<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd"><r/>',
    b"<!DOCTYPE r><r/>",
])
def test_dtds_and_entities_are_refused(body: bytes) -> None:
    with pytest.raises(WebServiceFormatError, match="forbidden XML feature"):
        parse_tree(body, document="doc")


def test_deep_nesting_is_handled_without_recursion() -> None:
    depth = 50_000
    body = b"<a>" * depth + b"x" + b"</a>" * depth
    node = parse_tree(body, document="doc")
    for _ in range(depth - 1):
        node = node.children[0]
    assert node.data == "x"


def test_ascii_case_folding_only() -> None:
    assert ascii_equal_ignore_case("WsFedBearer", "wsfedbearer")
    assert not ascii_equal_ignore_case(None, "x")
    assert not ascii_equal_ignore_case("\u0130d", "id")  # no Unicode folding, as glib


# --- raw extraction ----------------------------------------------------------------------------


def test_exact_tag_first_then_any_prefix() -> None:
    xml = b"<x:T>prefixed</x:T><T a='1'>plain</T>"
    assert extract_raw(xml, "T", include_tag=False) == b"plain"
    assert extract_raw(xml, "T", include_tag=True) == b"<T a='1'>plain</T>"


def test_any_prefix_takes_the_first_colon_match() -> None:
    xml = b"<r><trust:Lifetime><wsu:Created>c</wsu:Created></trust:Lifetime></r>"
    assert extract_raw(xml, "Lifetime", include_tag=False) == b"<wsu:Created>c</wsu:Created>"
    assert extract_raw(xml, "Lifetime", include_tag=True) == (
        b"<trust:Lifetime><wsu:Created>c</wsu:Created></trust:Lifetime>")


def test_exact_match_without_end_falls_back_to_prefixed() -> None:
    xml = b"<T/><p:T>v</p:T>"
    assert extract_raw(xml, "T", include_tag=False) == b"v"


def test_exact_prefix_match_also_hits_longer_names() -> None:
    assert extract_raw(b"<TFoo>x</T>", "T", include_tag=False) == b"x"


def test_matches_inside_comments_count_as_sipe_reads_text() -> None:
    xml = b"<!-- <Lifetime>decoy</Lifetime> --><Lifetime>real</Lifetime>"
    assert extract_raw(xml, "Lifetime", include_tag=False) == b"decoy"


@pytest.mark.parametrize("xml", [b"", b"<r/>", b":T>x</:T>", b"<:T>x</:T>", b"<p:T>x</q:T>"])
def test_nothing_found(xml: bytes) -> None:
    assert extract_raw(xml, "T", include_tag=False) is None


def test_sipes_crash_shape_is_an_error() -> None:
    with pytest.raises(WebServiceFormatError, match="crash"):
        extract_raw(b"<!-- <Lifetime</Lifetime> -->", "Lifetime", include_tag=False)
    with pytest.raises(WebServiceFormatError, match="crash"):
        extract_raw(b"<p:Lifetime</p:Lifetime>", "Lifetime", include_tag=False)


def test_raw_attribute_double_quotes_only() -> None:
    assert raw_attribute(b'<a AssertionID="x&amp;y">', "AssertionID") == b"x&amp;y"
    assert raw_attribute(b"<a AssertionID='x'>", "AssertionID") is None
    assert raw_attribute(b'<a AssertionID="open', "AssertionID") is None
    assert raw_attribute(b'<a xAssertionID="x">', "AssertionID") == b"x"


# --- glib base64 -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    (b"", b""),
    (b"QQ==", b"A"),
    (b"QUI=", b"AB"),
    (b"QUJD", b"ABC"),
    (b"QU JD\r\n", b"ABC"),       # anything outside the alphabet is skipped
    (b"QUJDR", b"ABC"),           # an incomplete last group is dropped
    (b"Q*U*J*D", b"ABC"),
    (b"=AAA", b"\0\0\0"),          # '=' counts as a zero digit
])
def test_glib_base64_decode(text: bytes, expected: bytes) -> None:
    assert glib_base64_decode(text) == expected


def test_glib_base64_decode_agrees_with_strict_base64() -> None:
    data = bytes(range(256))
    assert glib_base64_decode(base64.b64encode(data)) == data
