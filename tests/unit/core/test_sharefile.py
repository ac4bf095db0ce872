"""Settings IT hands out: no password, no personal data, validated like typed input."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from sipe_setup.core.account import parse_account
from sipe_setup.core.profiles import Profile
from sipe_setup.core.sharefile import (
    SharedFileExists,
    SharedSettingsError,
    load_shared_settings,
    parse_shared_settings,
    shared_settings_from_profile,
    write_shared_settings,
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


# --- writing the file ----------------------------------------------------------------------------


def test_an_existing_file_is_refused_unless_replace(tmp_path: Path) -> None:
    shared, _ = shared_settings_from_profile(_profile("CONTOSO\\first.last"))
    path = tmp_path / "contoso.json"
    write_shared_settings(path, shared)
    assert load_shared_settings(path) == shared
    assert stat.S_IMODE(path.stat().st_mode) == 0o644 & ~_umask()
    path.write_text("someone's notes")
    with pytest.raises(SharedFileExists, match="exists already; nothing was written"):
        write_shared_settings(path, shared)
    assert path.read_text() == "someone's notes"
    write_shared_settings(path, shared, replace=True)
    assert load_shared_settings(path) == shared


@pytest.mark.parametrize("name", ["accounts.xml", "prefs.xml", "Accounts.XML", "blist.xml"])
def test_pidgins_files_are_never_written_even_with_replace(tmp_path: Path, name: str) -> None:
    """`profiles share -o ~/.purple/accounts.xml` used to replace Pidgin's accounts."""
    shared, _ = shared_settings_from_profile(_profile("CONTOSO\\first.last"))
    target = tmp_path / name
    target.write_text("<account version='1.0'/>")
    for replace in (False, True):
        with pytest.raises(SharedSettingsError, match="one of Pidgin's own files"):
            write_shared_settings(target, shared, replace=replace)
    assert target.read_text() == "<account version='1.0'/>"
    with pytest.raises(SharedSettingsError, match="one of Pidgin's own files"):
        write_shared_settings(tmp_path / "new" / name, shared)
    assert not (tmp_path / "new").exists()


def test_a_folder_or_the_profiles_folder_is_refused(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    shared, _ = shared_settings_from_profile(_profile("CONTOSO\\first.last"))
    with pytest.raises(SharedSettingsError, match="is a folder"):
        write_shared_settings(tmp_path, shared, replace=True)
    profiles = tmp_path / "config" / "sipe-setup" / "profiles"
    profiles.mkdir(parents=True)
    with pytest.raises(SharedSettingsError, match="profiles folder"):
        write_shared_settings(profiles / "work.json", shared, replace=True)


def test_cli_share_refuses_to_overwrite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from sipe_setup import cli
    from sipe_setup.core.profiles import ProfileStore

    monkeypatch.setattr(cli, "harden_process", lambda: None, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    ProfileStore().save(_profile("CONTOSO\\first.last"))
    out = tmp_path / "contoso.json"
    out.write_text("keep me")
    assert cli.main(["profiles", "share", "Work", "-o", str(out)]) == 1
    assert out.read_text() == "keep me"
    assert "add --replace to overwrite it" in capsys.readouterr().err
    assert cli.main(["profiles", "share", "Work", "-o", str(out), "--force"]) == 0
    assert load_shared_settings(out).login_pattern == "CONTOSO\\{user}"
    purple = tmp_path / ".purple"
    purple.mkdir()
    (purple / "accounts.xml").write_text("<account version='1.0'/>")
    assert cli.main(["profiles", "share", "Work", "-o", str(purple / "accounts.xml"),
                     "--replace"]) == 1
    assert (purple / "accounts.xml").read_text() == "<account version='1.0'/>"
    assert "Pidgin's own files" in capsys.readouterr().err


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_json_depth_is_bounded_but_strings_with_brackets_are_fine() -> None:
    from sipe_setup.core.jsonfields import MAX_JSON_DEPTH, json_document

    assert json_document(b'{"a": "[[[[\\"[[[[", "b": [1]}') == {"a": '[[[["[[[[', "b": [1]}
    deep = b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)
    with pytest.raises(ValueError, match="nested more than"):
        json_document(deep)
    assert json_document(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH) is not None
