#include "mem/buffer_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

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

bool BufferPool::grow() {
  size_t mapped = regions_.size() * options_.region_size;
  if (mapped + options_.region_size > options_.capacity) return false;
  bool huge = options_.hugepages != BufferPoolOptions::Hugepages::kNever &&
              options_.region_size % kHugepageSize == 0;
  void* base = huge ? map_region(options_.region_size, true) : nullptr;
  if (!base) {
    if (options_.hugepages == BufferPoolOptions::Hugepages::kRequire)
      throw Error("ERR_NO_HUGEPAGES", "no free hugepages for a " +
                                          std::to_string(options_.region_size) + "-byte region");
    huge = false;
    base = map_region(options_.region_size, false);
    if (!base) {
      int e = errno;
      throw Error("ERR_NO_MEMORY", std::string("mmap: ") + strerror(e), e);
    }
  }
  // Register the new region everywhere before any chunk of it is handed out.
  std::vector<MemoryRegistrar::Keys> keys;
  try {
    for (auto& d : domains_) keys.push_back(d.registrar->register_region(base, options_.region_size));
  } catch (...) {
    for (size_t i = 0; i < keys.size(); ++i) domains_[i].registrar->deregister(keys[i].handle);
    munmap(base, options_.region_size);
    throw;
  }
  for (size_t i = 0; i < keys.size(); ++i) domains_[i].regions.push_back(keys[i]);

  uint32_t region_index = uint32_t(regions_.size());
  regions_.push_back({static_cast<uint8_t*>(base), options_.region_size, huge});
  size_t per_region = options_.region_size / options_.chunk_size;
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
  return true;
}

BufferPool::Chunk* BufferPool::acquire() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (destroyed_) throw Error("ERR_POOL_DESTROYED", "the buffer pool has been destroyed");
  if (free_.empty() && !grow()) return nullptr;
  Chunk* c = chunks_[free_.back()].get();
  free_.pop_back();
  c->out = true;
  ++outstanding_;
  return c;
}

void BufferPool::release(Chunk* c) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!c->out) throw Error("ERR_BUFFER_RELEASED", "the buffer was already released");
  if (c->inflight.load() != 0)
    throw Error("ERR_BUFFER_BUSY", "the buffer has I/O in flight and cannot be released");
  c->out = false;
  --outstanding_;
  free_.push_back(c->index);
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
  return outstanding_;
}

void BufferPool::destroy() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (destroyed_) return;
  if (outstanding_ != 0)
    throw Error("ERR_POOL_BUSY", std::to_string(outstanding_) +
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
}

BufferPoolStats BufferPool::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  BufferPoolStats s{};
  s.chunk_size = options_.chunk_size;
  s.capacity = options_.capacity;
  s.regions = regions_.size();
  s.mapped_bytes = regions_.size() * options_.region_size;
  s.allocated_bytes = outstanding_ * options_.chunk_size;
  s.free_bytes = s.mapped_bytes - s.allocated_bytes;
  s.hugepage_regions = size_t(std::count_if(regions_.begin(), regions_.end(),
                                            [](const Region& r) { return r.hugepages; }));
  s.registrations = domains_.size() * regions_.size();
  s.registered_bytes = domains_.empty() ? 0 : s.mapped_bytes;
  return s;
}

}  // namespace rdmagate
