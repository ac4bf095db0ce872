"""Errors of the Lync web services layer, split by whose fault they are (h11 style).

- :class:`WebServiceFormatError`: the *server* sent a document we (and SIPE 1.25.0) cannot use —
  malformed or hostile XML, a missing element, an unusable URL, a certificate that is not one.
  The message says in plain words what was missing and in which document.
- Wrong arguments from our own caller (an empty entropy, a sign-in NSS cannot put into a
  subject name) raise a plain :class:`ValueError`: that is a bug or a form error, not the peer.

Invariant: no message ever carries a password, key, entropy or SAML assertion. Text the server
wrote (a SOAP fault) may be quoted, shortened.
"""

from __future__ import annotations

__all__ = ["WebServiceFormatError"]


class WebServiceFormatError(ValueError):
    """A web service document from the peer is unusable; ``str()`` says why, in plain words."""
