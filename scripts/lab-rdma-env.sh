#!/usr/bin/env bash
# Sets up Soft-RoCE inside the lab guest: a veth pair with an rxe device on each end.
# rxe0 (192.168.77.1) is the suite's main device; rxe1 (192.168.77.2) gives a second
# interface for multi-listener tests.
set -euo pipefail
ip link add veth0 type veth peer name veth1
ip addr add 192.168.77.1/24 dev veth0
ip addr add 192.168.77.2/24 dev veth1
ip link set veth0 up
ip link set veth1 up
rdma link add rxe0 type rxe netdev veth0
rdma link add rxe1 type rxe netdev veth1
for i in $(seq 50); do
  ibv_devinfo -d rxe1 2>/dev/null | grep -q PORT_ACTIVE && break
  sleep 0.1
done
echo "RDMAGATE_TEST_RDMA_ADDRESS=192.168.77.1"
