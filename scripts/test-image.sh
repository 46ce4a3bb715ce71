#!/usr/bin/env bash
# test-image.sh - runs the rdmagate image (scripts/build-image.sh, or a Containerfile build) in
# containers with podman, as root, and checks it as the manifests use it:
#   1. `rdmagate --version` (the entrypoint) prints package.json's version;
#   2. the programs the CSI node plugin runs are in it (nvme-cli, mkfs.ext4, mkfs.xfs,
#      resize2fs, xfs_growfs, blkid, mount, umount, modprobe);
#   3. `rdmagate devices` loads the addon and rdma-core's libraries (no RDMA device needed);
#   4. `rdmagate csi --role=default --endpoint=unix:///csi/csi.sock`, as deploy/node.yaml runs
#      it, with /csi a directory of this machine: this checkout's CSI client
#      (dist/lib/csi/client.js) calls Identity GetPluginInfo (the driver's name and version),
#      GetPluginCapabilities and Probe (the default role's Probe runs `nvme version` in the
#      container), and Node NodeGetInfo (a host NQN the image did not bring: it has none);
#      then SIGTERM (podman stop) ends it with exit status 0.
# Every check fails the run, none skips: no podman or no image is a failure.
#   RDMAGATE_IMAGE   the image (default rdmagate:latest); see scripts/image-common.sh for podman's flags
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/image-common.sh

fail() { image_log "FAIL: $*"; exit 1; }
pass() { image_log "ok: $*"; }

[ "$(id -u)" = 0 ] || fail "must run as root (the image is in root's podman storage, where scripts/build-image.sh puts it)"
command -v podman >/dev/null || fail "podman is not installed: scripts/build-image.sh installs it and builds the image"
[ -f dist/lib/csi/client.js ] || fail "dist/lib/csi/client.js is missing (the test's CSI client): npm run build:ts"
podman_setup
"${PODMAN[@]}" image exists "$IMAGE" || fail "no image $IMAGE: build it with scripts/build-image.sh (or podman build -f Containerfile -t $IMAGE .)"
VERSION=$(node -p 'require("./package.json").version')
T0=$(image_now)
run() { "${PODMAN[@]}" run --rm --network=none "${RUN_FLAGS[@]}" "$@"; }

# 1
out=$(run "$IMAGE" --version) || fail "rdmagate --version: exit status $?"
[ "$out" = "rdmagate $VERSION" ] || fail "rdmagate --version printed '$out', not 'rdmagate $VERSION'"
pass "rdmagate --version: $out"

# 2
out=$(run --entrypoint /bin/sh "$IMAGE" -c '
  for c in nvme mkfs.ext4 mkfs.xfs resize2fs xfs_growfs blkid mount umount modprobe; do
    command -v "$c" >/dev/null || { echo "missing: $c"; exit 1; }
  done
  nvme version') || fail "the node plugin's programs: $out"
pass "nvme, mkfs.ext4, mkfs.xfs, resize2fs, xfs_growfs, blkid, mount, umount, modprobe are there; ${out//$'\n'/; }"

# 3
out=$(run "$IMAGE" devices 2>&1) || fail "rdmagate devices (the addon, libibverbs, librdmacm): $out"
pass "rdmagate devices: ${out//$'\n'/; }"

# 4
dir=$(mktemp -d)
name=rdmagate-image-test-$$
cleanup() { "${PODMAN[@]}" rm -f -t 0 "$name" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
"${PODMAN[@]}" run -d --name "$name" --network=none "${RUN_FLAGS[@]}" -v "$dir:/csi" \
  "$IMAGE" csi --role=default --endpoint=unix:///csi/csi.sock >/dev/null || fail "podman run ... csi: exit status $?"
# Listening once it says so: the socket file appears at bind(), a moment before listen().
for _ in $(seq 200); do
  [ -S "$dir/csi.sock" ] && "${PODMAN[@]}" logs "$name" 2>&1 | grep -q '"msg":"csi listening"' && break
  [ "$("${PODMAN[@]}" inspect -f '{{.State.Running}}' "$name")" = true ] \
    || fail "rdmagate csi exited: $("${PODMAN[@]}" logs "$name" 2>&1)"
  sleep 0.1
done
[ -S "$dir/csi.sock" ] || fail "rdmagate csi is not listening at /csi/csi.sock after 20 s: $("${PODMAN[@]}" logs "$name" 2>&1)"
CSI_SOCKET=$dir/csi.sock WANT_VERSION=$VERSION node -e '
  const assert = require("node:assert/strict");
  const { CsiClient } = require("./dist/lib/csi/client.js");
  (async () => {
    const c = new CsiClient(`unix://${process.env.CSI_SOCKET}`);
    try {
      const info = await c.call("Identity", "GetPluginInfo", {}, 10_000);
      assert.equal(info.name, "rdmagate.csi.io");
      assert.equal(info.vendor_version, process.env.WANT_VERSION);
      assert.equal(info.manifest.role, "default");
      console.log(`GetPluginInfo: ${info.name} ${info.vendor_version} ${JSON.stringify(info.manifest)}`);
      const caps = (await c.call("Identity", "GetPluginCapabilities", {}, 10_000)).capabilities.map((x) => x.service?.type ?? JSON.stringify(x));
      assert.deepEqual(caps, ["VOLUME_ACCESSIBILITY_CONSTRAINTS"]);
      console.log(`GetPluginCapabilities: ${caps.join(", ")}`);
      const probe = await c.call("Identity", "Probe", {}, 30_000);
      assert.equal(probe.ready?.value, true);
      console.log("Probe: ready");
      const node = await c.call("Node", "NodeGetInfo", {}, 10_000);
      assert.match(node.node_id, /^nqn\.2014-08\.org\.nvmexpress:uuid:[0-9a-f-]{36}$/);
      console.log(`NodeGetInfo: ${node.node_id}`);
    } finally {
      c.close();
    }
  })().catch((e) => { console.error(e); process.exit(1); });
' >&2 || fail "the CSI calls (above); the driver logged: $("${PODMAN[@]}" logs "$name" 2>&1)"
pass "CSI Identity GetPluginInfo, GetPluginCapabilities, Probe and Node NodeGetInfo over /csi/csi.sock"
"${PODMAN[@]}" stop -t 10 "$name" >/dev/null
code=$("${PODMAN[@]}" inspect -f '{{.State.ExitCode}}' "$name")
[ "$code" = 0 ] || fail "rdmagate csi exited $code on SIGTERM: $("${PODMAN[@]}" logs "$name" 2>&1)"
pass "SIGTERM: rdmagate csi exited 0"
image_log "all passed ($IMAGE, $(image_since "$T0")s)"
