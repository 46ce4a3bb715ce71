// The Discovery Log Page (log id 0x70) a host sees: one entry per listener for each
// subsystem it may connect to, and one per listener for the discovery subsystem itself.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rdmagate::target {

class Target;

std::vector<uint8_t> build_discovery_log(const Target& target, const std::string& hostnqn);

}  // namespace rdmagate::target
