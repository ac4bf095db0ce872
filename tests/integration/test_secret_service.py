"""The keyring layer against a real Secret Service (Debian gnome-keyring on a private bus)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from keyring.backends import SecretService

from sipe_setup.core.account import Secret
from sipe_setup.core.secret_service import keyring_timeout
from sipe_setup.core.secrets import (
    PIDGIN_KEYRING_SCHEMA,
    KeyringProblem,
    KeyringUnavailable,
    PasswordVault,
    VaultStatus,
    delete_pidgin_password,
    load_pidgin_password,
    pidgin_keyring_available,
    store_pidgin_password,
)
from tests.conftest import require_tool
from tests.servers.secret_service import GnomeKeyringService, HangingSecretService

_T = TypeVar("_T")

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
    # The unlock prompt cannot be shown here (no prompter on the bus): gnome-keyring answers
    # "dismissed" at once; either way the store stays locked and nothing is read or written.
    with pytest.raises(KeyringUnavailable) as caught:
        vault.load("work")
    assert caught.value.problem in (KeyringProblem.DISMISSED, KeyringProblem.LOCKED)
    assert "unlock" in str(caught.value)
    with pytest.raises(KeyringUnavailable) as caught:
        vault.store("work", Secret(PASSWORD))
    assert caught.value.problem in (KeyringProblem.DISMISSED, KeyringProblem.LOCKED)
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


# --- a Secret Service that never answers ---------------------------------------------------

TIMEOUT = 1.0  # SIPE_SETUP_KEYRING_TIMEOUT for these tests: the default is 10 s
BOUND = 8.0  # every call must give up well within this, whatever it does inside


@pytest.fixture
def hanging_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[HangingSecretService]:
    require_tool("dbus-daemon")
    with HangingSecretService.start() as service:
        for name, value in service.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("SIPE_SETUP_KEYRING_TIMEOUT", str(TIMEOUT))
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.SecretService.Keyring")
        for name in ("GNOME_KEYRING_CONTROL", "DISPLAY", "WAYLAND_DISPLAY"):
            monkeypatch.delenv(name, raising=False)
        yield service


def bounded(call: Callable[[], _T]) -> tuple[_T | BaseException, float]:
    """Run ``call`` in a thread; fail the test (instead of hanging it) if it does not return."""
    box: list[_T | BaseException] = []

    def run() -> None:
        try:
            box.append(call())
        except BaseException as exc:
            box.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(BOUND)
    assert box, f"still waiting for the keyring after {BOUND} s: no time limit"
    return box[0], time.monotonic() - started


def _not_answering(outcome: object) -> KeyringUnavailable:
    assert isinstance(outcome, KeyringUnavailable), repr(outcome)
    assert outcome.problem is KeyringProblem.NOT_ANSWERING
    assert "The keyring is not answering" in str(outcome)
    assert "without the password" in str(outcome)
    assert PASSWORD not in str(outcome) and PASSWORD not in repr(outcome.__cause__)
    return outcome


def test_a_hanging_keyring_is_not_answering(hanging_service: HangingSecretService) -> None:
    vault = _vault()
    status, took = bounded(vault.status)
    assert isinstance(status, VaultStatus)
    assert not status.usable and status.problem is KeyringProblem.NOT_ANSWERING
    assert status.reason.startswith("the keyring is not answering")
    assert took < TIMEOUT * 3
    for call in (lambda: vault.store("work", Secret(PASSWORD)), lambda: vault.load("work"),
                 lambda: vault.delete("work")):
        outcome, took = bounded(call)
        _not_answering(outcome)
        assert took < TIMEOUT * 3

    pidgin, took = bounded(pidgin_keyring_available)
    assert isinstance(pidgin, VaultStatus)
    assert not pidgin.usable and pidgin.problem is KeyringProblem.NOT_ANSWERING
    assert "not answering" in pidgin.reason
    for call in (lambda: store_pidgin_password(ACCOUNT, Secret(PASSWORD)),
                 lambda: load_pidgin_password(ACCOUNT), lambda: delete_pidgin_password(ACCOUNT)):
        outcome, took = bounded(call)
        _not_answering(outcome)
        assert took < TIMEOUT * 3


def test_a_locked_keyring_is_known_before_saving(secret_service: GnomeKeyringService) -> None:
    vault = _vault()
    status = vault.status()
    assert status.usable and not status.locked and status.problem is None
    secret_service.lock()
    status = vault.status()
    assert status.usable and status.locked  # usable once unlocked: the store asks first
    assert status.backend_name == "GNOME Keyring (Secret Service)"


def test_the_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIPE_SETUP_KEYRING_TIMEOUT", raising=False)
    assert keyring_timeout() == 10.0
    for text, seconds in (("2.5", 2.5), ("0", 0.1), ("1e9", 600.0), ("nan", 10.0),
                          ("soon", 10.0)):
        monkeypatch.setenv("SIPE_SETUP_KEYRING_TIMEOUT", text)
        assert keyring_timeout() == seconds, text
