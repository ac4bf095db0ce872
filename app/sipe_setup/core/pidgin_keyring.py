"""Pidgin's password item in the Secret Service, where the pidgin-gnome-keyring plugin looks.

See :mod:`sipe_setup.core.secrets` (point 2 of its docstring) for what the plugin searches for.
Every D-Bus call goes over a :class:`~sipe_setup.core.secret_service.TimedConnection`: a Secret
Service that does not answer is "the keyring is not answering", never a hang. Import the public
names from :mod:`sipe_setup.core.secrets`.
"""

from __future__ import annotations

import contextlib
import hmac
import sys
from collections.abc import Iterator
from typing import Any, Final

from sipe_setup.core.account import Secret
from sipe_setup.core.keyring_errors import (
    KeyringProblem,
    KeyringUnavailable,
    PasswordPlace,
    VaultStatus,
    guarded,
    no_answer,
    not_answering_status,
)
from sipe_setup.core.secret_service import (
    SECRET_SERVICE,
    UNLOCK_TIMEOUT,
    NotAnswering,
    TimedConnection,
    default_collection_locked,
    keyring_timeout,
    open_connection,
    secret_service_name,
)

__all__ = ["PIDGIN_KEYRING_SCHEMA", "delete_pidgin_password", "load_pidgin_password",
           "open_default_collection", "pidgin_keyring_available", "secret_service_connection",
           "store_pidgin_password"]

PIDGIN_KEYRING_SCHEMA: Final = "org.gnome.keyring.NetworkPassword"


def _pidgin_attributes(account_name: str, protocol: str) -> dict[str, str]:
    """What the plugin searches for (Debian's libsecret includes ``xdg:schema``)."""
    return {"user": account_name, "protocol": protocol, "xdg:schema": PIDGIN_KEYRING_SCHEMA}


def _pidgin_label(account_name: str, protocol: str) -> str:
    if protocol == "prpl-sipe":
        return f"Pidgin password for {account_name.split(',', 1)[0]} (SIPE)"
    return f"Pidgin password for {account_name} ({protocol})"


def _not_on_this_platform() -> str:
    if sys.platform.startswith(("win", "cygwin", "darwin")):
        return ("Pidgin's keyring plugin (pidgin-gnome-keyring) needs the Secret Service, "
                "which exists only on Linux and similar desktops")
    return ""


@contextlib.contextmanager
def secret_service_connection() -> Iterator[TimedConnection]:
    """A D-Bus connection (with time limits) to a running Secret Service, closed afterwards.

    Raises:
        KeyringUnavailable: NO_BACKEND when there is no D-Bus session or no Secret Service;
            NOT_ANSWERING when the bus does not answer.
    """
    reason = _not_on_this_platform()
    if reason:
        raise KeyringUnavailable(KeyringProblem.NO_BACKEND, SECRET_SERVICE, reason)
    try:
        import secretstorage
    except ImportError as exc:  # pragma: no cover - a dependency on Linux
        raise KeyringUnavailable(KeyringProblem.NO_BACKEND, SECRET_SERVICE,
                                 "the secretstorage module is not installed") from exc
    try:
        connection = open_connection()
    except NotAnswering as exc:
        raise KeyringUnavailable(KeyringProblem.NOT_ANSWERING, SECRET_SERVICE,
                                 no_answer(exc.seconds)) from exc
    except Exception as exc:
        raise KeyringUnavailable(
            KeyringProblem.NO_BACKEND, SECRET_SERVICE,
            "there is no desktop session bus (D-Bus) to reach it "
            f"({' '.join(str(exc).split())[:200]})") from exc
    try:
        available = secretstorage.check_service_availability(connection)
    except NotAnswering as exc:
        connection.close()
        raise KeyringUnavailable(KeyringProblem.NOT_ANSWERING, SECRET_SERVICE,
                                 no_answer(exc.seconds)) from exc
    except Exception:
        available = False
    if not available:
        connection.close()
        raise KeyringUnavailable(KeyringProblem.NO_BACKEND, SECRET_SERVICE,
                                 "no Secret Service (GNOME Keyring or KWallet) is running")
    try:
        yield connection
    finally:
        connection.close()


def open_default_collection(connection: Any, name: str, *, unlock: bool) -> Any:
    """The default keyring, unlocked (asking the user with a prompt when ``unlock``).

    Raises:
        KeyringUnavailable: LOCKED or DISMISSED when it stays locked.
    """
    import secretstorage

    collection = secretstorage.get_default_collection(connection)
    if collection.is_locked() and unlock:
        try:
            dismissed = collection.unlock(timeout=UNLOCK_TIMEOUT)
        except TypeError:  # secretstorage < 3.5 (Debian 13 has 3.3): the caller's time
            dismissed = collection.unlock()  # limit (within()) still bounds the wait
        if collection.is_locked():
            problem = KeyringProblem.DISMISSED if dismissed else KeyringProblem.LOCKED
            raise KeyringUnavailable(problem, name)
    if collection.is_locked():
        raise KeyringUnavailable(KeyringProblem.LOCKED, name)
    return collection


def _pidgin_items(connection: Any, account_name: str, protocol: str) -> list[Any]:
    """Every unlocked item the plugin could find, in any collection."""
    import secretstorage

    return [item for item in secretstorage.search_items(
                connection, _pidgin_attributes(account_name, protocol))
            if not item.is_locked()]


def pidgin_keyring_available() -> VaultStatus:
    """Whether a Secret Service is reachable and its default keyring unlocked.

    Never raises; asks nothing of the user; every D-Bus call has a time limit.
    """
    name = SECRET_SERVICE
    try:
        with secret_service_connection() as connection:
            name = secret_service_name(connection)
            locked = default_collection_locked(connection)
            if locked is None:
                return VaultStatus(False, name, "there is no default keyring yet",
                                   KeyringProblem.NO_BACKEND)
            if locked:
                return VaultStatus(False, name, "the default keyring is locked",
                                   KeyringProblem.LOCKED, locked=True)
            return VaultStatus(True, name, "")
    except NotAnswering as exc:
        return not_answering_status(name, exc.seconds)
    except KeyringUnavailable as exc:
        if exc.problem is KeyringProblem.NOT_ANSWERING:
            return not_answering_status(exc.backend_name, keyring_timeout())
        return VaultStatus(False, exc.backend_name, exc.detail or str(exc), exc.problem)
    except Exception as exc:
        return VaultStatus(False, name, f"the Secret Service failed: {type(exc).__name__}")


def store_pidgin_password(account_name: str, password: Secret, *,
                          protocol: str = "prpl-sipe") -> PasswordPlace:
    """Put the password where Pidgin's keyring plugin looks for it; read it back.

    Any other item the plugin could find for this account is removed once the new one is
    written, so there is exactly one afterwards.

    Raises:
        KeyringUnavailable: no Secret Service, locked, dismissed, refused or read back different.
    """
    expected = password.reveal().encode("utf-8")
    with secret_service_connection() as connection:
        name = secret_service_name(connection)

        def write() -> None:
            collection = open_default_collection(connection, name, unlock=True)
            created = collection.create_item(_pidgin_label(account_name, protocol),
                                             _pidgin_attributes(account_name, protocol),
                                             expected, replace=True)
            # Only now drop the others (another collection, a duplicate): the plugin takes
            # whichever libsecret finds first, so there must be exactly one.
            for item in _pidgin_items(connection, account_name, protocol):
                if item.item_path != created.item_path:
                    item.delete()

        def read_back() -> list[bytes]:
            return [bytes(item.get_secret())
                    for item in _pidgin_items(connection, account_name, protocol)]

        guarded(write, name, password, writing=True)
        stored = guarded(read_back, name, password)
        if len(stored) != 1 or not hmac.compare_digest(stored[0], expected):
            with contextlib.suppress(Exception):
                for item in _pidgin_items(connection, account_name, protocol):
                    item.delete()
            raise KeyringUnavailable(KeyringProblem.READ_BACK_MISMATCH, name)
    return PasswordPlace(name, f"Saved in {name} for Pidgin's Password Keyring plugin")


def load_pidgin_password(account_name: str, *, protocol: str = "prpl-sipe") -> Secret | None:
    """The password Pidgin's keyring plugin would use for this account, or None.

    Raises:
        KeyringUnavailable: no Secret Service, or its default keyring is locked.
    """
    with secret_service_connection() as connection:
        name = secret_service_name(connection)

        def read() -> bytes | None:
            open_default_collection(connection, name, unlock=True)
            items = _pidgin_items(connection, account_name, protocol)
            return bytes(items[0].get_secret()) if items else None

        value = guarded(read, name, None)
    return None if value is None else Secret(value.decode("utf-8", "replace"))


def delete_pidgin_password(account_name: str, *, protocol: str = "prpl-sipe") -> bool:
    """Remove Pidgin's item(s) for this account; True if there was one.

    Raises:
        KeyringUnavailable: no Secret Service, or its default keyring is locked.
    """
    with secret_service_connection() as connection:
        name = secret_service_name(connection)

        def delete() -> bool:
            open_default_collection(connection, name, unlock=True)
            items = _pidgin_items(connection, account_name, protocol)
            for item in items:
                item.delete()
            return bool(items)

        return guarded(delete, name, None)
