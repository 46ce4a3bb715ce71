// What all NVMe/RDMA listeners of one target share (SPDK's RDMA poll groups): one set of
// registered capsule and response pools, and on each reactor one shared receive queue per
// device, whichever listener a connection came in through. A second listener on the same
// device costs no memory.
#pragma once

#include <map>
#include <memory>

#include "rdma/protection_domain.h"
#include "rdma/shared_receive_queue.h"
#include "reactor/reactor.h"
#include "target/transport.h"
#include "transport/rdma/capsule_pools.h"
#include "transport/rdma/capsule_receive_queue.h"

namespace rdmagate::rdma_transport {

class PollGroups {
 public:
  explicit PollGroups(target::TransportContext& context);

  const std::shared_ptr<CapsulePools>& pools() const { return pools_; }
  // The calling reactor's receive queue on `domain`'s device, made with its first
  // connection there. Null when the device has no shared receive queues (or is out of
  // them): its queue pairs post their own receives. A reactor of the target only.
  std::shared_ptr<CapsuleReceiveQueue> receive_queue(const std::shared_ptr<rdma::ProtectionDomain>& domain);
  // The calling reactor's receive queue that owns `srq`; null for none.
  std::shared_ptr<CapsuleReceiveQueue> find(const std::shared_ptr<rdma::SharedReceiveQueue>& srq);

 private:
  using Queues = std::map<const rdma::ProtectionDomain*, std::shared_ptr<CapsuleReceiveQueue>>;
  // The map of reactors never changes after construction; each reactor touches its own.
  Queues& here() { return reactors_.at(Reactor::current()); }

  std::shared_ptr<CapsulePools> pools_;
  std::map<Reactor*, Queues> reactors_;
};

}  // namespace rdmagate::rdma_transport
