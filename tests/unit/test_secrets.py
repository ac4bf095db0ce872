"""PasswordVault against in-memory keyring backends: round trips, read-back, failures, leaks."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyring.compat import properties
from keyring.errors import KeyringLocked, PasswordDeleteError, PasswordSetError

from sipe_setup.core.account import Secret
from sipe_setup.core.secret_service import NotAnswering, TimedConnection, within
from sipe_setup.core.secrets import (
    KEY_GENERATION,
    KEYRING_SERVICE,
    KeyringProblem,
    KeyringUnavailable,
    PasswordVault,
    pidgin_keyring_available,
    store_pidgin_password,
    vault_key,
)

SENTINEL = "S3ntinel-pa55word-do-not-print"


class MemoryKeyring(KeyringBackend):
    """A keyring in a dict (unit tests only)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.items[(service, username)]
        except KeyError:
            raise PasswordDeleteError("not found") from None


class ManglingKeyring(MemoryKeyring):
    """Stores something other than what it was given."""

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password[:-1]


class RefusingKeyring(MemoryKeyring):
    def set_password(self, service: str, username: str, password: str) -> None:
        raise PasswordSetError(f"cannot store {password}")  # a careless backend


class LockedKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("Failed to unlock the collection!")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("Failed to unlock the collection!")


class BrokenKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise RuntimeError("backend exploded")


def _assert_no_leak(*objects: object) -> None:
    for obj in objects:
        assert SENTINEL not in str(obj)
        assert SENTINEL not in repr(obj)


def test_key_scheme_is_profile_id_and_generation() -> None:
    assert KEYRING_SERVICE == "sipe-setup"
    assert KEY_GENERATION == 1
    assert vault_key("work") == "work#g1"


def test_store_load_delete_round_trip() -> None:
    backend = MemoryKeyring()
    vault = PasswordVault(backend)
    assert vault.status().usable
    place = vault.store("work", Secret(SENTINEL))
    assert backend.items == {("sipe-setup", "work#g1"): SENTINEL}
    assert place.description.startswith("Saved in ")
    _assert_no_leak(place)
    loaded = vault.load("work")
    assert loaded is not None and loaded.reveal() == SENTINEL
    assert vault.load("other") is None
    assert vault.delete("work") is True
    assert vault.delete("work") is False
    assert vault.load("work") is None


def test_store_replaces_the_previous_password() -> None:
    vault = PasswordVault(MemoryKeyring())
    vault.store("work", Secret("old"))
    vault.store("work", Secret("new"))
    loaded = vault.load("work")
    assert loaded is not None and loaded.reveal() == "new"


def test_read_back_mismatch_is_reported_and_cleaned_up() -> None:
    backend = ManglingKeyring()
    with pytest.raises(KeyringUnavailable) as caught:
        PasswordVault(backend).store("work", Secret(SENTINEL))
    assert caught.value.problem is KeyringProblem.READ_BACK_MISMATCH
    assert backend.items == {}
    _assert_no_leak(caught.value)


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring()], ids=["fail", "null"])
def test_fail_and_null_backends_are_no_backend(backend: KeyringBackend) -> None:
    vault = PasswordVault(backend)
    status = vault.status()
    assert not status.usable
    assert status.reason
    for action in (lambda: vault.store("work", Secret(SENTINEL)), lambda: vault.load("work"),
                   lambda: vault.delete("work")):
        with pytest.raises(KeyringUnavailable) as caught:
            action()
        error = caught.value
        assert error.problem is KeyringProblem.NO_BACKEND
        assert error.backend_name == backend.name
        message = str(error)
        assert message.startswith("No password store is available")
        assert "Save the profile without the password" in message
        assert "GNOME Keyring or KWallet" in message
        _assert_no_leak(error)


def test_fail_backend_message_names_it() -> None:
    with pytest.raises(KeyringUnavailable) as caught:
        PasswordVault(fail.Keyring()).store("work", Secret(SENTINEL))
    assert "(keyring backend: fail Keyring)" in str(caught.value)


def test_a_chainer_with_nothing_to_chain_is_no_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
    status = PasswordVault(chainer.ChainerBackend()).status()
    assert not status.usable
    assert "no password store" in status.reason


def test_a_chainer_uses_its_first_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    inner = MemoryKeyring()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [inner])
    vault = PasswordVault(chainer.ChainerBackend())
    assert vault.status().usable
    vault.store("work", Secret("pw"))
    assert inner.items == {("sipe-setup", "work#g1"): "pw"}


def test_zero_priority_backend_is_no_backend() -> None:
    class Unwanted(MemoryKeyring):
        priority = 0  # type: ignore[assignment]

    assert not PasswordVault(Unwanted()).status().usable


def test_password_set_error_is_write_failed_and_does_not_quote_the_password() -> None:
    with pytest.raises(KeyringUnavailable) as caught:
        PasswordVault(RefusingKeyring()).store("work", Secret(SENTINEL))
    error = caught.value
    assert error.problem is KeyringProblem.WRITE_FAILED
    assert "refused to save the password" in str(error)
    _assert_no_leak(error, error.detail, error.__cause__, error.__context__)
    assert error.__cause__ is None  # the backend's exception held the password: not chained


def test_locked_keyring_is_locked() -> None:
    vault = PasswordVault(LockedKeyring())
    with pytest.raises(KeyringUnavailable) as caught:
        vault.store("work", Secret(SENTINEL))
    assert caught.value.problem is KeyringProblem.LOCKED
    assert "locked" in str(caught.value)
    with pytest.raises(KeyringUnavailable) as caught:
        vault.load("work")
    assert caught.value.problem is KeyringProblem.LOCKED
    _assert_no_leak(caught.value)


def test_other_backend_errors_are_error_with_the_backend_words() -> None:
    with pytest.raises(KeyringUnavailable) as caught:
        PasswordVault(BrokenKeyring()).load("work")
    assert caught.value.problem is KeyringProblem.ERROR
    assert "backend exploded" in str(caught.value)
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_default_backend_is_looked_up_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    vault = PasswordVault()
    backend = MemoryKeyring()
    monkeypatch.setattr("keyring.get_keyring", lambda: backend)
    vault.store("work", Secret("pw"))
    assert backend.items


def test_status_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode() -> KeyringBackend:
        raise RuntimeError("no")

    monkeypatch.setattr("keyring.get_keyring", explode)
    status = PasswordVault().status()
    assert not status.usable and status.reason


def test_pidgin_keyring_without_dbus_is_no_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    status = pidgin_keyring_available()
    assert not status.usable
    assert status.reason
    with pytest.raises(KeyringUnavailable) as caught:
        store_pidgin_password("alice@example.test,EXAMPLE\\alice", Secret(SENTINEL))
    assert caught.value.problem is KeyringProblem.NO_BACKEND
    _assert_no_leak(caught.value)


def test_pidgin_keyring_on_other_platforms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.platform", "win32")
    status = pidgin_keyring_available()
    assert not status.usable
    assert "Linux" in status.reason


def test_a_dismissed_unlock_prompt_is_dismissed() -> None:
    from keyring.errors import InitError
    from secretstorage.exceptions import PromptDismissedException

    class Dismissing(MemoryKeyring):
        def get_password(self, service: str, username: str) -> str | None:
            try:
                raise PromptDismissedException("Prompt dismissed.")
            except PromptDismissedException as exc:
                raise InitError("Failed to create the collection") from exc

    with pytest.raises(KeyringUnavailable) as caught:
        PasswordVault(Dismissing()).load("work")
    assert caught.value.problem is KeyringProblem.DISMISSED
    assert "dismissed" in str(caught.value)


# --- time limits ----------------------------------------------------------------------------


class HangingKeyring(MemoryKeyring):
    """Every call waits until the test ends: a keyring that never answers."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:
        self.release.wait(30)
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self.release.wait(30)

    def delete_password(self, service: str, username: str) -> None:
        self.release.wait(30)


@pytest.fixture
def hanging(monkeypatch: pytest.MonkeyPatch) -> Iterator[HangingKeyring]:
    monkeypatch.setenv("SIPE_SETUP_KEYRING_TIMEOUT", "0.2")
    monkeypatch.setattr("sipe_setup.core.secrets.UNLOCK_TIMEOUT", 0.0)  # no prompt to wait for
    backend = HangingKeyring()
    yield backend
    backend.release.set()


def test_a_keyring_call_that_never_returns_is_not_answering(hanging: HangingKeyring) -> None:
    vault = PasswordVault(hanging)
    assert vault.status().usable  # nothing is asked of the backend just to look at it
    for action in (lambda: vault.store("work", Secret(SENTINEL)), lambda: vault.load("work"),
                   lambda: vault.delete("work")):
        started = time.monotonic()
        with pytest.raises(KeyringUnavailable) as caught:
            action()
        assert time.monotonic() - started < 2
        error = caught.value
        assert error.problem is KeyringProblem.NOT_ANSWERING
        assert str(error).startswith("The keyring is not answering: ")
        assert "No answer within 0.2 seconds." in str(error)
        assert "Save the profile without the password" in str(error)
        _assert_no_leak(error, error.__cause__)


def test_a_backend_that_hangs_when_asked_if_it_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIPE_SETUP_KEYRING_TIMEOUT", "0.2")
    release = threading.Event()

    class Stuck(MemoryKeyring):
        @properties.classproperty
        def priority(cls) -> float:
            release.wait(30)
            return 1.0

    try:
        started = time.monotonic()
        status = PasswordVault(Stuck()).status()
        assert time.monotonic() - started < 2
        assert not status.usable and status.problem is KeyringProblem.NOT_ANSWERING
        assert status.reason.startswith("the keyring is not answering")
        with pytest.raises(KeyringUnavailable) as caught:
            PasswordVault(Stuck()).load("work")
        assert caught.value.problem is KeyringProblem.NOT_ANSWERING
    finally:
        release.set()


def test_within_returns_raises_or_gives_up() -> None:
    assert within(1, lambda: 42) == 42
    with pytest.raises(ValueError, match="bad"):
        within(1, lambda: (_ for _ in ()).throw(ValueError("bad")))
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(NotAnswering) as caught:
        within(0.1, lambda: release.wait(30))
    release.set()
    assert caught.value.seconds == 0.1
    assert isinstance(caught.value, TimeoutError)
    assert time.monotonic() - started < 1


def test_timed_connection_limits_every_call() -> None:
    class Connection:
        def __init__(self) -> None:
            self.limits: list[float | None] = []

        def send_and_get_reply(self, message: object, *, timeout: float | None = None) -> None:
            self.limits.append(timeout)
            raise TimeoutError

        def recv_until_filtered(self, queue: object, *, timeout: float | None = None) -> str:
            self.limits.append(timeout)
            return "signal"

    inner = Connection()
    connection = TimedConnection(inner, 3.0, prompt_timeout=60.0)
    with pytest.raises(NotAnswering):
        connection.send_and_get_reply(object())  # secretstorage passes no timeout at all
    with pytest.raises(NotAnswering):
        connection.send_and_get_reply(object(), timeout=None)  # jeepney's Proxy passes None
    with pytest.raises(NotAnswering):
        connection.send_and_get_reply(object(), timeout=2)
    assert connection.recv_until_filtered(object()) == "signal"  # a prompt: the long limit
    assert inner.limits == [3.0, 3.0, 2, 60.0]
