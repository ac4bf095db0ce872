"""Layering rules: core never imports Qt."""

from __future__ import annotations

import ast
from pathlib import Path

import sipe_setup.core

# The package as imported: the source tree, or an installed wheel / Debian package.
CORE = Path(sipe_setup.core.__file__).resolve().parent
FORBIDDEN = ("PySide6", "shiboken6", "PyQt5", "PyQt6", "sipe_setup.gui")


def test_core_has_no_qt_import() -> None:
    offenders = []
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.startswith(FORBIDDEN)]
    assert offenders == []
    assert list(CORE.rglob("*.py")), "core package not found"


def _imports(package: str) -> list[tuple[str, str]]:
    """(file, imported module) for every absolute import under ``core/<package>``."""
    found = []
    for path in (CORE / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(path.name, a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((path.name, node.module))
    return found


def test_protocol_packages_never_import_the_pipeline() -> None:
    """auth, sip and discovery are libraries the pipeline uses, never the other way round."""
    offenders = [(package, f, m) for package in ("auth", "sip", "discovery")
                 for f, m in _imports(package) if m.startswith("sipe_setup.core.checkup")]
    assert offenders == []


def test_discovery_never_imports_sip() -> None:
    offenders = [(f, m) for f, m in _imports("discovery") if m.startswith("sipe_setup.core.sip")]
    assert offenders == []
