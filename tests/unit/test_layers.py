"""Layering rules: core never imports Qt."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "app" / "sipe_setup" / "core"
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
