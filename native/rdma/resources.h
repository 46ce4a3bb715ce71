// Live verbs objects created by this process, so tests can prove that teardown frees
// everything (QPs, CQs, MRs, PDs, cm ids) and nothing leaks.
#pragma once

#include <atomic>
#include <cstdint>

namespace rdmagate::rdma {

struct ResourceCounters {
  std::atomic<int64_t> qps{0}, cqs{0}, mrs{0}, pds{0}, srqs{0}, cm_ids{0}, channels{0};
};

inline ResourceCounters& resources() {
  static ResourceCounters counters;
  return counters;
}

}  // namespace rdmagate::rdma
