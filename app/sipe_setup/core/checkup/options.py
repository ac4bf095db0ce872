"""How a check runs: timeouts, trust anchors, what it may try."""

from __future__ import annotations

from dataclasses import dataclass, field

from sipe_setup.core.discovery import DiscoveryOptions

__all__ = ["CheckOptions"]


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """How a check runs.

    Attributes:
        discovery: resolver, autodiscover and discovery deadline settings.
        ca_file: extra CA certificates (PEM) to trust for SIP TLS and the web services.
        trusted_fingerprints: SHA-256 fingerprints the user already accepted.
        deadline: the whole check, in seconds.
        connect_timeout: TCP connect (and, separately, the TLS handshake).
        connect_stagger: seconds after a connection attempt started before the next server
            (or address) in SIPE's order is dialled too, if that one has not answered yet
            (RFC 8305's "connection attempt delay"); the first in SIPE's order that connects
            is still the one used.
        response_timeout: waiting for one SIP answer (or one web-services request).
        hostname: the host name SIPE would use for the epid (default: this machine's).
        try_other_logins: after a wrong-password answer, try up to two other Login forms
            to tell a wrong form from a wrong password — only with the user's consent: each
            try is one more failed sign-in on the server (account lockout).
        max_redirects: 301 hops followed.
        sipe_reads_xml: whether this machine's Pidgin/SIPE can parse XML (TLS-DSK needs it);
            None = run the libxml2 probe.
    """

    discovery: DiscoveryOptions = field(default_factory=DiscoveryOptions)
    ca_file: str | None = None
    trusted_fingerprints: frozenset[str] = frozenset()
    deadline: float = 90.0
    connect_timeout: float = 10.0
    connect_stagger: float = 0.25
    response_timeout: float = 15.0
    hostname: str = ""
    try_other_logins: bool = False
    max_redirects: int = 3
    sipe_reads_xml: bool | None = None
