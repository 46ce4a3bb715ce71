#include "transport/rdma/poll_groups.h"

#include <numeric>

#include "spec/nvme.h"
#include "util/error.h"

namespace rdmagate::rdma_transport {

PollGroups::PollGroups(target::TransportContext& context) : pools_(std::make_shared<CapsulePools>()) {
  // A receive buffer holds the SQE and the largest in-capsule data, in whole 512-byte units.
  uint32_t capsule = uint32_t(sizeof(spec::SubmissionEntry)) + context.options().in_capsule_data_size;
  pools_->capsule_size = capsule;
  BufferPoolOptions co;
  co.chunk_size = (capsule + 511) / 512 * 512;
  co.region_size = co.chunk_size * 4096 / std::gcd(co.chunk_size, size_t(4096)) * 8;  // page multiple
  co.capacity = std::max<size_t>(co.region_size * 64, 64u << 20);
  pools_->capsules = BufferPool::create(co);
  BufferPoolOptions ro;
  ro.chunk_size = 512;
  ro.region_size = 256 * 1024;
  ro.capacity = 16u << 20;
  pools_->responses = BufferPool::create(ro);
  for (size_t i = 0; i < context.reactor_count(); ++i) reactors_[&context.reactor(i)];
}

std::shared_ptr<CapsuleReceiveQueue> PollGroups::receive_queue(const std::shared_ptr<rdma::ProtectionDomain>& domain) {
  Queues& queues = here();
  auto it = queues.find(domain.get());
  if (it == queues.end()) {
    std::shared_ptr<CapsuleReceiveQueue> queue;
    try {
      queue = CapsuleReceiveQueue::create(domain, pools_);
    } catch (const Error&) {
      // Out of SRQs or locked memory: this reactor's queue pairs post their own receives.
    }
    it = queues.emplace(domain.get(), std::move(queue)).first;
  }
  return it->second;
}

std::shared_ptr<CapsuleReceiveQueue> PollGroups::find(const std::shared_ptr<rdma::SharedReceiveQueue>& srq) {
  if (!srq) return nullptr;
  for (auto& [domain, queue] : here())
    if (queue && queue->srq() == srq) return queue;
  return nullptr;
}

}  // namespace rdmagate::rdma_transport
