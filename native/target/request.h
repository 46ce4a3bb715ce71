// A target request: one per queue slot, preallocated by the transport's qpair. It moves
// through the states below; every transition happens in target/qpair.cc (the core) or in
// the transport's own file, so one command can be followed from the wire to the bdev.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>

#include "mem/buffer_pool.h"
#include "spec/nvme.h"

namespace rdmagate::target {

enum class RequestState : uint8_t {
  kFree,
  kNew,          // capsule received (with any in-capsule data)
  kNeedBuffer,   // waiting for a data buffer from the target's pool
  kTransferIn,   // host data on its way (R2T + H2CData, or RDMA READ)
  kExecuting,    // in a command handler or the bdev
  kTransferOut,  // controller-to-host data and response being sent
};

class Qpair;

struct Request {
  spec::SubmissionEntry cmd;
  spec::CompletionEntry rsp;
  RequestState state = RequestState::kFree;
  spec::DataDirection dir = spec::kXferNone;
  uint16_t slot = 0;
  uint32_t length = 0;        // data bytes the command transfers
  uint32_t in_capsule = 0;    // of which arrived in the capsule
  uint64_t start_us = 0;      // when the capsule arrived, for the latency histogram
  // Keyed SGL (RDMA): where the host's buffer is, and whether to invalidate its key.
  uint64_t remote_addr = 0;
  uint32_t rkey = 0;
  bool invalidate = false;
  uint64_t ns_instance = 0;   // an I/O command counted for this Namespace::instance; 0: none
  bool in_bdev = false;       // handed to a bdev, whose completion has not come back yet
  bool fetching = false;      // its host data was requested (R2T, RDMA READ) and is not all in
  uint64_t fetch_us = 0;      // when it was requested
  BufferPool::Chunk* chunk = nullptr;
  // In-capsule data that arrived while the pool was empty (see Qpair::take_capsule_buffer).
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> spill;
  uint8_t* data = nullptr;    // chunk->data or spill, when the command has data
  Qpair* qpair = nullptr;
};

}  // namespace rdmagate::target
