// The ANA state (NVMe Base 2.0, 8.1.2) of each ANA group of a subsystem as seen through
// each of its listeners: what SPDK's nvmf_subsystem_listener_set_ana_state sets, and what
// a gateway of a group changes when it hands a volume to another. Optimized unless set.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>

#include "spec/log_pages.h"

namespace rdmagate::target {

class AnaStates {
 public:
  // The states through one listener: `all` for every group but those in `groups`.
  struct View {
    spec::AnaState all = spec::kAnaOptimized;
    std::map<uint32_t, spec::AnaState> groups;
    spec::AnaState of(uint32_t grpid) const {
      auto it = groups.find(grpid);
      return it == groups.end() ? all : it->second;
    }
  };

  // Group `grpid`'s state through listener `portid`, or every group's when grpid is 0.
  void set(uint16_t portid, uint32_t grpid, spec::AnaState state);
  View view(uint16_t portid) const;
  // A listener taken off the subsystem: a new one on its port starts optimized.
  void forget(uint16_t portid);
  // Bumped by every change: the ANA log page's change count, and the sign for a queue to
  // take its port's view again (one atomic load per command).
  uint64_t changes() const { return changes_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mutex_;
  std::map<uint16_t, View> ports_;
  std::atomic<uint64_t> changes_{0};
};

}  // namespace rdmagate::target
