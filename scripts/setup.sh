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
exec node dist/lib/cli/main.js gateway --demo --socket "${RDMAGATE_SOCKET:-/var/tmp/rdmagate.sock}"
