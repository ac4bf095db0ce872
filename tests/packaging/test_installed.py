"""When the tests run against an installed package (``make dist-check``, ``make deb-check``,
the Debian autopkgtest), they really test that package and not a source tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import sipe_setup
from tests.packaging.support import INSTALLED, PACKAGE_DIR, ROOT, program

pytestmark = pytest.mark.skipif(not INSTALLED, reason="the source tree is being tested")


def test_sipe_setup_comes_from_the_installed_package() -> None:
    assert not (ROOT / "app").exists(), "the source tree's app/ must not be next to the tests"
    assert not PACKAGE_DIR.is_relative_to(ROOT)
    if INSTALLED == "deb":
        assert Path("/usr/lib/python3/dist-packages/sipe_setup") == PACKAGE_DIR
    else:
        assert PACKAGE_DIR.is_relative_to(Path(sys.prefix)), (PACKAGE_DIR, sys.prefix)
        assert "site-packages" in PACKAGE_DIR.parts


def test_the_installed_programs_report_this_version() -> None:
    for name in ("sipe-setup", "sipe-setup-gui"):
        done = subprocess.run([program(name), "--version"], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"{name} {sipe_setup.__version__}"
