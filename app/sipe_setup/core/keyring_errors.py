"""What can go wrong with a keyring, in words a user can act on, and how a backend's exception
becomes one of them without ever quoting the password.

Used by :mod:`sipe_setup.core.secrets` (sipe-setup's vault) and
:mod:`sipe_setup.core.pidgin_keyring` (Pidgin's item); import the public names from
:mod:`sipe_setup.core.secrets`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final, TypeVar

from sipe_setup.core.account import Secret
from sipe_setup.core.secret_service import NotAnswering

__all__ = ["KeyringProblem", "KeyringUnavailable", "PasswordPlace", "VaultStatus", "guarded",
           "no_answer", "not_answering_status", "safe_text"]

_T = TypeVar("_T")


class KeyringProblem(enum.StrEnum):
    """Why the keyring could not do what was asked."""

    NO_BACKEND = "no-backend"
    LOCKED = "locked"
    DISMISSED = "dismissed"
    WRITE_FAILED = "write-failed"
    READ_BACK_MISMATCH = "read-back-mismatch"
    NOT_ANSWERING = "not-answering"
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
    KeyringProblem.NOT_ANSWERING: (
        "The keyring is not answering: {name} did not reply in time.{detail} Save the profile "
        "without the password — Pidgin will ask for it — or log out and back in (which "
        "restarts the keyring) and try again."),
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
    """Whether a password store can be used now; ``reason`` is empty when it can.

    ``problem`` says why not (NO_BACKEND, NOT_ANSWERING, LOCKED), None when usable.
    ``locked``: usable, but locked now — saving will ask for the keyring's password first.
    """

    usable: bool
    backend_name: str
    reason: str
    problem: KeyringProblem | None = None
    locked: bool = False


def no_answer(seconds: float) -> str:
    return f"no answer within {seconds:g} second{'' if seconds == 1 else 's'}"


def not_answering_status(name: str, seconds: float) -> VaultStatus:
    return VaultStatus(False, name, f"the keyring is not answering ({name}: "
                                    f"{no_answer(seconds)})", KeyringProblem.NOT_ANSWERING)


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


def safe_text(exc: BaseException, password: Secret | None) -> str:
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

    if isinstance(exc, NotAnswering):
        return KeyringProblem.NOT_ANSWERING
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
    detail = safe_text(exc, password)
    if isinstance(exc, NotAnswering):
        detail = no_answer(exc.seconds)
    if found in (KeyringProblem.ERROR, KeyringProblem.WRITE_FAILED) and detail:
        detail = f"{type(exc).__name__}: {detail}"
    error = KeyringUnavailable(found, backend_name, detail)
    if not _leaks(exc, password):
        error.__cause__ = exc
    return error


def guarded(action: Callable[[], _T], backend_name: str, password: Secret | None, *,
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
