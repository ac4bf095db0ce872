"""The two ways SIPE 1.25.0 reads a web service response, reproduced on hostile bytes.

1. **As a tree** (``sipe-xml.c``: ``sipe_xml_parse`` + ``sipe_xml_child``/``_twin``/``_attribute``/
   ``_data``), used for the mex documents, SOAP faults and the GetAndPublishCert response:

   - libxml2 runs without namespace processing (SAX1 callbacks): an element's name is its
     qualified name with everything up to the first ``:`` dropped; the namespace itself is never
     looked at. Element names compare case-sensitively.
   - Attribute names are stripped the same way and looked up ASCII-case-insensitively; when two
     attributes end up with the same name, the later one wins.
   - A node's *data* is the character data directly inside it (its text plus the text after
     each child), entities decoded, not stripped; ``None`` when there is none at all.
   - A path ``a/b/c`` takes the **first** child with each name and never backtracks.

   Here the parse runs on defusedxml's expat SAX reader with namespaces off, which sees names
   exactly as SIPE's libxml2 callbacks do.

2. **As raw text** (``sipe_xml_extract_raw``), used for the web ticket (RSTR): ``<T`` is searched
   first, and only if that finds no ``</T>`` after it, the first ``:T`` with its prefix. Pieces
   are cut out of the bytes verbatim (not decoded, not canonicalized).

Both see the body as SIPE's HTTP layer hands it over: a C string, so it ends at the first NUL.

Invariants:
- A body longer than :data:`MAX_DOCUMENT_BYTES` is refused before any parsing.
- DTDs, entity declarations and external references are refused (no entity expansion, no
  network, no file access); malformed XML is refused.
- Nothing here raises anything but :class:`WebServiceFormatError` on any input bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final
from xml.sax import SAXException
from xml.sax.handler import ContentHandler, ErrorHandler
from xml.sax.xmlreader import AttributesImpl

import defusedxml.sax
from defusedxml import DefusedXmlException

from .errors import WebServiceFormatError

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "XmlNode",
    "ascii_equal_ignore_case",
    "c_string",
    "extract_raw",
    "glib_base64_decode",
    "parse_tree",
    "raw_attribute",
]

MAX_DOCUMENT_BYTES: Final = 1024 * 1024
"""Largest body accepted (real Lync mex documents and tickets are a few kB to tens of kB)."""

_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_equal_ignore_case(left: str | None, right: str) -> bool:
    """``g_ascii_strcasecmp(left, right) == 0`` (only A-Z fold; ``None`` never matches)."""
    return left is not None and left.translate(_ASCII_LOWER) == right.translate(_ASCII_LOWER)


def c_string(body: bytes, *, document: str) -> bytes:
    """The body as SIPE sees it: bounded in size, cut at the first NUL byte.

    Raises:
        WebServiceFormatError: the body is larger than :data:`MAX_DOCUMENT_BYTES`.
    """
    if len(body) > MAX_DOCUMENT_BYTES:
        raise WebServiceFormatError(
            f"the {document} is {len(body)} bytes long; more than {MAX_DOCUMENT_BYTES} bytes "
            "is refused")
    nul = body.find(b"\0")
    return body if nul < 0 else body[:nul]


# --- the tree ----------------------------------------------------------------------------------


def _local(qualified: str) -> str:
    """SIPE's name: everything after the first ``:`` (the whole name when there is none)."""
    return qualified.split(":", 1)[1] if ":" in qualified else qualified


@dataclass(eq=False)
class XmlNode:
    """One element as SIPE's ``sipe_xml`` holds it.

    Attributes:
        name: the element name without its prefix (case kept).
        attributes: attribute values keyed by ASCII-lower-cased name without prefix.
        data: the character data directly inside the element, or ``None`` if there is none.
        children: child elements in document order.
    """

    name: str
    attributes: dict[str, str] = field(default_factory=dict)
    data: str | None = None
    children: list[XmlNode] = field(default_factory=list)

    def child(self, path: str) -> XmlNode | None:
        """``sipe_xml_child``: the first child named like each step of ``a/b/c``, or ``None``."""
        node = self
        for step in path.split("/"):
            found = next((c for c in node.children if c.name == step), None)
            if found is None:
                return None
            node = found
        return node

    def all_children(self, path: str) -> list[XmlNode]:
        """``sipe_xml_child`` + ``sipe_xml_twin``: the node ``path`` finds and its later
        siblings with the same name (so: every child of the found node's parent so named)."""
        parent_path, _, last = path.rpartition("/")
        parent = self.child(parent_path) if parent_path else self
        if parent is None:
            return []
        return [c for c in parent.children if c.name == last]

    def attribute(self, name: str) -> str | None:
        """``sipe_xml_attribute``: the value of ``name`` (prefix-less, ASCII case-insensitive)."""
        return self.attributes.get(name.translate(_ASCII_LOWER))


class _TreeBuilder(ContentHandler):
    """Builds :class:`XmlNode` objects from SAX events, the way SIPE's callbacks do."""

    def __init__(self) -> None:
        super().__init__()
        self.root: XmlNode | None = None
        self._stack: list[tuple[XmlNode, list[str]]] = []  # open elements + their text

    def startElement(self, name: str, attrs: AttributesImpl) -> None:
        attributes: dict[str, str] = {}
        for key, value in attrs.items():
            attributes[_local(key).translate(_ASCII_LOWER)] = value
        node = XmlNode(_local(name), attributes)
        if self._stack:
            self._stack[-1][0].children.append(node)
        else:
            self.root = node
        self._stack.append((node, []))

    def endElement(self, name: str) -> None:
        node, pieces = self._stack.pop()
        if pieces:
            node.data = "".join(pieces)

    def characters(self, content: str) -> None:
        if content and self._stack:
            self._stack[-1][1].append(content)


class _RaisingErrorHandler(ErrorHandler):
    """Every parser complaint, warnings included, ends the parse (SIPE drops the document)."""

    def warning(self, exception: BaseException) -> None:
        raise exception


def parse_tree(body: bytes, *, document: str) -> XmlNode:
    """Parse ``body`` as SIPE's ``sipe_xml_parse`` would, with untrusted input bounded.

    Args:
        body: the HTTP body.
        document: what the body is, for the error message ("web ticket service metadata").

    Raises:
        WebServiceFormatError: too large, empty, not well-formed, or using a DTD/entities.
    """
    text = c_string(body, document=document)
    if not text.strip():
        raise WebServiceFormatError(f"the {document} is empty")
    builder = _TreeBuilder()
    try:
        defusedxml.sax.parseString(text, builder, errorHandler=_RaisingErrorHandler(),
                                   forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise WebServiceFormatError(
            f"the {document} uses a forbidden XML feature ({type(exc).__name__}: DTDs and "
            "entities are refused)") from None
    except (SAXException, ValueError, LookupError) as exc:
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise WebServiceFormatError(
            f"the {document} is not well-formed XML ({reason})") from None
    if builder.root is None:
        raise WebServiceFormatError(f"the {document} has no XML element")
    return builder.root


# --- raw extraction ----------------------------------------------------------------------------


def _inner_start(xml: bytes, after: int, end: int, tag: str) -> int:
    """Where SIPE's inner text starts: just after the next ``>``; refuse SIPE's crash case."""
    start = xml.find(b">", after) + 1  # always found: the end tag itself holds a '>'
    if start > end:
        raise WebServiceFormatError(
            f"the <{tag}> element is malformed in a way that makes SIPE 1.25.0 crash "
            "(its start tag runs into its end tag)")
    return start


def _extract_exact(xml: bytes, tag: str, *, include_tag: bool) -> bytes | None:
    opening = b"<" + tag.encode()
    closing = b"</" + tag.encode() + b">"
    start = xml.find(opening)
    if start < 0:
        return None
    end = xml.find(closing, start + len(opening))
    if end < 0:
        return None
    if include_tag:
        return xml[start:end + len(closing)]
    return xml[_inner_start(xml, start + len(opening), end, tag):end]


def _extract_any(xml: bytes, tag: str, *, include_tag: bool) -> bytes | None:
    marker = b":" + tag.encode()
    start = xml.find(marker)
    if start < 0:
        return None
    lt = xml.rfind(b"<", 0, start)
    if lt < 0 or lt == start - 1:  # no '<' before it, or no prefix between '<' and ':'
        return None
    closing = b"</" + xml[lt + 1:start + 1] + tag.encode() + b">"
    end = xml.find(closing, start + len(marker))
    if end < 0:
        return None
    if include_tag:
        return xml[lt:end + len(closing)]
    return xml[_inner_start(xml, start + len(marker), end, tag):end]


def extract_raw(xml: bytes, tag: str, *, include_tag: bool) -> bytes | None:
    """``sipe_xml_extract_raw``: the first ``T`` element as raw bytes, or ``None``.

    ``<T`` is tried first (note: this also matches ``<TFoo``); if it has no ``</T>`` after it,
    the first ``:T`` anywhere is taken, its prefix read back to the ``<`` before it, and
    ``</prefix:T>`` searched after it. With ``include_tag`` the whole element is returned,
    otherwise what lies between the first ``>`` after the name and the end tag.

    Raises:
        WebServiceFormatError: the one shape on which SIPE's C code crashes (``<T</T>``).
    """
    found = _extract_exact(xml, tag, include_tag=include_tag)
    if found is None:
        found = _extract_any(xml, tag, include_tag=include_tag)
    return found


def raw_attribute(xml: bytes, name: str) -> bytes | None:
    """SIPE's ``extract_raw_xml_attribute``: text between the first ``name="`` and the next
    ``"`` (double quotes only; ``xname="`` matches too), or ``None``."""
    marker = name.encode() + b'="'
    start = xml.find(marker)
    if start < 0:
        return None
    value_start = start + len(marker)
    end = xml.find(b'"', value_start)
    return None if end < 0 else xml[value_start:end]


# --- glib base64 -------------------------------------------------------------------------------

_B64_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_RANK: Final = {byte: rank for rank, byte in enumerate(_B64_ALPHABET)} | {ord("="): 0}


def glib_base64_decode(text: bytes) -> bytes:
    """``g_base64_decode``: lenient base64 as SIPE decodes entropy and certificates.

    Bytes outside the alphabet (white space, line breaks, anything) are skipped; ``=`` counts
    as a zero digit that suppresses output bytes at the end of its group of four; an incomplete
    last group is dropped. Never fails.
    """
    out = bytearray()
    value = 0
    count = 0
    last = [0, 0]
    for byte in text:
        rank = _B64_RANK.get(byte)
        if rank is None:
            continue
        last = [byte, last[0]]
        value = ((value << 6) | rank) & 0xFFFFFF
        count += 1
        if count == 4:
            out.append(value >> 16)
            if last[1] != ord("="):
                out.append((value >> 8) & 0xFF)
            if last[0] != ord("="):
                out.append(value & 0xFF)
            count = 0
    return bytes(out)
