"""Time limits for the keyring: the Secret Service over D-Bus, and any keyring call at all.

secretstorage and jeepney wait for a D-Bus reply for ever by default, and so does the keyring
library on top of them: a Secret Service that owns ``org.freedesktop.secrets`` but never
answers (a stuck gnome-keyring, a half-started KeePassXC) would hang ``check --save`` and the
wizard. Two tools here bound every wait:

- :class:`TimedConnection` wraps a jeepney connection: every method call has a limit
  (:func:`keyring_timeout`, 10 s unless ``SIPE_SETUP_KEYRING_TIMEOUT`` says otherwise) and
  raises :class:`NotAnswering` when it passes; waiting for an unlock *prompt* (a person
  typing a keyring password) has its own, longer limit and raises a plain ``TimeoutError``.
- :func:`within` runs a call that we cannot give a limit to (the keyring library opens its own
  connections; KWallet, macOS and Windows backends) in a daemon thread and stops waiting for
  it after a limit. The thread is left to finish or hang on its own; nothing waits for it.

Nothing here knows about sipe-setup's errors: :mod:`sipe_setup.core.secrets` turns
:class:`NotAnswering` into "the keyring is not answering".
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

__all__ = [
    "DEFAULT_TIMEOUT",
    "SECRET_SERVICE",
    "TIMEOUT_ENV",
    "UNLOCK_TIMEOUT",
    "NotAnswering",
    "TimedConnection",
    "default_collection_locked",
    "keyring_timeout",
    "open_connection",
    "provider_name",
    "secret_service_name",
    "within",
]

DEFAULT_TIMEOUT: Final = 10.0
TIMEOUT_ENV: Final = "SIPE_SETUP_KEYRING_TIMEOUT"
# How long an unlock prompt may stay unanswered before we call the store locked.
UNLOCK_TIMEOUT: Final = 120.0
BUS_NAME: Final = "org.freedesktop.secrets"
SECRET_SERVICE: Final = "Secret Service"  # noqa: S105 - a product name

# The process that owns org.freedesktop.secrets (/proc/<pid>/comm, at most 15 characters).
_PROVIDERS: Final = (
    ("gnome-keyring", "GNOME Keyring"),
    ("kwalletd", "KWallet"),
    ("ksecretd", "KWallet"),
    ("keepassxc", "KeePassXC"),
)
_T = TypeVar("_T")


def keyring_timeout() -> float:
    """Seconds a keyring call may take before it counts as not answering (0.1 … 600)."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        value = float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        return DEFAULT_TIMEOUT
    if not math.isfinite(value):
        return DEFAULT_TIMEOUT
    return min(max(value, 0.1), 600.0)


class NotAnswering(TimeoutError):
    """The keyring gave no answer within ``seconds``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no answer within {seconds:g} s")
        self.seconds = seconds


def within(seconds: float, action: Callable[[], _T]) -> _T:
    """``action()``, or :class:`NotAnswering` if it has not returned after ``seconds``.

    ``action`` runs in a daemon thread; whatever it raises is raised here. After the limit the
    thread is abandoned (a keyring call cannot be cancelled): it may still finish later, and
    its result is then dropped.
    """
    outcome: list[tuple[bool, Any]] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append((True, action()))
        except BaseException as exc:  # handed to the caller's thread
            outcome.append((False, exc))
        finally:
            done.set()

    thread = threading.Thread(target=run, name="sipe-setup keyring call", daemon=True)
    thread.start()
    if not done.wait(seconds):
        raise NotAnswering(seconds)
    ok, value = outcome.pop()
    if ok:
        return value  # type: ignore[no-any-return]
    raise value


class TimedConnection:
    """A jeepney blocking connection whose every wait has a limit.

    Method calls: ``timeout`` (→ :class:`NotAnswering`). Waiting for a signal (an unlock or
    create prompt's ``Completed``): ``prompt_timeout`` (→ ``TimeoutError``). Everything else is
    the wrapped connection's.
    """

    def __init__(self, connection: Any, timeout: float,
                 prompt_timeout: float = UNLOCK_TIMEOUT) -> None:
        self._connection = connection
        self.timeout = timeout
        self.prompt_timeout = prompt_timeout

    def send_and_get_reply(self, message: Any, *, timeout: float | None = None,
                           **kwargs: Any) -> Any:
        limit = self.timeout if timeout is None else timeout
        try:
            return self._connection.send_and_get_reply(message, timeout=limit, **kwargs)
        except TimeoutError as exc:
            raise NotAnswering(limit) from exc

    def recv_until_filtered(self, queue: Any, *, timeout: float | None = None) -> Any:
        limit = self.prompt_timeout if timeout is None else timeout
        return self._connection.recv_until_filtered(queue, timeout=limit)

    def close(self) -> None:
        self._connection.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def open_connection(timeout: float | None = None) -> TimedConnection:
    """A new session-bus connection with time limits (close it when done).

    Raises:
        NotAnswering: the bus itself did not answer.
        secretstorage.exceptions.SecretServiceNotAvailableException: no session bus.
    """
    import secretstorage

    limit = keyring_timeout() if timeout is None else timeout
    # dbus_init says Hello and adds a match rule on the bus: bounded from the outside.
    return TimedConnection(within(limit, secretstorage.dbus_init), limit)


def default_collection_locked(connection: TimedConnection) -> bool | None:
    """Whether the default keyring is locked; None when there is no default keyring yet.

    Asks nothing of the user. Raises :class:`NotAnswering` when the service does not reply.
    """
    import secretstorage

    try:
        collection = secretstorage.get_collection_by_alias(connection, "default")
    except secretstorage.exceptions.ItemNotFoundException:
        return None
    return bool(collection.is_locked())


def provider_name(connection: Any | None = None) -> str:
    """Who serves ``org.freedesktop.secrets`` ("GNOME Keyring", "KWallet", …), or ""."""
    if not sys.platform.startswith("linux"):
        return ""
    from jeepney.bus_messages import message_bus

    owned = connection is None
    conn = open_connection(2.0) if connection is None else connection
    try:
        reply = conn.send_and_get_reply(
            message_bus.GetConnectionUnixProcessID(BUS_NAME), timeout=2)
        pid = int(reply.body[0])
    finally:
        if owned:
            conn.close()
    comm = Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip()
    return next((name for prefix, name in _PROVIDERS if comm.startswith(prefix)), "")


def secret_service_name(connection: Any | None = None) -> str:
    """The Secret Service's name, with who serves it when we can tell (GNOME Keyring, …)."""
    provider = ""
    with contextlib.suppress(Exception):  # only a nicer name is at stake
        provider = provider_name(connection)
    return f"{provider} ({SECRET_SERVICE})" if provider else SECRET_SERVICE
