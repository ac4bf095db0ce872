"""Reading and writing Pidgin's XML files safely.

Invariants:
- input files are untrusted: parsed with ``defusedxml`` (no DTDs, no entities), comments kept,
  and read only up to :data:`MAX_FILE_BYTES`;
- a document is written back with :func:`commit`, under the caller's
  :func:`~sipe_setup.core.fileio.locked_folder`: the file must still be what was read
  (:class:`~sipe_setup.core.fileio.FileChangedError` otherwise), a timestamped backup of what
  was read is kept first (optionally with a removed password scrubbed out), then the file is
  replaced atomically with mode 0600.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # only to build and serialise; parsing is defused
from datetime import datetime
from pathlib import Path
from pyexpat import ErrorString
from typing import Final

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from sipe_setup.core.export.pidgin.model import PidginFileError
from sipe_setup.core.fileio import (
    FileChangedError,
    Snapshot,
    backup_file,
    read_snapshot,
    write_atomic,
)

__all__ = ["MAX_FILE_BYTES", "check_unchanged", "commit", "load", "parse", "serialise", "text"]

MAX_FILE_BYTES = 16 * 1024 * 1024
"""Pidgin files larger than this are refused rather than read (a real one is a few KiB)."""

XML_DECLARATION: Final = "<?xml version='1.0' encoding='UTF-8' ?>\n"


def text(element: ET.Element | None) -> str:
    """All the text inside ``element`` ("" for None)."""
    return "" if element is None else "".join(element.itertext())


def read_bounded(path: Path) -> Snapshot:
    """The file's bytes (``data`` None when it does not exist), at most MAX_FILE_BYTES."""
    try:
        snapshot = read_snapshot(path, limit=MAX_FILE_BYTES)
    except OSError as exc:
        raise PidginFileError(path, f"cannot be read ({exc.strerror or exc})") from exc
    if snapshot.data is not None and len(snapshot.data) > MAX_FILE_BYTES:
        raise PidginFileError(
            path, f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB, which no Pidgin file is"
        )
    return snapshot


def parse(path: Path, data: bytes, *, root_tag: str, what: str) -> ET.Element:
    """Parse untrusted XML (comments kept) and check the root element."""
    parser = DefusedXMLParser(
        target=ET.TreeBuilder(insert_comments=True),
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )
    try:
        parser.feed(data)
        root: ET.Element = parser.close()
    except ET.ParseError as exc:
        line, column = exc.position
        reason = ErrorString(exc.code)
        raise PidginFileError(
            path, f"is not valid XML ({reason} at line {line}, column {column + 1})"
        ) from exc
    except DefusedXmlException as exc:
        raise PidginFileError(
            path, f"contains a DTD or entity declaration, which {what} never has ({exc})"
        ) from exc
    except LookupError:  # <?xml encoding="…"?> names an encoding Python does not know
        raise PidginFileError(path, "declares a text encoding that does not exist") from None
    if root.tag != root_tag:
        raise PidginFileError(
            path,
            f"is not a Pidgin {what}: its top element is <{root.tag}>, expected <{root_tag}>",
        )
    return root


def load(path: Path, *, root_tag: str, what: str) -> tuple[Snapshot, ET.Element | None]:
    """What the file holds now, and its parsed tree (None when there is no file)."""
    snapshot = read_bounded(path)
    if snapshot.data is None:
        return snapshot, None
    return snapshot, parse(path, snapshot.data, root_tag=root_tag, what=what)


def serialise(root: ET.Element) -> bytes:
    ET.indent(root, space="\t")
    body = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    return (XML_DECLARATION + "\n" + body + "\n").encode("utf-8")


def check_unchanged(snapshot: Snapshot) -> None:
    """Raise :class:`FileChangedError` when the file no longer holds what was read."""
    try:
        current = read_snapshot(snapshot.path, limit=MAX_FILE_BYTES)
    except OSError:
        current = Snapshot(snapshot.path, b"")  # unreadable now: certainly not what we read
    if current.data != snapshot.data:
        raise FileChangedError(snapshot.path)


def commit(
    snapshot: Snapshot,
    root: ET.Element,
    *,
    now: datetime | None,
    backup_data: bytes | None = None,
) -> Path | None:
    """Back up what was read (``backup_data`` instead, when given), then replace the file
    atomically (mode 0600) unless it changed since ``snapshot``; returns the backup.

    Raises:
        FileChangedError: another program changed the file since it was read (nothing written).
        FileWriteError: the backup or the file cannot be written (the file is unchanged).
    """
    check_unchanged(snapshot)
    backup = None
    if snapshot.data is not None:
        backup_data = snapshot.data if backup_data is None else backup_data
        backup = backup_file(snapshot.path, now=now, data=backup_data)
    write_atomic(snapshot.path, serialise(root), expect=snapshot)
    return backup
