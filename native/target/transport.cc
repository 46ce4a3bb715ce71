#include "target/transport.h"

namespace rdmagate::target {

namespace {

// Filled by static initializers before any target exists, read-only after that.
std::vector<TransportOps>& registry() {
  static std::vector<TransportOps> transports;
  return transports;
}

}  // namespace

void register_transport(const TransportOps& ops) { registry().push_back(ops); }

const TransportOps* find_transport(const std::string& name) {
  for (const TransportOps& t : registry())
    if (name == t.name) return &t;
  return nullptr;
}

std::vector<std::string> transport_names() {
  std::vector<std::string> names;
  for (const TransportOps& t : registry()) names.emplace_back(t.name);
  return names;
}

}  // namespace rdmagate::target
