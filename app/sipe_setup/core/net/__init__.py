"""Every socket and HTTP request under one policy.

Today: the bounded HTTP client shared by Lync autodiscover and the Lync web services
(:mod:`sipe_setup.core.net.http`), with its parts beside it: :mod:`~sipe_setup.core.net.url`
(URL parsing), :mod:`~sipe_setup.core.net.headers`, :mod:`~sipe_setup.core.net.errors` (the
:class:`HttpError` family), :mod:`~sipe_setup.core.net.http_auth` (HTTP credentials and
authentication) and :mod:`~sipe_setup.core.net.connection` (one h11 connection, internal).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import (
        HttpConnectError,
        HttpDnsError,
        HttpError,
        HttpErrorKind,
        HttpProtocolError,
        HttpTimeout,
        HttpTlsError,
        HttpTooLarge,
        HttpUrlError,
    )
    from .headers import HttpHeaders
    from .http import BoundedHttpClient, HostResolver, HttpExchange, HttpLimits, HttpResponse
    from .http_auth import HttpAuthOutcome, HttpCredentials
    from .url import ParsedUrl, parse_url

# Each name from the module that defines it, on first use: importing one part of the package
# (the dialer, the URL parser) does not load the HTTP client and h11.
_HOME = {
    **dict.fromkeys(("HttpConnectError", "HttpDnsError", "HttpError", "HttpErrorKind",
                     "HttpProtocolError", "HttpTimeout", "HttpTlsError", "HttpTooLarge",
                     "HttpUrlError"), "errors"),
    "HttpHeaders": "headers",
    **dict.fromkeys(("BoundedHttpClient", "HostResolver", "HttpExchange", "HttpLimits",
                     "HttpResponse"), "http"),
    **dict.fromkeys(("HttpAuthOutcome", "HttpCredentials"), "http_auth"),
    **dict.fromkeys(("ParsedUrl", "parse_url"), "url"),
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "BoundedHttpClient",
    "HostResolver",
    "HttpAuthOutcome",
    "HttpConnectError",
    "HttpCredentials",
    "HttpDnsError",
    "HttpError",
    "HttpErrorKind",
    "HttpExchange",
    "HttpHeaders",
    "HttpLimits",
    "HttpProtocolError",
    "HttpResponse",
    "HttpTimeout",
    "HttpTlsError",
    "HttpTooLarge",
    "HttpUrlError",
    "ParsedUrl",
    "parse_url",
]
