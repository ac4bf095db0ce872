"""prefs.xml: make Pidgin and Finch load the pidgin-gnome-keyring plugin.

Pidgin loads the plugins listed in /pidgin/plugins/loaded, Finch those in /finch/plugins/loaded.
The shape finch writes (checked with finch 2.14)::

    <pref version='1' name='/'>
      <pref name='finch'><pref name='plugins'>
        <pref name='loaded' type='pathlist'><item value='/usr/lib/purple-2/gnome-keyring.so'/>
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # only to build and serialise; parsing is defused
from datetime import datetime
from pathlib import Path
from typing import Final

from sipe_setup.core.export.pidgin import paths, xmlfile
from sipe_setup.core.export.pidgin.model import PidginFileError
from sipe_setup.core.export.pidgin.running import ensure_not_running
from sipe_setup.core.fileio import Snapshot, locked_folder

__all__ = ["enable_keyring_plugin", "load_prefs", "merge_keyring_plugin"]

_LOADED_PLUGIN_PREFS: Final = (("pidgin", "plugins", "loaded"), ("finch", "plugins", "loaded"))


def load_prefs(path: Path) -> tuple[Snapshot, ET.Element | None]:
    """prefs.xml as read now, and its tree (None when there is none).

    Raises:
        PidginFileError: it is corrupt, unreadable or not a Pidgin preferences file.
    """
    snapshot, root = xmlfile.load(path, root_tag="pref", what="preferences file (prefs.xml)")
    if root is not None and root.get("name") != "/":
        raise PidginFileError(path, "is not a Pidgin preferences file: its top <pref> is not '/'")
    return snapshot, root


def _child_pref(parent: ET.Element, name: str) -> ET.Element:
    for pref in parent.findall("pref"):
        if pref.get("name") == name:
            return pref
    return ET.SubElement(parent, "pref", {"name": name})


def _add_plugin(root: ET.Element, plugin: Path) -> bool:
    """Add ``plugin`` to Pidgin's and Finch's loaded lists; True when something changed."""
    changed = False
    for path in _LOADED_PLUGIN_PREFS:
        node = root
        for name in path:
            node = _child_pref(node, name)
        if node.get("type") != "pathlist":
            node.attrib.pop("value", None)
            node.set("type", "pathlist")
            changed = True
        if not any(item.get("value") == str(plugin) for item in node.findall("item")):
            ET.SubElement(node, "item", {"value": str(plugin)})
            changed = True
    return changed


def merge_keyring_plugin(
    snapshot: Snapshot, root: ET.Element | None, plugin: Path, *, now: datetime | None
) -> bool:
    """Write prefs.xml (read as ``snapshot``/``root``) with the plugin listed; True if written.

    The caller holds the folder lock.
    """
    if root is None:
        root = ET.Element("pref", {"version": "1", "name": "/"})
    if not _add_plugin(root, plugin):
        return False
    xmlfile.commit(snapshot, root, now=now)
    return True


def enable_keyring_plugin(purple_dir: Path, *, now: datetime | None = None) -> bool:
    """Make prefs.xml load pidgin-gnome-keyring in Pidgin and Finch; True if prefs.xml changed.

    Returns False, writing nothing, when the plugin is listed already or is not installed
    (see :func:`~sipe_setup.core.export.pidgin.paths.keyring_plugin_path`).

    Raises:
        PidginRunning: Pidgin or Finch uses ``purple_dir``; nothing was touched.
        PidginFileError: prefs.xml is corrupt or unreadable; nothing was touched.
        FolderBusy: another export holds the folder.
    """
    ensure_not_running(purple_dir)
    plugin = paths.keyring_plugin_path()
    if plugin is None:
        return False
    with locked_folder(purple_dir, what="export"):
        snapshot, root = load_prefs(paths.prefs_path(purple_dir))
        return merge_keyring_plugin(snapshot, root, plugin, now=now)
