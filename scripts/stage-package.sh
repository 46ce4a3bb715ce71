#!/usr/bin/env bash
# stage-package.sh DEST: installs this checkout's built package at DEST as `npm install`
# would: the files `npm pack` takes (package.json's "files"), the addon this checkout built
# (build/Release/rdmagate.node), and the production dependencies at package-lock.json's
# versions; DEST/dist/lib/cli/main.js is the `rdmagate` command. The Containerfile's build
# stage and scripts/build-image.sh both make the image's /opt/rdmagate with it.
# Needs a built checkout: npm ci (which builds the addon) and npm run build:ts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ $# -eq 1 ] || { echo "usage: $0 DEST" >&2; exit 2; }
dest=$1
for f in build/Release/rdmagate.node dist/lib/cli/main.js; do
  [ -f "$f" ] || { echo "stage-package: $f is missing: npm ci (builds the addon), then npm run build:ts" >&2; exit 1; }
done
[ ! -e "$dest" ] || [ -z "$(ls -A "$dest")" ] || { echo "stage-package: $dest is not empty" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tgz=$(npm pack --silent --pack-destination "$tmp" | tail -1)
mkdir -p "$dest/build/Release"
tar -xzf "$tmp/$tgz" -C "$dest" --strip-components=1 --no-same-owner
cp build/Release/rdmagate.node "$dest/build/Release/"
cp package-lock.json "$dest/"
# --ignore-scripts: the package's own install script (node-gyp-build) would find the addon
# built anyway; no dependency of production needs one.
( cd "$dest" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error >&2 )
chmod 755 "$dest/dist/lib/cli/main.js"
