#!/usr/bin/env bash
# Runs the interop suites (test/lab) inside the lab guest, where the Linux kernel's
# NVMe-oF host and target (nvme-tcp, nvmet-tcp, nvme-rdma, nvmet-rdma) are our peers.
#   scripts/test-lab.sh [GLOB]   default: every dist/test/lab/**/*.test.js on the default
#                                guest (Debian 12, kernel 6.1), then, if test/lab-auth exists,
#                                every dist/test/lab-auth/**/*.test.js on a Debian 13 guest
#                                (LAB_SUITE=trixie: kernel 6.12 with NVMe in-band auth and
#                                NVMe/TCP TLS, nvme-cli 2.13, tlshd); both must pass. A GLOB
#                                runs alone: under dist/test/lab-auth/ on trixie, anything
#                                else on the default guest.
# A suite that skips itself there (nvmet or rxe did not load) fails the run: --forbid-pending.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
AUTH_GLOB='dist/test/lab-auth/**/*.test.js'
AUTH_SUITE=trixie

suite() {   # suite LAB_SUITE GLOB: mocha GLOB in a guest of that Debian suite (empty: the default)
  local mocha=(node --expose-gc node_modules/mocha/bin/mocha.js --no-config --forbid-pending --timeout 600000 --exit "$2")
  LAB_SUITE=${1:-bookworm} LAB_SHARE=$PWD lab/lab.sh run "cd /host && bash scripts/lab-rdma-env.sh >/dev/null && $(printf '%q ' "${mocha[@]}")"
}

if [ $# -ge 1 ]; then
  case ${1#./} in
    dist/test/lab-auth/*) suite "$AUTH_SUITE" "$1";;
    *) suite "" "$1";;
  esac
  exit
fi

rc=0
suite "" 'dist/test/lab/**/*.test.js' || rc=$?
if [ -d test/lab-auth ]; then
  shopt -s globstar nullglob
  built=(dist/test/lab-auth/**/*.test.js) sources=(test/lab-auth/**/*.test.ts)
  if [ ${#built[@]} -gt 0 ]; then
    echo "[test-lab] default suite rc=$rc; now $AUTH_GLOB on LAB_SUITE=$AUTH_SUITE" >&2
    suite "$AUTH_SUITE" "$AUTH_GLOB" || { r=$?; [ $rc -ne 0 ] || rc=$r; }
  elif [ ${#sources[@]} -gt 0 ]; then
    echo "[test-lab] test/lab-auth has ${#sources[@]} *.test.ts but nothing is compiled at $AUTH_GLOB (npm run build:ts)" >&2
    [ $rc -ne 0 ] || rc=1
  fi
fi
exit $rc
