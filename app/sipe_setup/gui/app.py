"""``sipe-setup-gui``: start the wizard.

Options (all optional; anything else, like ``-platform offscreen``, goes to Qt)::

    --nameserver IP[:PORT]   ask this DNS server (repeatable; default: the system's)
    --ca-file PEM            trust these CA certificates too (SIP TLS and autodiscover)
    --prefill-json FILE|JSON fill the fields: {"signin": ..., "login": ..., "server": ...,
                             "transport": ..., "auth": ..., "sso": ..., "user_agent": ...}
    --signin/--login/--server/--transport/--auth/--user-agent/--sso   the same, one by one
    --banner TEXT            a note at the top of the first page (make demo uses it)
    --title-note TEXT        appended to the window title
    --no-remember            neither restore nor store the last inputs

Any of the pre-fill options skips the Start page (the ways in) and opens the Account page.

There is deliberately no password option: a password on the command line is visible to every
user of the machine.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QWidget

from sipe_setup import APP_ID, __version__
from sipe_setup.core.account import Field
from sipe_setup.core.hardening import harden_process

from .pages.start import StartChoice, choice_from_profile, choice_from_settings
from .state import CheckEnvironment
from .wizard import SetupWizard, default_settings

if TYPE_CHECKING:
    from sipe_setup.core.discovery import Nameserver

__all__ = ["app_icon", "build_parser", "main", "run_wizard"]

def _nameserver(text: str) -> Nameserver:
    from sipe_setup.core.discovery import parse_nameserver

    try:
        return parse_nameserver(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _prefill(text: str) -> dict[str, str | bool]:
    source = text
    if not text.lstrip().startswith("{"):
        try:
            source = Path(text).read_text(encoding="utf-8")
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"cannot read {text}: {exc.strerror}") from None
    try:
        data = json.loads(source)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or not all(
            isinstance(v, str | bool) for v in data.values()):
        raise argparse.ArgumentTypeError("expected a JSON object of strings (and sso: bool)")
    if "password" in data:
        raise argparse.ArgumentTypeError("a password cannot be pre-filled; type it in the "
                                         "window")
    return {str(k): v for k, v in data.items()}


def build_parser() -> argparse.ArgumentParser:
    """The wizard's command line."""
    parser = argparse.ArgumentParser(
        prog="sipe-setup-gui", allow_abbrev=False,
        description="The sipe-setup wizard: set up and test a Lync / Skype for Business "
                    "account for Pidgin + SIPE. Unknown options are passed to Qt.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--nameserver", action="append", type=_nameserver, default=[],
                        metavar="IP[:PORT]", help="DNS server to ask (repeatable)")
    parser.add_argument("--ca-file", metavar="PEM", help="extra trusted CA certificates")
    parser.add_argument("--timeout", type=float, default=90.0, metavar="S",
                        help="give up on a check after S seconds (default 90)")
    parser.add_argument("--prefill-json", type=_prefill, metavar="FILE|JSON",
                        help="fill the fields from a JSON object (file name or inline)")
    for name in ("signin", "login", "server", "transport", "auth", "user-agent"):
        parser.add_argument(f"--{name}", metavar=name.upper().replace("-", "_"),
                            help=f"pre-fill the {name.replace('-', ' ')} field")
    parser.add_argument("--sso", action="store_true", default=None,
                        help="pre-tick Single Sign-On")
    parser.add_argument("--settings-file", type=Path, metavar="FILE",
                        help="start from a settings file from IT")
    parser.add_argument("--profile", metavar="NAME",
                        help="start from a saved profile (password from the keyring)")
    parser.add_argument("--banner", default="", metavar="TEXT",
                        help="a note shown at the top of the first page")
    parser.add_argument("--title-note", default="", metavar="TEXT",
                        help="appended to the window title")
    parser.add_argument("--no-remember", action="store_true",
                        help="neither restore nor remember the last inputs (demo, scripts)")
    return parser


def app_icon() -> QIcon:
    """The application icon: the desktop theme's (a package, the Flatpak or
    ``--install-desktop-entry`` put it there), else the SVG installed with the package
    (``sipe_setup/data/``: a wheel, pipx, the source tree, Windows, macOS)."""
    from sipe_setup.desktop import icon_path

    icon = QIcon.fromTheme(APP_ID)
    if icon.isNull():
        svg = icon_path()
        if svg is not None:
            icon = QIcon(str(svg))
    return icon


def prefill_values(args: argparse.Namespace) -> dict[str, str | bool]:
    """The pre-fill from ``--prefill-json`` overridden by the single-field options."""
    values: dict[str, str | bool] = dict(args.prefill_json or {})
    for key in ("signin", "login", "server", "transport", "auth", "user_agent"):
        value = getattr(args, key)
        if value is not None:
            values[key] = value
    if args.sso is not None:
        values["sso"] = True
    return values


def start_choice(args: argparse.Namespace, wizard: SetupWizard) -> StartChoice:
    """The way in named by ``--settings-file`` or ``--profile`` (exits with the problem)."""
    from sipe_setup.core.profiles import ProfileError
    from sipe_setup.core.sharefile import SharedSettingsError, load_shared_settings

    if args.profile:
        try:
            profile = wizard.profile_store.load(args.profile)
        except ProfileError as exc:
            raise SystemExit(f"sipe-setup-gui: --profile: {exc}") from None
        return choice_from_profile(profile, wizard.vault)
    try:
        settings = load_shared_settings(args.settings_file)
    except SharedSettingsError as exc:
        raise SystemExit(f"sipe-setup-gui: --settings-file: {exc}") from None
    signin = args.signin or str((args.prefill_json or {}).get("signin", ""))
    return choice_from_settings(settings, signin or wizard.state.text(Field.SIGNIN))


def make_wizard(args: argparse.Namespace, settings_enabled: bool = True) -> SetupWizard:
    """Build the wizard from parsed options (also used by the screenshot script)."""
    if args.ca_file and not Path(args.ca_file).is_file():
        raise SystemExit(f"sipe-setup-gui: --ca-file: {args.ca_file} is not a file")
    environment = CheckEnvironment(nameservers=tuple(args.nameserver), ca_file=args.ca_file,
                                   deadline=args.timeout)
    wizard = SetupWizard(environment, settings=default_settings() if settings_enabled else None)
    values = prefill_values(args)
    if args.settings_file is not None or args.profile:
        wizard.apply_start(start_choice(args, wizard))
    if values or args.settings_file is not None or args.profile:
        wizard.skip_start_page()
    if values:
        try:
            wizard.prefill(values)
        except KeyError as exc:
            raise SystemExit(f"sipe-setup-gui: --prefill-json: {exc.args[0]}") from None
    if args.banner:
        wizard.set_banner(args.banner)
    if args.title_note:
        wizard.set_title_note(args.title_note)
    return wizard


def preload_check_engine() -> threading.Thread:
    """Import the check pipeline (discovery, HTTP, Kerberos libraries) in the background.

    The first page does not need it, so the window appears without waiting for those
    imports; by the time the user presses *Test sign-in* they are done.
    """
    thread = threading.Thread(target=importlib.import_module, args=("sipe_setup.gui.worker",),
                              name="sipe-setup preload", daemon=True)
    thread.start()
    return thread


class _AfterFirstPaint(QObject):
    """Runs ``then`` once, in the event loop turn after ``widget`` was first painted."""

    def __init__(self, widget: QWidget, then: Callable[[], None]) -> None:
        super().__init__(widget)
        self._then: Callable[[], None] | None = then
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and self._then is not None:
            then, self._then = self._then, None
            watched.removeEventFilter(self)
            QTimer.singleShot(0, then)
        return False


def finish_start(wizard: SetupWizard) -> None:
    """After the first page is on screen: the other pages, and the check engine's imports in
    the background (the user is typing meanwhile)."""
    wizard.build_pages()
    preload_check_engine()


def _no_screen(qt_args: list[str]) -> bool:
    """True on Linux/BSD without X11/Wayland and without an explicit Qt platform."""
    if sys.platform in ("win32", "darwin") or "-platform" in qt_args:
        return False
    env = os.environ
    return not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY") or env.get("QT_QPA_PLATFORM"))


def run_wizard(argv: list[str]) -> int:
    """Run the wizard with these arguments (without the program name); the exit status."""
    harden_process()  # first: no core dump may ever hold a password
    args, qt_args = build_parser().parse_known_args(argv)
    app = QApplication.instance()
    if app is None and _no_screen(qt_args):
        print("sipe-setup-gui: no desktop session here (DISPLAY and WAYLAND_DISPLAY are not "
              "set), so the wizard cannot open a window. Run it from your desktop, or use the "
              "command line with the same engine: sipe-setup check you@company.com "
              "(sipe-setup --help).", file=sys.stderr)
        return 2
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "sipe-setup-gui", *qt_args])
    assert isinstance(app, QApplication)
    app.setApplicationName("sipe-setup")
    app.setOrganizationName("sipe-setup")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(app_icon())
    wizard = make_wizard(args, settings_enabled=not args.no_remember)
    _AfterFirstPaint(wizard, lambda: finish_start(wizard))
    wizard.show()
    return app.exec()


def main() -> None:
    """Entry point of ``sipe-setup-gui``."""
    sys.exit(run_wizard(sys.argv[1:]))


if __name__ == "__main__":
    main()
