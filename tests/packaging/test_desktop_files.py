"""The .desktop file and the AppStream metainfo: valid for the validators, consistent with the
program (id, icon, version) and with the packaging (debian/changelog, the Flatpak manifest)."""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sipe_setup import APP_ID, __version__
from sipe_setup.desktop import DESKTOP_FILE, ICON_FILE, METAINFO_FILE, data_path
from tests.conftest import require_tool
from tests.packaging.support import INSTALLED, ROOT


def _packaged(name: str) -> Path:
    path = data_path(name)
    assert path is not None, f"{name} is not installed with the package (package data)"
    return path


def _desktop_files() -> list[Path]:
    files = [_packaged(DESKTOP_FILE)]
    if INSTALLED == "deb":
        files.append(Path("/usr/share/applications") / DESKTOP_FILE)
    return files


def _metainfo_files() -> list[Path]:
    files = [_packaged(METAINFO_FILE)]
    if INSTALLED == "deb":
        files.append(Path("/usr/share/metainfo") / METAINFO_FILE)
    return files


def test_desktop_file_passes_desktop_file_validate() -> None:
    tool = require_tool("desktop-file-validate")
    for path in _desktop_files():
        result = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=30)
        # desktop-file-validate exits 0 with hints; errors and warnings are what count.
        problems = [line for line in result.stdout.splitlines()
                    if ": error:" in line or ": warning:" in line]
        assert result.returncode == 0 and not problems, result.stdout + result.stderr


def test_metainfo_passes_appstreamcli_validate() -> None:
    tool = require_tool("appstreamcli")
    for path in _metainfo_files():
        # --no-net: the screenshot URLs are not fetched (CI may be offline).
        result = subprocess.run([tool, "validate", "--no-net", str(path)], capture_output=True,
                                text=True, timeout=60)
        problems = [line for line in result.stdout.splitlines() if line.startswith(("E:", "W:"))]
        assert result.returncode == 0 and not problems, result.stdout + result.stderr


def _metainfo() -> ET.Element:
    return ET.parse(_packaged(METAINFO_FILE)).getroot()


def test_metainfo_has_what_software_centres_show() -> None:
    root = _metainfo()
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable") == DESKTOP_FILE
    urls = {url.get("type"): url.text for url in root.findall("url")}
    assert (urls.get("homepage") or "").startswith("https://")
    assert root.findtext("developer/name")
    assert root.find("content_rating") is not None
    screenshots = root.findall("screenshots/screenshot")
    assert screenshots and screenshots[0].get("type") == "default"
    for shot in screenshots:
        image = shot.findtext("image") or ""
        name = image.rsplit("/", 1)[-1]
        assert image.startswith("https://") and shot.findtext("caption"), image
        if (ROOT / "docs" / "screenshots").is_dir():
            assert (ROOT / "docs" / "screenshots" / name).is_file(), f"no screenshot {name}"
    binaries = {binary.text for binary in root.findall("provides/binary")}
    assert binaries == {"sipe-setup", "sipe-setup-gui"}


def test_the_newest_release_is_this_version() -> None:
    releases = _metainfo().findall("releases/release")
    assert releases, "the metainfo lists no release"
    assert releases[0].get("version") == __version__, (
        "add a <release> for this version at the top of the metainfo's <releases>")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", releases[0].get("date") or "")


def test_desktop_entry_names_the_program_and_icon() -> None:
    text = _packaged(DESKTOP_FILE).read_text(encoding="utf-8")
    keys = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    assert keys["Exec"] == "sipe-setup-gui"
    assert keys["Icon"] == APP_ID
    assert _packaged(ICON_FILE).read_bytes().lstrip().startswith(b"<?xml")


@pytest.mark.skipif(not (ROOT / "packaging").is_dir(), reason="packaging/ is not here")
def test_packaging_carries_the_same_version_and_id() -> None:
    changelog = (ROOT / "packaging" / "debian" / "changelog").read_text(encoding="utf-8")
    first = changelog.splitlines()[0]
    version = re.search(r"\(([^)]+)\)", first)
    assert version is not None and version.group(1).split("-")[0] == __version__, (
        f"debian/changelog's newest entry is {first!r}; this is version {__version__}")
    manifest = (ROOT / "packaging" / "flatpak" / f"{APP_ID}.yml").read_text(encoding="utf-8")
    assert re.search(rf"^id: {re.escape(APP_ID)}$", manifest, re.MULTILINE)
