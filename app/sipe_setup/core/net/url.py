"""Splitting the http(s) URLs the bounded HTTP client requests (:func:`parse_url`)."""

from __future__ import annotations

import ipaddress
import urllib.parse
from dataclasses import dataclass
from typing import Final

from .errors import HttpUrlError

__all__ = ["ParsedUrl", "parse_url"]


@dataclass(frozen=True, slots=True)
class ParsedUrl:
    """An http(s) URL split the way a request needs it."""

    scheme: str
    host: str  # lower case, no trailing dot, no brackets around IPv6
    port: int
    target: str  # path + query, percent-encoded where needed
    explicit_port: bool
    is_ip: bool

    @property
    def https(self) -> bool:
        return self.scheme == "https"

    @property
    def host_for_header(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def origin(self) -> str:
        return f"{self.scheme}://{self.host_for_header}:{self.port}"


_TARGET_SAFE: Final = "!$&'()*+,/:;=?@[]~%-._"


def parse_url(url: str, *, https_port: int = 443, http_port: int = 80) -> ParsedUrl:
    """Split ``url``; ports missing from it default to ``https_port`` / ``http_port``.

    Raises:
        HttpUrlError: not http/https, no host, a bad port, or control characters/spaces.
    """
    text = url.strip()
    if not text or len(text) > 8192 or any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        raise HttpUrlError("the URL is empty, too long, or contains spaces or control "
                           "characters", url=url[:200])
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise HttpUrlError(f"the URL is not usable ({exc})", url=url[:200]) from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".").lower()
    if scheme not in ("http", "https") or not host:
        raise HttpUrlError("the URL is not an http:// or https:// URL with a host",
                           url=url[:200])
    if port == 0:
        raise HttpUrlError("the URL names port 0", url=url[:200])
    try:
        ipaddress.ip_address(host)
        is_ip = True
    except ValueError:
        is_ip = False
        if any(not (c.isalnum() or c in "-._") for c in host):
            raise HttpUrlError(f"“{host[:100]}” is not a host name", url=url[:200]) from None
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    target = urllib.parse.quote(target, safe=_TARGET_SAFE)
    default = https_port if scheme == "https" else http_port
    return ParsedUrl(scheme=scheme, host=host, port=port or default, target=target,
                     explicit_port=port is not None, is_ip=is_ip)
