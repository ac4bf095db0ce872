"""Shared test setup: external tools are required under CI, optional on a developer machine."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.servers.secret_service import GnomeKeyringService

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # so that `tests.servers...` imports work from any cwd
    sys.path.insert(0, str(ROOT))

UNDER_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(name: str) -> str:
    """Path of an external program the test drives for real.

    Missing under CI=true → the test FAILS (CI must have installed it via `make test`);
    missing on a developer machine → skipped, with the command that installs it.
    """
    path = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )
    if path:
        return path
    message = f"{name} is not installed; `make test` installs it (scripts/install-system-deps.sh)"
    if UNDER_CI:
        pytest.fail(message)
    pytest.skip(message)  # not under CI (see UNDER_CI above)
    raise AssertionError("unreachable")


@pytest.fixture
def secret_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[GnomeKeyringService]:
    """A private, unlocked gnome-keyring on a private D-Bus bus, for this test only.

    In-process ``secretstorage``/``keyring`` calls go to it (the session bus address is
    monkeypatched); ``service.env`` is what a subprocess (finch, secret-tool) needs. Pass
    ``keyring.backends.SecretService.Keyring()`` to ``PasswordVault`` explicitly: the
    process-wide ``keyring.get_keyring()`` may have been chosen before this bus existed.
    """
    from tests.servers.secret_service import GnomeKeyringService

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


@pytest.fixture
def finch() -> None:
    """Real finch + pidgin-sipe are installed (fails under CI when not)."""
    from tests.servers.finch import require_finch

    require_finch()


@pytest.fixture
def finch_with_keyring_plugin() -> None:
    """Real finch + pidgin-sipe + pidgin-gnome-keyring are installed (fails under CI when not)."""
    from tests.servers.finch import require_finch

    require_finch(keyring_plugin=True)
