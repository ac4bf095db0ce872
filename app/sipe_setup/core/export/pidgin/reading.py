"""Reading Pidgin's SIPE accounts from accounts.xml, as SIPE itself would read them."""

from __future__ import annotations

import unicodedata
import xml.etree.ElementTree as ET  # only to build and serialise; parsing is defused
from collections.abc import Iterator
from pathlib import Path

from sipe_setup.core.account import Secret
from sipe_setup.core.export.pidgin import paths, xmlfile
from sipe_setup.core.export.pidgin.model import (
    AUTHENTICATIONS,
    FINCH_UI,
    PIDGIN_UI,
    SIPE_KEYS,
    SIPE_PROTOCOL,
    PidginSipeAccount,
    SipeAccountEntry,
)
from sipe_setup.core.export.pidgin.xmlfile import text
from sipe_setup.core.fileio import Snapshot

__all__ = ["find_sipe_account", "load_accounts", "read_sipe_accounts", "same_name",
           "sipe_accounts"]


def load_accounts(path: Path) -> tuple[Snapshot, ET.Element | None]:
    """accounts.xml as read now, and its tree (None when there is none).

    Raises:
        PidginFileError: it is corrupt, unreadable or not a Pidgin accounts file.
    """
    return xmlfile.load(path, root_tag="account", what="accounts file (accounts.xml)")


def same_name(a: str, b: str) -> bool:
    """One Pidgin account name? libpurple looks accounts up through purple_normalize
    (Unicode-normalised); SIP addresses compare case-insensitively, so "Alice@…" and
    "alice@…" are one account."""
    def norm(value: str) -> str:
        return unicodedata.normalize("NFC", value).casefold()

    return norm(a) == norm(b)


def sipe_accounts(root: ET.Element) -> Iterator[ET.Element]:
    """The ``<account>`` elements of the prpl-sipe protocol."""
    for account in root.findall("account"):
        if text(account.find("protocol")).strip() == SIPE_PROTOCOL:
            yield account


def find_sipe_account(root: ET.Element, name: str) -> ET.Element | None:
    """The prpl-sipe account called ``name`` (``signin,login``), or None."""
    return next(
        (acc for acc in sipe_accounts(root) if same_name(text(acc.find("name")), name)), None
    )


def _bool_setting(settings: ET.Element | None, name: str) -> bool:
    if settings is None:
        return False
    for setting in settings.findall("setting"):
        if setting.get("name") == name:
            # libpurple: a setting without data is ignored; anything not starting with 0 is true.
            value = text(setting)
            return bool(value) and not value.startswith("0")
    return False


def _ui_settings(account: ET.Element, ui: str) -> ET.Element | None:
    return next((s for s in account.findall("settings") if s.get("ui") == ui), None)


def _read_account(account: ET.Element) -> PidginSipeAccount:
    signin, _, login = text(account.find("name")).partition(",")
    values: dict[str, str] = {}
    other: dict[str, str] = {}
    settings = next((s for s in account.findall("settings") if s.get("ui") is None), None)
    for setting in [] if settings is None else settings.findall("setting"):
        name = setting.get("name")
        value = text(setting)
        if name is None or not value:  # libpurple ignores a setting without data
            continue
        (values if name in SIPE_KEYS else other)[name] = value
    notes: list[str] = []
    transport = values.get("transport", "auto")
    if transport not in ("auto", "tls"):
        if transport != "tcp":
            notes.append(f"Pidgin's connection type “{transport}” means TCP to SIPE.")
        transport = "tcp"  # SIPE: anything else is TCP
    authentication = values.get("authentication", "ntlm")  # SIPE's default when absent
    if "authentication" not in values:
        notes.append("Pidgin has no authentication setting for this account, which SIPE "
                     "treats as NTLM (not Auto).")
    elif authentication not in AUTHENTICATIONS:
        notes.append(f"Pidgin's authentication value “{authentication}” is unknown; SIPE "
                     "treats it as Auto.")
        authentication = "auto"  # SIPE: unknown values mean Automatic
    sso_value = values.get("sso", "0")
    entry = SipeAccountEntry(
        signin=signin,
        login=login,
        server=values.get("server", ""),
        transport=transport,
        authentication=authentication,
        sso=not sso_value.startswith("0"),
        useragent=values.get("useragent", ""),
    )
    password_element = account.find("password")
    password = None if password_element is None else Secret(text(password_element))
    return PidginSipeAccount(
        entry=entry,
        password=password,
        enabled_pidgin=_bool_setting(_ui_settings(account, PIDGIN_UI), "auto-login"),
        enabled_finch=_bool_setting(_ui_settings(account, FINCH_UI), "auto-login"),
        other_settings=other,
        notes=tuple(notes),
    )


def read_sipe_accounts(purple_dir: Path) -> list[PidginSipeAccount]:
    """The prpl-sipe accounts in ``purple_dir/accounts.xml``; [] when there is no file.

    Raises:
        PidginFileError: the file is corrupt or unreadable.
    """
    root = load_accounts(paths.accounts_path(purple_dir))[1]
    if root is None:
        return []
    return [_read_account(account) for account in sipe_accounts(root)]

