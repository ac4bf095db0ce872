"""Save / rename / delete / export / import: refusals write nothing, messages never leak."""

from __future__ import annotations

from pathlib import Path

import keyring.backends.fail
import pytest

from sipe_setup.core.account import Secret, parse_account
from sipe_setup.core.pidgin import PasswordMode, read_sipe_accounts
from sipe_setup.core.profile_actions import (
    delete_profile,
    export_profile,
    import_pidgin_accounts,
    rename_profile,
    save_profile,
)
from sipe_setup.core.profiles import Profile, ProfileError, ProfileExists, ProfileStore
from sipe_setup.core.secrets import KeyringUnavailable, PasswordVault
from tests.unit.test_secrets import MemoryKeyring

SENTINEL = "Sentinel-Unit-31d!"


def _profile(name: str = "Work", sso: bool = False) -> Profile:
    account = parse_account("alice@example.test", login="EXAMPLE\\alice", sso=sso,
                            auth="kerberos" if sso else "auto")
    return Profile.from_account(name, account)


def _no_leak(lines: list[str], *paths: Path) -> None:
    assert SENTINEL not in "\n".join(lines)
    for root in paths:
        for path in root.rglob("*"):
            if path.is_file():
                assert SENTINEL.encode() not in path.read_bytes(), path


def test_save_puts_the_password_in_the_keyring_only(tmp_path: Path) -> None:
    store, vault = ProfileStore(tmp_path), PasswordVault(MemoryKeyring())
    saved = save_profile(store, vault, _profile(), Secret(SENTINEL))
    assert saved.profile.password_stored
    assert vault.load("work") is not None
    assert any(line.startswith("Password: Saved in") for line in saved.lines)
    _no_leak(saved.lines, tmp_path)


def test_no_keyring_stops_unless_allowed(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "p")
    vault = PasswordVault(keyring.backends.fail.Keyring())
    with pytest.raises(KeyringUnavailable, match="No password store"):
        save_profile(store, vault, _profile(), Secret(SENTINEL))
    assert not (tmp_path / "p").exists()
    saved = save_profile(store, vault, _profile(), Secret(SENTINEL),
                         allow_without_password=True)
    assert not saved.profile.password_stored
    assert any("not saved" in line for line in saved.lines)
    _no_leak(saved.lines, tmp_path)


def test_name_taken_refuses_before_touching_the_keyring(tmp_path: Path) -> None:
    store, backend = ProfileStore(tmp_path), MemoryKeyring()
    vault = PasswordVault(backend)
    save_profile(store, vault, _profile(), None)
    with pytest.raises(ProfileExists):
        save_profile(store, vault, _profile(), Secret(SENTINEL))
    assert vault.load("work") is None


def test_replacing_without_a_new_password_keeps_the_stored_one(tmp_path: Path) -> None:
    store, vault = ProfileStore(tmp_path), PasswordVault(MemoryKeyring())
    save_profile(store, vault, _profile(), Secret(SENTINEL))
    saved = save_profile(store, vault, _profile(), None, replace_existing=True)
    assert saved.profile.password_stored
    assert store.load("Work").password_stored


def test_sso_needs_no_password(tmp_path: Path) -> None:
    store, vault = ProfileStore(tmp_path), PasswordVault(keyring.backends.fail.Keyring())
    saved = save_profile(store, vault, _profile(sso=True), None)
    assert "Single Sign-On" in saved.lines[1]


def test_rename_moves_and_delete_removes_the_secret(tmp_path: Path) -> None:
    store, vault = ProfileStore(tmp_path), PasswordVault(MemoryKeyring())
    save_profile(store, vault, _profile(), Secret(SENTINEL))
    rename_profile(store, vault, "Work", "Office")
    assert vault.load("work") is None
    moved = vault.load("office")
    assert moved is not None and moved.reveal() == SENTINEL
    lines = delete_profile(store, vault, "Office")
    assert vault.load("office") is None
    assert "removed from the keyring" in lines[-1]
    assert store.list() == []


def test_export_needs_a_password_for_cleartext(tmp_path: Path) -> None:
    vault = PasswordVault(MemoryKeyring())
    purple = tmp_path / "purple"
    with pytest.raises(ProfileError, match="no password to export"):
        export_profile(_profile(), purple_dir=purple, mode=PasswordMode.CLEARTEXT, vault=vault)
    assert not (purple / "accounts.xml").exists()
    outcome = export_profile(_profile(), purple_dir=purple, mode=PasswordMode.NONE,
                             vault=vault)
    assert any("Pidgin will ask" in line for line in outcome.lines)
    [account] = read_sipe_accounts(purple)
    assert account.password is None
    assert account.entry.authentication == "auto"
    _no_leak(outcome.lines, tmp_path)


def test_export_cleartext_uses_the_keyring_password(tmp_path: Path) -> None:
    store, vault = ProfileStore(tmp_path / "p"), PasswordVault(MemoryKeyring())
    saved = save_profile(store, vault, _profile(), Secret(SENTINEL))
    outcome = export_profile(saved.profile, purple_dir=tmp_path / "purple",
                             mode=PasswordMode.CLEARTEXT, vault=vault)
    [account] = read_sipe_accounts(tmp_path / "purple")
    assert account.password is not None and account.password.reveal() == SENTINEL
    assert SENTINEL not in "\n".join(outcome.lines)


def test_sso_export_writes_no_password(tmp_path: Path) -> None:
    outcome = export_profile(_profile(sso=True), purple_dir=tmp_path,
                             mode=PasswordMode.CLEARTEXT, vault=PasswordVault(MemoryKeyring()))
    assert "Single Sign-On" in "\n".join(outcome.lines)
    [account] = read_sipe_accounts(tmp_path)
    assert account.password is None and account.entry.sso
    assert account.entry.authentication == "krb5"


def test_import_reports_broken_accounts_and_keeps_going(tmp_path: Path) -> None:
    (tmp_path / "accounts.xml").write_text(
        "<?xml version='1.0' encoding='UTF-8' ?>\n<account version='1.0'>\n"
        "<account><protocol>prpl-sipe</protocol><name>no-at-sign,</name></account>\n"
        "<account><protocol>prpl-sipe</protocol><name>bob@example.test,EXAMPLE\\bob</name>"
        "<settings><setting name='authentication' type='string'>krb5</setting></settings>"
        "</account>\n</account>\n")
    store = ProfileStore(tmp_path / "profiles")
    outcomes = import_pidgin_accounts(store, PasswordVault(MemoryKeyring()), tmp_path)
    broken, bob = outcomes
    assert broken.profile is None and "needs repair" in broken.lines[0]
    assert bob.profile is not None and bob.profile.auth == "kerberos"
    again = import_pidgin_accounts(store, PasswordVault(MemoryKeyring()), tmp_path,
                                   only="bob@example.test")
    assert again[0].profile is None and "exists already" in again[0].lines[0]


def _pem(host: str) -> str:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_export_hands_pidgin_the_web_services_certificate_too(tmp_path: Path) -> None:
    """TLS-DSK fetches its certificate over HTTPS from the web services: a certificate the
    user accepted there must reach Pidgin's tls_peers, or Pidgin fails where the check
    passed (and it survives the profile file round trip)."""
    import dataclasses

    from sipe_setup.core.profiles import CertificateTrust, Validation

    fingerprint = ":".join(["AB"] * 32)
    validation = Validation(
        at="2026-11-29T00:00:00+00:00", summary="Signed in", host="pool.example.test",
        port=5061, transport="tls", scheme="TLS-DSK", entry_host="pool.example.test",
        entry_port=5061, entry_transport="tls", pin_server=True,
        certificate=CertificateTrust("pool.example.test", fingerprint, _pem("pool")),
        webservice_certificates=(CertificateTrust("web.example.test", fingerprint,
                                                  _pem("web")),))
    profile = dataclasses.replace(_profile(), validation=validation)
    store = ProfileStore(tmp_path / "p")
    store.save(profile)
    reloaded = store.load("Work")
    assert reloaded.validation == validation
    outcome = export_profile(reloaded, purple_dir=tmp_path / "purple", mode=PasswordMode.NONE,
                             vault=PasswordVault(MemoryKeyring()))
    peers = tmp_path / "purple" / "certificates" / "x509" / "tls_peers"
    assert sorted(p.name for p in peers.iterdir()) == ["pool.example.test", "web.example.test"]
    assert "web.example.test" in "\n".join(outcome.lines)
    [account] = read_sipe_accounts(tmp_path / "purple")
    assert account.entry.authentication == "auto"  # TLS-DSK proven: Auto picks it, as SIPE


# --- Pidgin: passwords moved out, accounts kept apart --------------------------------------------

_TWO_ALICES = (
    "<?xml version='1.0' encoding='UTF-8' ?>\n<account version='1.0'>\n"
    "<account><protocol>prpl-jabber</protocol><name>carol@jabber.example</name>"
    "<password>xmpp-pw</password></account>\n"
    "<account><protocol>prpl-sipe</protocol><name>alice@example.test,EXAMPLE\\alice</name>"
    f"<password>{SENTINEL}</password>"
    "<settings><setting name='authentication' type='string'>ntlm</setting></settings>"
    "</account>\n"
    "<account><protocol>prpl-sipe</protocol><name>alice@example.test,alice@corp.example.test"
    "</name><settings><setting name='authentication' type='string'>krb5</setting>"
    "</settings></account>\n"
    "</account>\n")


@pytest.fixture
def pidgin_keyring(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Stands in for the Secret Service item pidgin-gnome-keyring reads (tested for real in
    tests/integration/test_profile_to_pidgin.py)."""
    import sipe_setup.core.profile_actions as actions
    from sipe_setup.core.export.pidgin import paths
    from sipe_setup.core.secrets import PasswordPlace

    items: dict[str, str] = {}

    def store(name: str, password: Secret) -> PasswordPlace:
        items[name] = password.reveal()
        return PasswordPlace("Test Keyring", "Saved in Test Keyring")

    monkeypatch.setattr(actions, "store_pidgin_password", store)
    monkeypatch.setattr(paths, "keyring_plugin_path", lambda: None)
    monkeypatch.setattr(actions, "keyring_plugin_path", lambda: None)
    return items


def test_moving_the_password_to_the_keyring_leaves_no_copy_on_disk(
        tmp_path: Path, pidgin_keyring: dict[str, str]) -> None:
    """The backup import-pidgin writes used to keep the password it had just moved out, and
    the message pointed at it."""
    purple = tmp_path / "purple"
    purple.mkdir()
    (purple / "accounts.xml").write_text(_TWO_ALICES)
    store = ProfileStore(tmp_path / "profiles")
    vault = PasswordVault(MemoryKeyring())
    outcomes = import_pidgin_accounts(store, vault, purple, move_passwords=True)
    assert all(o.profile for o in outcomes)
    assert pidgin_keyring == {"alice@example.test,EXAMPLE\\alice": SENTINEL}
    lines = [line for o in outcomes for line in o.lines]
    assert any("without this password" in line for line in lines)
    _no_leak(lines, tmp_path)  # every file: accounts.xml, its backup, profiles, leftovers
    backups = list(purple.glob("accounts.xml.*.bak"))
    assert len(backups) == 1 and b"xmpp-pw" in backups[0].read_bytes()  # others: as they were


def test_two_accounts_with_one_signin_become_two_profiles(
        tmp_path: Path, pidgin_keyring: dict[str, str]) -> None:
    """They used to collapse into one profile "alice@example.test" (the second skipped, or
    replacing the first with --replace)."""
    purple = tmp_path / "purple"
    purple.mkdir()
    (purple / "accounts.xml").write_text(_TWO_ALICES)
    store = ProfileStore(tmp_path / "profiles")
    vault = PasswordVault(MemoryKeyring())
    first, second = import_pidgin_accounts(store, vault, purple)
    assert first.profile is not None and second.profile is not None
    assert first.profile.name == "alice@example.test (EXAMPLE\\alice)"
    assert second.profile.name == "alice@example.test (alice@corp.example.test)"
    assert first.profile.auth == "ntlm" and second.profile.auth == "kerberos"
    assert "they stay apart" in first.lines[-1] and "2 accounts" in second.lines[-1]
    assert sorted(p.profile.login for p in store.list() if p.profile) == [
        "EXAMPLE\\alice", "alice@corp.example.test"]
    again = import_pidgin_accounts(store, vault, purple, replace_existing=True)
    assert [o.profile.name for o in again if o.profile] == [first.profile.name,
                                                            second.profile.name]
    assert len(store.list()) == 2
    [only] = import_pidgin_accounts(store, vault, purple,
                                    only="alice@example.test,alice@corp.example.test",
                                    replace_existing=True)
    assert only.profile is not None and only.profile.name == second.profile.name


def test_profile_names_stay_unique_and_short() -> None:
    from sipe_setup.core.export.pidgin import PidginSipeAccount, SipeAccountEntry
    from sipe_setup.core.profile_actions import pidgin_profile_names
    from sipe_setup.core.profiles import profile_id

    def account(signin: str, login: str) -> PidginSipeAccount:
        return PidginSipeAccount(SipeAccountEntry(signin, login), None, True, True, {})

    long_login = "CORP\\" + "x" * 70
    names = pidgin_profile_names([
        account("bob@example.test", ""), account("alice@example.test", ""),
        account("Alice@example.test", "A"), account("alice@example.test", long_login),
        account("alice@example.test", "a")])
    assert names[:3] == ["bob@example.test", "alice@example.test (no Login)",
                         "Alice@example.test (A)"]
    assert names[3] == "alice@example.test #2"
    assert names[4] not in names[:4] and len({profile_id(n) for n in names}) == 5
    assert all(len(n) <= 64 for n in names)


def test_keyring_export_of_an_imported_account_scrubs_the_backup(
        tmp_path: Path, pidgin_keyring: dict[str, str]) -> None:
    """The wizard's repair path: start from the Pidgin account (password in plain text), save
    and export with the keyring mode."""
    purple = tmp_path / "purple"
    purple.mkdir()
    (purple / "accounts.xml").write_text(_TWO_ALICES)
    store, vault = ProfileStore(tmp_path / "profiles"), PasswordVault(MemoryKeyring())
    [imported] = import_pidgin_accounts(store, vault, purple,
                                        only="alice@example.test,EXAMPLE\\alice")
    assert imported.profile is not None
    outcome = export_profile(imported.profile, purple_dir=purple, mode=PasswordMode.KEYRING,
                             vault=vault, password=Secret(SENTINEL))
    assert outcome.result.password_removed
    assert any("without this account's password" in line for line in outcome.lines)
    _no_leak(outcome.lines, tmp_path)
