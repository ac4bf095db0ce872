"""Exclusive XML Canonicalization 1.0 (without comments) of one element, as a server checks it.

SIPE 1.25.0 digests its own *raw* ``wsu:Timestamp`` string; a server that verifies the
signature (WCF does) digests the exc-c14n form of that element as it stands in SIPE's request.
The two agree only when the raw string already is canonical. This module computes the
canonical form so the pipeline can tell (reference tls-dsk.md §1.3.2).

Rules implemented (W3C exc-c14n 1.0, no InclusiveNamespaces PrefixList):
- Namespace declarations are rendered only for prefixes an element *visibly uses* (its own
  prefix, or the default namespace for an unprefixed element, and its attributes' prefixes),
  and only when the nearest rendering ancestor did not already render the same binding;
  ``xmlns=""`` appears only to undo a default rendered above. Declarations come first, sorted
  by prefix, then attributes sorted by (namespace URI, local name).
- Empty elements become start/end pairs; attribute values use ``"``; text escapes ``& < >``
  and CR, attribute values escape ``& < "`` TAB LF CR. Comments go, PIs stay, CDATA becomes
  escaped text, character and entity references are expanded, line ends are normalized.

Invariants:
- Input is bounded by the caller (it comes out of a size-bounded document) and parsed with
  defusedxml (no DTD, no entities); processing is iterative (no recursion on hostile depth).
- ``None`` — never an exception — when the text is not namespace-well-formed XML (for example
  an unbound prefix), i.e. when a server could not even parse it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from xml.sax import SAXException
from xml.sax.handler import ContentHandler, ErrorHandler
from xml.sax.saxutils import quoteattr
from xml.sax.xmlreader import AttributesImpl

import defusedxml.sax
from defusedxml import DefusedXmlException

__all__ = ["exclusive_c14n"]

XML_NAMESPACE: Final = "http://www.w3.org/XML/1998/namespace"
_WRAPPER: Final = "c14n-context"


class _NotNamespaceWellFormed(Exception):
    """Raised inside the SAX callbacks; turned into ``None`` by :func:`exclusive_c14n`."""


def _escape_text(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#xD;"))


def _escape_attribute(value: str) -> str:
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
            .replace("\t", "&#x9;").replace("\n", "&#xA;").replace("\r", "&#xD;"))


def _split(qualified: str) -> tuple[str, str]:
    """(prefix, local) of a QName; refuses what XML Namespaces 1.0 refuses."""
    prefix, colon, local = qualified.partition(":")
    if not colon:
        return "", qualified
    if not prefix or not local or ":" in local:
        raise _NotNamespaceWellFormed
    return prefix, local


class _Canonicalizer(ContentHandler):
    """Streams the canonical form of the first element inside the wrapper element."""

    def __init__(self, context: Mapping[str, str]) -> None:
        super().__init__()
        self.out: list[str] = []
        self.done = False
        # Per open element: (qualified name, in-scope bindings, bindings rendered so far).
        self._stack: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self._context = {"": "", **context, "xml": XML_NAMESPACE}

    @property
    def _capturing(self) -> bool:
        return len(self._stack) >= 2 and not self.done

    def startElement(self, name: str, attrs: AttributesImpl) -> None:
        if self.done:
            self._stack.append((name, {}, {}))
            return
        in_scope = dict(self._stack[-1][1]) if self._stack else dict(self._context)
        plain: list[tuple[str, str]] = []
        for key, value in attrs.items():
            if key == "xmlns":
                in_scope[""] = value
            elif key.startswith("xmlns:"):
                prefix = key[len("xmlns:"):]
                binds_xml = (prefix == "xml") != (value == XML_NAMESPACE)
                if prefix in ("", "xmlns") or not value or binds_xml:
                    raise _NotNamespaceWellFormed
                in_scope[prefix] = value
            else:
                plain.append((key, value))
        if not self._stack:  # the wrapper: only sets the scope
            self._stack.append((name, in_scope, {"": ""}))
            return
        rendered = dict(self._stack[-1][2])
        used = {self._prefix_of(name, in_scope)}
        keyed: dict[tuple[str, str], tuple[str, str]] = {}
        for key, value in plain:
            prefix, local = _split(key)
            uri = in_scope.get(prefix, "") if prefix else ""
            if prefix:
                if prefix not in in_scope:
                    raise _NotNamespaceWellFormed
                used.add(prefix)
            if (uri, local) in keyed:
                raise _NotNamespaceWellFormed
            keyed[(uri, local)] = (key, value)
        declarations = []
        for prefix in sorted(used - {"xml"}):
            uri = in_scope.get(prefix, "")
            if rendered.get(prefix, "" if prefix == "" else None) != uri:
                declarations.append(("xmlns" if not prefix else f"xmlns:{prefix}", uri))
                rendered[prefix] = uri
        self._stack.append((name, in_scope, rendered))
        parts = [f"<{name}"]
        parts += [f' {key}="{_escape_attribute(uri)}"' for key, uri in declarations]
        parts += [f' {key}="{_escape_attribute(value)}"' for key, value in
                  (keyed[k] for k in sorted(keyed))]
        self.out.append("".join(parts) + ">")

    @staticmethod
    def _prefix_of(name: str, in_scope: Mapping[str, str]) -> str:
        prefix, _ = _split(name)
        if prefix and prefix not in in_scope:
            raise _NotNamespaceWellFormed
        return prefix

    def endElement(self, name: str) -> None:
        if self._capturing:
            self.out.append(f"</{name}>")
            if len(self._stack) == 2:
                self.done = True
        self._stack.pop()

    def characters(self, content: str) -> None:
        if self._capturing:
            self.out.append(_escape_text(content))

    def processingInstruction(self, target: str, data: str) -> None:
        if self._capturing:
            self.out.append(f"<?{target} {data}?>" if data else f"<?{target}?>")


class _RaisingErrorHandler(ErrorHandler):
    def warning(self, exception: BaseException) -> None:
        raise exception


def exclusive_c14n(fragment: str, context: Mapping[str, str]) -> str | None:
    """The exc-c14n form of the first element in ``fragment``.

    Args:
        fragment: XML text starting with (or containing) the element, e.g. SIPE's Timestamp.
        context: prefix → namespace URI bindings in scope where the fragment stands (in SIPE's
            requests: the declarations on ``soap:Envelope``); no default namespace is in scope.

    Returns:
        The canonical text, or ``None`` if the fragment is not namespace-well-formed XML there.
    """
    opening = "".join(f" xmlns:{prefix}={quoteattr(uri)}" for prefix, uri in context.items())
    document = f"<{_WRAPPER}{opening}>{fragment}</{_WRAPPER}>".encode()
    handler = _Canonicalizer(context)
    try:
        defusedxml.sax.parseString(document, handler, errorHandler=_RaisingErrorHandler(),
                                   forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (_NotNamespaceWellFormed, DefusedXmlException, SAXException, ValueError,
            LookupError):
        return None
    return "".join(handler.out) if handler.done else None
