"""``make deps-floor-check``: are the dependency floors in pyproject.toml true?

Installs every runtime dependency at exactly its floor (``name>=X`` becomes ``name==X``; the
``kerberos`` extra too) into a fresh venv, plus the test tools at their current versions, then
runs the unit tests against that venv with the source tree on ``PYTHONPATH`` (nothing is
installed from the tree, so the work tree and its ``.venv`` are not touched).

A floor is true when the suite passes on it; one that is too low shows up as a failing test
(or an import error) here, and the fix is to raise it in pyproject.toml with a comment saying
why. Transitive dependencies are whatever pip picks for the pinned set.

Usage: python scripts/deps_floor_check.py [--venv DIR] [--keep] [PYTEST ARGS…]
Default tests: the unit and GUI tests and the Secret Service ones (jeepney, secretstorage).
Cost on 2 cores: ~75 s with a warm pip cache (the ~1300 tests take ~60 s of it); a cold cache
adds ~150 MB of downloads, most of it PySide6.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VENV = ROOT / "build" / "deps-floor" / "venv"
DEFAULT_TESTS = ["tests/unit", "tests/gui", "tests/integration/test_secret_service.py",
                 "tests/integration/test_keyring_cli.py"]
# name[extras] >= floor [, …] [; marker]
_REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]*\])?\s*"
    r"(?P<spec>[^;]*?)\s*(?P<marker>;.*)?$")
_FLOOR = re.compile(r">=\s*([0-9][0-9A-Za-z.+-]*)")


def floor_pins(requirements: list[str]) -> list[str]:
    """Each requirement pinned to its ``>=`` floor (markers kept); no floor is an error."""
    pins = []
    for requirement in requirements:
        match = _REQUIREMENT.match(requirement)
        floor = _FLOOR.search(match.group("spec")) if match else None
        if match is None or floor is None:
            raise SystemExit(f"deps-floor-check: “{requirement}” has no >= floor")
        pins.append(f"{match.group('name')}{match.group('extras') or ''}=={floor.group(1)}"
                    f"{match.group('marker') or ''}")
    return pins


def _normalised(pair: list[str]) -> tuple[str, str]:
    """(name, version) with the name as pip compares it (case, ``_``/``.`` → ``-``)."""
    name, version = pair
    # "42" and "42.0.0" are the same version to pip: compare without trailing ".0"s.
    return re.sub(r"[-_.]+", "-", name.strip()).lower(), re.sub(r"(\.0)+$", "", version.strip())


def _run(command: list[str], **kwargs: object) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, **kwargs)  # type: ignore[call-overload]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--keep", action="store_true", help="reuse an existing venv")
    args, pytest_args = parser.parse_known_args(argv)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = floor_pins(list(project["dependencies"]))
    pins += floor_pins(list(project["optional-dependencies"]["kerberos"]))
    # The test tools are not runtime dependencies: any version that satisfies the dev extra.
    tools = [r for r in project["optional-dependencies"]["dev"]
             if not r.startswith(("ruff", "mypy"))]
    if args.venv.exists() and not args.keep:
        shutil.rmtree(args.venv)
    if not args.venv.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(args.venv)
    python = str(args.venv / "bin" / "python")
    print("Floors:", ", ".join(pins), flush=True)
    _run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"])
    _run([python, "-m", "pip", "install", "-q", *pins, *tools])
    _run([python, "-m", "pip", "check"])
    frozen = subprocess.run([python, "-m", "pip", "freeze"], check=True, capture_output=True,
                            text=True).stdout
    installed = dict(_normalised(line.split("==", 1)) for line in frozen.splitlines()
                     if "==" in line)
    wrong = []
    for pin in pins:
        requirement, _, marker = pin.partition(";")
        if "win32" in marker or ("linux" in marker and not sys.platform.startswith("linux")):
            continue
        name, version = _normalised(requirement.split("==", 1))
        if installed.get(name.split("[")[0]) != version:
            wrong.append(f"{pin} (installed: {installed.get(name.split('[')[0])})")
    if wrong:
        print(f"deps-floor-check: not installed at the floor: {wrong}", file=sys.stderr)
        return 1
    env = dict(os.environ, PYTHONPATH=str(ROOT / "app"), QT_QPA_PLATFORM="offscreen")
    tests = pytest_args or DEFAULT_TESTS
    completed = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
                               cwd=ROOT, env=env, check=False)
    verdict = "hold" if completed.returncode == 0 else "do NOT hold"
    print(f"deps-floor-check: the floors {verdict} ({', '.join(pins)})", flush=True)
    return completed.returncode


if __name__ == "__main__":
    raise SystemExit(main())
