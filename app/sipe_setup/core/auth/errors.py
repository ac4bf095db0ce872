"""Errors of the authentication layer, split by whose fault they are (h11 style).

- :class:`AuthProtocolError`: the *server* sent auth data we cannot use (malformed challenge,
  token, missing parameter). Report it as a server problem.
- :class:`UnsupportedChallengeError`: the server's challenge is well formed but asks for
  something SIPE (and so we) cannot do.
- :class:`ServerSignatureError`: a server message carried a signature (``rspauth``) that does not
  verify — SIPE's fatal "Invalid message signature received".
- :class:`AuthUsageError`: *we* called the authenticator wrongly (a bug in our caller).

None of these ever carries a password or key material in its message.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "AuthProtocolError",
    "AuthUsageError",
    "ServerSignatureError",
    "UnsupportedChallengeError",
]


class AuthError(Exception):
    """Base of all authentication errors."""


class AuthProtocolError(AuthError):
    """The peer sent malformed or incomplete authentication data."""


class UnsupportedChallengeError(AuthError):
    """The peer's challenge is valid but not one we can answer the way SIPE does."""


class ServerSignatureError(AuthError):
    """A server message's ``rspauth`` signature does not match (message forged or altered)."""


class AuthUsageError(AuthError):
    """The authenticator was used out of order or with wrong arguments (our bug)."""
