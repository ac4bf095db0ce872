"""Every socket and HTTP request under one policy.

Today: the bounded HTTP client shared by Lync autodiscover and the Lync web services
(:mod:`sipe_setup.core.net.http`), with its parts beside it: :mod:`~sipe_setup.core.net.url`
(URL parsing), :mod:`~sipe_setup.core.net.headers`, :mod:`~sipe_setup.core.net.errors` (the
:class:`HttpError` family), :mod:`~sipe_setup.core.net.http_auth` (HTTP credentials and
authentication) and :mod:`~sipe_setup.core.net.connection` (one h11 connection, internal).
"""

from __future__ import annotations

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
