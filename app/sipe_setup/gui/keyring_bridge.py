"""The keyring, asked off the GUI thread.

Every keyring call can wait: for an unlock prompt a person answers, or for a Secret Service that
never answers (up to the core's time limit, :func:`sipe_setup.core.secret_service
.keyring_timeout`). So the wizard never makes one on the GUI thread. :class:`KeyringChecker`
runs :func:`look_at_keyrings` in a daemon thread and delivers the :class:`KeyringLook` by a
queued signal; the Save page shows "Checking your keyring …" meanwhile.

:class:`KeyringCall` does the same for any one keyring call (the Start page reads a saved
profile's password with it).

Closing the window never waits for a look: the thread is a daemon, its result goes through one
long-lived relay object (never through a widget that may be gone), and a caller drops results
it no longer wants. (Saving, which writes files, runs in a :class:`~.background.BackgroundCall`
that the page does wait for; its keyring calls have the same time limits.)
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Signal, Slot

from sipe_setup.core.secrets import (
    PasswordVault,
    VaultStatus,
    pidgin_keyring_available,
)

__all__ = ["KeyringCall", "KeyringChecker", "KeyringLook", "look_at_keyrings"]


@dataclass(frozen=True, slots=True)
class KeyringLook:
    """Where a password can go now: sipe-setup's vault, and Pidgin's keyring item."""

    vault: VaultStatus
    pidgin: VaultStatus


def _failed(exc: BaseException) -> VaultStatus:
    return VaultStatus(False, "unknown", f"the keyring could not be asked: {type(exc).__name__}")


def look_at_keyrings(vault: PasswordVault) -> KeyringLook:
    """Both statuses, asked at the same time (a keyring that hangs costs one time limit, not
    two). Blocking, bounded by the core's time limits; never raises."""
    pidgin: list[VaultStatus] = []

    def ask_pidgin() -> None:
        try:
            pidgin.append(pidgin_keyring_available())
        except Exception as exc:  # it never raises; a bug must not lose the answer
            pidgin.append(_failed(exc))

    thread = threading.Thread(target=ask_pidgin, name="sipe-setup Pidgin keyring look",
                              daemon=True)
    thread.start()
    try:
        status = vault.status()
    except Exception as exc:
        status = _failed(exc)
    thread.join()
    return KeyringLook(status, pidgin[0] if pidgin else _failed(RuntimeError()))


class _Relay(QObject):
    """Lives in the GUI thread for the whole run; calls report through it."""

    delivered = Signal(int, object)  # token, the call's result (or the exception it raised)


_relay: _Relay | None = None
_tokens = itertools.count(1)


def _the_relay() -> _Relay:
    global _relay
    if _relay is None:  # first made by a caller, on the GUI thread
        _relay = _Relay()
    return _relay


class KeyringCall(QObject):
    """Runs one blocking call in a daemon thread; ``done(result)`` on the GUI thread.

    :meth:`start` begins a call (the result of one still running is then dropped);
    :meth:`cancel` drops the result of the call running now. ``result`` is what the call
    returned, or the exception it raised.
    """

    done = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._token = 0
        _the_relay().delivered.connect(self._delivered, Qt.ConnectionType.QueuedConnection)

    def busy(self) -> bool:
        """A call is running whose result is still wanted."""
        return self._token != 0

    def start(self, call: Callable[[], object]) -> None:
        token = next(_tokens)
        self._token = token
        relay = _the_relay()

        def run() -> None:
            result: object
            try:
                result = call()
            except Exception as exc:  # handed over, not lost
                result = exc
            with contextlib.suppress(RuntimeError):  # the application is being torn down
                relay.delivered.emit(token, result)

        threading.Thread(target=run, name="sipe-setup keyring call", daemon=True).start()

    def cancel(self) -> None:
        self._token = 0

    @Slot(int, object)
    def _delivered(self, token: int, result: object) -> None:
        if token != self._token:
            return
        self._token = 0
        self.done.emit(result)


class KeyringChecker(KeyringCall):
    """Looks at the keyrings (:func:`look_at_keyrings`); ``checked(KeyringLook)``."""

    checked = Signal(object)  # KeyringLook

    def __init__(self, vault: PasswordVault, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.vault = vault
        self.done.connect(self._looked)

    def start(self, call: Callable[[], object] | None = None) -> None:
        vault = self.vault
        super().start(call or (lambda: look_at_keyrings(vault)))

    def _looked(self, look: object) -> None:
        if isinstance(look, KeyringLook):
            self.checked.emit(look)
