// A counter that one thread writes (a reactor) and any thread may read while it runs (the
// JS thread's stats): relaxed atomic loads and stores. One writer needs no
// read-modify-write, so an increment costs what a plain one does on x86, and the reads are
// defined, and clean under ThreadSanitizer. A copy reads it once: a snapshot.
#pragma once

#include <atomic>
#include <cstdint>

namespace rdmagate::util {

class Counter {
 public:
  Counter() = default;
  Counter(const Counter& o) : v_(o.get()) {}
  Counter& operator=(const Counter& o) {
    set(o.get());
    return *this;
  }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }
  operator uint64_t() const { return get(); }
  // Writer thread only.
  Counter& operator+=(uint64_t n) {
    set(get() + n);
    return *this;
  }
  Counter& operator++() { return *this += 1; }
  void operator++(int) { *this += 1; }

 private:
  void set(uint64_t v) { v_.store(v, std::memory_order_relaxed); }
  std::atomic<uint64_t> v_{0};
};

}  // namespace rdmagate::util
