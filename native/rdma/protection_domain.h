// One protection domain per device context, shared by every connection on that device.
// It is also the buffer pools' registrar, so a pool region is registered once per device.
#pragma once

#include <infiniband/verbs.h>

#include <memory>

#include "mem/buffer_pool.h"

namespace rdmagate::rdma {

class ProtectionDomain : public MemoryRegistrar {
 public:
  // The shared domain for `ctx`, allocated on first use.
  static std::shared_ptr<ProtectionDomain> for_context(ibv_context* ctx);
  ~ProtectionDomain() override;

  ibv_pd* pd() const { return pd_; }
  Keys register_region(void* addr, size_t len) override;
  void deregister(void* handle) override;

 private:
  explicit ProtectionDomain(ibv_pd* pd) : pd_(pd) {}
  ibv_pd* pd_;
};

struct ChunkKeys {
  uint32_t lkey, rkey;
};

// The keys of `chunk` in `domain`, registering `pool` with the domain on first use.
ChunkKeys chunk_keys(BufferPool& pool, const BufferPool::Chunk* chunk, const std::shared_ptr<ProtectionDomain>& domain);
inline uint32_t local_key(BufferPool& pool, const BufferPool::Chunk* chunk, const std::shared_ptr<ProtectionDomain>& domain) {
  return chunk_keys(pool, chunk, domain).lkey;
}

}  // namespace rdmagate::rdma
