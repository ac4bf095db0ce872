"""The Flatpak manifest: its permissions, and pinned wheels that satisfy pyproject.toml.

(The manifest is parsed by ``make flatpak-check`` with flatpak-builder itself; this test needs
no flatpak-builder and reads it as text.)"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from sipe_setup import APP_ID
from tests.packaging.support import ROOT

MANIFEST = ROOT / "packaging" / "flatpak" / f"{APP_ID}.yml"
pytestmark = pytest.mark.skipif(not MANIFEST.is_file(), reason="packaging/ is not here")
# Provided by the PySide6 base app, not by the manifest's wheels.
FROM_BASE_APP = {"pyside6-essentials"}


def _requirements() -> list[Requirement]:
    pyproject = ROOT / "pyproject.toml"
    if pyproject.is_file():
        lines = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    else:
        lines = importlib.metadata.requires("sipe-setup") or []
    requirements = [Requirement(line) for line in lines]
    return [r for r in requirements
            if r.marker is None or r.marker.evaluate({"sys_platform": "linux", "extra": ""})]


def _pinned() -> dict[str, set[str]]:
    """Wheel name → versions pinned in the manifest (any architecture)."""
    pinned: dict[str, set[str]] = {}
    for url in re.findall(r"url: (https://\S+\.whl)", MANIFEST.read_text(encoding="utf-8")):
        name, version, _build, _tags = parse_wheel_filename(url.rsplit("/", 1)[-1])
        pinned.setdefault(str(name), set()).add(str(version))
    return pinned


def test_every_runtime_dependency_is_pinned_within_pyproject_bounds() -> None:
    pinned = _pinned()
    problems = []
    for requirement in _requirements():
        name = canonicalize_name(requirement.name)
        if name in FROM_BASE_APP:
            continue
        versions = pinned.get(name, set())
        if not versions:
            problems.append(f"{requirement}: no wheel in the manifest")
        problems += [f"{requirement}: the manifest pins {v}" for v in versions
                     if not requirement.specifier.contains(v, prereleases=True)]
    assert problems == [], "refresh the manifest's wheels (see its header): " + "; ".join(problems)


def test_sources_are_pinned_https_downloads() -> None:
    text = MANIFEST.read_text(encoding="utf-8")
    urls = re.findall(r"url: (\S+)", text)
    assert urls and all(url.startswith("https://files.pythonhosted.org/") for url in urls)
    assert len(re.findall(r"sha256: [0-9a-f]{64}\b", text)) == len(urls)


def test_permissions_are_what_sipe_setup_needs() -> None:
    text = MANIFEST.read_text(encoding="utf-8")
    args = set(re.findall(r"^  - (--\S+)", text, re.MULTILINE))
    assert {"--share=network", "--talk-name=org.freedesktop.secrets",
            "--filesystem=~/.purple:create", "--socket=wayland",
            "--socket=fallback-x11"} <= args
    assert not any(arg in args for arg in ("--filesystem=home", "--filesystem=host",
                                           "--socket=session-bus"))
    assert re.search(r"^command: sipe-setup-gui$", text, re.MULTILINE)
    assert re.search(r"^runtime: org\.kde\.Platform$", text, re.MULTILINE)
    assert re.search(r"^base: io\.qt\.PySide\.BaseApp$", text, re.MULTILINE)
