#include "target/ana_states.h"

namespace rdmagate::target {

void AnaStates::set(uint16_t portid, uint32_t grpid, spec::AnaState state) {
  std::lock_guard<std::mutex> lock(mutex_);
  View& v = ports_[portid];
  if (grpid == 0) {
    v.all = state;
    v.groups.clear();
  } else {
    v.groups[grpid] = state;
  }
  changes_.fetch_add(1, std::memory_order_release);
}

AnaStates::View AnaStates::view(uint16_t portid) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = ports_.find(portid);
  return it == ports_.end() ? View{} : it->second;
}

void AnaStates::forget(uint16_t portid) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (ports_.erase(portid)) changes_.fetch_add(1, std::memory_order_release);
}

}  // namespace rdmagate::target
