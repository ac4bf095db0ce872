#!/bin/sh
# Install the Debian packages the test suite drives for real (DNS server, KDC, pidgin-sipe,
# bitlbee-libpurple for the export-bitlbee sign-in test, ...).
# gcc + libxml2-dev build the test-only SAX1 shim that lets finch parse XML on Debian 12's
# libxml2 (tests/servers/sax1_shim.c; never part of the product).
# appstream, desktop-file-utils and groff-base validate the metainfo, the menu entry and the
# man pages (tests/packaging). nftables blackholes servers inside a private network namespace
# (tests/integration/test_dead_servers.py, make bench).
# Idempotent: does nothing when everything is present. Needs root (or sudo) the first time.
set -eu
PKGS="dnsmasq-base krb5-kdc krb5-admin-server krb5-user libkrb5-dev pidgin-sipe finch
pidgin-gnome-keyring gnome-keyring libsecret-tools dbus dbus-x11 xvfb xauth
libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3
libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-randr0 libxcb-render-util0
libxcb-xinerama0 libxcb-xkb1 libxcb-image0 fonts-dejavu-core
gcc libc6-dev libxml2-dev
bitlbee-libpurple
appstream desktop-file-utils groff-base
nftables"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "Installing Debian packages:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends: pidgin-sipe would otherwise pull ~260 packages.
$SUDO apt-get install -y -qq --no-install-recommends $missing
