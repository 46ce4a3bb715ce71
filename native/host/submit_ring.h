// A bounded single-producer single-consumer ring: the JS thread pushes I/O submissions,
// the queue pair's reactor pops them. No lock and no allocation per entry.
#pragma once

#include <atomic>
#include <cstddef>
#include <vector>

namespace rdmagate::host {

template <typename T>
class SpscRing {
 public:
  explicit SpscRing(size_t capacity) {
    size_t n = 1;
    while (n < capacity) n <<= 1;
    mask_ = n - 1;
    slots_.resize(n);
  }

  // Producer thread only. False when full.
  bool push(const T& value) {
    size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_.load(std::memory_order_acquire) > mask_) return false;
    slots_[tail & mask_] = value;
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Consumer thread only. False when empty.
  bool pop(T& out) {
    size_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_.load(std::memory_order_acquire)) return false;
    out = slots_[head & mask_];
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  bool empty() const {
    return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_acquire);
  }

 private:
  // Apart, so that the two threads do not share a cache line.
  alignas(64) std::atomic<size_t> head_{0};
  alignas(64) std::atomic<size_t> tail_{0};
  size_t mask_ = 0;
  std::vector<T> slots_;
};

}  // namespace rdmagate::host
