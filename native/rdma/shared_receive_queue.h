// A shared receive queue (SRQ): one set of posted receives that many QPs of a protection
// domain draw from, so a server's receive buffers follow the commands in flight rather
// than the number of connections. Posting is not locked: one reactor owns each SRQ.
//
// Its receives complete on the CQ of the QP that consumed them. Their wr_id carries
// kSharedReceiveBit, so a Connection tells them from its own work requests even when the
// completion failed (a failed completion's opcode is undefined).
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>
#include <memory>

#include "mem/buffer_pool.h"
#include "rdma/protection_domain.h"

namespace rdmagate::rdma {

inline constexpr uint64_t kSharedReceiveBit = uint64_t(1) << 63;

class SharedReceiveQueue {
 public:
  // An SRQ of up to `max_wr` receives (capped at the device's max_srq_wr), or null when
  // the device has none (max_srq == 0). Throws ERR_RDMA_VERBS when creation fails.
  static std::shared_ptr<SharedReceiveQueue> create(std::shared_ptr<ProtectionDomain> domain, uint32_t max_wr);
  ~SharedReceiveQueue();
  SharedReceiveQueue(const SharedReceiveQueue&) = delete;
  SharedReceiveQueue& operator=(const SharedReceiveQueue&) = delete;

  ibv_srq* srq() const { return srq_; }
  // How many receives it can hold at once.
  uint32_t capacity() const { return capacity_; }
  const std::shared_ptr<ProtectionDomain>& domain() const { return domain_; }
  // Posts a receive into `length` bytes at `addr` (under `lkey` in this domain); its
  // completion has op_id `id` (below kSharedReceiveBit). Throws ERR_RDMA_VERBS.
  void post(uint64_t id, const uint8_t* addr, uint32_t length, uint32_t lkey);

 private:
  SharedReceiveQueue(std::shared_ptr<ProtectionDomain> domain, ibv_srq* srq, uint32_t capacity)
      : domain_(std::move(domain)), srq_(srq), capacity_(capacity) {}
  const std::shared_ptr<ProtectionDomain> domain_;
  ibv_srq* const srq_;
  const uint32_t capacity_;
};

}  // namespace rdmagate::rdma
