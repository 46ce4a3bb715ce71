// Discovery of the RDMA devices on this machine: what `rdma.devices()` returns.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rdmagate::rdma {

struct PortInfo {
  uint32_t number;
  std::string state;       // "active", "down", ...
  std::string link_layer;  // "ethernet" (RoCE) or "infiniband"
  uint32_t active_mtu;     // bytes
  uint32_t lid;
  std::vector<std::string> gids;  // the non-zero GID table entries, as IPv6-style text
};

struct DeviceInfo {
  std::string name;
  std::string guid;  // node GUID, as 16 hex digits
  std::string transport;  // "infiniband" (IB and RoCE) or "iwarp"
  uint32_t max_qp, max_qp_wr, max_cq, max_cqe, max_mr, max_pd, max_sge, max_srq;
  uint64_t max_mr_size;
  std::vector<PortInfo> ports;
};

// Throws ERR_RDMA_UNAVAILABLE without rdma-core; returns an empty list without devices.
std::vector<DeviceInfo> list_devices();

}  // namespace rdmagate::rdma
