"""Shared test setup: external tools are required under CI, optional on a developer machine."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

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
