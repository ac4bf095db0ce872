"""Typed reads from untrusted JSON documents (profiles, settings files): each failure is a
``ValueError`` whose message names the key and what is wrong with it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["MAX_JSON_DEPTH", "flag_field", "json_document", "object_field", "text_field"]

#: Profiles and settings files nest three levels deep; anything far deeper is not ours (and
#: Python's json module would recurse until it fails).
MAX_JSON_DEPTH: Final = 32


def json_document(data: bytes) -> object:
    """Decode an untrusted JSON file.

    Raises:
        ValueError: not UTF-8, nested deeper than :data:`MAX_JSON_DEPTH`, or not JSON — the
            message says which, in words for the user.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("is not UTF-8 text") from None
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:  # brackets outside strings only
        if in_string:
            escaped, in_string = (not escaped and ch == "\\"), (escaped or ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                raise ValueError(f"is nested more than {MAX_JSON_DEPTH} levels deep, so it "
                                 "is not one of ours")
        elif ch in "]}":
            depth -= 1
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                         f"{exc.msg})") from None


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
