// What a transport connection moved, either side: written by the connection's reactor,
// read by the JS thread's stats (util::Counter: relaxed atomics, one writer).
#pragma once

#include "util/counter.h"

namespace rdmagate::util {

struct WireCounters {
  util::Counter bytes_sent;      // on the wire by us: PDUs (TCP), capsules (RDMA)
  util::Counter bytes_received;  // PDUs (TCP), capsules (RDMA)
  util::Counter bytes_copied;    // I/O data copied by the CPU outside the kernel's socket copy
  util::Counter pdus_sent;       // PDUs (TCP), capsules (RDMA)
  util::Counter pdus_received;   // PDUs (TCP), capsules (RDMA)
  util::Counter digest_errors;   // TCP only: header and data digests that did not match
};

}  // namespace rdmagate::util
