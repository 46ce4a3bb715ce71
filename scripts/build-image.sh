#!/usr/bin/env bash
# build-image.sh - builds rdmagate:latest, the image deploy/*.yaml run, on this machine with no
# container registry: only Debian's mirror (and npm's registry for the production
# dependencies, unless npm's cache has them). The same image as the Containerfile's:
#   - a Debian 12 root file system made with debootstrap (minbase and the runtime stage's
#     packages: rdma-core's libraries, nvme-cli, e2fsprogs, xfsprogs, util-linux, mount,
#     kmod, libssl3), cached under $RDMAGATE_IMAGE_CACHE as lab/lab.sh caches its own;
#   - node at /usr/local/bin/node: this machine's (as the lab's guest gets it), or Debian's
#     nodejs with RDMAGATE_IMAGE_NODE=debian;
#   - this checkout's package at /opt/rdmagate (scripts/stage-package.sh: npm pack's files,
#     the addon built here, production dependencies), `rdmagate` on the PATH, the entrypoint;
# imported with `podman import` (podman is installed with apt when missing). Root: debootstrap
# and chroot. A stale build here (sources newer than dist/ or the addon) is rebuilt first;
# node_modules must exist (npm ci, which builds the addon).
#
#   scripts/build-image.sh          then scripts/test-image.sh runs it
#
# Environment:
#   RDMAGATE_IMAGE          the image's name (default rdmagate:latest: localhost/rdmagate:latest)
#   RDMAGATE_IMAGE_CACHE    the cache (default ${XDG_CACHE_HOME:-~/.cache}/rdmagate-image)
#   RDMAGATE_IMAGE_MIRROR   the Debian mirror (default: the one apt uses here)
#   RDMAGATE_IMAGE_NODE     a node binary to copy in (default `command -v node`), or debian
#   RDMAGATE_IMAGE_ARCHIVE  also write the image there as a docker-archive (for `docker load`,
#                           `podman load`, `kind load image-archive`, `ctr images import`), named
#                           docker.io/library/rdmagate:latest as the manifests' `rdmagate:latest`
#                           is read by Docker and containerd
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/image-common.sh

CACHE=${RDMAGATE_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rdmagate-image}
SUITE=bookworm
MIRROR=${RDMAGATE_IMAGE_MIRROR:-$(apt_mirror)}
ARCHIVE=${RDMAGATE_IMAGE_ARCHIVE:-}
ROOTFS_VERSION=1   # bump to force a new root file system
# The runtime stage's packages: keep in step with the Containerfile.
PKGS=libssl3,libstdc++6,libibverbs1,librdmacm1,ibverbs-providers,nvme-cli,e2fsprogs,xfsprogs,util-linux,mount,kmod

[ "$(id -u)" = 0 ] || image_die "must run as root (debootstrap, chroot, podman's storage)"
[ -n "$MIRROR" ] || image_die "no Debian mirror found in apt's sources; set RDMAGATE_IMAGE_MIRROR"

node_src() {
  if [ "${RDMAGATE_IMAGE_NODE:-}" = debian ]; then echo debian; return; fi
  local n=${RDMAGATE_IMAGE_NODE:-$(command -v node || true)}
  [ -n "$n" ] && [ -x "$n" ] || image_die "no node binary (${n:-none on the PATH}); set RDMAGATE_IMAGE_NODE to one, or to debian"
  readlink -f "$n"
}

# The checkout's build, brought up to date: the image gets what is built here.
build_checkout() {
  [ -d node_modules ] || image_die "node_modules is missing: run npm ci first (it builds the addon too)"
  if [ ! -f build/Release/rdmagate.node ] || [ -n "$(find native binding.gyp -newer build/Release/rdmagate.node -print -quit)" ]; then
    image_log "the addon is missing or older than native/: npm run build:native"
    npm run --silent build:native >&2
  fi
  if [ ! -f dist/lib/cli/main.js ] \
     || [ -n "$(find lib csi opi package.json tsconfig.json -newer dist/lib/cli/main.js -print -quit)" ]; then
    image_log "dist/ is missing or older than the sources: npm run build:ts"
    npm run --silent build:ts >&2
  fi
}

build_rootfs() {
  local pkgs=$PKGS stamp
  [ "$NODE" = debian ] && pkgs="$pkgs,nodejs"
  stamp="v$ROOTFS_VERSION|$SUITE|$pkgs"
  if [ -f "$CACHE/rootfs.stamp" ] && [ "$(cat "$CACHE/rootfs.stamp")" = "$stamp" ] && [ -d "$CACHE/rootfs" ]; then
    image_log "root file system: cached ($CACHE/rootfs)"
    return
  fi
  local t; t=$(image_now)
  image_log "debootstrap $SUITE (minbase + $pkgs) from $MIRROR"
  rm -rf "$CACHE/rootfs.tmp" "$CACHE/rootfs" "$CACHE/rootfs.stamp"
  nice debootstrap --variant=minbase --include="$pkgs" "$SUITE" "$CACHE/rootfs.tmp" "$MIRROR" \
    > "$CACHE/debootstrap.log" 2>&1 || { tail -20 "$CACHE/debootstrap.log" >&2; image_die "debootstrap failed"; }
  local R=$CACHE/rootfs.tmp
  # As in Debian's own images: no apt lists, downloaded packages, documentation or locales.
  rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/cache/apt/*.bin "$R"/var/lib/apt/lists/* \
         "$R"/usr/share/doc/* "$R"/usr/share/man/* "$R"/usr/share/info/* "$R"/usr/share/locale/* \
         "$R"/var/log/* "$R"/var/cache/debconf/*-old "$R"/var/lib/dpkg/*-old
  # The host's, copied in by debootstrap: a container runtime gives its own.
  : > "$R/etc/resolv.conf"; : > "$R/etc/hostname"
  # nvme-cli's postinst made a host NQN and host ID here: one image, one identity on every
  # node. A node has its own (deploy/node.yaml mounts the host's /etc/nvme; else the CSI
  # node plugin makes one at its first NodeGetInfo).
  rm -f "$R/etc/nvme/hostnqn" "$R/etc/nvme/hostid"
  mv "$R" "$CACHE/rootfs"
  echo "$stamp" > "$CACHE/rootfs.stamp"
  image_log "root file system ready: $(du -sh "$CACHE/rootfs" | cut -f1) ($(image_since "$t")s)"
}

# The image's file system in $WORK/root: the cached one, node and the package.
assemble() {
  local R=$WORK/root version
  cp -a "$CACHE/rootfs" "$R"
  if [ "$NODE" != debian ]; then cp "$NODE" "$R/usr/local/bin/node"; chmod 755 "$R/usr/local/bin/node"; fi
  bash scripts/stage-package.sh "$R/opt/rdmagate"
  chown -R 0:0 "$R/opt/rdmagate"
  ln -s /opt/rdmagate/dist/lib/cli/main.js "$R/usr/local/bin/rdmagate"
  # What the test checks in a container, checked here first where a failure says more: a node
  # built for a newer C library than Debian 12's fails now, not in a pod.
  version=$(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin chroot "$R" rdmagate --version) \
    || image_die "rdmagate does not run in the image's root file system (node: $NODE)"
  [ "$version" = "rdmagate $VERSION" ] || image_die "rdmagate --version in the image printed '$version', not 'rdmagate $VERSION'"
}

import_image() {
  local old new
  old=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
  tar -C "$WORK/root" --numeric-owner -cf "$WORK/rootfs.tar" .
  new=$(podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'WORKDIR /' \
    --change 'ENTRYPOINT ["rdmagate"]' \
    --change 'LABEL org.opencontainers.image.title=rdmagate' \
    --change "LABEL org.opencontainers.image.version=$VERSION" \
    --message "scripts/build-image.sh: rdmagate $VERSION, $SUITE, node $NODE_VERSION" \
    "$WORK/rootfs.tar" "$IMAGE")
  rm -f "$WORK/rootfs.tar"
  # The image this one replaces, left with no name: removed, unless a container still uses it.
  if [ -n "$old" ] && [ "$old" != "$new" ] && [ -z "$(podman image inspect --format '{{.RepoTags}}' "$old" 2>/dev/null | tr -d '[]')" ]; then
    podman rmi "$old" >/dev/null 2>&1 || true
  fi
  image_log "$IMAGE: $(podman image inspect --format '{{.Id}} ({{.Size}} bytes)' "$new")"
}

write_archive() {
  local name=$IMAGE
  # podman names a short name localhost/NAME; Docker and containerd read rdmagate:latest as docker.io/library/.
  if [[ $name != */* ]]; then name=docker.io/library/$name
  elif [[ ${name%%/*} != *[.:]* && ${name%%/*} != localhost ]]; then name=docker.io/$name; fi
  [ "$name" = "$IMAGE" ] || podman tag "$IMAGE" "$name"
  rm -f "$ARCHIVE"
  podman save --quiet --format docker-archive -o "$ARCHIVE" "$name"
  [ "$name" = "$IMAGE" ] || podman untag "$IMAGE" "$name"
  image_log "wrote $ARCHIVE ($name, $(du -h "$ARCHIVE" | cut -f1))"
}

T0=$(image_now)
host_packages debootstrap:debootstrap podman:podman tar:tar flock:util-linux
command -v npm >/dev/null || image_die "npm is missing (it comes with node)"
NODE=$(node_src)
VERSION=$(node -p 'require("./package.json").version')
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"; flock 9
build_checkout
build_rootfs
WORK=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
NODE_VERSION=$([ "$NODE" = debian ] && chroot "$CACHE/rootfs" node --version || "$NODE" --version)
assemble
import_image
[ -z "$ARCHIVE" ] || write_archive
image_log "done ($(image_since "$T0")s)"
