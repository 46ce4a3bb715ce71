#include "rdma/loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "util/error.h"

namespace rdmagate::rdma {

namespace {

struct Loaded {
  Api api{};
  bool ok = false;
  std::string reason;
};

template <typename F>
bool resolve(void* lib, const char* name, F* out, std::string* reason) {
  void* sym = dlsym(lib, name);
  if (!sym) {
    *reason = std::string("symbol ") + name + " not found";
    return false;
  }
  *out = reinterpret_cast<F>(sym);
  return true;
}

// Calls the provider's extended query_port when it has one, as verbs.h's inline does,
// so the result uses today's ibv_port_attr layout.
int (*exported_query_port)(ibv_context*, uint8_t, ibv_port_attr*) = nullptr;
int query_port(ibv_context* ctx, uint8_t port, ibv_port_attr* attr) {
  verbs_context* vctx = verbs_get_ctx_op(ctx, query_port);
  if (vctx) return vctx->query_port(ctx, port, attr, sizeof(*attr));
  memset(attr, 0, sizeof(*attr));
  return exported_query_port(ctx, port, attr);
}

Loaded load() {
  Loaded l;
  void* verbs = dlopen(ibverbs_library(), RTLD_NOW | RTLD_GLOBAL);
  if (!verbs) {
    l.reason = std::string(ibverbs_library()) + " (rdma-core's libibverbs) could not be loaded: " + dlerror();
    return l;
  }
  void* cm = dlopen(rdmacm_library(), RTLD_NOW | RTLD_GLOBAL);
  if (!cm) {
    l.reason = std::string(rdmacm_library()) + " (rdma-core's librdmacm) could not be loaded: " + dlerror();
    return l;
  }
  std::string& r = l.reason;
  Api& a = l.api;
#define V(name) if (!resolve(verbs, #name, &a.name, &r)) return l
#define C(name) if (!resolve(cm, #name, &a.name, &r)) return l
  V(ibv_get_device_list); V(ibv_free_device_list); V(ibv_get_device_name);
  V(ibv_get_device_guid); V(ibv_open_device); V(ibv_close_device); V(ibv_query_device);
  V(ibv_query_gid); V(ibv_alloc_pd); V(ibv_dealloc_pd); V(ibv_dereg_mr);
  V(ibv_create_comp_channel); V(ibv_destroy_comp_channel); V(ibv_create_cq);
  V(ibv_destroy_cq); V(ibv_resize_cq); V(ibv_get_cq_event); V(ibv_ack_cq_events); V(ibv_wc_status_str);
  V(ibv_reg_mr); V(ibv_create_srq); V(ibv_destroy_srq);
  C(rdma_create_event_channel); C(rdma_destroy_event_channel); C(rdma_create_id);
  C(rdma_destroy_id); C(rdma_bind_addr); C(rdma_listen); C(rdma_resolve_addr);
  C(rdma_resolve_route); C(rdma_connect); C(rdma_accept); C(rdma_reject);
  C(rdma_disconnect); C(rdma_get_cm_event); C(rdma_ack_cm_event); C(rdma_migrate_id);
  C(rdma_create_qp); C(rdma_destroy_qp); C(rdma_event_str);
#undef V
#undef C
  if (!resolve(verbs, "ibv_query_port", &exported_query_port, &r)) return l;
  a.ibv_query_port = query_port;
  l.ok = true;
  return l;
}

const Loaded& loaded() {
  static const Loaded l = load();
  return l;
}

}  // namespace

const char* ibverbs_library() {
  const char* env = getenv("RDMAGATE_LIBIBVERBS");
  return env && *env ? env : "libibverbs.so.1";
}

const char* rdmacm_library() {
  const char* env = getenv("RDMAGATE_LIBRDMACM");
  return env && *env ? env : "librdmacm.so.1";
}

const Api* api() { return loaded().ok ? &loaded().api : nullptr; }

const std::string& unavailable_reason() { return loaded().reason; }

const Api& require_api() {
  if (!api()) throw Error("ERR_RDMA_UNAVAILABLE", "RDMA is unavailable: " + unavailable_reason());
  return *api();
}

}  // namespace rdmagate::rdma
