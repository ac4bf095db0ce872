"""Start the wizard offscreen as ``sipe-setup-gui`` does, look at its window, quit.

Run as a program (``python tests/packaging/wizard_smoke.py [ARGS...]``) by
``test_wizard_smoke.py``, the Debian autopkgtest and ``make deb-check``. It goes through the
real entry point (``sipe_setup.gui.app.run_wizard``) with a timer that, once the event loop
runs, prints one JSON line about the window and the application icon and quits.
Exit status 0 when a visible wizard window with an icon was found.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QWizard

from sipe_setup import APP_ID
from sipe_setup.gui.app import run_wizard


def _report(app: QApplication) -> None:
    windows = [w for w in app.topLevelWidgets() if isinstance(w, QWizard) and w.isVisible()]
    icon = app.windowIcon()
    theme_name = QIcon.themeName()
    if not theme_name:
        # The offscreen platform has no platform theme: no theme name and no search paths.
        # Set what a desktop's platform theme sets (the XDG data folders; every theme
        # inherits hicolor) to see whether a menu would find the icon by its name.
        data_dirs = os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share"
        home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
        QIcon.setThemeSearchPaths([os.path.join(d, "icons")
                                   for d in [home, *data_dirs.split(":")] if d])
        QIcon.setThemeName("hicolor")
    theme = QIcon.fromTheme(APP_ID)
    facts = {
        "windows": [type(w).__name__ for w in windows],
        "title": windows[0].windowTitle() if windows else "",
        "icon_null": icon.isNull(),
        "icon_sizes": [[s.width(), s.height()] for s in icon.availableSizes()],
        "icon_renders": not icon.pixmap(48, 48).isNull(),
        "icon_from_theme": not theme.isNull(),  # what a menu shows for Icon=APP_ID
        "theme_name": theme_name,
        "platform": app.platformName(),
        "desktop_file_name": app.desktopFileName(),
    }
    print(json.dumps(facts), flush=True)
    app.exit(0 if windows and not icon.isNull() and facts["icon_renders"] else 3)


def main() -> int:
    app = QApplication([sys.argv[0]])
    QTimer.singleShot(1500, lambda: _report(app))
    return run_wizard(["--no-remember", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
