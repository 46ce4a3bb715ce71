#include "rdma/shared_receive_queue.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "rdma/loader.h"
#include "rdma/resources.h"
#include "util/error.h"

namespace rdmagate::rdma {

std::shared_ptr<SharedReceiveQueue> SharedReceiveQueue::create(std::shared_ptr<ProtectionDomain> domain,
                                                               uint32_t max_wr) {
  const Api& a = require_api();
  ibv_device_attr attr{};
  if (a.ibv_query_device(domain->pd()->context, &attr) != 0 || attr.max_srq <= 0 || attr.max_srq_wr <= 0)
    return nullptr;
  ibv_srq_init_attr init{};
  init.attr.max_wr = std::min(max_wr, uint32_t(attr.max_srq_wr));
  init.attr.max_sge = 1;
  ibv_srq* srq = a.ibv_create_srq(domain->pd(), &init);
  if (!srq) {
    int e = errno;
    throw Error("ERR_RDMA_VERBS", std::string("ibv_create_srq: ") + strerror(e), e);
  }
  ++resources().srqs;
  // The provider may round max_wr up; what we asked for is what we rely on.
  return std::shared_ptr<SharedReceiveQueue>(
      new SharedReceiveQueue(std::move(domain), srq, std::min(max_wr, uint32_t(attr.max_srq_wr))));
}

SharedReceiveQueue::~SharedReceiveQueue() {
  api()->ibv_destroy_srq(srq_);  // every QP that used it is destroyed: they hold it
  --resources().srqs;
}

void SharedReceiveQueue::post(uint64_t id, const uint8_t* addr, uint32_t length, uint32_t lkey) {
  ibv_sge sge{reinterpret_cast<uint64_t>(addr), length, lkey};
  ibv_recv_wr wr{}, *bad = nullptr;
  wr.wr_id = id | kSharedReceiveBit;
  wr.sg_list = &sge;
  wr.num_sge = 1;
  // An inline of the provider's ops table: no symbol to load.
  int rc = ibv_post_srq_recv(srq_, &wr, &bad);
  if (rc != 0) throw Error("ERR_RDMA_VERBS", std::string("ibv_post_srq_recv: ") + strerror(rc), rc);
}

}  // namespace rdmagate::rdma
