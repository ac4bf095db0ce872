"""Files someone else wrote (Pidgin's accounts.xml, a profile, an IT department's settings
file) are input too: a value or the documented error — nothing else — in bounded time."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from sipe_setup.core.pidgin import (
    PasswordMode,
    PidginFileError,
    SipeAccountEntry,
    export_account,
    read_sipe_accounts,
)
from sipe_setup.core.profiles import Profile, ProfileError, ProfileStore
from sipe_setup.core.sharefile import (
    SharedSettingsError,
    load_shared_settings,
    parse_shared_settings,
)

from .support import budget, corpus, mutated, mutated_json, never_raises_but, within

XML_TOKENS = (b"<", b">", b"</", b"/>", b"<!--", b"-->", b"<![CDATA[", b"]]>", b"&amp;", b"&#0;",
              b"<!DOCTYPE r [<!ENTITY e 'x'>]>", b"&e;", b"<account>", b"</account>",
              b"<protocol>prpl-sipe</protocol>", b"<name>", b"</name>", b"<settings>",
              b"<setting name='sso' type='bool'>", b"<setting name='server' type='string'>",
              b"<settings ui='gtk-gaim'>", b"type='int'", b"<password>", b"\xef\xbb\xbf")
ENTRY = SipeAccountEntry(signin="alice@example.test", login="EXAMPLE\\alice",
                         server="sip.example.test:5061", transport="tls",
                         authentication="ntlm")


_SCRATCH: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def scratch() -> Iterator[None]:
    """One scratch directory for the module; each example starts from an empty subfolder."""
    with tempfile.TemporaryDirectory(prefix="sipe-setup-fuzz-") as root:
        _SCRATCH.append(Path(root))
        yield
        _SCRATCH.clear()


def _fresh(name: str) -> Path:
    directory = _SCRATCH[-1] / name
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir()
    return directory


def _purple_dir(accounts_xml: bytes) -> Path:
    directory = _fresh("purple")
    (directory / "accounts.xml").write_bytes(accounts_xml)
    return directory


@budget(400)
@given(data=mutated([corpus("accounts.xml")], XML_TOKENS, max_size=32 * 1024))
def test_accounts_xml_reader_raises_only_pidgin_file_error(data: bytes) -> None:
    accounts = never_raises_but(PidginFileError, lambda: read_sipe_accounts(_purple_dir(data)))
    event("read" if accounts is not None else "refused")


@budget(120)
@given(data=mutated([corpus("accounts.xml")], XML_TOKENS, max_size=16 * 1024))
def test_export_onto_any_accounts_xml_raises_only_pidgin_file_error(data: bytes) -> None:
    purple = _purple_dir(data)
    result = never_raises_but(PidginFileError, lambda: export_account(
        purple, ENTRY, password_mode=PasswordMode.NONE))
    event("merged" if result is not None else "refused")
    if result is not None:  # what we wrote reads back, with our account in it
        names = [a.entry.name for a in read_sipe_accounts(purple)]
        assert ENTRY.name in names


# --- crashes this fuzzing found (now fixed): the reproducers stay as regression tests ----------

def test_unknown_encoding_declaration_is_a_pidgin_file_error() -> None:
    data = b'<?xml version="1.0" encoding="t"?><account version="1.0"/>'
    with pytest.raises(PidginFileError, match="encoding"):
        read_sipe_accounts(_purple_dir(data))


NESTED_JSON = b"[" * 5000 + b"]" * 5000  # 10 KB: within every size limit


def test_deeply_nested_profile_is_unreadable_not_a_crash() -> None:
    store = _store_with(NESTED_JSON)
    with pytest.raises(ProfileError, match="nested"):
        store.load("Work")
    assert [entry.id for entry in store.list()]


def test_deeply_nested_settings_file_is_refused_not_a_crash() -> None:
    with pytest.raises(SharedSettingsError, match="nested"):
        load_shared_settings(_settings_file(NESTED_JSON))


# --- profiles -----------------------------------------------------------------------------------

PROFILE_SEED = json.loads(corpus("profile.json"))
JSON_TOKENS = (b"{", b"}", b"[", b"]", b'"', b"\\u0000", b"\\ud800", b",", b":", b"null", b"true",
               b"1e999", b"-0", b"NaN", b"Infinity", b'"version": 99', b'"sso": "yes"')


def _store_with(data: bytes) -> ProfileStore:
    store = ProfileStore(_fresh("profiles"))
    store.path_for("Work").write_bytes(data)
    return store


@budget(400)
@given(data=mutated([corpus("profile.json")], JSON_TOKENS, max_size=16 * 1024)
       | mutated_json(PROFILE_SEED).map(lambda d: json.dumps(d).encode()))
def test_profile_file_raises_only_profile_error(data: bytes) -> None:
    store = _store_with(data)
    profile = never_raises_but(ProfileError, lambda: store.load("Work"))
    event("loaded" if profile is not None else "refused")
    listing = store.list()  # never raises: an unreadable profile is listed as such
    assert len(listing) == 1


@budget(200)
@given(doc=mutated_json(PROFILE_SEED) | st.sampled_from([None, [], "x", 1, {}]))
def test_profile_document_raises_only_value_error(doc: object) -> None:
    # Documented: ValueError. A bad name raises ProfileError (not a ValueError); the store
    # catches both, so only the docstring is off (reported to the lead).
    profile = never_raises_but((ValueError, ProfileError), lambda: Profile.from_json(doc))
    if profile is not None:
        assert isinstance(Profile.from_json(profile.to_json()), Profile)


# --- settings files -----------------------------------------------------------------------------

SETTINGS_SEED = json.loads(corpus("settings.json"))


def _settings_file(data: bytes) -> Path:
    path = _fresh("settings") / "company.sipe-setup.json"
    path.write_bytes(data)
    return path


@budget(400)
@given(data=mutated([corpus("settings.json")], JSON_TOKENS, max_size=80 * 1024)
       | mutated_json(SETTINGS_SEED).map(lambda d: json.dumps(d).encode()))
def test_settings_file_raises_only_shared_settings_error(data: bytes) -> None:
    settings = never_raises_but(SharedSettingsError,
                                lambda: load_shared_settings(_settings_file(data)))
    event("loaded" if settings is not None else "refused")
    if settings is not None:
        settings.prefill("first.last@example.test")


@budget(200)
@given(doc=mutated_json(SETTINGS_SEED))
def test_settings_document_raises_only_value_error(doc: object) -> None:
    never_raises_but(ValueError, lambda: parse_shared_settings(doc))


def test_huge_files_are_bounded() -> None:
    for data in (b'{"a": "' + b"x" * (4 * 1024 * 1024) + b'"}', b"\xff" * 100000,
                 b"[" * 200000 + b"]" * 200000):  # over the size limits: refused unread
        with within(3.0):
            never_raises_but(ProfileError, lambda d=data: _store_with(d).load("Work"))
            never_raises_but(SharedSettingsError,
                             lambda d=data: load_shared_settings(_settings_file(d)))
    deep_xml = b"<account version='1.0'>" + b"<a>" * 50000 + b"</a>" * 50000 + b"</account>"
    with within(3.0):
        never_raises_but(PidginFileError, lambda: read_sipe_accounts(_purple_dir(deep_xml)))
