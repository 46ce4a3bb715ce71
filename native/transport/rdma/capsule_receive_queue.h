// The command capsule buffers of one reactor's NVMe/RDMA queue pairs on one device
// (protection domain), posted to one shared receive queue. Capsules arrive in these
// pre-posted, registered buffers whichever connection sent them; the reactor's CQ hands
// the completion to that connection, so it reaches the right queue pair, which copies the
// SQE out and reposts the buffer at once.
//
// Sizing: one buffer per command slot of the connections served, so a host never meets
// an empty queue while within its queue depth, capped at kMaxCapsules (and the device's
// max_srq_wr). Buffers are posted as connections join and stay posted when they leave,
// for the next ones: the queue grows to its high-water mark and is freed with the
// target's RDMA transport (PollGroups), whose listeners all use it. Past the cap, a host that finds no buffer is answered RNR NAK and retries
// (our connections ask for unlimited RNR retries), so the cap costs speed, never data.
//
// Reactor thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "rdma/shared_receive_queue.h"
#include "transport/rdma/capsule_pools.h"

namespace rdmagate::rdma_transport {

class CapsuleReceiveQueue {
 public:
  static constexpr uint32_t kMaxCapsules = 4096;

  // Null when the device has no shared receive queues: queue pairs then post their own.
  static std::shared_ptr<CapsuleReceiveQueue> create(std::shared_ptr<rdma::ProtectionDomain> domain,
                                                     std::shared_ptr<CapsulePools> pools);
  ~CapsuleReceiveQueue();

  const std::shared_ptr<rdma::SharedReceiveQueue>& srq() const { return srq_; }
  // A queue of `depth` commands joins or leaves. Joining posts buffers up to the cap;
  // throws ERR_RDMA_VERBS if the device refuses them.
  void add_queue(uint32_t depth);
  void remove_queue(uint32_t depth) { served_ -= depth; }
  // The capsule in buffer `index` (a completion's op_id).
  const uint8_t* capsule(uint32_t index) const { return buffers_[index]->data; }
  // Gives buffer `index` back to the device. Throws ERR_RDMA_VERBS.
  // A buffer that could not be posted is kept and posted again with the next one, so
  // the SRQ does not shrink by one at each failure.
  void repost(uint32_t index);

 private:
  CapsuleReceiveQueue(std::shared_ptr<rdma::SharedReceiveQueue> srq, std::shared_ptr<CapsulePools> pools)
      : srq_(std::move(srq)), pools_(std::move(pools)) {}
  void post(uint32_t index);

  std::shared_ptr<rdma::SharedReceiveQueue> srq_;
  std::shared_ptr<CapsulePools> pools_;
  std::vector<BufferPool::Chunk*> buffers_;  // by index
  uint32_t served_ = 0;  // command slots of the queue pairs using it
  std::vector<uint32_t> unposted_;  // buffers a repost failed for
};

}  // namespace rdmagate::rdma_transport
