#include "rdma/device.h"

#include <arpa/inet.h>
#include <endian.h>

#include <cstdio>
#include <cstring>

#include "rdma/loader.h"
#include "util/error.h"

namespace rdmagate::rdma {

namespace {

const char* port_state_name(ibv_port_state s) {
  switch (s) {
    case IBV_PORT_DOWN: return "down";
    case IBV_PORT_INIT: return "init";
    case IBV_PORT_ARMED: return "armed";
    case IBV_PORT_ACTIVE: return "active";
    case IBV_PORT_ACTIVE_DEFER: return "active-defer";
    default: return "unknown";
  }
}

uint32_t mtu_bytes(ibv_mtu m) { return m >= IBV_MTU_256 && m <= IBV_MTU_4096 ? 128u << m : 0; }

std::vector<std::string> nonzero_gids(const Api& a, ibv_context* ctx, uint8_t port, int table_len) {
  std::vector<std::string> out;
  for (int i = 0; i < table_len; ++i) {
    ibv_gid gid;
    if (a.ibv_query_gid(ctx, port, i, &gid) != 0) break;
    static const uint8_t zero[16] = {};
    if (memcmp(gid.raw, zero, 16) == 0) continue;
    char text[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, gid.raw, text, sizeof text);
    out.emplace_back(text);
  }
  return out;
}

}  // namespace

std::vector<DeviceInfo> list_devices() {
  const Api& a = require_api();
  int n = 0;
  ibv_device** list = a.ibv_get_device_list(&n);
  if (!list) return {};
  std::vector<DeviceInfo> out;
  for (int i = 0; i < n; ++i) {
    ibv_context* ctx = a.ibv_open_device(list[i]);
    if (!ctx) continue;
    ibv_device_attr attr;
    if (a.ibv_query_device(ctx, &attr) == 0) {
      DeviceInfo d{};
      d.name = a.ibv_get_device_name(list[i]);
      char guid[17];
      snprintf(guid, sizeof guid, "%016llx",
               static_cast<unsigned long long>(be64toh(a.ibv_get_device_guid(list[i]))));
      d.guid = guid;
      d.transport = list[i]->transport_type == IBV_TRANSPORT_IWARP ? "iwarp" : "infiniband";
      d.max_qp = uint32_t(attr.max_qp);
      d.max_qp_wr = uint32_t(attr.max_qp_wr);
      d.max_cq = uint32_t(attr.max_cq);
      d.max_cqe = uint32_t(attr.max_cqe);
      d.max_mr = uint32_t(attr.max_mr);
      d.max_pd = uint32_t(attr.max_pd);
      d.max_sge = uint32_t(attr.max_sge);
      d.max_srq = uint32_t(attr.max_srq);
      d.max_mr_size = attr.max_mr_size;
      for (uint8_t p = 1; p <= attr.phys_port_cnt; ++p) {
        ibv_port_attr pa;
        if ((a.ibv_query_port)(ctx, p, &pa) != 0) continue;
        PortInfo port{};
        port.number = p;
        port.state = port_state_name(pa.state);
        port.link_layer = pa.link_layer == IBV_LINK_LAYER_ETHERNET ? "ethernet" : "infiniband";
        port.active_mtu = mtu_bytes(pa.active_mtu);
        port.lid = pa.lid;
        port.gids = nonzero_gids(a, ctx, p, pa.gid_tbl_len);
        d.ports.push_back(std::move(port));
      }
      out.push_back(std::move(d));
    }
    a.ibv_close_device(ctx);
  }
  a.ibv_free_device_list(list);
  return out;
}

}  // namespace rdmagate::rdma
