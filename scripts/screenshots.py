"""``make screenshots``: every wizard page, a success, a failure and the trust dialog, as PNGs.

The Start page (the ways in, and an existing Pidgin account picked) and the Save page (before
and after saving, with a private gnome-keyring when it is installed) are shot too; profiles and
Pidgin's folder then live in a temporary home.

Runs the real wizard against the test registrar + dnsmasq on loopback (``tests/gui/loopback``)
under Xvfb on a 1366×768 screen — a common laptop —, once at 100 % and once at 200 %
(``QT_SCALE_FACTOR=2``, which leaves the wizard 683×384 device-independent pixels), and writes
``docs/screenshots/<name>.png`` and ``<name>@2x.png``. The wizard opens at the size it takes on
that screen; every shot is also checked for clipped text (``tests/gui/layout_check``), and the
run fails if anything is cut off. Run from the repository root:
``.venv/bin/python scripts/screenshots.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: The virtual screen: a 1366×768 laptop (at 200 % the wizard gets 683×384 of it).
SCREEN = "1366x768"

NAMES = ("start", "start-pidgin", "account", "account-invalid", "connection", "check-success",
         "result-success", "save", "save-done", "trust-dialog", "check-failure",
         "result-failure")


def outer(out: Path) -> int:
    """Run the inner pass under xvfb-run at each scale."""
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        print("make screenshots needs xvfb-run (Debian: xvfb)", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    for scale, suffix in (("1", ""), ("2", "@2x")):
        env = {**os.environ, "QT_SCALE_FACTOR": scale, "QT_QPA_PLATFORM": "xcb"}
        env.pop("WAYLAND_DISPLAY", None)
        command = [xvfb, "-a", "-s", f"-screen 0 {SCREEN}x24", sys.executable, __file__,
                   "--inner", "--out", str(out), "--suffix", suffix]
        done = subprocess.run(command, env=env, cwd=ROOT, check=False)
        if done.returncode != 0:
            return done.returncode
    for name in NAMES:
        for suffix in ("", "@2x"):
            print(out / f"{name}{suffix}.png")
    return 0


def inner(out: Path, suffix: str) -> int:
    """Drive the wizard and grab each page (in the Xvfb session)."""
    from PySide6.QtCore import QEventLoop, QObject, Qt, QTimer, SignalInstance
    from PySide6.QtGui import QIcon
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QWidget, QWizard
    from tests.gui.layout_check import clipped_widgets
    from tests.gui.loopback import DEMO_LOGIN, DEMO_PASSWORD, DEMO_SIGNIN, LoopbackSite

    from sipe_setup import APP_ID
    from sipe_setup.core.account import Secret
    from sipe_setup.core.pidgin import PasswordMode, SipeAccountEntry, export_account
    from sipe_setup.core.profiles import ProfileStore
    from sipe_setup.core.secrets import PasswordVault
    from sipe_setup.gui.app import app_icon
    from sipe_setup.gui.pages.start import StartWay
    from sipe_setup.gui.state import CheckEnvironment
    from sipe_setup.gui.trust_dialog import TrustDialog
    from sipe_setup.gui.wizard import SetupWizard

    app = QApplication([sys.argv[0]])
    app.setApplicationName("sipe-setup")
    app.setDesktopFileName(APP_ID)
    icon: QIcon = app_icon()
    app.setWindowIcon(icon)

    def settle(ms: int = 250) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait(signal: SignalInstance, timeout_ms: int = 30000) -> list[object]:
        """The arguments of the next emission (an empty list for a signal without any)."""
        got: list[tuple[object, ...]] = []
        loop = QEventLoop()

        def on(*args: object) -> None:
            got.append(args)
            loop.quit()

        signal.connect(on)
        QTimer.singleShot(timeout_ms, loop.quit)
        loop.exec()
        signal.disconnect(on)
        if not got:
            raise TimeoutError(f"no {signal} within {timeout_ms} ms")
        return list(got[0])

    clipped: list[str] = []

    def shot(widget: QWidget, name: str) -> None:
        settle()
        screen = widget.screen().availableGeometry()
        if widget.width() > screen.width() or widget.height() > screen.height():
            clipped.append(f"{name}{suffix}: {widget.width()}×{widget.height()} is larger than "
                           f"the screen ({screen.width()}×{screen.height()})")
        clipped.extend(f"{name}{suffix}: {problem}" for problem in clipped_widgets(widget))
        path = out / f"{name}{suffix}.png"
        if not widget.grab().save(str(path)):
            raise RuntimeError(f"could not write {path}")

    vault = PasswordVault()

    def new_wizard(site: LoopbackSite, *, start_page: bool = False) -> SetupWizard:
        wizard = SetupWizard(CheckEnvironment(nameservers=(site.nameserver,),
                                              ca_file=site.ca_file, deadline=30,
                                              connect_timeout=3, response_timeout=3,
                                              discovery_deadline=5),
                             profile_store=ProfileStore(), vault=vault,
                             show_start_page=start_page)
        if not start_page:
            wizard.prefill({"signin": DEMO_SIGNIN, "login": DEMO_LOGIN})
        wizard.show()
        wizard.move(0, 0)
        settle(400)
        return wizard

    def next_page(wizard: SetupWizard) -> None:
        QTest.mouseClick(wizard.button(QWizard.WizardButton.NextButton),
                         Qt.MouseButton.LeftButton)

    def type_password(wizard: SetupWizard, password: str) -> None:
        edit = wizard.account_page.password_edit
        edit.clear()
        QTest.keyClicks(edit, password)

    with tempfile.TemporaryDirectory(prefix="sipe-setup-shots-") as tmp, \
            contextlib.ExitStack() as stack:
        # Profiles, ~/.purple and the keyring of a person who has Pidgin set up already.
        home = Path(tmp) / "home"
        (home / ".config").mkdir(parents=True)
        os.environ["HOME"] = str(home)
        os.environ["XDG_CONFIG_HOME"] = str(home / ".config")
        if shutil.which("gnome-keyring-daemon") and shutil.which("dbus-daemon"):
            import keyring.backends.SecretService
            from tests.servers.secret_service import GnomeKeyringService

            service = stack.enter_context(GnomeKeyringService.start())
            os.environ.update(service.env)
            vault = PasswordVault(keyring.backends.SecretService.Keyring())
        else:
            print("no gnome-keyring: the Save page shows the no-keyring choice",
                  file=sys.stderr)
        purple = home / ".purple"
        export_account(purple, SipeAccountEntry(
            signin="alice@example.test", login="alice", transport="tcp",
            authentication="ntlm"), password_mode=PasswordMode.CLEARTEXT,
            password=Secret("old-password"))

        # Success, with the CA-signed certificate: every page.
        with LoopbackSite(Path(tmp) / "ok", tls="ca") as site:
            wizard = new_wizard(site, start_page=True)
            shot(wizard, "start")
            wizard.start_page.choose(StartWay.PIDGIN)
            shot(wizard, "start-pidgin")
            wizard.close()

            wizard = new_wizard(site)
            type_password(wizard, DEMO_PASSWORD)
            shot(wizard, "account")
            next_page(wizard)
            shot(wizard, "connection")
            next_page(wizard)
            wait(wizard.check_page.check_finished)
            shot(wizard, "check-success")
            next_page(wizard)
            shot(wizard, "result-success")
            next_page(wizard)
            if wizard.save_page.keyring_busy():  # the keyring is asked off the GUI thread
                wait(wizard.save_page.keyring_checked)
            readiness = getattr(wizard.save_page, "readiness_box", None)
            for _ in range(100):  # "Pidgin on this computer" looks in the background too
                if readiness is None or not readiness.busy():
                    break
                settle(100)
            shot(wizard, "save")
            QTest.mouseClick(wizard.save_page.save_button, Qt.MouseButton.LeftButton)
            wait(wizard.save_page.saved)
            shot(wizard, "save-done")
            wizard.close()

            # A wrong password: the failure, explained.
            wizard = new_wizard(site)
            type_password(wizard, "Wrong-password-1")
            next_page(wizard)
            next_page(wizard)
            wait(wizard.check_page.check_finished)
            shot(wizard, "check-failure")
            next_page(wizard)
            shot(wizard, "result-failure")
            wizard.close()

            # Inline validation.
            wizard = new_wizard(site)
            edit = wizard.account_page.signin_edit
            edit.clear()
            QTest.keyClicks(edit, "alice.example.test")
            type_password(wizard, DEMO_PASSWORD)
            shot(wizard, "account-invalid")
            wizard.close()

        # A self-signed certificate: the trust dialog.
        with LoopbackSite(Path(tmp) / "self", tls="self-signed") as site:
            wizard = new_wizard(site)
            type_password(wizard, DEMO_PASSWORD)
            next_page(wizard)
            shown: list[QObject] = []
            wizard.check_page.trust_dialog_shown.connect(shown.append)
            next_page(wizard)
            if not shown:
                wait(wizard.check_page.trust_dialog_shown)
            dialog = shown[0] if shown else wizard.check_page.trust_dialog
            assert isinstance(dialog, TrustDialog)
            shot(dialog, "trust-dialog")
            QTest.mouseClick(dialog.accept_button, Qt.MouseButton.LeftButton)
            wait(wizard.check_page.check_finished)
            wizard.close()
    if clipped:
        print("clipped:\n  " + "\n  ".join(clipped), file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--suffix", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inner:
        return inner(args.out, args.suffix)
    return outer(args.out)


if __name__ == "__main__":
    sys.exit(main())
