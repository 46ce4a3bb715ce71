// Unit tests for the perf engine's latency histogram: every value lands in a bucket
// whose bounds hold it, buckets are contiguous and at most 1/32 of their value wide,
// and the statistics add up. lib/perf/histogram.ts reads the same layout.
#include <cstdint>

#include "check.h"
#include "perf/latency_histogram.h"

using rdmagate::perf::LatencyHistogram;

namespace {

void test_layout() {
  using H = LatencyHistogram;
  CHECK_EQ(H::kBuckets, 1920u);
  CHECK_EQ(H::index_of(0), 0u);
  CHECK_EQ(H::index_of(63), 63u);  // exact below 2^(kSubBits+1)
  CHECK_EQ(H::index_of(64), 64u);
  CHECK_EQ(H::index_of(65), 64u);  // then 2 wide
  CHECK_EQ(H::index_of(UINT64_MAX), H::kBuckets - 1);
  // Contiguous: each bucket starts right after the previous one ends.
  for (unsigned i = 1; i < H::kBuckets; ++i) CHECK_EQ(H::lowest(i), H::highest(i - 1) + 1);
  CHECK_EQ(H::highest(H::kBuckets - 1), UINT64_MAX);
  for (uint64_t v : {uint64_t(1), uint64_t(100), uint64_t(4095), uint64_t(123456789), uint64_t(1) << 40,
                     (uint64_t(1) << 63) + 12345}) {
    unsigned i = H::index_of(v);
    CHECK(H::lowest(i) <= v && v <= H::highest(i));
    CHECK(H::highest(i) - H::lowest(i) <= H::lowest(i) / 32);
  }
}

void test_statistics() {
  LatencyHistogram h;
  CHECK_EQ(h.count(), 0u);
  CHECK_EQ(h.min(), UINT64_MAX);
  for (uint64_t v = 1000; v <= 2000; ++v) h.record(v);
  CHECK_EQ(h.count(), 1001u);
  CHECK_EQ(h.min(), 1000u);
  CHECK_EQ(h.max(), 2000u);
  CHECK(h.sum() == 1501500.0);
  uint64_t total = 0;
  for (uint64_t c : h.counts()) total += c;
  CHECK_EQ(total, 1001u);
}

}  // namespace

int main() {
  test_layout();
  test_statistics();
  return check::report("test_latency_histogram");
}
