#include "rdma/protection_domain.h"

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include "rdma/loader.h"
#include "rdma/resources.h"
#include "util/error.h"

namespace rdmagate::rdma {

std::shared_ptr<ProtectionDomain> ProtectionDomain::for_context(ibv_context* ctx) {
  static std::mutex mutex;
  static std::map<ibv_context*, std::weak_ptr<ProtectionDomain>> domains;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto existing = domains[ctx].lock()) return existing;
  ibv_pd* pd = require_api().ibv_alloc_pd(ctx);
  if (!pd) {
    int e = errno;
    throw Error("ERR_RDMA_VERBS", std::string("ibv_alloc_pd: ") + strerror(e), e);
  }
  ++resources().pds;
  std::shared_ptr<ProtectionDomain> domain(new ProtectionDomain(pd));
  domains[ctx] = domain;
  return domain;
}

ProtectionDomain::~ProtectionDomain() {
  api()->ibv_dealloc_pd(pd_);
  --resources().pds;
}

MemoryRegistrar::Keys ProtectionDomain::register_region(void* addr, size_t len) {
  ibv_mr* mr = (require_api().ibv_reg_mr)(
      pd_, addr, len, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
  if (!mr) {
    int e = errno;
    throw Error("ERR_RDMA_VERBS",
                std::string("ibv_reg_mr: ") + strerror(e) +
                    (e == ENOMEM ? " (is the locked-memory limit, ulimit -l, too low?)" : ""),
                e);
  }
  ++resources().mrs;
  return {mr->lkey, mr->rkey, mr};
}

void ProtectionDomain::deregister(void* handle) {
  api()->ibv_dereg_mr(static_cast<ibv_mr*>(handle));
  --resources().mrs;
}

ChunkKeys chunk_keys(BufferPool& pool, const BufferPool::Chunk* chunk, const std::shared_ptr<ProtectionDomain>& domain) {
  ChunkKeys k{};
  if (!pool.keys(chunk, domain.get(), &k.lkey, &k.rkey)) {
    pool.register_with(domain.get(), domain);
    pool.keys(chunk, domain.get(), &k.lkey, &k.rkey);
  }
  return k;
}

}  // namespace rdmagate::rdma
