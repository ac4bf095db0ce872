#!/bin/sh
# make flatpak-check: check packaging/flatpak/io.github.sipe_setup.SipeSetup.yml as far as a
# machine without the Flathub runtimes allows.
#
#  1. flatpak-builder --show-manifest: the manifest parses, as flatpak-builder reads it;
#  2. flatpak-builder --download-only: every source is fetched and its sha256 checked (the
#     wheels from PyPI; this needs no runtime);
#  3. the two modules' build commands, run as written, with a CPython of the runtime's version
#     (3.12) into a scratch prefix standing in for /app: the pinned wheels install without a
#     compiler or an index, sipe-setup builds with the manifest's setuptools, then
#     `sipe-setup --version` and the wizard offscreen (PySide6 from PyPI standing in for the
#     PySide6 base app);
#  4. the real build (flatpak-builder) only when org.kde.Sdk//6.8 and io.qt.PySide.BaseApp//6.8
#     are installed; otherwise it says so and why.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
MANIFEST=packaging/flatpak/io.github.sipe_setup.SipeSetup.yml
WORK=build/flatpak-check
PYTHON312=${PYTHON312:-}
for candidate in python3.12 /root/.pyenv/versions/3.12*/bin/python3.12; do
    [ -n "$PYTHON312" ] && break
    "$candidate" -c 'import venv' 2>/dev/null && PYTHON312=$candidate
done
rm -rf "$WORK/build" "$WORK/app" "$WORK/venv"
mkdir -p "$WORK"

if ! command -v flatpak-builder >/dev/null; then
    echo "flatpak-builder is not installed (apt-get install flatpak-builder)"; exit 1
fi

echo "== 1. flatpak-builder --show-manifest"
(cd "$WORK" && flatpak-builder --show-manifest "$ROOT/$MANIFEST") >"$WORK/manifest.json"  # its .flatpak-builder/ goes there
echo "   parsed: $(grep -c '"name"' "$WORK/manifest.json") modules/sources named"

echo "== 2. flatpak-builder --download-only (sha256 of every source)"
flatpak-builder --download-only --state-dir="$WORK/state" "$WORK/build" "$MANIFEST" \
    >"$WORK/download.log" 2>&1 || { tail -20 "$WORK/download.log"; exit 1; }
echo "   all sources downloaded and verified"

echo "== 3. the modules' build commands with CPython 3.12 into a scratch /app"
if [ -z "$PYTHON312" ]; then
    echo "   SKIPPED: no python3.12 here (set PYTHON312=/path/to/python3.12)"
else
    "$PYTHON312" -m venv "$WORK/venv"
    "$ROOT/$WORK/venv/bin/python" - "$ROOT/$WORK" <<'EOF'
import json, os, pathlib, platform, shutil, subprocess, sys
work = pathlib.Path(sys.argv[1])
manifest = json.loads((work / "manifest.json").read_text())
arch = platform.machine()
venv_bin = work / "venv" / "bin"
prefix = work / "app"
downloads = work / "state" / "downloads"
env = {**os.environ, "FLATPAK_DEST": str(prefix), "PIP_CONFIG_FILE": os.devnull,
       "PATH": f"{prefix / 'bin'}:{venv_bin}:{os.environ['PATH']}"}
site = prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
env["PYTHONPATH"] = str(site)
for module in manifest["modules"]:
    build = work / "modules" / module["name"]
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    for source in module["sources"]:
        if arch not in source.get("only-arches", [arch]):
            continue
        if source["type"] == "file":
            name = source["url"].rsplit("/", 1)[-1]
            found = next(downloads.glob(f"{source['sha256']}/{name}"))
            shutil.copy(found, build / name)
        elif source["type"] == "dir":
            root = (pathlib.Path(sys.argv[1]).parents[1] / "packaging" / "flatpak" / source["path"]).resolve()
            skip = set(source.get("skip", []))
            shutil.copytree(root, build, dirs_exist_ok=True,
                            ignore=lambda d, names: [n for n in names if
                                                     os.path.relpath(os.path.join(d, n), root) in skip])
    for command in module["build-commands"]:
        command = command.replace("pip3 ", f"{venv_bin}/python -m pip ")
        print(f"   [{module['name']}] $ {command[:110]}")
        subprocess.run(["sh", "-ec", command], cwd=build, env=env, check=True)
print(f"   installed into {prefix}")
EOF
    echo "   PySide6-Essentials from PyPI stands in for the base app:"
    "$WORK/venv/bin/python" -m pip install -q "PySide6-Essentials>=6.6"
    echo "   pip check (every requirement of every installed distribution is there):"
    PYTHONPATH="$ROOT/$WORK/app/lib/python3.12/site-packages" PIP_CONFIG_FILE=/dev/null \
        "$WORK/venv/bin/python" -m pip check
    PYTHONPATH="$ROOT/$WORK/app/lib/python3.12/site-packages" \
        "$WORK/venv/bin/python" "$WORK/app/bin/sipe-setup" --version
    ls "$WORK/app/share/applications" "$WORK/app/share/metainfo" \
       "$WORK/app/share/icons/hicolor/scalable/apps"
    HOME="$ROOT/$WORK/home" QT_QPA_PLATFORM=offscreen \
        PYTHONPATH="$ROOT/$WORK/app/lib/python3.12/site-packages" \
        "$WORK/venv/bin/python" tests/packaging/wizard_smoke.py
fi

echo "== 4. flatpak-builder (the real build)"
if flatpak info org.kde.Sdk//6.8 >/dev/null 2>&1 && \
   flatpak info io.qt.PySide.BaseApp//6.8 >/dev/null 2>&1; then
    flatpak-builder --force-clean --state-dir="$WORK/state" "$WORK/build" "$MANIFEST"
else
    echo "   NOT BUILT: org.kde.Sdk//6.8 and io.qt.PySide.BaseApp//6.8 are not installed"
    echo "   (flatpak install flathub org.kde.Sdk//6.8 io.qt.PySide.BaseApp//6.8; needs Flathub)."
fi
