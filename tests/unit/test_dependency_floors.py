"""The dependency list is complete and its floors are true.

These tests pass on any version the floors allow and fail on the version just below a floor
(``make deps-floor-check`` runs the suite on exactly the floors): each names the feature the
floor is for.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app" / "sipe_setup"
# Top-level module → the distribution that provides it.
DISTRIBUTIONS = {"dns": "dnspython", "cryptography": "cryptography", "spnego": "pyspnego",
                 "h11": "h11", "platformdirs": "platformdirs", "defusedxml": "defusedxml",
                 "keyring": "keyring", "secretstorage": "secretstorage", "jeepney": "jeepney",
                 "PySide6": "pyside6-essentials", "shiboken6": "pyside6-essentials",
                 "gssapi": "pyspnego[kerberos]", "krb5": "pyspnego[kerberos]"}


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = set()
    for requirement in [*project["dependencies"], *project["optional-dependencies"]["kerberos"]]:
        match = re.match(r"\s*([A-Za-z0-9._-]+(?:\[[^\]]*\])?)", requirement)
        assert match, requirement
        names.add(match.group(1).lower())
    return names


def test_every_imported_distribution_is_declared() -> None:
    imported: set[str] = set()
    for path in APP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = {name for name in imported
                   if name not in sys.stdlib_module_names and name != "sipe_setup"}
    unknown = third_party - DISTRIBUTIONS.keys()
    assert not unknown, f"imported but not mapped to a distribution here: {unknown}"
    declared = _declared()
    missing = {DISTRIBUTIONS[name] for name in third_party} - declared
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_defusedxml_reports_a_corrupt_accounts_xml(tmp_path: Path) -> None:
    """defusedxml 0.7.0 raises a ParseError of its own ElementTree copy, which escapes."""
    from sipe_setup.core.export.pidgin import PidginFileError, read_sipe_accounts

    (tmp_path / "accounts.xml").write_text("<?xml version='1.0'?>\n<account><account><prot")
    with pytest.raises(PidginFileError, match="is not valid XML"):
        read_sipe_accounts(tmp_path)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Secret Service: Linux")
def test_secretstorage_unlock_has_a_timeout() -> None:
    """secretstorage 3.5: Collection.unlock(timeout=…); before it an unlock prompt could wait
    for ever (core.pidgin_keyring / core.secret_service bound it)."""
    from secretstorage.collection import Collection

    assert "timeout" in inspect.signature(Collection.unlock).parameters


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Secret Service: Linux")
def test_jeepney_has_what_core_secret_service_uses() -> None:
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import DBusConnection

    assert callable(message_bus.GetConnectionUnixProcessID)
    assert "timeout" in inspect.signature(DBusConnection.recv_until_filtered).parameters
    assert "timeout" in inspect.signature(DBusConnection.send_and_get_reply).parameters


def test_kerberos_availability_is_what_pyspnego_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    from sipe_setup.core.auth import kerberos

    real = importlib.util.find_spec

    def without_krb5(name: str, *args: object) -> object:
        return None if name == "krb5" else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(kerberos.importlib.util, "find_spec", without_krb5)
    assert kerberos.missing_kerberos_modules() == ("krb5",)
    assert not kerberos.kerberos_available()  # gssapi alone is not enough for pyspnego
    reason = kerberos.kerberos_unavailable_reason()
    assert "krb5" in reason and "gssapi and krb5" in reason
    advice = kerberos.kerberos_install_advice()
    assert "pip install 'sipe-setup[kerberos]'" in advice or "python3-krb5" in advice


def test_pyspnego_itself_needs_both() -> None:
    """The claim above, checked against pyspnego: it offers Kerberos only with both."""
    spnego_gss = pytest.importorskip("spnego._gss")
    have_both = all(importlib.util.find_spec(name) for name in ("gssapi", "krb5"))
    assert have_both == spnego_gss.HAS_GSSAPI
    source = inspect.getsource(spnego_gss)
    assert "import krb5" in source.split("HAS_GSSAPI = False")[0]
