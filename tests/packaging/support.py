"""Where the tests of the packaging find things, from the source tree or an installed package.

``SIPE_SETUP_INSTALLED_TEST`` tells how sipe-setup was installed when the tests run against an
installed package instead of the source tree: ``wheel`` (``make dist-check``: a fresh venv with
the wheel) or ``deb`` (the Debian package: ``make deb-check`` and the autopkgtest). Unset: the
source tree with the development venv (``make test``).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import sipe_setup

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = os.environ.get("SIPE_SETUP_INSTALLED_TEST", "")
PACKAGE_DIR = Path(sipe_setup.__file__).resolve().parent


def program(name: str) -> str:
    """The ``sipe-setup``/``sipe-setup-gui`` that belongs to the sipe_setup being tested."""
    if INSTALLED == "deb":
        return f"/usr/bin/{name}"
    beside = Path(sys.executable).parent / name  # a venv: the development one, or dist-check's
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    assert found, f"{name} is not installed"
    return found


def exec_arguments(value: str) -> list[str]:
    """An ``Exec`` value split as the Desktop Entry spec says (string escapes, then quoting)."""
    unescaped = re.sub(r"\\(.)", lambda m: {"s": " ", "n": "\n", "t": "\t", "r": "\r"}
                       .get(m.group(1), m.group(1)), value)
    arguments = []
    for match in re.finditer(r'"((?:[^"\\]|\\.)*)"|(\S+)', unescaped):
        quoted, plain = match.groups()
        arguments.append(re.sub(r'\\([\"`$\\])', r"\1", quoted) if quoted is not None
                         else plain)
    return [argument.replace("%%", "%") for argument in arguments]
