// I/O counters of one namespace as one queue pair saw them. A qpair keeps its own (on its
// reactor, so without atomics); the target sums them per namespace, and a qpair that goes
// away hands its counts to the subsystem, so that a namespace's totals never go back.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "util/counter.h"

namespace rdmagate::target {

// Latency from capsule received to response sent, in log2 microsecond buckets: bucket i
// counts commands of at most 2^i us; the last one counts everything slower.
inline constexpr size_t kLatencyBuckets = 24;

inline size_t latency_bucket(uint64_t us) {
  size_t bucket = 0;
  while (bucket + 1 < kLatencyBuckets && (uint64_t(1) << bucket) < us) ++bucket;
  return bucket;
}

// Written by one queue's reactor, read by any thread (util::Counter).
struct NamespaceCounters {
  util::Counter reads, writes, other;  // other: flush, write zeroes, deallocate
  util::Counter bytes_read, bytes_written, errors;
  util::Counter latency_us_sum;
  util::Counter latency[kLatencyBuckets];

  void add(const NamespaceCounters& o) {
    reads += o.reads;
    writes += o.writes;
    other += o.other;
    bytes_read += o.bytes_read;
    bytes_written += o.bytes_written;
    errors += o.errors;
    latency_us_sum += o.latency_us_sum;
    for (size_t i = 0; i < kLatencyBuckets; ++i) latency[i] += o.latency[i];
  }
};

// By namespace (Namespace::instance, unique to each add). A queue pair mostly serves one
// or two namespaces: a short vector beats a map.
class NamespaceCounterList {
 public:
  NamespaceCounterList() = default;
  // A copy (a snapshot on another thread) takes the entries, not the finder's cache, which
  // the reactor moves without a lock.
  NamespaceCounterList(const NamespaceCounterList& o) : list_(o.list_) {}
  NamespaceCounterList& operator=(const NamespaceCounterList& o) {
    list_ = o.list_;
    last_ = 0;
    return *this;
  }
  NamespaceCounterList(NamespaceCounterList&&) = default;
  NamespaceCounterList& operator=(NamespaceCounterList&&) = default;

  NamespaceCounters* find(uint64_t instance) {
    if (last_ < list_.size() && list_[last_].first == instance) return &list_[last_].second;
    for (size_t i = 0; i < list_.size(); ++i)
      if (list_[i].first == instance) return &list_[last_ = i].second;
    return nullptr;
  }
  NamespaceCounters& of(uint64_t instance) {
    if (NamespaceCounters* c = find(instance)) return *c;
    list_.emplace_back(instance, NamespaceCounters{});
    last_ = list_.size() - 1;
    return list_.back().second;
  }
  void add(const NamespaceCounterList& o) {
    for (const auto& [instance, c] : o.list_) of(instance).add(c);
  }
  void erase(uint64_t instance) {
    list_.erase(std::remove_if(list_.begin(), list_.end(), [instance](const auto& e) { return e.first == instance; }),
                list_.end());
    last_ = 0;
  }

 private:
  std::vector<std::pair<uint64_t, NamespaceCounters>> list_;
  size_t last_ = 0;
};

}  // namespace rdmagate::target
