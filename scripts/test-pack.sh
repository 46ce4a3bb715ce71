#!/usr/bin/env bash
# What `npm pack` ships, installed as a user installs it: the prebuilds for linux-x64 and
# linux-arm64 are in the tarball (each an ELF of its machine), and `npm install` of the
# tarball in a scratch project builds nothing (no build/ appears) and loads the x64 prebuild.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fail() { echo "[test-pack] FAIL: $*" >&2; exit 1; }

bash scripts/prebuild.sh x64 arm64
tgz=$(npm pack --silent --pack-destination "$work" | tail -1)
tar -xzf "$work/$tgz" -C "$work"
machine() { od -An -tu2 -j18 -N2 "$1" | tr -d ' '; }   # ELF e_machine: 62 x86-64, 183 AArch64
for want in "linux-x64 62" "linux-arm64 183"; do
  set -- $want
  f=$(ls "$work"/package/prebuilds/$1/*.node 2>/dev/null | head -1)
  [ -n "$f" ] || fail "no prebuilds/$1/*.node in $tgz"
  [ "$(machine "$f")" = "$2" ] || fail "$f is not an ELF for $1 (e_machine $(machine "$f"))"
  echo "[test-pack] $tgz: prebuilds/$1/$(basename "$f") ($(stat -c %s "$f") bytes, e_machine $2)"
done

mkdir "$work/app"
(cd "$work/app" && npm init -y >/dev/null && RDMAGATE_WERROR= npm install --no-audit --no-fund "$work/$tgz" >/dev/null)
pkg=$work/app/node_modules/rdmagate
# npm may hold back dependencies' install scripts (allowScripts): run the package's own.
(cd "$pkg" && RDMAGATE_WERROR= node scripts/install-native.js)
[ ! -e "$pkg/build" ] || fail "npm install compiled the addon (build/ exists) though a prebuild was there"
(cd "$work/app" && node -e "
  const { Target } = require('rdmagate');
  new Target({ reactors: 1 }).close().then(() =>
    console.log('[test-pack] installed with no build, and the prebuild runs a Target'));
") || fail "the installed package does not load"
