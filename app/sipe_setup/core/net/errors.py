"""Why an HTTP request of :class:`~sipe_setup.core.net.http.BoundedHttpClient` ended without a
usable answer: :class:`HttpError` and one subclass per cause, each with a stable
:class:`HttpErrorKind` (reports and the advice catalog key on it).
"""

from __future__ import annotations

import enum

from .headers import HttpHeaders

__all__ = [
    "HttpConnectError",
    "HttpDnsError",
    "HttpError",
    "HttpErrorKind",
    "HttpProtocolError",
    "HttpTimeout",
    "HttpTlsError",
    "HttpTooLarge",
    "HttpUrlError",
]


class HttpErrorKind(enum.StrEnum):
    """Stable short words for what went wrong (reports and the advice catalog key on them)."""

    URL = "url"
    DNS = "dns"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    TLS = "tls"
    TOO_LARGE = "too-large"
    PROTOCOL = "protocol"


class HttpError(Exception):
    """An HTTP request ended without a usable answer; ``str()`` is a plain sentence."""

    kind: HttpErrorKind = HttpErrorKind.PROTOCOL

    def __init__(self, message: str, *, url: str = "", address: str = "") -> None:
        super().__init__(message)
        self.url = url
        self.address = address
        self.elapsed = 0.0


class HttpUrlError(HttpError):
    """The URL cannot be requested (not http/https, no host, bad port, control characters)."""

    kind = HttpErrorKind.URL


class HttpDnsError(HttpError):
    """The host name does not resolve."""

    kind = HttpErrorKind.DNS


class HttpConnectError(HttpError):
    """TCP connect failed; ``kind`` is REFUSED or UNREACHABLE."""

    def __init__(self, message: str, *, kind: HttpErrorKind, url: str = "",
                 address: str = "") -> None:
        super().__init__(message, url=url, address=address)
        self.kind = kind


class HttpTimeout(HttpError):
    """The whole request did not finish within its deadline."""

    kind = HttpErrorKind.TIMEOUT


class HttpTlsError(HttpError):
    """The TLS handshake failed for a reason other than the certificate, or the trusted
    certificates could not be loaded (``ca_file_problem``: our side, not the server's)."""

    kind = HttpErrorKind.TLS

    def __init__(self, message: str, *, url: str = "", address: str = "",
                 ca_file_problem: bool = False) -> None:
        super().__init__(message, url=url, address=address)
        self.ca_file_problem = ca_file_problem


class HttpProtocolError(HttpError):
    """The server's answer is not valid HTTP/1.1, or it closed the connection mid-answer."""

    kind = HttpErrorKind.PROTOCOL


class HttpTooLarge(HttpError):
    """The header block or the body is over its bound.

    ``status`` and ``headers`` are set when the head arrived before the body overflowed
    (``status`` is 0 when the header block itself was too large).
    """

    kind = HttpErrorKind.TOO_LARGE

    def __init__(self, message: str, *, url: str = "", address: str = "", status: int = 0,
                 headers: HttpHeaders | None = None) -> None:
        super().__init__(message, url=url, address=address)
        self.status = status
        self.headers = headers or HttpHeaders()
