"""Every socket and HTTP request under one policy.

Today: the bounded HTTP client shared by Lync autodiscover and the Lync web services
(:mod:`sipe_setup.core.net.http`).
"""

from __future__ import annotations

from .http import (
    BoundedHttpClient,
    HostResolver,
    HttpAuthOutcome,
    HttpConnectError,
    HttpCredentials,
    HttpDnsError,
    HttpError,
    HttpErrorKind,
    HttpExchange,
    HttpHeaders,
    HttpLimits,
    HttpProtocolError,
    HttpResponse,
    HttpTimeout,
    HttpTlsError,
    HttpTooLarge,
    HttpUrlError,
    ParsedUrl,
    parse_url,
)

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
