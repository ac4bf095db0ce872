"""Autodiscover documents from the network: a document or AutodiscoverParseError, in bounded
time, whatever the bytes (XML bombs, deep nesting, huge attributes included)."""

from __future__ import annotations

from hypothesis import event, example, given

from sipe_setup.core.discovery.autodiscover import (
    AutodiscoverParseError,
    parse_autodiscover_document,
)

from .support import budget, corpus, mutated, never_raises_but, within

XML_TOKENS = (b"<?xml version='1.0' encoding='t'?>",
              b"<", b">", b"</", b"/>", b"<!--", b"-->", b"<![CDATA[", b"]]>", b"<?xml ?>",
              b"<!DOCTYPE r [<!ENTITY e 'x'>]>", b"&e;", b"&#0;", b"&#x10FFFF;", b"xmlns:a='u'",
              b"a:", b"{urn}", b"<User>", b"<Root>", b"<Link token='User' href='https://h/'/>",
              b"<Link token='Redirect' href='http://h/'/>", b"AccessLocation='Internal'",
              b"<SipClientInternalAccess fqdn='p.example.test' port='5061'/>",
              b"<SipClientExternalAccess fqdn='e' port='0'/>", b"port='99999'", b"fqdn=''",
              b"\xef\xbb\xbf", b"encoding='utf-16'")
documents = mutated([corpus("autodiscover-user.xml"), corpus("autodiscover-root.xml")],
                    XML_TOKENS, max_size=32 * 1024)


@budget(1000)
@given(body=documents)
@example(body=b'<?xml version="" encoding="t"?>')  # was LookupError (unknown encoding)
def test_autodiscover_document_raises_only_parse_error(body: bytes) -> None:
    document = never_raises_but(AutodiscoverParseError, lambda: parse_autodiscover_document(body))
    event("parsed" if document is not None else "refused")
    if document is not None:
        assert len(document.servers) <= 16
        for server in document.servers:
            assert server.fqdn and 0 < server.port < 65536


def test_hostile_documents_are_refused_in_bounded_time() -> None:
    laughs = (b"<?xml version='1.0'?><!DOCTYPE l [<!ENTITY a 'aaaaaaaaaa'>"
              + b"".join(b"<!ENTITY %c '%s'>" % (98 + i, b"&" + bytes([97 + i]) + b";" * 1) * 1
                         for i in range(8))
              + b"]><AutodiscoverResponse>&i;</AutodiscoverResponse>")
    deep = b"<AutodiscoverResponse>" + b"<a>" * 50000 + b"</a>" * 50000 + \
        b"</AutodiscoverResponse>"
    wide = (b"<AutodiscoverResponse><User>"
            + b"<SipClientInternalAccess fqdn='p.example.test' port='5061'/>" * 4000
            + b"</User></AutodiscoverResponse>")
    attribute = b"<AutodiscoverResponse a='" + b"x" * (256 * 1024) + b"'/>"
    for body in (laughs, deep, wide, attribute, b"\xff\xfe<\0A\0", b""):
        with within(3.0):
            document = never_raises_but(AutodiscoverParseError,
                                        lambda b=body: parse_autodiscover_document(b))
        if document is not None:
            assert len(document.servers) <= 16
