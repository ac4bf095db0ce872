"""Passwords in the operating system's keyring: sipe-setup's own vault and Pidgin's item.

Two places, two readers:

1. **sipe-setup's vault** (:class:`PasswordVault`), through the ``keyring`` library, so it
   works with whatever the platform offers (Secret Service on Linux, KWallet, macOS Keychain,
   Windows Credential Manager). One entry per profile:

   - service: ``"sipe-setup"`` (:data:`KEYRING_SERVICE`);
   - key (keyring's "username"): ``f"{profile_id}#g{KEY_GENERATION}"``, e.g. ``"work#g1"``.

   The generation suffix lets a later version change how entries are keyed (or what they
   hold) without mistaking an old entry for a new one: bump :data:`KEY_GENERATION`, teach
   :meth:`PasswordVault.load` to migrate older generations. Today only generation 1 exists and
   :func:`vault_key` is the one place that builds a key.

2. **Pidgin's item** (:func:`store_pidgin_password`), read by Pidgin's "Password Keyring"
   plugin (``pidgin-gnome-keyring`` 2.0, plugin id ``core-gnome-keyring``). On load, for each
   account, the plugin asks libsecret for the item with schema
   ``org.gnome.keyring.NetworkPassword`` and attributes ``user`` = the account name (for SIPE
   ``signin,login``) and ``protocol`` = ``prpl-sipe``; if found it sets the account's password
   and turns remember-password off. Debian's libsecret sends ``xdg:schema`` in that search,
   so the item must carry ``xdg:schema`` too — an item without it (as ``secret-tool store``
   makes) is not found. This goes straight to the Secret Service (``secretstorage``, imported
   lazily: ``core`` must import on Windows and macOS).

Invariants:
- Nothing here writes a password anywhere but the keyring: no plaintext fallback, ever.
- A password never appears in an exception message, a log line or a repr; a backend error
  whose text contains the password is neither quoted nor chained.
- Every write is read back and compared before it is reported as done.
- :class:`KeyringUnavailable` says, in plain words, what happened and what the user can do.
"""

from __future__ import annotations

import contextlib
import enum
import hmac
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

if TYPE_CHECKING:  # keyring takes ~70 ms to import: only when a password is really handled
    import keyring.backend

from sipe_setup.core.account import Secret

__all__ = [
    "KEYRING_SERVICE",
    "KEY_GENERATION",
    "PIDGIN_KEYRING_SCHEMA",
    "KeyringProblem",
    "KeyringUnavailable",
    "PasswordPlace",
    "PasswordVault",
    "VaultStatus",
    "delete_pidgin_password",
    "load_pidgin_password",
    "pidgin_keyring_available",
    "store_pidgin_password",
    "vault_key",
]

KEYRING_SERVICE: Final = "sipe-setup"
KEY_GENERATION: Final = 1
PIDGIN_KEYRING_SCHEMA: Final = "org.gnome.keyring.NetworkPassword"
# How long an unlock prompt may stay unanswered before we call the store locked.
UNLOCK_TIMEOUT: Final = 120.0

_SECRET_SERVICE: Final = "Secret Service"  # noqa: S105 - a product name
# The process that owns org.freedesktop.secrets (/proc/<pid>/comm, at most 15 characters).
_SECRET_SERVICE_PROVIDERS: Final = (
    ("gnome-keyring", "GNOME Keyring"),
    ("kwalletd", "KWallet"),
    ("ksecretd", "KWallet"),
    ("keepassxc", "KeePassXC"),
)
_BACKEND_NAMES: Final = {
    "keyring.backends.kwallet": "KWallet",
    "keyring.backends.macOS": "macOS Keychain",
    "keyring.backends.Windows": "Windows Credential Manager",
}
_T = TypeVar("_T")


def vault_key(profile_id: str) -> str:
    """The keyring "username" under which a profile's password is kept."""
    return f"{profile_id}#g{KEY_GENERATION}"


class KeyringProblem(enum.StrEnum):
    """Why the keyring could not do what was asked."""

    NO_BACKEND = "no-backend"
    LOCKED = "locked"
    DISMISSED = "dismissed"
    WRITE_FAILED = "write-failed"
    READ_BACK_MISMATCH = "read-back-mismatch"
    ERROR = "error"


_ADVICE: Final = {
    KeyringProblem.NO_BACKEND: (
        "No password store is available (keyring backend: {name}).{detail} Save the profile "
        "without the password — Pidgin will ask for it — or install/unlock GNOME Keyring or "
        "KWallet and try again."),
    KeyringProblem.LOCKED: (
        "The password store ({name}) is locked and could not be unlocked.{detail} Unlock it "
        "(log in to the desktop, or open your keyring manager and unlock the default keyring) "
        "and try again, or save the profile without the password."),
    KeyringProblem.DISMISSED: (
        "The request to unlock the password store ({name}) was dismissed.{detail} Try again "
        "and enter your keyring password when asked, or save the profile without the "
        "password."),
    KeyringProblem.WRITE_FAILED: (
        "The password store ({name}) refused to save the password.{detail} Check that it is "
        "unlocked and not full or read-only, then try again, or save the profile without the "
        "password."),
    KeyringProblem.READ_BACK_MISMATCH: (
        "The password store ({name}) accepted the password but gave back something different "
        "when it was read back, so it was removed again.{detail} Try again; if it keeps "
        "happening, save the profile without the password."),
    KeyringProblem.ERROR: (
        "The password store ({name}) reported an error.{detail} Try again, or save the "
        "profile without the password."),
}


class KeyringUnavailable(Exception):
    """The keyring could not store, read or delete a password; ``str()`` says what to do.

    Attributes:
        problem: what kind of failure it was.
        backend_name: the store, in words a user recognises ("GNOME Keyring (Secret Service)").
        detail: the backend's own words (never containing the password), or "".
    """

    def __init__(self, problem: KeyringProblem, backend_name: str, detail: str = "") -> None:
        self.problem = problem
        self.backend_name = backend_name
        self.detail = detail
        extra = ""
        if detail:
            extra = f" {detail[:1].upper()}{detail[1:]}{'' if detail.endswith('.') else '.'}"
        super().__init__(_ADVICE[problem].format(name=backend_name, detail=extra))


@dataclass(frozen=True, slots=True)
class PasswordPlace:
    """Where a password was saved, to tell the user."""

    backend_name: str
    description: str


@dataclass(frozen=True, slots=True)
class VaultStatus:
    """Whether a password store can be used now; ``reason`` is empty when it can."""

    usable: bool
    backend_name: str
    reason: str


# --- error mapping ------------------------------------------------------------------------


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _named(exc: BaseException, *names: str) -> bool:
    """True if ``exc`` or anything it was raised from is one of secretstorage's ``names``."""
    return any(type(e).__name__ in names and type(e).__module__.startswith("secretstorage")
               for e in _chain(exc))


def _safe_text(exc: BaseException, password: Secret | None) -> str:
    """The backend's message, or "" if it would leak the password."""
    text = " ".join(str(exc).split())[:200]
    if password and (password.reveal() in text or password.reveal() in repr(exc.args)):
        return ""
    return text


def _leaks(exc: BaseException, password: Secret | None) -> bool:
    if not password:
        return False
    value = password.reveal()
    return any(value in str(e) or value in repr(e.args) for e in _chain(exc))


def _problem_for(exc: BaseException) -> KeyringProblem:
    import keyring.errors

    if _named(exc, "PromptDismissedException"):
        return KeyringProblem.DISMISSED
    if isinstance(exc, keyring.errors.NoKeyringError) or _named(
            exc, "SecretServiceNotAvailableException"):
        return KeyringProblem.NO_BACKEND
    if isinstance(exc, keyring.errors.KeyringLocked | keyring.errors.InitError) or _named(
            exc, "LockedException"):
        return KeyringProblem.LOCKED
    if isinstance(exc, TimeoutError):  # nobody answered the unlock prompt
        return KeyringProblem.LOCKED
    if isinstance(exc, keyring.errors.PasswordSetError):
        return KeyringProblem.WRITE_FAILED
    return KeyringProblem.ERROR


def _unavailable(exc: BaseException, backend_name: str, password: Secret | None,
                 problem: KeyringProblem | None = None, *,
                 writing: bool = False) -> KeyringUnavailable:
    found = problem or _problem_for(exc)
    if writing and found is KeyringProblem.ERROR:
        found = KeyringProblem.WRITE_FAILED
    detail = _safe_text(exc, password)
    if found in (KeyringProblem.ERROR, KeyringProblem.WRITE_FAILED) and detail:
        detail = f"{type(exc).__name__}: {detail}"
    error = KeyringUnavailable(found, backend_name, detail)
    if not _leaks(exc, password):
        error.__cause__ = exc
    return error


def _guarded(action: Callable[[], _T], backend_name: str, password: Secret | None, *,
             writing: bool = False) -> _T:
    """Run one backend call; translate what it raises into :class:`KeyringUnavailable`.

    The translated error is raised *outside* the ``except`` block so that a backend exception
    quoting the password is not even kept as ``__context__``.
    """
    try:
        return action()
    except KeyringUnavailable:
        raise
    except Exception as exc:
        failure = _unavailable(exc, backend_name, password, writing=writing)
    raise failure


# --- backend names ------------------------------------------------------------------------


def _secret_service_name(connection: Any | None = None) -> str:
    """The Secret Service's name, with who serves it when we can tell (GNOME Keyring, …)."""
    provider = ""
    with contextlib.suppress(Exception):  # only a nicer name is at stake
        provider = _secret_service_provider(connection)
    return f"{provider} ({_SECRET_SERVICE})" if provider else _SECRET_SERVICE


def _secret_service_provider(connection: Any | None) -> str:
    if not sys.platform.startswith("linux"):
        return ""
    from jeepney.bus_messages import message_bus
    from secretstorage import dbus_init

    owned = connection is None
    conn = dbus_init() if connection is None else connection
    try:
        reply = conn.send_and_get_reply(
            message_bus.GetConnectionUnixProcessID("org.freedesktop.secrets"), timeout=2)
        pid = int(reply.body[0])
    finally:
        if owned:
            conn.close()
    comm = Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip()
    return next((name for prefix, name in _SECRET_SERVICE_PROVIDERS
                 if comm.startswith(prefix)), "")


def _backend_name(backend: keyring.backend.KeyringBackend) -> str:
    module = type(backend).__module__
    if module in ("keyring.backends.SecretService", "keyring.backends.libsecret"):
        return _secret_service_name()
    if module == "keyring.backends.chainer":
        inner = _chained(backend)
        return _backend_name(inner[0]) if inner else str(backend.name)
    for prefix, name in _BACKEND_NAMES.items():
        if module.startswith(prefix):
            return name
    return str(backend.name)


def _chained(backend: keyring.backend.KeyringBackend) -> list[keyring.backend.KeyringBackend]:
    return list(getattr(backend, "backends", []))


def _unusable_reason(backend: keyring.backend.KeyringBackend) -> str:
    """Why ``backend`` cannot keep a password, or "" if it can."""
    module = type(backend).__module__
    if module == "keyring.backends.fail":
        return "the keyring library found no password store on this system"
    if module == "keyring.backends.null":
        return "the keyring is switched off (null backend): it keeps nothing"
    if module == "keyring.backends.chainer":
        inner = _chained(backend)
        return (_unusable_reason(inner[0]) if inner
                else "the keyring library found no password store on this system")
    try:
        priority = float(type(backend).priority)
    except Exception as exc:  # a backend says "not here" by raising from priority
        return " ".join(str(exc).split())[:200] or type(exc).__name__
    if priority <= 0:
        return f"the keyring backend {backend.name} is not usable here (priority {priority:g})"
    return ""


# --- sipe-setup's vault -------------------------------------------------------------------


class PasswordVault:
    """sipe-setup's own password per profile, in the OS keyring (see the module docstring)."""

    def __init__(self, backend: keyring.backend.KeyringBackend | None = None) -> None:
        self._backend = backend

    def _current(self) -> keyring.backend.KeyringBackend:
        if self._backend is not None:
            return self._backend
        import keyring

        return keyring.get_keyring()

    def status(self) -> VaultStatus:
        """Whether a password can be kept now. Never raises; asks nothing of the user."""
        try:
            backend = self._current()
            reason = _unusable_reason(backend)
            name = _backend_name(backend)
        except Exception as exc:
            return VaultStatus(False, "unknown", f"the keyring could not be set up: "
                                                 f"{type(exc).__name__}")
        return VaultStatus(not reason, name, reason)

    def _usable(self) -> tuple[keyring.backend.KeyringBackend, str]:
        state = self.status()
        if not state.usable:
            raise KeyringUnavailable(KeyringProblem.NO_BACKEND, state.backend_name, state.reason)
        return self._current(), state.backend_name

    def store(self, profile_id: str, password: Secret) -> PasswordPlace:
        """Save the password, read it back, and say where it went.

        Raises:
            KeyringUnavailable: no store, locked, dismissed, refused, or read back different.
        """
        backend, name = self._usable()
        key = vault_key(profile_id)
        _guarded(lambda: backend.set_password(KEYRING_SERVICE, key, password.reveal()),
                 name, password, writing=True)
        back = _guarded(lambda: backend.get_password(KEYRING_SERVICE, key), name, password)
        if back is None or not hmac.compare_digest(back.encode(), password.reveal().encode()):
            with contextlib.suppress(Exception):
                backend.delete_password(KEYRING_SERVICE, key)
            raise KeyringUnavailable(KeyringProblem.READ_BACK_MISMATCH, name)
        return PasswordPlace(name, f"Saved in {name}")

    def load(self, profile_id: str) -> Secret | None:
        """The stored password, or None if there is none.

        Raises:
            KeyringUnavailable: the store is missing, locked or failing.
        """
        backend, name = self._usable()
        value = _guarded(lambda: backend.get_password(KEYRING_SERVICE, vault_key(profile_id)),
                         name, None)
        return None if value is None else Secret(value)

    def delete(self, profile_id: str) -> bool:
        """Remove the stored password; True if there was one.

        Raises:
            KeyringUnavailable: the store is missing, locked or failing.
        """
        backend, name = self._usable()
        key = vault_key(profile_id)

        import keyring.errors

        def delete() -> bool:
            try:
                backend.delete_password(KEYRING_SERVICE, key)
            except keyring.errors.PasswordDeleteError as exc:
                # Backends say "not found" and "could not delete" with the same exception.
                if backend.get_password(KEYRING_SERVICE, key) is not None:
                    raise KeyringUnavailable(KeyringProblem.ERROR, name,
                                             _safe_text(exc, None)) from exc
                return False
            return True

        return _guarded(delete, name, None)


# --- Pidgin's item in the Secret Service --------------------------------------------------


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
def _secret_service() -> Iterator[Any]:
    """A D-Bus connection to a running Secret Service, closed afterwards.

    Raises:
        KeyringUnavailable: NO_BACKEND when there is no D-Bus session or no Secret Service.
    """
    reason = _not_on_this_platform()
    if reason:
        raise KeyringUnavailable(KeyringProblem.NO_BACKEND, _SECRET_SERVICE, reason)
    try:
        import secretstorage
    except ImportError as exc:  # pragma: no cover - a dependency on Linux
        raise KeyringUnavailable(KeyringProblem.NO_BACKEND, _SECRET_SERVICE,
                                 "the secretstorage module is not installed") from exc
    try:
        connection = secretstorage.dbus_init()
    except Exception as exc:
        raise KeyringUnavailable(
            KeyringProblem.NO_BACKEND, _SECRET_SERVICE,
            "there is no desktop session bus (D-Bus) to reach it "
            f"({' '.join(str(exc).split())[:200]})") from exc
    try:
        available = secretstorage.check_service_availability(connection)
    except Exception:
        available = False
    if not available:
        connection.close()
        raise KeyringUnavailable(KeyringProblem.NO_BACKEND, _SECRET_SERVICE,
                                 "no Secret Service (GNOME Keyring or KWallet) is running")
    try:
        yield connection
    finally:
        connection.close()


def _open_default_collection(connection: Any, name: str, *, unlock: bool) -> Any:
    import secretstorage

    collection = secretstorage.get_default_collection(connection)
    if collection.is_locked() and unlock:
        dismissed = collection.unlock(timeout=UNLOCK_TIMEOUT)
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
    """Whether a Secret Service is reachable and its default keyring unlocked. Never raises."""
    name = _SECRET_SERVICE
    try:
        with _secret_service() as connection:
            name = _secret_service_name(connection)
            import secretstorage

            try:
                collection = secretstorage.get_collection_by_alias(connection, "default")
            except secretstorage.exceptions.ItemNotFoundException:
                return VaultStatus(False, name, "there is no default keyring yet")
            if collection.is_locked():
                return VaultStatus(False, name, "the default keyring is locked")
            return VaultStatus(True, name, "")
    except KeyringUnavailable as exc:
        return VaultStatus(False, exc.backend_name, exc.detail or str(exc))
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
    with _secret_service() as connection:
        name = _secret_service_name(connection)

        def write() -> None:
            collection = _open_default_collection(connection, name, unlock=True)
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

        _guarded(write, name, password, writing=True)
        stored = _guarded(read_back, name, password)
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
    with _secret_service() as connection:
        name = _secret_service_name(connection)

        def read() -> bytes | None:
            _open_default_collection(connection, name, unlock=True)
            items = _pidgin_items(connection, account_name, protocol)
            return bytes(items[0].get_secret()) if items else None

        value = _guarded(read, name, None)
    return None if value is None else Secret(value.decode("utf-8", "replace"))


def delete_pidgin_password(account_name: str, *, protocol: str = "prpl-sipe") -> bool:
    """Remove Pidgin's item(s) for this account; True if there was one.

    Raises:
        KeyringUnavailable: no Secret Service, or its default keyring is locked.
    """
    with _secret_service() as connection:
        name = _secret_service_name(connection)

        def delete() -> bool:
            _open_default_collection(connection, name, unlock=True)
            items = _pidgin_items(connection, account_name, protocol)
            for item in items:
                item.delete()
            return bool(items)

        return _guarded(delete, name, None)
