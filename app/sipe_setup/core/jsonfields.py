"""Typed reads from untrusted JSON documents (profiles, settings files): each failure is a
``ValueError`` whose message names the key and what is wrong with it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["flag_field", "object_field", "text_field"]


def object_field(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``doc[key]``, which must be a JSON object."""
    value = doc.get(key)
    if not isinstance(value, dict):
        raise ValueError(f"“{key}” is missing or not an object")
    return value


def text_field(doc: Mapping[str, Any], key: str, limit: int = 512) -> str:
    """``doc[key]`` as text (missing or null → empty), at most ``limit`` characters."""
    value = doc.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"“{key}” is not text")
    if len(value) > limit:
        raise ValueError(f"“{key}” is longer than {limit} characters")
    return value


def flag_field(doc: Mapping[str, Any], key: str) -> bool:
    """``doc[key]`` as true/false (missing → false); no truthy strings or numbers."""
    value = doc.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"“{key}” is not true or false")
    return value
