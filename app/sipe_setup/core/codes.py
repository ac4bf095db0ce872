"""Every phone code sipe-setup can print, in one typed registry.

Three kinds of codes reach a user: the verdict of a successful check (``SS-OK``), the code of
an advice entry (:data:`sipe_setup.core.advice.CATALOG`: a check's FAIL or WARN, or
``discover``'s "nothing found"), and the code of a discovery warning
(:class:`sipe_setup.core.discovery.model.WarningCode`). They share one namespace: a code is
never used twice, never renamed, never reused — IT staff quote them. A family of codes is
written with a placeholder (``SS-SIP-{status}``: the status of an unexpected answer).

The README's code table lists every code here; ``tests/unit/core/test_codes.py`` keeps the
registry, the README and the source in step.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from sipe_setup.core.advice import CATALOG
from sipe_setup.core.discovery.model import WarningCode

__all__ = ["NO_ADVICE_CODE", "REGISTRY", "SIGNED_IN_CODE", "CodeKind", "PhoneCode", "lookup",
           "readme_spelling"]

SIGNED_IN_CODE: Final = "SS-OK"
NO_ADVICE_CODE: Final = "SS-UNKNOWN"
"""A failed check without advice (a bug: every failure carries advice)."""


class CodeKind(enum.StrEnum):
    """Where a code comes from."""

    VERDICT = "verdict"  # the check signed in
    ADVICE = "advice"  # an advice catalog entry
    DISCOVERY_WARNING = "discovery-warning"  # a discovery warning (never blocks SIPE)


@dataclass(frozen=True, slots=True)
class PhoneCode:
    """One code as a user sees it.

    Attributes:
        code: the code, or a family written with a ``{placeholder}``.
        kind: where it comes from.
        title: a short meaning (the advice title, unrendered, for advice codes).
        source: the advice id or the ``WarningCode`` member name.
    """

    code: str
    kind: CodeKind
    title: str
    source: str

    @property
    def is_family(self) -> bool:
        return "{" in self.code

    def matches(self, text: str) -> bool:
        """True if ``text`` is this code (or a member of this family)."""
        if not self.is_family:
            return text == self.code
        pattern = re.sub(r"\\\{[a-z_]+\\\}", "[0-9]{3}", re.escape(self.code))
        return re.fullmatch(pattern, text) is not None


def _build() -> dict[str, PhoneCode]:
    codes: dict[str, PhoneCode] = {}

    def add(entry: PhoneCode) -> None:
        if entry.code in codes:
            raise AssertionError(f"phone code {entry.code} is used twice "
                                 f"({codes[entry.code].source}, {entry.source})")
        codes[entry.code] = entry

    add(PhoneCode(SIGNED_IN_CODE, CodeKind.VERDICT, "signed in", "verdict"))
    add(PhoneCode(NO_ADVICE_CODE, CodeKind.VERDICT, "failed without advice (a bug)", "verdict"))
    for advice_entry in CATALOG.values():
        add(PhoneCode(advice_entry.code, CodeKind.ADVICE, advice_entry.title, advice_entry.id))
    for warning in WarningCode:
        add(PhoneCode(warning.value, CodeKind.DISCOVERY_WARNING,
                      warning.name.replace("_", " ").lower(), warning.name))
    return codes


REGISTRY: Final[Mapping[str, PhoneCode]] = MappingProxyType(_build())
"""Code (or family) → what it is."""


def lookup(code: str) -> PhoneCode | None:
    """The registry entry for a printed code (families matched too), or None."""
    exact = REGISTRY.get(code)
    if exact is not None:
        return exact
    return next((entry for entry in REGISTRY.values()
                 if entry.is_family and entry.matches(code)), None)


def readme_spelling(code: str) -> str:
    """How the README writes a code: a family's ``{status}`` as ``<status>``."""
    return re.sub(r"\{([a-z_]+)\}", r"<\1>", code)
