#include "transport/rdma/capsule_receive_queue.h"

#include <algorithm>

namespace rdmagate::rdma_transport {

std::shared_ptr<CapsuleReceiveQueue> CapsuleReceiveQueue::create(std::shared_ptr<rdma::ProtectionDomain> domain,
                                                                 std::shared_ptr<CapsulePools> pools) {
  auto srq = rdma::SharedReceiveQueue::create(std::move(domain), kMaxCapsules);
  if (!srq) return nullptr;
  return std::shared_ptr<CapsuleReceiveQueue>(new CapsuleReceiveQueue(std::move(srq), std::move(pools)));
}

CapsuleReceiveQueue::~CapsuleReceiveQueue() {
  // Every QP on the SRQ is gone (each connection holds the sink that holds us), so the
  // device writes into none of these any more.
  for (auto* c : buffers_) pools_->capsules->release(c);
}

void CapsuleReceiveQueue::add_queue(uint32_t depth) {
  uint32_t want = std::min(served_ + depth, srq_->capacity());
  while (buffers_.size() < want) {
    BufferPool::Chunk* c = pools_->capsules->acquire();
    if (!c) break;  // the pool is spent: hosts meet RNR NAKs sooner, nothing worse
    buffers_.push_back(c);
    try {
      post(uint32_t(buffers_.size() - 1));
    } catch (...) {
      buffers_.pop_back();
      pools_->capsules->release(c);
      throw;
    }
  }
  served_ += depth;  // only once joined: remove_queue() undoes it only for a queue that joined
}

void CapsuleReceiveQueue::post(uint32_t index) {
  BufferPool::Chunk* c = buffers_[index];
  srq_->post(index, c->data, pools_->capsule_size, rdma::local_key(*pools_->capsules, c, srq_->domain()));
}

void CapsuleReceiveQueue::repost(uint32_t index) {
  try {
    post(index);
  } catch (...) {
    unposted_.push_back(index);
    throw;
  }
  while (!unposted_.empty()) {
    uint32_t i = unposted_.back();
    unposted_.pop_back();
    try {
      post(i);
    } catch (...) {
      unposted_.push_back(i);
      return;
    }
  }
}

}  // namespace rdmagate::rdma_transport
