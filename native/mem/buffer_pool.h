// A pool of fixed-size chunks carved from page-aligned regions (hugepages when the
// system has them). Each region is registered once with every RDMA protection domain
// the pool is used with; a chunk's keys are its region's keys, so no I/O registers.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace rdmagate {

struct BufferPoolOptions {
  size_t chunk_size = 128 * 1024;
  size_t region_size = 2 * 1024 * 1024;  // grown by this much; a multiple of chunk_size
  size_t capacity = 64 * 1024 * 1024;    // most bytes the pool may map
  enum class Hugepages { kAuto, kRequire, kNever } hugepages = Hugepages::kAuto;
};

struct BufferPoolStats {
  size_t chunk_size, capacity, mapped_bytes, allocated_bytes, free_bytes, registered_bytes;
  size_t regions, hugepage_regions, registrations;
};

// Registers and deregisters a region with one protection domain. Supplied by the RDMA
// layer so that memory code does not depend on verbs.
class MemoryRegistrar {
 public:
  struct Keys {
    uint32_t lkey, rkey;
    void* handle;  // the ibv_mr
  };
  virtual ~MemoryRegistrar() = default;
  virtual Keys register_region(void* addr, size_t len) = 0;
  virtual void deregister(void* handle) = 0;
};

class BufferPool : public std::enable_shared_from_this<BufferPool> {
 public:
  // A chunk's keys in one domain, kept on the chunk so that a post reads them without the
  // pool's lock: written under it, then published by `domain`, and never changed after,
  // since a domain stays registered for the pool's life.
  struct CachedKeys {
    std::atomic<const void*> domain{nullptr};
    uint32_t lkey = 0, rkey = 0;
  };
  static constexpr size_t kCachedDomains = 4;  // devices; a pool used with more looks the rest up locked

  struct Chunk {
    uint8_t* data;
    uint32_t index;
    uint32_t region;
    std::atomic<uint32_t> inflight{0};
    bool out = false;
    std::array<CachedKeys, kCachedDomains> keys;
  };

  static std::shared_ptr<BufferPool> create(const BufferPoolOptions& options);
  ~BufferPool();

  // Returns nullptr when the pool is at capacity.
  Chunk* acquire();
  // Throws ERR_BUFFER_BUSY when I/O is in flight on the chunk.
  void release(Chunk* chunk);
  Chunk* chunk(uint32_t index);

  // Registers every region (now and future) with `registrar`, keyed by `domain`, until the
  // pool is destroyed. A second call for the same domain is a no-op.
  void register_with(const void* domain, std::shared_ptr<MemoryRegistrar> registrar);
  // The keys for the region holding `chunk`, in `domain`; false if not registered there.
  // Lock-free for the first kCachedDomains domains.
  bool keys(const Chunk* chunk, const void* domain, uint32_t* lkey, uint32_t* rkey) const;

  size_t outstanding() const;
  // Deregisters and unmaps everything. Throws ERR_POOL_BUSY while chunks are out.
  void destroy();
  bool destroyed() const { return destroyed_; }
  BufferPoolStats stats() const;
  const BufferPoolOptions& options() const { return options_; }

 private:
  struct Region {
    uint8_t* base;
    size_t size;
    bool hugepages;
  };
  struct Domain {
    const void* key;
    std::shared_ptr<MemoryRegistrar> registrar;
    std::vector<MemoryRegistrar::Keys> regions;  // parallel to regions_
  };

  explicit BufferPool(const BufferPoolOptions& options);
  bool grow();  // with mutex_ held
  static void cache_keys(Chunk& chunk, const void* domain, const MemoryRegistrar::Keys& keys);
  void unmap_all();

  const BufferPoolOptions options_;
  mutable std::mutex mutex_;
  std::vector<Region> regions_;
  std::vector<std::unique_ptr<Chunk>> chunks_;
  std::vector<uint32_t> free_;
  std::vector<Domain> domains_;
  size_t outstanding_ = 0;
  bool destroyed_ = false;
};

}  // namespace rdmagate
