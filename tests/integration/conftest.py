"""Fixtures for integration tests that need more than one real program."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import require_tool
from tests.servers.secret_service import GnomeKeyringService


@pytest.fixture
def secret_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[GnomeKeyringService]:
    """A private, unlocked gnome-keyring on a private D-Bus bus, for this test only.

    In-process ``secretstorage``/``keyring`` calls go to it (the session bus address is
    monkeypatched); ``service.env`` is what a subprocess (finch, secret-tool) needs. Pass
    ``keyring.backends.SecretService.Keyring()`` to ``PasswordVault`` explicitly: the
    process-wide ``keyring.get_keyring()`` may have been chosen before this bus existed.
    """
    require_tool("dbus-daemon")
    require_tool("gnome-keyring-daemon")
    with GnomeKeyringService.start() as service:
        for name, value in service.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.SecretService.Keyring")
        # Nothing in this test may reach a desktop's keyring by another route.
        for name in ("GNOME_KEYRING_CONTROL", "DISPLAY", "WAYLAND_DISPLAY"):
            if name in os.environ:
                monkeypatch.delenv(name)
        yield service
