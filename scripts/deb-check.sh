#!/bin/sh
# make deb-check: build the Debian package in a clean Debian 13 (trixie) chroot, lintian it,
# install it into a second clean chroot and test it there.
#
#  1. build chroot (mmdebstrap, buildd variant, from the Debian mirror this machine's apt
#     uses): the sdist is made from this tree (MANIFEST.in decides what is in it) and becomes
#     the .orig.tar.gz; packaging/debian becomes debian/; the build dependencies come from
#     debian/control (apt-get build-dep); dpkg-buildpackage builds source + binary;
#     lintian must report no error.
#  2. test chroot (apt variant: nothing but Debian's essential packages and apt):
#     apt installs the .deb with its Depends only (no Recommends), then `sipe-setup --version`
#     and the wizard offscreen (tests/packaging/wizard_smoke.py and the menu entry's Exec);
#     then autopkgtest runs debian/tests (version, wizard-offscreen, unit) against the
#     installed package, installing their test dependencies.
#
# Both chroots are temporary (mmdebstrap … /dev/null) and gone afterwards. Needs root (or
# sudo) and network access to the Debian mirror. Results in build/deb-check/: the .deb, the
# .changes, lintian.txt, autopkgtest/, timings.txt.
# Environment: DEB_MIRROR (default: the mirror in /etc/apt/sources.list*), DEB_SUITE (trixie),
# KEEP_GOING=1 (run the test chroot even if lintian reports errors).
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SUITE=${DEB_SUITE:-trixie}
WORK="$ROOT/build/deb-check"
VERSION=$(sed -n '1s/.*(\(.*\)).*/\1/p' packaging/debian/changelog)
UPSTREAM=${VERSION%-*}
start=$(date +%s)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

step() { printf '\n== %s (%ss)\n' "$1" "$(( $(date +%s) - start ))" | tee -a "$WORK/timings.txt"; }

# The Debian mirror (and its security mirror) this machine's apt already uses.
detect_mirror() {  # $1: pattern the URI must match; $2: pattern it must not match
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
        2>/dev/null | sed -n -e 's/^URIs:[[:space:]]*//p' \
        -e 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' |
        tr ' ' '\n' | grep -E "$1" | grep -vE "$2" | head -n 1
}
MIRROR=${DEB_MIRROR:-$(detect_mirror '/debian/?$' 'security|debian-ports')}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=${DEB_SECURITY_MIRROR:-$(detect_mirror '/debian-security/?$' '^$')}
SECURITY=${SECURITY:-http://deb.debian.org/debian-security}
SOURCES="deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY $SUITE-security main"

rm -rf "$WORK"
mkdir -p "$WORK/out"
: >"$WORK/timings.txt"
echo "sipe-setup $VERSION on Debian $SUITE from $MIRROR (+ $SECURITY)" | tee -a "$WORK/timings.txt"

if ! command -v mmdebstrap >/dev/null; then
    step "installing mmdebstrap on this machine"
    $SUDO apt-get install -y -qq --no-install-recommends mmdebstrap
fi

step "the source tree, as a tarball"
tar -C "$ROOT" -cf "$WORK/src.tar" --exclude=./.git --exclude=./.venv --exclude=./build \
    --exclude=./dist --exclude='*.egg-info' --exclude=__pycache__ --exclude=.mypy_cache \
    --exclude=.pytest_cache --exclude=.ruff_cache --exclude=.hypothesis .

cat >"$WORK/inside-build.sh" <<EOF
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
cd /build
mkdir tree && tar -xf src.tar -C tree
apt-get install -y -qq --no-install-recommends python3-build python3-setuptools >/dev/null
(cd tree && python3 -m build --sdist --no-isolation --outdir /build >/build/sdist.log 2>&1) ||
    { cat /build/sdist.log; exit 1; }
mv sipe_setup-$UPSTREAM.tar.gz sipe-setup_$UPSTREAM.orig.tar.gz
tar -xzf sipe-setup_$UPSTREAM.orig.tar.gz
mv sipe_setup-$UPSTREAM sipe-setup-$UPSTREAM
cp -a sipe-setup-$UPSTREAM/packaging/debian sipe-setup-$UPSTREAM/debian
apt-get build-dep -y -qq ./sipe-setup-$UPSTREAM >/dev/null
apt-get install -y -qq --no-install-recommends lintian >/dev/null
cd sipe-setup-$UPSTREAM
dpkg-buildpackage -us -uc >/build/build.log 2>&1 || { tail -n 80 /build/build.log; exit 1; }
cd /build
mkdir out
cp sipe-setup_$VERSION* sipe-setup_$UPSTREAM.orig.tar.gz build.log out/
dpkg-deb --info sipe-setup_${VERSION}_all.deb >out/deb-info.txt
dpkg-deb --contents sipe-setup_${VERSION}_all.deb >out/deb-contents.txt
status=0
lintian --info --display-info --fail-on error sipe-setup_${VERSION}_*.changes \
    >out/lintian.txt 2>&1 || status=\$?
du -sx --block-size=1M / | cut -f1 >out/build-chroot-mb.txt
exit 0
EOF

step "build chroot: debootstrap $SUITE, build dependencies, dpkg-buildpackage, lintian"
$SUDO mmdebstrap --quiet --variant=buildd --include=ca-certificates \
    --customize-hook='mkdir -p "$1"/build' \
    --customize-hook="copy-in $WORK/src.tar $WORK/inside-build.sh /build" \
    --customize-hook='chroot "$1" sh /build/inside-build.sh' \
    --customize-hook="sync-out /build/out $WORK/out" \
    "$SUITE" /dev/null "$SOURCES"

step "lintian"
cat "$WORK/out/lintian.txt"
if grep -q '^E: ' "$WORK/out/lintian.txt"; then
    echo "lintian reports errors (above)"
    [ "${KEEP_GOING:-0}" = 1 ] || exit 1
fi
grep -E '^Depends|^Recommends' "$WORK/out/deb-info.txt" | sed 's/^/  /'

DEB="sipe-setup_${VERSION}_all.deb"
cat >"$WORK/inside-test.sh" <<EOF
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
cd /root
mkdir src && tar -xf src.tar -C src && cp -a src/packaging/debian src/debian
echo "== apt install ./$DEB (Depends only)"
apt-get install -y -qq --no-install-recommends ./$DEB >/root/out/install.log 2>&1 ||
    { cat /root/out/install.log; exit 1; }
du -sx --block-size=1M / | cut -f1 >/root/out/installed-chroot-mb.txt
echo "== sipe-setup --version"
sipe-setup --version
echo "== the wizard offscreen, with nothing but the package's Depends"
mkdir -p /root/home
HOME=/root/home QT_QPA_PLATFORM=offscreen python3 src/tests/packaging/wizard_smoke.py
exec_line=\$(sed -n 's/^Exec=//p' /usr/share/applications/io.github.sipe_setup.SipeSetup.desktop)
echo "   menu entry: Exec=\$exec_line"
HOME=/root/home QT_QPA_PLATFORM=offscreen timeout 6 \$exec_line --no-remember || rc=\$?
[ "\${rc:-0}" = 124 ] || { echo "the menu entry's program exited (\${rc:-0}) instead of running"; exit 1; }
echo "== autopkgtest (debian/tests) against the installed package"
apt-get install -y -qq --no-install-recommends autopkgtest >/dev/null
status=0
autopkgtest --output-dir /root/out/autopkgtest --no-built-binaries ./$DEB ./src -- null ||
    status=\$?
du -sx --block-size=1M / | cut -f1 >/root/out/final-chroot-mb.txt
exit \$status
EOF

step "test chroot: install the .deb, --version, the wizard offscreen, autopkgtest"
status=0
$SUDO mmdebstrap --quiet --variant=apt --include=ca-certificates \
    --customize-hook='mkdir -p "$1"/root/out' \
    --customize-hook="copy-in $WORK/src.tar $WORK/out/$DEB $WORK/inside-test.sh /root" \
    --customize-hook='chroot "$1" sh /root/inside-test.sh || echo $? >"$1"/root/out/failed' \
    --customize-hook="sync-out /root/out $WORK/out/test" \
    "$SUITE" /dev/null "$SOURCES" || status=$?
[ -f "$WORK/out/test/failed" ] && status=$(cat "$WORK/out/test/failed")
[ -d "$WORK/out/test/autopkgtest" ] && cat "$WORK/out/test/autopkgtest/summary" 2>/dev/null

step "done (exit status $status)"
echo "build chroot: $(cat "$WORK/out/build-chroot-mb.txt") MB; test chroot with the package:" \
     "$(cat "$WORK/out/test/installed-chroot-mb.txt" 2>/dev/null || echo '?') MB, after" \
     "autopkgtest: $(cat "$WORK/out/test/final-chroot-mb.txt" 2>/dev/null || echo '?') MB" \
     "(one chroot at a time, in ${TMPDIR:-/tmp}; both deleted)" | tee -a "$WORK/timings.txt"
du -sh "$WORK" | tee -a "$WORK/timings.txt"
exit "$status"
