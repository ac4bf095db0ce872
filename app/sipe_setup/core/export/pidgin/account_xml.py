"""Editing one ``<account>`` element of accounts.xml the way libpurple writes it.

Only our account's five SIPE keys, its password and its ``auto-login`` flags are touched; every
other child (alias, statuses, proxy, unknown elements, comments) stays where it is.
"""

from __future__ import annotations

import unicodedata
import xml.etree.ElementTree as ET  # only to build and serialise; parsing is defused
from typing import Final

from sipe_setup.core.account import Secret
from sipe_setup.core.export.pidgin.model import (
    AUTHENTICATIONS,
    FINCH_UI,
    PIDGIN_UI,
    SIPE_KEYS,
    SIPE_PROTOCOL,
    TRANSPORTS,
    SipeAccountEntry,
)

__all__ = ["apply_entry", "check_entry", "new_account", "set_password"]

# libpurple's order of <account> children (account.c:account_to_xmlnode).
_CHILD_RANK: Final = {
    "protocol": 0,
    "name": 1,
    "password": 2,
    "alias": 3,
    "statuses": 4,
    "userinfo": 5,
    "settings": 6,  # settings with ui=… rank 7, see _rank
    "proxy": 8,
    "current_error": 9,
}


def _rank(element: ET.Element) -> int | None:
    tag: object = element.tag  # typeshed says str, but a comment's tag is the Comment factory
    if not isinstance(tag, str):
        return None
    rank = _CHILD_RANK.get(element.tag)
    if element.tag == "settings" and element.get("ui") is not None:
        return 7
    return rank


def _insert_in_order(account: ET.Element, child: ET.Element) -> None:
    """Insert ``child`` where libpurple would have written it (before the first later one)."""
    rank = _rank(child)
    assert rank is not None
    for index, existing in enumerate(account):
        existing_rank = _rank(existing)
        if existing_rank is not None and existing_rank > rank:
            account.insert(index, child)
            return
    account.append(child)


def _settings_block(account: ET.Element, ui: str | None) -> ET.Element:
    for settings in account.findall("settings"):
        if settings.get("ui") == ui:
            return settings
    settings = ET.Element("settings")
    if ui is not None:
        settings.set("ui", ui)
    _insert_in_order(account, settings)
    return settings


def _set_setting(settings: ET.Element, name: str, kind: str, value: str) -> None:
    """Set one <setting>, in place when it exists (duplicates dropped), else appended."""
    matches = [s for s in settings.findall("setting") if s.get("name") == name]
    if matches:
        target = matches[0]
        for extra in matches[1:]:
            settings.remove(extra)
        target.attrib.clear()
    else:
        target = ET.SubElement(settings, "setting")
    target.set("name", name)
    target.set("type", kind)
    for child in list(target):
        target.remove(child)
    target.text = value


def set_password(account: ET.Element, password: Secret | None) -> None:
    for old in account.findall("password"):
        account.remove(old)
    if password is not None:
        element = ET.Element("password")
        element.text = password.reveal()
        _insert_in_order(account, element)


def apply_entry(account: ET.Element, entry: SipeAccountEntry) -> None:
    name = account.find("name")
    if name is None:
        name = ET.Element("name")
        _insert_in_order(account, name)
    for child in list(name):
        name.remove(child)
    name.text = entry.name
    settings = _settings_block(account, None)
    values = {
        "server": ("string", entry.server),
        "transport": ("string", entry.transport),
        "useragent": ("string", entry.useragent),
        "authentication": ("string", entry.authentication),
        "sso": ("bool", "1" if entry.sso else "0"),
    }
    for key in SIPE_KEYS:
        kind, value = values[key]
        _set_setting(settings, key, kind, value)
    for ui in (PIDGIN_UI, FINCH_UI):
        _set_setting(_settings_block(account, ui), "auto-login", "bool", "1")


def new_account(entry: SipeAccountEntry) -> ET.Element:
    account = ET.Element("account")
    ET.SubElement(account, "protocol").text = SIPE_PROTOCOL
    ET.SubElement(account, "name")
    apply_entry(account, entry)
    return account


def _has_forbidden_char(text: str) -> bool:
    # Control characters cannot be written to XML 1.0 (or would be normalised away, like CR),
    # and SIPE refuses tab/CR/LF in the sign-in name anyway.
    return any(unicodedata.category(ch) in ("Cc", "Cs") or ch in "\ufffe\uffff" for ch in text)


def check_entry(entry: SipeAccountEntry) -> None:
    problems: list[str] = []
    if not entry.signin:
        problems.append("the sign-in address is empty")
    if "," in entry.signin:
        problems.append("the sign-in address contains a comma, which separates it from Login")
    for label, value in (
        ("sign-in address", entry.signin),
        ("login", entry.login),
        ("server", entry.server),
        ("user agent", entry.useragent),
    ):
        if _has_forbidden_char(value):
            problems.append(f"the {label} contains a control character")
    if entry.transport not in TRANSPORTS:
        problems.append(f"transport {entry.transport!r} is not one of {', '.join(TRANSPORTS)}")
    if entry.authentication not in AUTHENTICATIONS:
        problems.append(
            f"authentication {entry.authentication!r} is not one of {', '.join(AUTHENTICATIONS)}"
        )
    if problems:
        raise ValueError("Cannot export this account: " + "; ".join(problems) + ".")

