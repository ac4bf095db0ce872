"""Decisions only the user can take: an unknown certificate, a server outside the SIP domain.

The pipeline never trusts on its own; it asks the front end through a :data:`TrustDecider`
(the GUI shows a dialog, the CLI a prompt or its flags) and goes on only on a yes.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sipe_setup.core.transport import CertificateInfo

__all__ = ["TrustDecider", "TrustKind", "TrustQuestion"]


class TrustKind(enum.StrEnum):
    """What the front end is asked to decide."""

    CERTIFICATE = "certificate"
    OUTSIDE_DOMAIN = "outside-domain"
    DOWNGRADE = "downgrade"  # a redirect from TLS to unencrypted TCP


@dataclass(frozen=True, slots=True)
class TrustQuestion:
    """A decision only the user can take; ``message`` says it in plain words."""

    kind: TrustKind
    host: str
    port: int
    sip_domain: str
    message: str
    certificate: CertificateInfo | None = None


TrustDecider = Callable[[TrustQuestion], Awaitable[bool]]
