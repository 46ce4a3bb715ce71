// The kernel's floor for a QD1 NVMe/TCP read on this machine: a request of one size out
// and a response of another back over loopback TCP, between two threads that busy-poll
// their sockets and yield while they wait (as reactors do), with no NVMe in between.
// bench:loopback prints it next to the engine's QD1 latency, so that the engine's own
// share can be read off.
#pragma once

#include <cstdint>

namespace rdmagate::perf {

struct RoundTripResult {
  double mean_us = 0;
  double min_us = 0;
};

// Blocks for `round_trips` round trips after a warm-up; throws rdmagate::Error on a
// socket failure.
RoundTripResult tcp_round_trip(uint32_t round_trips, uint32_t request_bytes, uint32_t response_bytes);

}  // namespace rdmagate::perf
