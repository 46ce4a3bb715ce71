#!/usr/bin/env bash
# The README's first command: system packages, npm install (which builds the addon),
# the TypeScript build, then the main job on its embedded default: the gateway, attaching
# a RAM-backed NVMe/TCP backend and re-exporting it over NVMe/TCP (and RDMA where a device
# exists), until Ctrl-C.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-system-deps.sh
npm ci --no-audit --no-fund
npm run build:ts
if [ "$(id -u)" -eq 0 ]; then
  socket="${RDMAGATE_SOCKET:-/var/run/rdmagate/rdmagate.sock}"
else
  # The default socket directory, /var/run/rdmagate, is root's: another user's gateway
  # puts its socket in that user's own runtime directory.
  run_dir="${XDG_RUNTIME_DIR:-$HOME/.rdmagate}"
  mkdir -p -m 700 "$run_dir"
  socket="${RDMAGATE_SOCKET:-$run_dir/rdmagate.sock}"
fi
exec node dist/lib/cli/main.js gateway --demo --socket "$socket"
