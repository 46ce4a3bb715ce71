#!/usr/bin/env bash
# Runs the RDMA suite (test/rdma) on a real device: directly when this machine has one,
# otherwise inside the lab guest (lab/lab.sh: QEMU with Soft-RoCE).
#   RDMAGATE_TEST_RDMA_ADDRESS  the device's IP, when running directly
#   RDMAGATE_LAB=1              force the lab even when a device exists
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MOCHA=(node --expose-gc node_modules/mocha/bin/mocha.js --no-config --timeout 120000 --exit "dist/test/rdma/**/*.test.js")

has_device() { [ -n "$(ls /sys/class/infiniband 2>/dev/null)" ]; }

if has_device && [ "${RDMAGATE_LAB:-0}" != 1 ]; then
  : "${RDMAGATE_TEST_RDMA_ADDRESS:?set it to the IPv4 address of an RDMA interface}"
  export RDMAGATE_TEST_RDMA_ADDRESS
  exec "${MOCHA[@]}"
fi

echo "no RDMA device here: running the suite in the lab (QEMU + Soft-RoCE)" >&2
LAB_SHARE=$PWD exec lab/lab.sh run "cd /host && bash scripts/lab-rdma-env.sh && $(printf '%q ' "${MOCHA[@]}")"
