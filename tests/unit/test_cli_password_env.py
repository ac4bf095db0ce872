"""``--password-env VAR``: read once, then gone from the environment before the command runs."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from sipe_setup import cli, cli_profiles
from sipe_setup.cli_common import read_password
from sipe_setup.core.account import Secret

SENTINEL = "Env-Sentinel-Pw-8d2e!"
CHILD = "import os; print(os.environ.get('SIPE_TEST_PASSWORD', 'absent'))"


@pytest.fixture(autouse=True)
def _keep_this_process_debuggable(monkeypatch: pytest.MonkeyPatch) -> None:
    """main() turns core dumps off for good; not for the test runner (tested in a child)."""
    monkeypatch.setattr(cli, "harden_process", lambda: None, raising=False)


def test_the_variable_is_gone_before_the_command_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIPE_TEST_PASSWORD", SENTINEL)
    seen: dict[str, object] = {}

    def export(args: argparse.Namespace) -> int:  # stands in for the real command
        seen["environ"] = os.environ.get("SIPE_TEST_PASSWORD")
        seen["child"] = subprocess.run([sys.executable, "-c", CHILD], capture_output=True,
                                       text=True, check=True, timeout=30).stdout.strip()
        seen["password"] = read_password(args)
        return 0

    monkeypatch.setattr(cli_profiles, "_export", export)
    assert cli.main(["export-pidgin", "Work", "--password-env", "SIPE_TEST_PASSWORD"]) == 0
    assert seen["environ"] is None
    assert seen["child"] == "absent"
    password = seen["password"]
    assert isinstance(password, Secret) and password.reveal() == SENTINEL
    assert "SIPE_TEST_PASSWORD" not in os.environ


def test_an_unset_or_empty_variable_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIPE_TEST_PASSWORD", "")
    seen: list[object] = []
    monkeypatch.setattr(cli_profiles, "_export", lambda args: seen.append(read_password(args))
                        or 0)
    cli.main(["export-pidgin", "Work", "--password-env", "SIPE_TEST_PASSWORD"])
    cli.main(["export-pidgin", "Work", "--password-env", "SIPE_NOT_SET_AT_ALL"])
    assert seen == ["the environment variable SIPE_TEST_PASSWORD is not set or empty",
                    "the environment variable SIPE_NOT_SET_AT_ALL is not set or empty"]
    assert "SIPE_TEST_PASSWORD" not in os.environ
