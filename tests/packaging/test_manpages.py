"""packaging/man/*.1 are up to date with the programs' options and format without warnings."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.packaging.support import INSTALLED, ROOT

GENERATOR = ROOT / "scripts" / "manpages.py"
MAN_DIR = ROOT / "packaging" / "man"
pytestmark = pytest.mark.skipif(not GENERATOR.is_file(), reason="scripts/ is not here")


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("sipe_setup_manpages", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["sipe-setup.1", "sipe-setup-gui.1"])
def test_man_page_is_up_to_date(name: str) -> None:
    generated = _generator().PAGES[name]()
    assert (MAN_DIR / name).read_text(encoding="utf-8") == generated, (
        f"packaging/man/{name} is out of date: run `make manpages`")


@pytest.mark.parametrize("name", ["sipe-setup.1", "sipe-setup-gui.1"])
def test_man_page_formats_without_warnings(name: str) -> None:
    groff = require_tool("groff")
    path = MAN_DIR / name
    if INSTALLED == "deb":
        assert Path(f"/usr/share/man/man1/{name}.gz").is_file()
    done = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_every_option_is_in_the_page() -> None:
    from sipe_setup.cli import build_parser

    text = (MAN_DIR / "sipe-setup.1").read_text(encoding="utf-8").replace("\\-", "-")
    for option in ("--install-desktop-entry", "--password-stdin", "--save", "--purple-dir"):
        assert option in text
    assert build_parser().prog == "sipe-setup"
