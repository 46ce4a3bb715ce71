#include "mem/buffer_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "util/error.h"

namespace rdmagate {

namespace {
constexpr size_t kHugepageSize = 2 * 1024 * 1024;

void* map_region(size_t size, bool hugepages) {
  int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE;
  if (hugepages) flags |= MAP_HUGETLB;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, flags, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}
}  // namespace

std::shared_ptr<BufferPool> BufferPool::create(const BufferPoolOptions& options) {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  if (options.chunk_size == 0 || options.chunk_size % 512 != 0)
    throw Error("ERR_INVALID_ARG", "chunkSize must be a positive multiple of 512");
  if (options.region_size < options.chunk_size || options.region_size % options.chunk_size != 0 ||
      options.region_size % page != 0)
    throw Error("ERR_INVALID_ARG",
                "regionSize must be a multiple of chunkSize and of the page size");
  if (options.capacity < options.region_size)
    throw Error("ERR_INVALID_ARG", "capacity must hold at least one region");
  return std::shared_ptr<BufferPool>(new BufferPool(options));
}

BufferPool::BufferPool(const BufferPoolOptions& options) : options_(options) {}

BufferPool::~BufferPool() { unmap_all(); }

bool BufferPool::can_grow() const {
  return (regions_.size() + growing_ + 1) * options_.region_size <= options_.capacity;
}

bool BufferPool::grow() {
  std::vector<Domain> domains;  // those registered now; the region is registered with them unlocked
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (destroyed_ || !can_grow()) return false;
    ++growing_;
    for (auto& d : domains_) domains.push_back(Domain{d.key, d.registrar, {}});
  }
  const size_t size = options_.region_size;
  bool huge = options_.hugepages != BufferPoolOptions::Hugepages::kNever && size % kHugepageSize == 0;
  void* base = huge ? map_region(size, true) : nullptr;
  std::vector<MemoryRegistrar::Keys> keys;
  auto undo = [&](size_t registered) {
    for (size_t i = 0; i < registered; ++i)
      (i < domains.size() ? domains[i].registrar : domains_[i].registrar)->deregister(keys[i].handle);
    if (base) munmap(base, size);
  };
  try {
    if (!base) {
      if (options_.hugepages == BufferPoolOptions::Hugepages::kRequire)
        throw Error("ERR_NO_HUGEPAGES", "no free hugepages for a " + std::to_string(size) + "-byte region");
      huge = false;
      base = map_region(size, false);
      if (!base) {
        int e = errno;
        throw Error("ERR_NO_MEMORY", std::string("mmap: ") + strerror(e), e);
      }
    }
    // Registered everywhere before any chunk of it is handed out.
    for (auto& d : domains) keys.push_back(d.registrar->register_region(base, size));
  } catch (...) {
    undo(keys.size());
    std::lock_guard<std::mutex> lock(mutex_);
    --growing_;
    throw;
  }

  std::lock_guard<std::mutex> lock(mutex_);
  --growing_;
  if (destroyed_) {
    undo(keys.size());
    return false;
  }
  try {
    // Domains are only ever appended: those added since the snapshot follow it.
    for (size_t d = keys.size(); d < domains_.size(); ++d) keys.push_back(domains_[d].registrar->register_region(base, size));
  } catch (...) {
    undo(keys.size());
    throw;
  }
  for (size_t i = 0; i < keys.size(); ++i) domains_[i].regions.push_back(keys[i]);
  uint32_t region_index = uint32_t(regions_.size());
  regions_.push_back({static_cast<uint8_t*>(base), size, huge});
  size_t per_region = size / options_.chunk_size;
  for (size_t i = 0; i < per_region; ++i) {
    auto c = std::make_unique<Chunk>();
    c->data = static_cast<uint8_t*>(base) + i * options_.chunk_size;
    c->index = uint32_t(chunks_.size());
    c->region = region_index;
    for (size_t d = 0; d < keys.size(); ++d) cache_keys(*c, domains_[d].key, keys[d]);
    chunks_.push_back(std::move(c));
  }
  // Hand out low addresses first.
  for (size_t i = per_region; i-- > 0;) free_.push_back(uint32_t(chunks_.size() - per_region + i));
  growth_error_code_.clear();
  return true;
}

void BufferPool::grow_in_background() {
  if (growth_queued_ || destroyed_ || !can_grow()) return;
  growth_queued_ = true;
  // A thread of its own, detached: the pool may go while it maps (it then undoes its
  // region), and the last reference may be dropped on it without joining anything.
  std::weak_ptr<BufferPool> weak = weak_from_this();
  std::thread([weak] {
    auto self = weak.lock();
    if (!self) return;
    std::string code, message;
    try {
      self->grow();
    } catch (const Error& e) {
      code = e.code();
      message = e.what();
    } catch (const std::exception& e) {
      code = "ERR_NO_MEMORY";
      message = e.what();
    }
    std::lock_guard<std::mutex> lock(self->mutex_);
    self->growth_queued_ = false;
    if (!code.empty()) {
      self->growth_error_code_ = code;
      self->growth_error_ = message;
    }
  }).detach();
}

BufferPool::Chunk* BufferPool::acquire() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (destroyed_) throw Error("ERR_POOL_DESTROYED", "the buffer pool has been destroyed");
      if (!free_.empty()) {
        Chunk* c = chunks_[free_.back()].get();
        free_.pop_back();
        c->out = true;
        ++lent_;
        return c;
      }
      if (!can_grow() && growing_ == 0) return nullptr;
    }
    // A region another thread is making counts against capacity until it is in: wait for it.
    if (!grow()) std::this_thread::yield();
  }
}

void BufferPool::release(Chunk* c) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!c->out) throw Error("ERR_BUFFER_RELEASED", "the buffer was already released");
  if (c->inflight.load() != 0)
    throw Error("ERR_BUFFER_BUSY", "the buffer has I/O in flight and cannot be released");
  c->out = false;
  --lent_;
  free_.push_back(c->index);
}

BufferPool::Cache* BufferPool::make_cache(size_t capacity) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto cache = std::make_unique<Cache>();
  cache->capacity_ = std::clamp<size_t>(capacity, 1, Cache::kMaxCapacity);
  cache->batch_ = std::max<size_t>(1, cache->capacity_ / 2);
  caches_.push_back(std::move(cache));
  return caches_.back().get();
}

BufferPool::Chunk* BufferPool::acquire(Cache& cache) {
  size_t n = cache.size();
  if (n == 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (destroyed_) throw Error("ERR_POOL_DESTROYED", "the buffer pool has been destroyed");
    size_t take = std::min(cache.batch_, free_.size());
    for (size_t i = 0; i < take; ++i) {
      cache.chunks_[n++] = chunks_[free_.back()].get();
      free_.pop_back();
    }
    lent_ += take;
    // Less than a batch left for the next refill: the next region, before it is needed.
    if (free_.size() < cache.batch_) grow_in_background();
    if (n == 0) {
      // Nothing to wait for: the pool cannot grow, or its last try failed.
      if (!growth_error_code_.empty() && !growth_queued_) throw Error(growth_error_code_, growth_error_);
      return nullptr;
    }
  }
  Chunk* c = cache.chunks_[--n];
  cache.size_.store(n, std::memory_order_relaxed);
  c->out = true;
  return c;
}

void BufferPool::release(Cache& cache, Chunk* c) {
  if (!c->out) throw Error("ERR_BUFFER_RELEASED", "the buffer was already released");
  if (c->inflight.load() != 0)
    throw Error("ERR_BUFFER_BUSY", "the buffer has I/O in flight and cannot be released");
  c->out = false;
  size_t n = cache.size();
  if (n == cache.capacity_) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = 0; i < cache.batch_; ++i) free_.push_back(cache.chunks_[--n]->index);
    lent_ -= cache.batch_;
  }
  cache.chunks_[n++] = c;
  cache.size_.store(n, std::memory_order_relaxed);
}

void BufferPool::prefill(size_t bytes) {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (regions_.size() * options_.region_size >= bytes) return;
    }
    if (!grow()) return;
  }
}

void BufferPool::drain_caches() {
  for (auto& cache : caches_) {
    size_t n = cache->size();
    for (size_t i = 0; i < n; ++i) free_.push_back(cache->chunks_[i]->index);
    lent_ -= n;
    cache->size_.store(0, std::memory_order_relaxed);
  }
}

size_t BufferPool::outstanding_locked() const {
  size_t cached = 0;
  for (auto& cache : caches_) cached += cache->size();
  return lent_ - cached;
}

BufferPool::Chunk* BufferPool::chunk(uint32_t index) {
  std::lock_guard<std::mutex> lock(mutex_);
  return index < chunks_.size() ? chunks_[index].get() : nullptr;
}

void BufferPool::register_with(const void* domain, std::shared_ptr<MemoryRegistrar> registrar) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (destroyed_) throw Error("ERR_POOL_DESTROYED", "the buffer pool has been destroyed");
  for (auto& d : domains_)
    if (d.key == domain) return;
  Domain d{domain, std::move(registrar), {}};
  try {
    for (auto& r : regions_) d.regions.push_back(d.registrar->register_region(r.base, r.size));
  } catch (...) {
    for (auto& k : d.regions) d.registrar->deregister(k.handle);
    throw;
  }
  for (auto& c : chunks_) cache_keys(*c, domain, d.regions[c->region]);
  domains_.push_back(std::move(d));
}

void BufferPool::cache_keys(Chunk& c, const void* domain, const MemoryRegistrar::Keys& keys) {
  for (auto& slot : c.keys) {
    if (slot.domain.load(std::memory_order_relaxed)) continue;
    slot.lkey = keys.lkey;
    slot.rkey = keys.rkey;
    slot.domain.store(domain, std::memory_order_release);
    return;
  }
}

bool BufferPool::keys(const Chunk* c, const void* domain, uint32_t* lkey, uint32_t* rkey) const {
  for (auto& slot : c->keys) {
    const void* d = slot.domain.load(std::memory_order_acquire);
    if (!d) break;
    if (d != domain) continue;
    *lkey = slot.lkey;
    *rkey = slot.rkey;
    return true;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& d : domains_) {
    if (d.key != domain) continue;
    *lkey = d.regions[c->region].lkey;
    *rkey = d.regions[c->region].rkey;
    return true;
  }
  return false;
}

size_t BufferPool::outstanding() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return outstanding_locked();
}

void BufferPool::destroy() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (destroyed_) return;
  drain_caches();
  if (lent_ != 0)
    throw Error("ERR_POOL_BUSY", std::to_string(lent_) +
                                     " buffer(s) are still out; release them before destroying the pool");
  destroyed_ = true;
  unmap_all();
}

void BufferPool::unmap_all() {
  for (auto& d : domains_)
    for (auto& k : d.regions) d.registrar->deregister(k.handle);
  domains_.clear();
  for (auto& r : regions_) munmap(r.base, r.size);
  regions_.clear();
  chunks_.clear();
  free_.clear();
  for (auto& cache : caches_) cache->size_.store(0, std::memory_order_relaxed);
  lent_ = 0;
}

BufferPoolStats BufferPool::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  BufferPoolStats s{};
  s.chunk_size = options_.chunk_size;
  s.capacity = options_.capacity;
  s.regions = regions_.size();
  s.mapped_bytes = regions_.size() * options_.region_size;
  s.allocated_bytes = outstanding_locked() * options_.chunk_size;
  s.free_bytes = s.mapped_bytes - s.allocated_bytes;
  s.hugepage_regions = size_t(std::count_if(regions_.begin(), regions_.end(),
                                            [](const Region& r) { return r.hugepages; }));
  s.registrations = domains_.size() * regions_.size();
  s.registered_bytes = domains_.empty() ? 0 : s.mapped_bytes;
  return s;
}

}  // namespace rdmagate
