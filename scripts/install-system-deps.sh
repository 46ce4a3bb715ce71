#!/usr/bin/env bash
# Installs the system packages rdmagate builds and tests with, on Debian or Ubuntu:
# a C++ toolchain for the addon, rdma-core's headers (the libraries themselves are
# optional at run time), and the tools the tests use (clang with libFuzzer for fuzzing).
set -euo pipefail
pkgs=(build-essential python3 pkg-config binutils libibverbs-dev librdmacm-dev curl
      rdma-core ibverbs-utils iproute2 clang libclang-rt-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
echo "installing: ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
