#!/usr/bin/env bash
# Runs the interop suites (test/lab) inside the lab guest, where the Linux kernel's
# NVMe-oF host and target (nvme-tcp, nvmet-tcp, nvme-rdma, nvmet-rdma) are our peers.
#   scripts/test-lab.sh [GLOB]   default: every dist/test/lab/*.test.js
# A suite that skips itself there (nvmet or rxe did not load) fails the run: --forbid-pending.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
GLOB=${1:-dist/test/lab/**/*.test.js}
MOCHA=(node --expose-gc node_modules/mocha/bin/mocha.js --no-config --forbid-pending --timeout 600000 --exit "$GLOB")
LAB_SHARE=$PWD exec lab/lab.sh run "cd /host && bash scripts/lab-rdma-env.sh >/dev/null && $(printf '%q ' "${MOCHA[@]}")"
