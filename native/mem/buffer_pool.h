// A pool of fixed-size chunks carved from page-aligned regions (hugepages when the
// system has them). Each region is registered once with every RDMA protection domain
// the pool is used with; a chunk's keys are its region's keys, so no I/O registers.
//
// Reactors go through a Cache of their own (SPDK's per-thread buffer caches): no lock per
// I/O, chunks traded with the pool in batches, and growth (mmap, ibv_reg_mr) never on the
// reactor: a refill that finds the pool low starts it on the pool's own thread, ahead of
// need, and one that finds it empty returns nullptr for the caller to retry.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
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

  // One thread's free chunks (see above). Made by the pool, which owns it; used by one
  // thread at a time, and drained back into the pool by destroy().
  class Cache {
   public:
    size_t size() const { return size_.load(std::memory_order_relaxed); }

    static constexpr size_t kMaxCapacity = 64;

   private:
    friend class BufferPool;
    size_t capacity_ = 1;
    size_t batch_ = 1;  // chunks per trade with the pool: half the capacity
    Chunk* chunks_[kMaxCapacity];
    std::atomic<size_t> size_{0};  // written by its thread, read by stats()
  };

  static std::shared_ptr<BufferPool> create(const BufferPoolOptions& options);
  ~BufferPool();

  // Grows (mmap, registration) as needed. Returns nullptr when the pool is at capacity.
  Chunk* acquire();
  // Throws ERR_BUFFER_BUSY when I/O is in flight on the chunk.
  void release(Chunk* chunk);
  // Any thread, once per user of the cache. It holds up to `capacity` free chunks (at most
  // Cache::kMaxCapacity): what it keeps from the other caches' users.
  Cache* make_cache(size_t capacity);
  // The cache's thread. Never grows here: nullptr when no chunk is free now (one may be
  // soon: growth starts in the background while the pool is below capacity).
  Chunk* acquire(Cache& cache);
  void release(Cache& cache, Chunk* chunk);
  // Maps (and registers) at least `bytes` now, on the calling thread, so that the first
  // I/Os find chunks waiting.
  void prefill(size_t bytes);
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
  // Maps, registers and adds one region; false at capacity. Takes mutex_ only to read the
  // domains and to publish the region, so a cache's refill never waits for mmap.
  bool grow();
  // With mutex_ held: starts grow() on a thread of its own unless one runs or the pool
  // is full.
  void grow_in_background();
  // With mutex_ held: whether another region fits, counting those being made.
  bool can_grow() const;
  void drain_caches();  // with mutex_ held, no cache in use
  size_t outstanding_locked() const;
  static void cache_keys(Chunk& chunk, const void* domain, const MemoryRegistrar::Keys& keys);
  void unmap_all();

  const BufferPoolOptions options_;
  mutable std::mutex mutex_;
  std::vector<Region> regions_;
  std::vector<std::unique_ptr<Chunk>> chunks_;
  std::vector<uint32_t> free_;
  std::vector<Domain> domains_;
  std::vector<std::unique_ptr<Cache>> caches_;
  size_t lent_ = 0;     // chunks not in free_: with callers, or in caches
  size_t growing_ = 0;  // regions being mapped outside the lock
  bool growth_queued_ = false;
  std::string growth_error_code_, growth_error_;  // of the last background growth, if it failed
  bool destroyed_ = false;
};

}  // namespace rdmagate
