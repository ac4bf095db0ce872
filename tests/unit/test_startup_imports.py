"""Start-up imports only what it needs (DESIGN §5: ``--help`` ≤ 60 ms, the wizard's first page
before the check engine). Each case runs in a fresh interpreter and lists ``sys.modules``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Never needed to print help or a version, nor to show the wizard's first page.
ENGINE = ("asyncio", "ssl", "cryptography", "dns", "spnego", "gssapi", "krb5", "h11", "httpx",
          "keyring", "secretstorage", "jeepney", "sipe_setup.core.checkup",
          "sipe_setup.core.discovery", "sipe_setup.core.net", "sipe_setup.core.auth",
          "sipe_setup.core.sip", "sipe_setup.core.webservices", "sipe_setup.gui.worker")
# The command line's parser needs no core module at all (beyond the two small ones main uses).
CLI_ONLY = ("PySide6", "sipe_setup.core.account", "sipe_setup.core.profiles",
            "sipe_setup.core.export", "sipe_setup.core.report", "sipe_setup.core.steps",
            "sipe_setup.core.transport")

_LIST = "import json, sys; print(json.dumps(sorted(sys.modules)), file=sys.__stderr__)"


def _modules(code: str, **env: str) -> set[str]:
    child_env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env={**child_env, **env})
    assert done.returncode == 0, done.stderr[-3000:]
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def _loaded(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden))


@pytest.mark.parametrize("argument", ["--help", "--version"])
def test_help_and_version_import_only_argparse_and_the_parser(argument: str) -> None:
    modules = _modules(
        "import sys\n"
        "from sipe_setup.cli import main\n"
        f"sys.argv = ['sipe-setup', '{argument}']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n" + _LIST)
    assert "argparse" in modules
    assert _loaded(modules, ENGINE + CLI_ONLY) == []


def test_a_subcommands_help_imports_no_engine() -> None:
    modules = _modules(
        "import sys\n"
        "from sipe_setup.cli import main\n"
        "for args in (['check', '--help'], ['discover', '--help'], ['export-pidgin', '--help']):\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass\n" + _LIST)
    assert _loaded(modules, ENGINE + CLI_ONLY) == []


def test_the_wizards_first_page_shows_before_the_check_engine_is_imported() -> None:
    modules = _modules(
        "from PySide6.QtWidgets import QApplication\n"
        "from sipe_setup.gui.app import build_parser, make_wizard\n"
        "app = QApplication([])\n"
        "wizard = make_wizard(build_parser().parse_args([]), settings_enabled=False)\n"
        "wizard.show(); wizard.repaint(); app.processEvents()\n"
        "assert wizard.currentPage() is not None and wizard.currentPage().isVisible()\n"
        + _LIST, QT_QPA_PLATFORM="offscreen")
    assert "sipe_setup.gui.pages.start" in modules
    assert _loaded(modules, ENGINE) == []


def test_the_command_line_knows_every_password_mode() -> None:
    from sipe_setup.cli_profiles import PASSWORD_MODES
    from sipe_setup.core.export.pidgin import PasswordMode

    assert tuple(mode.value for mode in PasswordMode) == PASSWORD_MODES
