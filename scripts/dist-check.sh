#!/bin/sh
# make dist-check: build the sdist and the wheel (the wheel from the sdist, so the sdist is
# complete), `twine check --strict` both, install the wheel (not editable) into a fresh venv and
# run the unit tests and the packaging tests against it, from the unpacked sdist with its app/
# removed (so nothing can be imported from the source tree).
# Output in build/dist/; scratch in build/dist-check/. Needs network access to PyPI (build
# isolation, the dependencies) unless pip's cache has everything.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
OUT=build/dist
WORK=build/dist-check
TOOLS=build/dist-tools
start=$(date +%s)

step() { printf '\n== %s (%ss)\n' "$1" "$(( $(date +%s) - start ))"; }

step "tools: build, twine"
[ -x "$TOOLS/bin/python" ] || "$PYTHON" -m venv "$TOOLS"
pip_quiet() {  # pip, its output shown only when it fails
    "$@" >"$WORK/pip.log" 2>&1 || { cat "$WORK/pip.log"; return 1; }
}
mkdir -p "$WORK"
pip_quiet "$TOOLS/bin/python" -m pip install -q --upgrade pip build twine

step "sdist, then the wheel from the sdist"
rm -rf "$OUT" "$WORK"
mkdir -p "$OUT" "$WORK"
"$TOOLS/bin/python" -m build --outdir "$OUT" . >"$WORK/build.log" 2>&1 || {
    cat "$WORK/build.log"; exit 1; }
grep "^warning" "$WORK/build.log" | sort -u || true
SDIST=$(ls "$OUT"/*.tar.gz)
WHEEL=$(ls "$OUT"/*.whl)
ls -l "$SDIST" "$WHEEL"

step "twine check --strict"
"$TOOLS/bin/twine" check --strict "$SDIST" "$WHEEL"

step "contents"
"$TOOLS/bin/python" - "$SDIST" "$WHEEL" <<'EOF'
import sys, tarfile, zipfile
sdist, wheel = sys.argv[1], sys.argv[2]
names = [n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n]
need = ["tests/conftest.py", "tests/unit", "tests/packaging", "packaging/debian/control",
        "packaging/man/sipe-setup.1", "packaging/flatpak/io.github.sipe_setup.SipeSetup.yml",
        "app/sipe_setup/data/io.github.sipe_setup.SipeSetup.svg", "LICENSE", "Makefile"]
missing = [n for n in need if not any(x == n or x.startswith(n + "/") for x in names)]
junk = [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".so")) or ".venv/" in n]
wheel_names = zipfile.ZipFile(wheel).namelist()
wneed = ["sipe_setup/data/io.github.sipe_setup.SipeSetup.svg",
         "sipe_setup/data/io.github.sipe_setup.SipeSetup.desktop",
         "sipe_setup/data/io.github.sipe_setup.SipeSetup.metainfo.xml", "sipe_setup/py.typed",
         "/data/share/applications/io.github.sipe_setup.SipeSetup.desktop",
         "/data/share/icons/hicolor/scalable/apps/io.github.sipe_setup.SipeSetup.svg",
         "/data/share/man/man1/sipe-setup.1"]
wmissing = [n for n in wneed if not any(x.endswith(n) for x in wheel_names)]
wjunk = [n for n in wheel_names if n.startswith("tests/") or "__pycache__" in n]
print(f"sdist: {len(names)} files; wheel: {len(wheel_names)} files")
if missing or junk or wmissing or wjunk:
    sys.exit(f"sdist missing {missing}, junk {junk[:5]}; wheel missing {wmissing}, "
             f"junk {wjunk[:5]}")
EOF

step "fresh venv with the wheel (not editable) and the test dependencies"
"$PYTHON" -m venv "$WORK/venv"
pip_quiet "$WORK/venv/bin/python" -m pip install -q --upgrade pip
pip_quiet "$WORK/venv/bin/python" -m pip install -q "$(realpath "$WHEEL")[dev,kerberos]"
"$WORK/venv/bin/python" -m pip check

step "the unit and packaging tests against the installed wheel"
mkdir "$WORK/src"
tar -xzf "$SDIST" -C "$WORK/src" --strip-components=1
rm -rf "$WORK/src/app"
cd "$WORK/src"
SIPE_SETUP_INSTALLED_TEST=wheel PATH="$(realpath ../venv/bin):$PATH" \
    ../venv/bin/python -m pytest -p no:cacheprovider -q tests/unit tests/packaging
cd - >/dev/null

step "done: dist-check passed"
du -sh "$OUT" "$WORK" "$TOOLS"
