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

2. **Pidgin's item** (:func:`store_pidgin_password`, in :mod:`sipe_setup.core.pidgin_keyring`;
   errors in :mod:`sipe_setup.core.keyring_errors`), read by Pidgin's "Password Keyring"
   plugin (``pidgin-gnome-keyring`` 2.0, plugin id ``core-gnome-keyring``). On load, for each
   account, the plugin asks libsecret for the item with schema
   ``org.gnome.keyring.NetworkPassword`` and attributes ``user`` = the account name (for SIPE
   ``signin,login``) and ``protocol`` = ``prpl-sipe``; if found it sets the account's password
   and turns remember-password off. Debian's libsecret sends ``xdg:schema`` in that search,
   so the item must carry ``xdg:schema`` too — an item without it (as ``secret-tool store``
   makes) is not found. This goes straight to the Secret Service (``secretstorage``, imported
   lazily: ``core`` must import on Windows and macOS).

Invariants:
- Every keyring call has a time limit (:mod:`sipe_setup.core.secret_service`): a store that
  does not answer is :attr:`KeyringProblem.NOT_ANSWERING` ("the keyring is not answering"),
  never a hang. Only an unlock prompt a person is answering may take longer (two minutes).
- Nothing here writes a password anywhere but the keyring: no plaintext fallback, ever.
- A password never appears in an exception message, a log line or a repr; a backend error
  whose text contains the password is neither quoted nor chained.
- Every write is read back and compared before it is reported as done.
- :class:`KeyringUnavailable` says, in plain words, what happened and what the user can do.
"""

from __future__ import annotations

import contextlib
import hmac
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # keyring takes ~70 ms to import: only when a password is really handled
    import keyring.backend

from sipe_setup.core.account import Secret
from sipe_setup.core.keyring_errors import (
    KeyringProblem,
    KeyringUnavailable,
    PasswordPlace,
    VaultStatus,
    guarded,
    no_answer,
    not_answering_status,
    safe_text,
)
from sipe_setup.core.pidgin_keyring import (
    PIDGIN_KEYRING_SCHEMA,
    delete_pidgin_password,
    load_pidgin_password,
    open_default_collection,
    pidgin_keyring_available,
    store_pidgin_password,
)
from sipe_setup.core.secret_service import (
    SECRET_SERVICE,
    UNLOCK_TIMEOUT,
    NotAnswering,
    default_collection_locked,
    keyring_timeout,
    open_connection,
    secret_service_name,
    within,
)

__all__ = [
    "KEYRING_SERVICE",
    "KEY_GENERATION",
    "PIDGIN_KEYRING_SCHEMA",
    "UNLOCK_TIMEOUT",
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

_SECRET_SERVICE_MODULES: Final = ("keyring.backends.SecretService", "keyring.backends.libsecret")
_BACKEND_NAMES: Final = {
    "keyring.backends.kwallet": "KWallet",
    "keyring.backends.macOS": "macOS Keychain",
    "keyring.backends.Windows": "Windows Credential Manager",
}


def vault_key(profile_id: str) -> str:
    """The keyring "username" under which a profile's password is kept."""
    return f"{profile_id}#g{KEY_GENERATION}"


# --- backend names ------------------------------------------------------------------------


def _is_secret_service(backend: keyring.backend.KeyringBackend) -> bool:
    """The backend (or a chainer's first) talks to the Secret Service over D-Bus."""
    module = type(backend).__module__
    if module == "keyring.backends.chainer":
        inner = _chained(backend)
        return bool(inner) and _is_secret_service(inner[0])
    return module in _SECRET_SERVICE_MODULES


def _backend_name(backend: keyring.backend.KeyringBackend) -> str:
    module = type(backend).__module__
    if module in _SECRET_SERVICE_MODULES:
        return secret_service_name()
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
        """Whether a password can be kept now, and whether the store is locked.

        Never raises; asks nothing of the user; takes at most about twice
        :func:`~sipe_setup.core.secret_service.keyring_timeout`.
        """
        limit = keyring_timeout()
        try:
            return within(2 * limit + 1, self._status_now)
        except NotAnswering:
            name = (SECRET_SERVICE if self._backend is None or _is_secret_service(self._backend)
                    else "the keyring")
            return not_answering_status(name, limit)

    def _status_now(self) -> VaultStatus:
        try:
            backend = self._current()
            reason = _unusable_reason(backend)
            secret_service = not reason and _is_secret_service(backend)
            name = SECRET_SERVICE if secret_service else _backend_name(backend)
        except Exception as exc:
            return VaultStatus(False, "unknown", f"the keyring could not be set up: "
                                                 f"{type(exc).__name__}",
                               KeyringProblem.NO_BACKEND)
        if reason:
            return VaultStatus(False, name, reason, KeyringProblem.NO_BACKEND)
        if not secret_service:
            return VaultStatus(True, name, "")
        return _secret_service_status()

    def _ready(self) -> tuple[keyring.backend.KeyringBackend, str, float]:
        """The backend, its name and the time limit for one call; the store unlocked.

        Raises:
            KeyringUnavailable: no store, not answering, or locked and not unlocked.
        """
        state = self.status()
        if not state.usable:
            if state.problem is KeyringProblem.NOT_ANSWERING:
                raise KeyringUnavailable(KeyringProblem.NOT_ANSWERING, state.backend_name,
                                         no_answer(keyring_timeout()))
            raise KeyringUnavailable(KeyringProblem.NO_BACKEND, state.backend_name, state.reason)
        backend = self._current()
        if not _is_secret_service(backend):
            # KWallet, macOS, Windows: the call itself may show a prompt to answer.
            return backend, state.backend_name, UNLOCK_TIMEOUT + keyring_timeout()
        if state.locked:
            name = state.backend_name
            guarded(lambda: _unlock_default_collection(name), name, None)
        return backend, state.backend_name, keyring_timeout()

    def store(self, profile_id: str, password: Secret) -> PasswordPlace:
        """Save the password, read it back, and say where it went.

        Raises:
            KeyringUnavailable: no store, locked, dismissed, refused, not answering, or read
                back different.
        """
        backend, name, limit = self._ready()
        key = vault_key(profile_id)
        guarded(lambda: within(limit, lambda: backend.set_password(
            KEYRING_SERVICE, key, password.reveal())), name, password, writing=True)
        back = guarded(lambda: within(limit, lambda: backend.get_password(KEYRING_SERVICE, key)),
                       name, password)
        if back is None or not hmac.compare_digest(back.encode(), password.reveal().encode()):
            with contextlib.suppress(Exception):
                within(limit, lambda: backend.delete_password(KEYRING_SERVICE, key))
            raise KeyringUnavailable(KeyringProblem.READ_BACK_MISMATCH, name)
        return PasswordPlace(name, f"Saved in {name}")

    def load(self, profile_id: str) -> Secret | None:
        """The stored password, or None if there is none.

        Raises:
            KeyringUnavailable: the store is missing, locked, failing or not answering.
        """
        backend, name, limit = self._ready()
        key = vault_key(profile_id)
        value = guarded(lambda: within(limit, lambda: backend.get_password(KEYRING_SERVICE, key)),
                        name, None)
        return None if value is None else Secret(value)

    def delete(self, profile_id: str) -> bool:
        """Remove the stored password; True if there was one.

        Raises:
            KeyringUnavailable: the store is missing, locked, failing or not answering.
        """
        backend, name, limit = self._ready()
        key = vault_key(profile_id)

        import keyring.errors

        def delete() -> bool:
            try:
                backend.delete_password(KEYRING_SERVICE, key)
            except keyring.errors.PasswordDeleteError as exc:
                # Backends say "not found" and "could not delete" with the same exception.
                if backend.get_password(KEYRING_SERVICE, key) is not None:
                    raise KeyringUnavailable(KeyringProblem.ERROR, name,
                                             safe_text(exc, None)) from exc
                return False
            return True

        return guarded(lambda: within(limit, delete), name, None)


def _secret_service_status() -> VaultStatus:
    """Usable, locked or not answering: asked on a connection with time limits."""
    name = SECRET_SERVICE
    try:
        connection = open_connection()
    except NotAnswering as exc:
        return not_answering_status(name, exc.seconds)
    except Exception as exc:
        return VaultStatus(False, name, "there is no desktop session bus (D-Bus) to reach it "
                                        f"({' '.join(str(exc).split())[:200]})",
                           KeyringProblem.NO_BACKEND)
    locked: bool | None = None
    try:
        name = secret_service_name(connection)
        locked = default_collection_locked(connection)
    except NotAnswering as exc:
        return not_answering_status(name, exc.seconds)
    except Exception:  # noqa: S110 - only the lock state is unknown; the real call will say
        pass
    finally:
        connection.close()
    return VaultStatus(True, name, "", locked=bool(locked))


def _unlock_default_collection(name: str) -> None:
    """Ask the Secret Service to unlock the default keyring (a prompt the user answers)."""
    with contextlib.closing(open_connection()) as connection:
        open_default_collection(connection, name, unlock=True)


