#!/usr/bin/env bash
# Makes the N-API prebuilds that `npm pack` carries, so that an install from the registry
# builds nothing on a common machine: prebuilds/linux-x64/ with this machine's compiler, and
# prebuilds/linux-arm64/ (where a DPU runs) with Debian's cross compiler, linked against
# arm64 OpenSSL libraries unpacked into a sysroot of our own under $PREBUILD_CACHE (apt's
# arm64 package lists kept there too: the host's dpkg gets no foreign architecture).
#   scripts/prebuild.sh [x64|arm64 ...]     default: both
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CACHE=${PREBUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rdmagate-prebuild}
ARCHES=("$@"); [ ${#ARCHES[@]} -gt 0 ] || ARCHES=(x64 arm64)
log() { echo "[prebuild] $*" >&2; }

# node-gyp builds against this node's headers (npm's nodedir, else the installed node's own),
# not a download: N-API prebuilds do not depend on the node version they are built with.
nodedir=${npm_config_nodedir:-$(npm config get nodedir 2>/dev/null || true)}
if [ -z "$nodedir" ] || [ "$nodedir" = undefined ] || [ "$nodedir" = null ]; then
  nodedir=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
fi
[ -f "$nodedir/include/node/node_api.h" ] || { log "no node headers under $nodedir/include/node (set npm_config_nodedir)"; exit 1; }
export npm_config_nodedir=$nodedir
target=$(node -p process.versions.node)

apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -qq "$@" >&2; }

# The cross compiler, and a sysroot with arm64's libssl-dev and libssl3.
arm64_sysroot() {
  if ! command -v aarch64-linux-gnu-g++ >/dev/null; then
    log "installing the arm64 cross compiler (g++-aarch64-linux-gnu)"
    apt_get update || true
    apt_get install -y --no-install-recommends g++-aarch64-linux-gnu
  fi
  local root=$CACHE/arm64-sysroot stamp=$CACHE/arm64-sysroot.stamp
  if [ -f "$stamp" ] && [ -d "$root" ]; then echo "$root"; return; fi
  local apt=$CACHE/apt opts
  mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/debs"
  opts=(-o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Dir::State::Lists="$apt/lists"
        -o Dir::Cache="$apt" -o Dir::State::status=/dev/null -o Debug::NoLocking=1)
  log "fetching arm64 OpenSSL (libssl-dev, libssl3) into $root"
  apt_get "${opts[@]}" update
  (cd "$apt/debs" && apt-get "${opts[@]}" -qq download libssl-dev:arm64 libssl3:arm64 >&2)
  rm -rf "$root.tmp"; mkdir -p "$root.tmp"
  for d in "$apt"/debs/*.deb; do dpkg-deb -x "$d" "$root.tmp"; done
  rm -rf "$root"; mv "$root.tmp" "$root"; touch "$stamp"
  echo "$root"
}

for arch in "${ARCHES[@]}"; do
  case $arch in
    x64)
      log "linux-x64 (node $target headers, N-API)"
      npx prebuildify --napi --strip --target "$target" --arch x64;;
    arm64)
      sysroot=$(arm64_sysroot)
      log "linux-arm64 (cross, OpenSSL from $sysroot)"
      CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ PREBUILD_STRIP_BIN=aarch64-linux-gnu-strip \
        CXXFLAGS="-I$sysroot/usr/include/aarch64-linux-gnu -I$sysroot/usr/include" \
        LDFLAGS="-L$sysroot/usr/lib/aarch64-linux-gnu -Wl,-rpath-link,$sysroot/usr/lib/aarch64-linux-gnu" \
        npx prebuildify --napi --strip --target "$target" --arch arm64;;
    *) log "unknown arch $arch (x64, arm64)"; exit 2;;
  esac
done
# prebuildify builds in build/: what build/Release held is gone, and with it the addon of
# this checkout's own tests. Build it again for this machine.
npx node-gyp rebuild --werror=true >/dev/null
find prebuilds -name '*.node' | sort >&2
