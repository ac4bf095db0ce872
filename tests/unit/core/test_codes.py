"""One registry of phone codes: every code the program prints is in it and in the README's
table, and every ``advice()`` call fills every placeholder of the entry it renders."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import sipe_setup
from sipe_setup.core.advice import CATALOG
from sipe_setup.core.codes import REGISTRY, SIGNED_IN_CODE, CodeKind, lookup, readme_spelling
from sipe_setup.core.discovery.model import WarningCode

ROOT = Path(__file__).resolve().parents[3]
APP = Path(sipe_setup.__file__).resolve().parent  # the source tree or an installed package
_CODE_RE = re.compile(r"SS-[A-Z0-9]+(?:-[A-Za-z0-9{}_]+)*")


def test_the_registry_holds_every_kind_once() -> None:
    kinds = {entry.kind for entry in REGISTRY.values()}
    assert kinds == set(CodeKind)
    assert REGISTRY[SIGNED_IN_CODE].kind is CodeKind.VERDICT
    assert {w.value for w in WarningCode} <= set(REGISTRY)
    assert {e.code for e in CATALOG.values()} <= set(REGISTRY)
    for code in REGISTRY:
        assert re.fullmatch(r"SS-[A-Z0-9]+(-[A-Z0-9]+)*|SS-SIP-\{status\}", code), code


def test_a_family_matches_its_members_only() -> None:
    family = lookup("SS-SIP-486")
    assert family is not None and family.source == "unexpected-status"
    assert lookup("SS-SIP-403") is REGISTRY["SS-SIP-403"]
    assert lookup("SS-NOPE") is None and lookup("SS-SIP-48") is None


def _readme_table_codes() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("| code | meaning |")
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return {code for row in rows for code in re.findall(r"`(SS-[^`]+)`", row)}


def test_every_code_is_in_the_readme_table() -> None:
    documented = _readme_table_codes()
    missing = sorted(readme_spelling(code) for code in REGISTRY
                     if readme_spelling(code) not in documented)
    assert missing == [], f"add these to the README's code table: {missing}"
    unknown = sorted(code for code in documented
                     if lookup(code.replace("<status>", "486")) is None)
    assert unknown == [], f"the README lists codes the program never prints: {unknown}"


def _source_files() -> Iterator[Path]:
    yield from sorted(APP.rglob("*.py"))


def test_every_code_written_in_the_source_exists() -> None:
    unknown = []
    for path in _source_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for code in _CODE_RE.findall(node.value):
                    if code not in REGISTRY and lookup(code) is None:
                        unknown.append(f"{path.relative_to(APP)}:{node.lineno} {code}")
    assert unknown == []


# --- every placeholder filled at every advice() call ------------------------------------------


class _Module:
    """Just enough static resolution to know which ids and which values an advice() call
    can have: constants, dict literals, names assigned in the function or the module, and
    helper functions that return a dict literal."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tree = ast.parse(path.read_text(encoding="utf-8"))
        self.functions = {n.name: n for n in ast.walk(self.tree)
                          if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
        self.globals = {t.id: n.value for n in self.tree.body
                        if isinstance(n, ast.Assign | ast.AnnAssign) and n.value is not None
                        for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                        if isinstance(t, ast.Name)}

    def assignments(self, scope: ast.AST, name: str) -> list[ast.expr]:
        found: list[ast.expr] = []
        for node in ast.walk(scope):
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                    found.append(node.value)
        if not found and name in self.globals:
            found.append(self.globals[name])
        return found

    def ids(self, expr: ast.expr, scope: ast.AST, seen: frozenset[str] = frozenset()
            ) -> set[str]:
        out: set[str] = set()
        for node in ast.walk(expr):
            if isinstance(node, ast.Constant) and node.value in CATALOG:
                out.add(node.value)
            elif isinstance(node, ast.Name) and node.id not in seen:
                for value in self.assignments(scope, node.id):
                    out |= self.ids(value, scope, seen | {node.id})
        return out

    def keys(self, expr: ast.expr, scope: ast.AST) -> set[str] | None:
        """The keys of a ``**expr`` argument, or None when they cannot be known."""
        if isinstance(expr, ast.Dict):
            if any(k is None or not isinstance(k, ast.Constant) for k in expr.keys):
                return None
            return {str(k.value) for k in expr.keys if isinstance(k, ast.Constant)}
        if isinstance(expr, ast.Name):
            sources = self.assignments(scope, expr.id)
            if not sources:
                return None
            out: set[str] = set()
            for source in sources:
                keys = self.keys(source, scope)
                if keys is None:
                    return None
                out |= keys
            for node in ast.walk(scope):  # values["x"] = …
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)
                                and target.value.id == expr.id
                                and isinstance(target.slice, ast.Constant)):
                            out.add(str(target.slice.value))
            return out
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and \
                expr.func.id in self.functions:
            helper = self.functions[expr.func.id]
            returns = [n.value for n in ast.walk(helper) if isinstance(n, ast.Return) and n.value]
            keys_of = [self.keys(r, helper) for r in returns]
            if not keys_of or any(k is None for k in keys_of):
                return None
            return set().union(*(k for k in keys_of if k is not None))
        return None


def _advice_calls() -> Iterator[tuple[str, set[str], set[str] | None]]:
    """(where, possible advice ids, keyword names given — None if not knowable)."""
    for path in _source_files():
        module = _Module(path)
        scopes: list[ast.AST] = [*module.functions.values(), module.tree]
        done: set[int] = set()
        for scope in scopes:
            for node in ast.walk(scope):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                        and node.func.id == "advice" and node.args) or id(node) in done:
                    continue
                done.add(id(node))
                where = f"{path.relative_to(APP)}:{node.lineno}"
                ids = module.ids(node.args[0], scope)
                given: set[str] | None = set()
                for keyword in node.keywords:
                    if keyword.arg is not None:
                        if given is not None:
                            given.add(keyword.arg)
                        continue
                    keys = module.keys(keyword.value, scope)
                    given = None if keys is None or given is None else given | keys
                yield where, ids, given


def test_every_advice_call_fills_every_placeholder() -> None:
    calls = list(_advice_calls())
    assert len(calls) > 40, "the scan finds the advice() calls"
    problems = []
    for where, ids, given in calls:
        if not ids:
            problems.append(f"{where}: cannot tell which advice id this renders")
            continue
        if given is None:
            problems.append(f"{where}: cannot tell which values are passed (use keywords or "
                            "a dict literal)")
            continue
        for adv_id in sorted(ids):
            missing = CATALOG[adv_id].placeholders - given
            if missing:
                problems.append(f"{where}: {adv_id} leaves {sorted(missing)} as '?'")
    assert problems == []


@pytest.mark.parametrize("adv_id", sorted(CATALOG))
def test_every_placeholder_shows_its_value(adv_id: str) -> None:
    entry = CATALOG[adv_id]
    rendered = entry.render(**{name: f"<{name}>" for name in entry.placeholders})
    text = " ".join((rendered.code, rendered.title, rendered.explanation, rendered.fix))
    for name in entry.placeholders:
        assert f"<{name}>" in text, (adv_id, name)
    assert "{" not in text and "}" not in text
