"""Desktop integration without Qt: the packaged data files and a user menu entry.

The icon, the ``.desktop`` file and the AppStream metainfo are package data
(``sipe_setup/data/``), so they travel with every kind of install: the source tree, a wheel
(pip, pipx, a venv), the Debian package, the Flatpak. :func:`data_path` finds them there;
``gui/app.py`` takes the window icon from the desktop theme first and from here otherwise.

A distribution package or the Flatpak puts the menu entry and the icon where the desktop looks
(``/usr/share/applications``, ``/usr/share/icons/hicolor``). A wheel installed with pipx
cannot; for that case ``sipe-setup --install-desktop-entry`` writes
``$XDG_DATA_HOME/applications/<APP_ID>.desktop`` (default ``~/.local/share``) pointing at the
installed ``sipe-setup-gui`` by its absolute path (pipx's ``~/.local/bin`` is often not on the
PATH a desktop session starts programs with) and copies the icon into
``$XDG_DATA_HOME/icons/hicolor/scalable/apps/``. Running it again changes nothing unless
something differs; ``--uninstall-desktop-entry`` removes exactly what it wrote (a menu entry of
the same name that sipe-setup did not write is left alone). Menu entries are a freedesktop.org
thing: on Windows and macOS both options say so and change nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final

from sipe_setup import APP_ID

__all__ = [
    "DESKTOP_FILE",
    "ENTRY_MARKER",
    "ICON_FILE",
    "METAINFO_FILE",
    "Change",
    "DesktopEntryError",
    "EntryPaths",
    "data_path",
    "desktop_entry_command",
    "entry_paths",
    "exec_quote",
    "gui_executable",
    "icon_path",
    "install_desktop_entry",
    "render_desktop_entry",
    "uninstall_desktop_entry",
]

DESKTOP_FILE: Final = f"{APP_ID}.desktop"
METAINFO_FILE: Final = f"{APP_ID}.metainfo.xml"
ICON_FILE: Final = f"{APP_ID}.svg"
GUI_PROGRAM: Final = "sipe-setup-gui"
# The first line of an entry this module wrote; uninstall removes only such a file.
ENTRY_MARKER: Final = ("# Written by sipe-setup --install-desktop-entry; "
                       "sipe-setup --uninstall-desktop-entry removes it.")


def data_path(name: str) -> Path | None:
    """A packaged data file (``sipe_setup/data/NAME``) as a real file, or None.

    None when the package is imported from somewhere without real files (a zip) or the file
    is missing from this install.
    """
    try:
        resource = resources.files("sipe_setup") / "data" / name
    except (ModuleNotFoundError, OSError):  # pragma: no cover - sipe_setup is importable here
        return None
    path = Path(str(resource)) if isinstance(resource, os.PathLike) else None
    return path if path is not None and path.is_file() else None


def icon_path() -> Path | None:
    """The application's SVG icon as installed with the package, or None."""
    return data_path(ICON_FILE)


# --- the user's menu entry --------------------------------------------------------------------


@dataclass(frozen=True)
class EntryPaths:
    """Where the user's menu entry and icon go."""

    desktop_file: Path
    icon_file: Path


@dataclass(frozen=True)
class Change:
    """What happened to one file: ``written``, ``unchanged``, ``removed``, ``absent`` or ``kept``
    (a file sipe-setup did not write, left alone)."""

    path: Path
    action: str


def _data_home() -> Path:
    """``$XDG_DATA_HOME`` when it is an absolute path (the spec ignores others), else
    ``~/.local/share``."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if value and os.path.isabs(value) else Path.home() / ".local" / "share"


def entry_paths(data_home: Path | None = None) -> EntryPaths:
    """The user's menu entry and icon under ``data_home`` (default: the XDG data home)."""
    home = _data_home() if data_home is None else data_home
    return EntryPaths(desktop_file=home / "applications" / DESKTOP_FILE,
                      icon_file=home / "icons" / "hicolor" / "scalable" / "apps" / ICON_FILE)


def gui_executable() -> Path | None:
    """The installed ``sipe-setup-gui`` that belongs to this installation, as an absolute path.

    In order: next to the ``sipe-setup`` being run (pipx's ``~/.local/bin``, a venv's
    ``bin``), the scripts folder of this Python (a venv, or a system install), the user
    scheme's (``pip install --user``), then the PATH.
    """
    candidates: list[Path] = []
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if program is not None and program.name.removesuffix(".exe") == "sipe-setup":
        candidates.append(program.absolute().parent / GUI_PROGRAM)
    with contextlib.suppress(KeyError):
        candidates.append(Path(sysconfig.get_path("scripts")) / GUI_PROGRAM)
    with contextlib.suppress(KeyError):
        user_scheme = sysconfig.get_preferred_scheme("user")
        candidates.append(Path(sysconfig.get_path("scripts", user_scheme)) / GUI_PROGRAM)
    found = shutil.which(GUI_PROGRAM)
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate.absolute()
    return None


_EXEC_RESERVED: Final = frozenset(" \t\n\"'\\><~|&;$*?#()`")


def _escape_string(value: str) -> str:
    """A desktop-entry ``string``/``localestring`` value (backslash escapes)."""
    return (value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
            .replace("\r", "\\r"))


def exec_quote(argument: str) -> str:
    """One ``Exec`` argument, quoted by the Desktop Entry spec's rules (before the general
    string escaping): double quotes when it holds a reserved character, ``"`$\\`` escaped
    inside them, ``%`` doubled."""
    argument = argument.replace("%", "%%")
    if any(ch in _EXEC_RESERVED for ch in argument):
        inner = "".join("\\" + ch if ch in '"`$\\' else ch for ch in argument)
        argument = f'"{inner}"'
    return argument


def render_desktop_entry(template: str, executable: Path) -> str:
    """The packaged ``.desktop`` text with ``Exec``/``TryExec`` naming ``executable``."""
    lines = [ENTRY_MARKER]
    in_main_group = False
    for line in template.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            in_main_group = stripped == "[Desktop Entry]"
            lines.append(line)
            if in_main_group:
                lines.append(f"TryExec={_escape_string(str(executable))}")
            continue
        if in_main_group and stripped.startswith(("Exec=", "TryExec=")):
            if stripped.startswith("Exec="):
                lines.append(f"Exec={_escape_string(exec_quote(str(executable)))}")
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


def _write_if_different(path: Path, content: bytes) -> Change:
    try:
        if path.is_file() and path.read_bytes() == content:
            return Change(path, "unchanged")
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(content)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return Change(path, "written")


def _refresh_caches(paths: EntryPaths) -> None:
    """Let menus and icon caches notice (best effort: both are optional tools)."""
    tool = shutil.which("update-desktop-database")
    if tool and paths.desktop_file.parent.is_dir():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run([tool, "-q", str(paths.desktop_file.parent)], check=False,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=20)
    theme_dir = paths.icon_file.parents[2]  # …/icons/hicolor: caches compare its mtime
    if theme_dir.is_dir():
        with contextlib.suppress(OSError):
            os.utime(theme_dir)


class DesktopEntryError(Exception):
    """The entry cannot be installed here; the message says why in plain words."""


def _freedesktop_platform() -> bool:
    return not sys.platform.startswith(("win", "cygwin", "darwin"))


def install_desktop_entry(data_home: Path | None = None,
                          executable: Path | None = None) -> list[Change]:
    """Write (or refresh) the user's menu entry and icon. Idempotent.

    Raises:
        DesktopEntryError: not a freedesktop.org desktop, no installed ``sipe-setup-gui``,
            the packaged files are missing.
        OSError: a file cannot be written.
    """
    if not _freedesktop_platform():
        raise DesktopEntryError("menu entries written by sipe-setup are for Linux and BSD "
                                "desktops (freedesktop.org); on this system start "
                                "sipe-setup-gui directly")
    program = executable if executable is not None else gui_executable()
    if program is None:
        raise DesktopEntryError(f"cannot find the installed {GUI_PROGRAM} program; install "
                                "sipe-setup with pipx or pip first (pipx install sipe-setup)")
    template, icon = data_path(DESKTOP_FILE), icon_path()
    if template is None or icon is None:
        raise DesktopEntryError("this installation of sipe-setup lacks its desktop files "
                                f"({DESKTOP_FILE}, {ICON_FILE}); reinstall it")
    paths = entry_paths(data_home)
    text = render_desktop_entry(template.read_text(encoding="utf-8"), program)
    changes = [_write_if_different(paths.icon_file, icon.read_bytes()),
               _write_if_different(paths.desktop_file, text.encode("utf-8"))]
    if any(change.action == "written" for change in changes):
        _refresh_caches(paths)
    return changes


def _written_by_us(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return handle.readline().rstrip("\n") == ENTRY_MARKER
    except OSError:
        return False


def uninstall_desktop_entry(data_home: Path | None = None) -> list[Change]:
    """Remove the menu entry and icon :func:`install_desktop_entry` wrote. Idempotent.

    A menu entry of that name without sipe-setup's first line is kept, and so is the icon
    next to it (someone else put them there).
    """
    paths = entry_paths(data_home)
    changes: list[Change] = []
    ours = not paths.desktop_file.exists() or _written_by_us(paths.desktop_file)
    for path in (paths.desktop_file, paths.icon_file):
        if not path.exists() and not path.is_symlink():
            changes.append(Change(path, "absent"))
        elif not ours:
            changes.append(Change(path, "kept"))
        else:
            path.unlink()
            changes.append(Change(path, "removed"))
    if any(change.action == "removed" for change in changes):
        _refresh_caches(paths)
    return changes


def _system_entries() -> list[Path]:
    """Menu entries of the same id installed system-wide (a distribution package)."""
    dirs = os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share"
    found = [Path(d) / "applications" / DESKTOP_FILE for d in dirs.split(":") if d]
    return [path for path in found if path.is_file()]


_WORDS: Final = {"written": "written", "unchanged": "already up to date", "removed": "removed",
                 "absent": "not there", "kept": "not written by sipe-setup, left alone"}


def desktop_entry_command(action: str) -> int:
    """``sipe-setup --install-desktop-entry`` / ``--uninstall-desktop-entry``: exit status."""
    try:
        changes = install_desktop_entry() if action == "install" else uninstall_desktop_entry()
    except DesktopEntryError as exc:
        print(f"sipe-setup: {exc}.", file=sys.stderr)
        return 1
    except OSError as exc:
        name = exc.filename or "the file"
        print(f"sipe-setup: cannot write {name}: {exc.strerror or exc}.", file=sys.stderr)
        return 1
    for change in changes:
        print(f"{change.path}: {_WORDS.get(change.action, change.action)}")
    if action == "install":
        program = gui_executable()
        print(f"The menu entry \"sipe-setup\" starts {program}.")
        system = _system_entries()
        if system:
            print(f"Note: {system[0]} (a system-wide entry) exists too; yours is used.")
    kept = any(change.action == "kept" for change in changes)
    return 1 if kept else 0
