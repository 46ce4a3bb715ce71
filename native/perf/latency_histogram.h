// A log-linear latency histogram in the manner of HdrHistogram: values below
// 2^(kSubBits+1) have a bucket each, and every power of two above that is split into
// 2^kSubBits equal buckets, so a bucket is at most 1/32 of its value wide. The buckets
// are a fixed array covering all of uint64, so recording is a few instructions and never
// allocates. lib/perf/histogram.ts reads the counts with the same layout.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

namespace rdmagate::perf {

class LatencyHistogram {
 public:
  static constexpr unsigned kSubBits = 5;
  static constexpr unsigned kBuckets = (64 - kSubBits + 1) << kSubBits;

  static constexpr unsigned index_of(uint64_t v) {
    unsigned width = v ? 64 - unsigned(__builtin_clzll(v)) : 0;
    unsigned shift = width > kSubBits + 1 ? width - kSubBits - 1 : 0;
    return (shift << kSubBits) + unsigned(v >> shift);
  }
  // The smallest and largest value that fall into bucket `i`.
  static constexpr uint64_t lowest(unsigned i) {
    unsigned shift = (i >> kSubBits) > 1 ? (i >> kSubBits) - 1 : 0;
    return uint64_t(i - (shift << kSubBits)) << shift;
  }
  static constexpr uint64_t highest(unsigned i) {
    unsigned shift = (i >> kSubBits) > 1 ? (i >> kSubBits) - 1 : 0;
    return lowest(i) + ((uint64_t(1) << shift) - 1);
  }

  void record(uint64_t v) {
    ++counts_[index_of(v)];
    ++count_;
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
    double d = double(v);
    sum_ += d;
    sum_squares_ += d * d;
  }

  uint64_t count() const { return count_; }
  // UINT64_MAX while empty.
  uint64_t min() const { return min_; }
  uint64_t max() const { return max_; }
  double sum() const { return sum_; }
  double sum_squares() const { return sum_squares_; }
  const std::array<uint64_t, kBuckets>& counts() const { return counts_; }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  double sum_ = 0;
  double sum_squares_ = 0;  // for the standard deviation
};

}  // namespace rdmagate::perf
