// libibverbs and librdmacm are opened at run time, so the addon loads (and TCP works)
// on machines without rdma-core. Header inlines that go through the device's ops table
// (ibv_post_send, ibv_poll_cq, ...) need no symbol and are used directly; everything
// else goes through this table.
#pragma once

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include <string>

namespace rdmagate::rdma {

struct Api {
#define RDMAGATE_FN(name) decltype(&::name) name
  RDMAGATE_FN(ibv_get_device_list);
  RDMAGATE_FN(ibv_free_device_list);
  RDMAGATE_FN(ibv_get_device_name);
  RDMAGATE_FN(ibv_get_device_guid);
  RDMAGATE_FN(ibv_open_device);
  RDMAGATE_FN(ibv_close_device);
  RDMAGATE_FN(ibv_query_device);
  RDMAGATE_FN(ibv_query_gid);
  RDMAGATE_FN(ibv_alloc_pd);
  RDMAGATE_FN(ibv_dealloc_pd);
  RDMAGATE_FN(ibv_dereg_mr);
  RDMAGATE_FN(ibv_create_comp_channel);
  RDMAGATE_FN(ibv_destroy_comp_channel);
  RDMAGATE_FN(ibv_create_cq);
  RDMAGATE_FN(ibv_destroy_cq);
  RDMAGATE_FN(ibv_resize_cq);
  RDMAGATE_FN(ibv_create_srq);
  RDMAGATE_FN(ibv_destroy_srq);
  RDMAGATE_FN(ibv_get_cq_event);
  RDMAGATE_FN(ibv_ack_cq_events);
  RDMAGATE_FN(ibv_wc_status_str);
  RDMAGATE_FN(rdma_create_event_channel);
  RDMAGATE_FN(rdma_destroy_event_channel);
  RDMAGATE_FN(rdma_create_id);
  RDMAGATE_FN(rdma_destroy_id);
  RDMAGATE_FN(rdma_bind_addr);
  RDMAGATE_FN(rdma_listen);
  RDMAGATE_FN(rdma_resolve_addr);
  RDMAGATE_FN(rdma_resolve_route);
  RDMAGATE_FN(rdma_connect);
  RDMAGATE_FN(rdma_accept);
  RDMAGATE_FN(rdma_reject);
  RDMAGATE_FN(rdma_disconnect);
  RDMAGATE_FN(rdma_get_cm_event);
  RDMAGATE_FN(rdma_ack_cm_event);
  RDMAGATE_FN(rdma_migrate_id);
  RDMAGATE_FN(rdma_create_qp);
  RDMAGATE_FN(rdma_destroy_qp);
  RDMAGATE_FN(rdma_event_str);
#undef RDMAGATE_FN
  // These two are macros in verbs.h whose inline bodies reference other exported
  // symbols; the plain exported functions are resolved instead.
  ibv_mr* (*ibv_reg_mr)(ibv_pd*, void*, size_t, int);
  int (*ibv_query_port)(ibv_context*, uint8_t, ibv_port_attr*);
};

// The loaded API, or nullptr when rdma-core is missing.
const Api* api();
// Why api() is null: which library or symbol is missing. Empty when loaded.
const std::string& unavailable_reason();
// Throws ERR_RDMA_UNAVAILABLE naming what is missing.
const Api& require_api();

// The library names tried; RDMAGATE_LIBIBVERBS and RDMAGATE_LIBRDMACM override them.
const char* ibverbs_library();
const char* rdmacm_library();

}  // namespace rdmagate::rdma
