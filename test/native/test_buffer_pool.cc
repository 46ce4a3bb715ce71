// test-sources: native/mem/buffer_pool.cc
// tsan: reactors' caches beside the pool's own growth thread, and two caches' threads trading
// with the pool at once.
// Unit tests for a buffer pool's registration keys: every chunk has its region's keys in
// every domain, whichever came first (the region or the domain), including past the
// domains a chunk caches; a reader on another thread sees them while both grow, and
// does not wait for the pool's lock. And for its caches: chunks traded in batches, growth
// started ahead of need and never run on the cache's thread.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "check.h"
#include "mem/buffer_pool.h"
#include "util/error.h"

using namespace rdmagate;

namespace {

constexpr size_t kChunk = 4096;
constexpr size_t kRegion = 4 * kChunk;

// Hands out keys that name the domain and the region: lkey = id << 16 | n, rkey = ~lkey.
class FakeRegistrar : public MemoryRegistrar {
 public:
  explicit FakeRegistrar(uint32_t id) : id_(id) {}
  Keys register_region(void* addr, size_t len) override {
    CHECK_EQ(len, kRegion);
    uint32_t lkey = id_ << 16 | uint32_t(regions_.size());
    regions_[addr] = lkey;
    return {lkey, ~lkey, addr};
  }
  void deregister(void* handle) override { CHECK_EQ(regions_.erase(handle), 1u); }
  // The lkey the region holding `data` was given.
  uint32_t lkey_for(const uint8_t* data) const {
    for (auto& [base, lkey] : regions_) {
      auto* b = static_cast<const uint8_t*>(base);
      if (data >= b && data < b + kRegion) return lkey;
    }
    return 0;
  }
  size_t registered() const { return regions_.size(); }

 private:
  const uint32_t id_;
  std::map<void*, uint32_t> regions_;
};

std::shared_ptr<BufferPool> make_pool() {
  BufferPoolOptions o;
  o.chunk_size = kChunk;
  o.region_size = kRegion;
  o.capacity = 64 * kRegion;
  o.hugepages = BufferPoolOptions::Hugepages::kNever;
  return BufferPool::create(o);
}

// Checks that each chunk has, in each domain, the keys of the region holding it.
void check_keys(BufferPool& pool, const std::vector<BufferPool::Chunk*>& chunks,
                const std::vector<std::shared_ptr<FakeRegistrar>>& domains) {
  for (auto* c : chunks) {
    for (auto& d : domains) {
      uint32_t lkey = 0, rkey = 0;
      CHECK(pool.keys(c, d.get(), &lkey, &rkey));
      CHECK_EQ(lkey, d->lkey_for(c->data));
      CHECK_EQ(rkey, ~lkey);
    }
  }
}

void test_keys_in_every_domain() {
  auto pool = make_pool();
  std::vector<BufferPool::Chunk*> chunks;
  for (int i = 0; i < 6; ++i) chunks.push_back(pool->acquire());  // two regions
  std::vector<std::shared_ptr<FakeRegistrar>> domains;
  uint32_t lkey, rkey;
  auto first = std::make_shared<FakeRegistrar>(1);
  CHECK(!pool->keys(chunks[0], first.get(), &lkey, &rkey));  // not registered there yet

  // More domains than a chunk caches, registered both before and after regions grow.
  for (uint32_t id = 1; id <= BufferPool::kCachedDomains + 2; ++id) {
    auto d = id == 1 ? first : std::make_shared<FakeRegistrar>(id);
    pool->register_with(d.get(), d);
    pool->register_with(d.get(), d);  // a second call is a no-op
    CHECK_EQ(d->registered(), pool->stats().regions);
    domains.push_back(d);
    for (int i = 0; i < 3; ++i) chunks.push_back(pool->acquire());
  }
  for (auto* c : chunks) CHECK(c != nullptr);
  check_keys(*pool, chunks, domains);
  CHECK_EQ(pool->stats().registrations, domains.size() * pool->stats().regions);

  for (auto* c : chunks) pool->release(c);
  pool->destroy();
  for (auto& d : domains) CHECK_EQ(d->registered(), 0u);
}

// One thread reads keys without the pool's lock while another grows the pool and adds
// domains: every key read is right (ASan and UBSan watch the rest).
void test_keys_while_growing() {
  auto pool = make_pool();
  auto d0 = std::make_shared<FakeRegistrar>(1);
  pool->register_with(d0.get(), d0);
  std::vector<BufferPool::Chunk*> chunks;
  for (int i = 0; i < 8; ++i) chunks.push_back(pool->acquire());
  std::atomic<bool> done{false};
  std::atomic<int> wrong{0};
  std::thread reader([&] {
    while (!done.load()) {
      for (auto* c : chunks) {
        uint32_t lkey = 0, rkey = 0;
        if (!pool->keys(c, d0.get(), &lkey, &rkey) || rkey != ~lkey || (lkey >> 16) != 1) ++wrong;
      }
    }
  });
  std::vector<std::shared_ptr<FakeRegistrar>> domains{d0};
  std::vector<BufferPool::Chunk*> more;
  for (uint32_t id = 2; id <= 5; ++id) {
    auto d = std::make_shared<FakeRegistrar>(id);
    pool->register_with(d.get(), d);
    domains.push_back(d);
    for (int i = 0; i < 8; ++i) more.push_back(pool->acquire());
  }
  done = true;
  reader.join();
  CHECK_EQ(wrong.load(), 0);
  chunks.insert(chunks.end(), more.begin(), more.end());
  check_keys(*pool, chunks, domains);
  for (auto* c : chunks) pool->release(c);
}

// A registration runs under the pool's lock; a key lookup for a chunk already registered
// in that domain must not wait for it.
class BlockingRegistrar : public FakeRegistrar {
 public:
  using FakeRegistrar::FakeRegistrar;
  Keys register_region(void* addr, size_t len) override {
    std::unique_lock<std::mutex> lock(mutex_);
    entered_ = true;
    changed_.notify_all();
    bool released = changed_.wait_for(lock, std::chrono::seconds(10), [this] { return released_; });
    CHECK(released);  // else the lookup waited on the pool's lock
    return FakeRegistrar::register_region(addr, len);
  }
  void wait_entered() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this] { return entered_; });
  }
  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool entered_ = false, released_ = false;
};

void test_lookup_takes_no_lock() {
  auto pool = make_pool();
  auto d0 = std::make_shared<FakeRegistrar>(1);
  pool->register_with(d0.get(), d0);
  BufferPool::Chunk* c = pool->acquire();
  auto slow = std::make_shared<BlockingRegistrar>(2);
  std::thread registering([&] { pool->register_with(slow.get(), slow); });
  slow->wait_entered();  // the pool's lock is held now
  uint32_t lkey = 0, rkey = 0;
  CHECK(pool->keys(c, d0.get(), &lkey, &rkey));
  CHECK_EQ(lkey, d0->lkey_for(c->data));
  slow->release();
  registering.join();
  check_keys(*pool, {c}, {d0, slow});
  pool->release(c);
}

// A registrar whose registration waits until opened: growth that blocks.
class GatedRegistrar : public MemoryRegistrar {
 public:
  Keys register_region(void* addr, size_t) override {
    std::unique_lock<std::mutex> lock(mutex_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
    ++registered_;
    return {1, 2, addr};
  }
  void deregister(void*) override {}
  void open() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }
  bool wait_for_registration() {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, std::chrono::seconds(5), [this] { return waiting_ > 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
  int waiting_ = 0, registered_ = 0;
};

// Polls acquire(cache) until it gives a chunk (growth is in the background), at most 5 s.
BufferPool::Chunk* acquire_soon(BufferPool& pool, BufferPool::Cache& cache) {
  for (int i = 0; i < 5000; ++i) {
    if (auto* c = pool.acquire(cache)) return c;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return nullptr;
}

void test_cache_trades_in_batches() {
  auto pool = make_pool();
  pool->prefill(kRegion);
  BufferPool::Cache* cache = pool->make_cache(4);  // batches of 2
  std::vector<BufferPool::Chunk*> out;
  for (int i = 0; i < 12; ++i) {
    BufferPool::Chunk* c = acquire_soon(*pool, *cache);
    CHECK(c != nullptr);
    out.push_back(c);
  }
  CHECK_EQ(pool->outstanding(), 12u);  // what the caches hold does not count
  CHECK(pool->stats().mapped_bytes >= 3 * kRegion);  // grown beyond the first region
  for (auto* c : out) pool->release(*cache, c);
  CHECK_EQ(cache->size(), 4u);  // full, the rest went back to the pool
  CHECK_EQ(pool->outstanding(), 0u);
  CHECK_EQ(pool->stats().allocated_bytes, 0u);
  bool threw = false;
  try {
    pool->release(*cache, out[0]);
  } catch (const Error& e) {
    threw = e.code() == "ERR_BUFFER_RELEASED";
  }
  CHECK(threw);
  pool->destroy();  // takes the cached chunks back first
  CHECK(pool->destroyed());
}

void test_cache_never_grows_on_its_thread() {
  auto pool = make_pool();
  auto gate = std::make_shared<GatedRegistrar>();
  pool->register_with(gate.get(), gate);
  BufferPool::Cache* cache = pool->make_cache(2);
  // Empty pool: the first refill starts growth and returns at once, while registration waits.
  CHECK(pool->acquire(*cache) == nullptr);
  CHECK(gate->wait_for_registration());
  CHECK(pool->acquire(*cache) == nullptr);
  gate->open();
  BufferPool::Chunk* c = acquire_soon(*pool, *cache);
  CHECK(c != nullptr);
  uint32_t lkey = 0, rkey = 0;
  CHECK(pool->keys(c, gate.get(), &lkey, &rkey));  // registered before it was handed out
  pool->release(*cache, c);
}

void test_two_caches_at_once() {
  auto pool = make_pool();
  pool->prefill(8 * kRegion);
  std::atomic<bool> failed{false};
  auto worker = [&](BufferPool::Cache* cache) {
    std::vector<BufferPool::Chunk*> held;
    for (int round = 0; round < 2000; ++round) {
      for (int i = 0; i < 5; ++i) {
        BufferPool::Chunk* c = acquire_soon(*pool, *cache);
        if (!c) failed = true;
        else held.push_back(c);
      }
      for (auto* c : held) {
        c->data[0] = uint8_t(round);  // owned by this thread alone now
        pool->release(*cache, c);
      }
      held.clear();
    }
  };
  std::thread a(worker, pool->make_cache(4)), b(worker, pool->make_cache(4));
  a.join();
  b.join();
  CHECK(!failed);
  CHECK_EQ(pool->outstanding(), 0u);
  pool->destroy();
}

}  // namespace

int main() {
  test_keys_in_every_domain();
  test_keys_while_growing();
  test_lookup_takes_no_lock();
  test_cache_trades_in_batches();
  test_cache_never_grows_on_its_thread();
  test_two_caches_at_once();
  return check::report("test_buffer_pool");
}
