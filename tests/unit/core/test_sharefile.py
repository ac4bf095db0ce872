"""Settings IT hands out: no password, no personal data, validated like typed input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sipe_setup.core.account import parse_account
from sipe_setup.core.profiles import Profile
from sipe_setup.core.sharefile import (
    SharedSettingsError,
    load_shared_settings,
    parse_shared_settings,
    shared_settings_from_profile,
)

FINGERPRINT = ":".join(["0F"] * 32)


def _profile(login: str, **kw: str) -> Profile:
    account = parse_account("first.last@contoso.com", login=login,
                            server=kw.get("server", "sip.contoso.com:443"),
                            transport=kw.get("transport", "tls"), auth=kw.get("auth", "ntlm"),
                            user_agent=kw.get("ua", "UCCAPI/16.0.4849.1000 OC/16.0.4849.1000"))
    return Profile.from_account("Work", account)


@pytest.mark.parametrize(("login", "pattern"), [
    ("CONTOSO\\first.last", "CONTOSO\\{user}"),
    ("first.last@contoso.com", "{signin}"),
    ("first.last@corp.contoso.com", "{user}@corp.contoso.com"),
    ("", ""),
])
def test_share_replaces_the_person_with_a_pattern(tmp_path: Path, login: str,
                                                  pattern: str) -> None:
    shared, notes = shared_settings_from_profile(_profile(login), organization="Contoso IT")
    assert shared.login_pattern == pattern
    assert notes == []
    text = shared.dumps()
    assert "first.last" not in text.replace("{user}", "")
    path = tmp_path / "contoso.sipe-settings.json"
    path.write_text(text)
    loaded = load_shared_settings(path)
    assert loaded == shared
    values = loaded.prefill("jane.doe@contoso.com")
    assert values["server"] == "sip.contoso.com:443"
    assert values["auth"] == "ntlm" and values["transport"] == "tls"
    if pattern == "CONTOSO\\{user}":
        assert values["login"] == "CONTOSO\\jane.doe"


def test_a_login_without_the_user_name_is_left_out() -> None:
    shared, notes = shared_settings_from_profile(_profile("CONTOSO\\jdoe42"))
    assert shared.login_pattern == ""
    assert "left out" in notes[0]


def _doc(**changes: object) -> dict[str, object]:
    doc: dict[str, object] = {"format": "sipe-setup-settings", "version": 1,
                              "server": "sip.contoso.com", "transport": "tls", "auth": "krb5",
                              "login_pattern": "{user}@CONTOSO.COM",
                              "certificate": {"host": "sip.contoso.com", "sha256": FINGERPRINT}}
    doc.update(changes)
    return doc


def test_valid_document() -> None:
    shared = parse_shared_settings(_doc())
    assert shared.auth == "kerberos"
    assert shared.trusted_fingerprints == {FINGERPRINT}


@pytest.mark.parametrize(("changes", "problem"), [
    ({"password": "x"}, "must not carry a password"),
    ({"servr": "x"}, "unknown key “servr”"),
    ({"version": 7}, "newer sipe-setup"),
    ({"format": "x"}, "not a sipe-setup settings file"),
    ({"server": "bad host!:99999"}, "server"),
    ({"transport": "udp"}, "connection type"),
    ({"auth": "digest"}, "unknown scheme"),
    ({"login_pattern": "{name}"}, "unknown placeholder {name}"),
    ({"login_pattern": "CONTOSO\\bob"}, "fixed Login"),
    ({"user_agent": "a\nb"}, "user_agent"),
    ({"certificate": {"host": "sip.contoso.com", "sha256": "12"}}, "SHA-256"),
    ({"server": 5}, "not text"),
])
def test_bad_documents_are_refused_with_the_reason(tmp_path: Path, changes: dict[str, object],
                                                   problem: str) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps(_doc(**changes)))
    with pytest.raises(SharedSettingsError) as caught:
        load_shared_settings(path)
    assert str(path) in str(caught.value)
    assert problem in str(caught.value)


def test_not_json_and_too_big(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text("{")
    with pytest.raises(SharedSettingsError, match="not valid JSON"):
        load_shared_settings(path)
    path.write_bytes(b" " * 70_000)
    with pytest.raises(SharedSettingsError, match="larger than"):
        load_shared_settings(path)
    with pytest.raises(SharedSettingsError, match="cannot be read"):
        load_shared_settings(tmp_path / "missing.json")
