// Registered memory shared by the queue pairs of a target's NVMe/RDMA listeners.
#pragma once

#include <cstdint>
#include <memory>

#include "mem/buffer_pool.h"

namespace rdmagate::rdma_transport {

struct CapsulePools {
  std::shared_ptr<BufferPool> capsules;   // receive buffers: SQE + in-capsule data
  std::shared_ptr<BufferPool> responses;  // 16-byte response capsules
  uint32_t capsule_size;
};

}  // namespace rdmagate::rdma_transport
