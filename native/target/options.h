// What a target is configured with: sizes, reactors, memory and the deadlines for peers
// that stop half way. Read by the core and by the transports.
#pragma once

#include <cstdint>

#include "reactor/reactor.h"

namespace rdmagate::target {

struct ConnectionDeadlines {
  uint32_t ic_req_ms = 10000;
  uint32_t connect_ms = 10000;
  uint32_t pdu_ms = 30000;
  uint32_t data_ms = 30000;  // from an R2T (or an RDMA READ) to the last of its data
};

struct TargetOptions {
  uint32_t reactors = 1;
  IdleMode idle_mode = IdleMode::kEvent;
  uint32_t max_io_size = 128 * 1024;      // MDTS
  uint32_t in_capsule_data_size = 8192;   // I/O queues; admin queues always take 8 KiB
  uint16_t max_queue_depth = 128;         // CAP.MQES + 1
  uint16_t max_io_queues = 64;
  uint64_t buffer_pool_bytes = 256ull << 20;
  // Deadlines for a peer that stops half way (Linux's nvmet and SPDK use seconds to tens
  // of seconds): a connection that has not sent its ICReq, or completed Connect, this long
  // after it was accepted is closed, and so is one that leaves a PDU unfinished, or an R2T
  // unanswered, for this long. Whatever it held (an fd, a data buffer) comes back.
  ConnectionDeadlines deadlines;
  // Connections open at once through one listener, and from one host address; 0: no cap.
  uint32_t max_connections_per_listener = 16384;
  uint32_t max_connections_per_address = 4096;
};

}  // namespace rdmagate::target
