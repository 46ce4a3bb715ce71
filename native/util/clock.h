// The one monotonic clock that reactors, the perf engine and its benchmarks read.
#pragma once

#include <time.h>

#include <cstdint>

namespace rdmagate::util {

inline uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

}  // namespace rdmagate::util
