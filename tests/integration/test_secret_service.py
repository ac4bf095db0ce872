"""The keyring layer against a real Secret Service (Debian gnome-keyring on a private bus)."""

from __future__ import annotations

import pytest
from keyring.backends import SecretService

from sipe_setup.core.account import Secret
from sipe_setup.core.secrets import (
    PIDGIN_KEYRING_SCHEMA,
    KeyringProblem,
    KeyringUnavailable,
    PasswordVault,
    delete_pidgin_password,
    load_pidgin_password,
    pidgin_keyring_available,
    store_pidgin_password,
)
from tests.conftest import require_tool
from tests.servers.secret_service import GnomeKeyringService

PASSWORD = "Passw0rd!-ünïcode"
ACCOUNT = "alice@example.test,EXAMPLE\\alice"


def _vault() -> PasswordVault:
    return PasswordVault(SecretService.Keyring())


def test_vault_round_trip_in_gnome_keyring(secret_service: GnomeKeyringService) -> None:
    vault = _vault()
    status = vault.status()
    assert status.usable, status.reason
    assert status.backend_name == "GNOME Keyring (Secret Service)"
    place = vault.store("work", Secret(PASSWORD))
    assert place.backend_name == "GNOME Keyring (Secret Service)"
    assert place.description == "Saved in GNOME Keyring (Secret Service)"
    loaded = vault.load("work")
    assert loaded is not None and loaded.reveal() == PASSWORD
    # Storing again replaces, it does not add a second item.
    vault.store("work", Secret("second"))
    assert len(secret_service.items({"service": "sipe-setup"})) == 1
    assert vault.delete("work") is True
    assert vault.delete("work") is False
    assert vault.load("work") is None


def test_vault_item_is_what_secret_tool_sees(secret_service: GnomeKeyringService) -> None:
    require_tool("secret-tool")
    _vault().store("work", Secret(PASSWORD))
    found = secret_service.secret_tool("lookup", "service", "sipe-setup", "username", "work#g1")
    assert found.returncode == 0, found.stderr
    assert found.stdout == PASSWORD
    [(label, attributes, _secret)] = secret_service.items({"service": "sipe-setup"})
    assert attributes["username"] == "work#g1"
    assert attributes["application"] == "Python keyring library"
    assert "work#g1" in label


def test_locked_collection_is_locked(secret_service: GnomeKeyringService) -> None:
    _vault().store("work", Secret(PASSWORD))
    secret_service.lock()
    vault = _vault()
    with pytest.raises(KeyringUnavailable) as caught:
        vault.load("work")
    assert caught.value.problem is KeyringProblem.LOCKED
    assert "locked" in str(caught.value)
    with pytest.raises(KeyringUnavailable) as caught:
        vault.store("work", Secret(PASSWORD))
    assert caught.value.problem is KeyringProblem.LOCKED
    assert PASSWORD not in str(caught.value)
    # Pidgin's side: the unlock prompt cannot be shown here, so it reads as dismissed/locked.
    status = pidgin_keyring_available()
    assert not status.usable and "locked" in status.reason
    with pytest.raises(KeyringUnavailable) as caught:
        store_pidgin_password(ACCOUNT, Secret(PASSWORD))
    assert caught.value.problem in (KeyringProblem.DISMISSED, KeyringProblem.LOCKED)
    assert PASSWORD not in str(caught.value)
    assert secret_service.collection_locked()


def test_no_dbus_session_is_no_backend(secret_service: GnomeKeyringService,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS")
    vault = _vault()
    status = vault.status()
    assert not status.usable
    assert "DBUS_SESSION_BUS_ADDRESS" in status.reason
    with pytest.raises(KeyringUnavailable) as caught:
        vault.store("work", Secret(PASSWORD))
    assert caught.value.problem is KeyringProblem.NO_BACKEND
    assert "Save the profile without the password" in str(caught.value)
    with pytest.raises(KeyringUnavailable) as caught:
        store_pidgin_password(ACCOUNT, Secret(PASSWORD))
    assert caught.value.problem is KeyringProblem.NO_BACKEND
    assert not pidgin_keyring_available().usable


def test_pidgin_item_is_where_the_plugin_looks(secret_service: GnomeKeyringService) -> None:
    require_tool("secret-tool")
    status = pidgin_keyring_available()
    assert status.usable, status.reason
    assert status.backend_name == "GNOME Keyring (Secret Service)"
    place = store_pidgin_password(ACCOUNT, Secret(PASSWORD))
    assert "GNOME Keyring" in place.description
    found = secret_service.secret_tool("lookup", "user", ACCOUNT, "protocol", "prpl-sipe")
    assert found.returncode == 0, found.stderr
    assert found.stdout == PASSWORD
    [(label, attributes, secret)] = secret_service.items({"user": ACCOUNT})
    assert label == "Pidgin password for alice@example.test (SIPE)"
    assert attributes == {"user": ACCOUNT, "protocol": "prpl-sipe",
                          "xdg:schema": PIDGIN_KEYRING_SCHEMA}
    assert secret == PASSWORD.encode()


def test_pidgin_store_twice_leaves_one_item(secret_service: GnomeKeyringService) -> None:
    store_pidgin_password(ACCOUNT, Secret("first"))
    store_pidgin_password(ACCOUNT, Secret(PASSWORD))
    assert len(secret_service.items({"user": ACCOUNT, "protocol": "prpl-sipe"})) == 1
    loaded = load_pidgin_password(ACCOUNT)
    assert loaded is not None and loaded.reveal() == PASSWORD
    assert load_pidgin_password(ACCOUNT, protocol="prpl-jabber") is None
    assert delete_pidgin_password(ACCOUNT) is True
    assert delete_pidgin_password(ACCOUNT) is False
    assert load_pidgin_password(ACCOUNT) is None


def test_service_stops_cleanly() -> None:
    require_tool("dbus-daemon")
    require_tool("gnome-keyring-daemon")
    service = GnomeKeyringService.start()
    processes = list(service.processes)
    directory = service.directory
    service.stop()
    assert all(p.poll() is not None for p in processes)
    assert not directory.exists()
