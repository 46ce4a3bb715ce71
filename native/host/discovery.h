// Discovery: connect to a discovery controller, read its whole Discovery Log Page
// (header first, then every record, again while the generation counter moves), and
// disconnect.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "host/failure.h"
#include "host/options.h"
#include "reactor/reactor.h"

namespace rdmagate::host {

struct DiscoveryEntry {
  uint8_t trtype = 0;
  uint8_t adrfam = 0;
  uint8_t subtype = 0;
  uint8_t treq = 0;
  uint16_t portid = 0;
  uint16_t cntlid = 0;
  uint16_t asqsz = 0;
  uint16_t eflags = 0;
  std::string trsvcid;
  std::string subnqn;
  std::string traddr;
  uint8_t sectype = 0;  // TCP only
};

struct DiscoveryResult {
  bool ok = false;
  Failure failure;  // when !ok
  uint64_t genctr = 0;
  std::vector<DiscoveryEntry> entries;
};

// `options` names the discovery controller; it is connected with no I/O queues, no
// keep-alive and no reconnects. `done` runs on a reactor thread once the connection is
// closed again.
void discover(uint64_t id, std::vector<Reactor*> reactors, ControllerOptions options,
              std::function<void(DiscoveryResult&&)> done);

}  // namespace rdmagate::host
