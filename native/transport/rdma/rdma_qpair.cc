#include "transport/rdma/rdma_qpair.h"

#include <cstring>

#include "target/target.h"
#include "util/error.h"

namespace rdmagate::rdma_transport {

using namespace spec;
using target::Request;
using target::RequestState;

RdmaQpair::RdmaQpair(target::Target& target, Reactor& reactor, uint16_t portid,
                     std::shared_ptr<rdma::Connection> connection, std::shared_ptr<CapsulePools> pools,
                     uint32_t queue_depth)
    : Qpair(target, reactor, portid), connection_(std::move(connection)), pools_(std::move(pools)), requests_(queue_depth) {
  for (uint32_t i = 0; i < queue_depth; ++i) {
    requests_[i].slot = uint16_t(i);
    requests_[i].qpair = this;
    requests_[i].response = pools_->responses->acquire();
    BufferPool::Chunk* c = pools_->capsules->acquire();
    if (!requests_[i].response || !c) throw Error("ERR_NO_MEMORY", "no capsule buffers left for an RDMA queue pair");
    receives_.push_back(c);
  }
  for (uint32_t i = queue_depth; i-- > 0;) free_slots_.push_back(uint16_t(i));
}

RdmaQpair::~RdmaQpair() {
  for (auto& r : requests_)
    if (r.response) pools_->responses->release(r.response);
  for (auto* c : receives_) pools_->capsules->release(c);
}

void RdmaQpair::post_receive(uint32_t index) {
  connection_->post(rdma::OpKind::kRecv, op(kRecv, index), *pools_->capsules, receives_[index], 0, pools_->capsule_size);
}

void RdmaQpair::start_receiving() {
  for (uint32_t i = 0; i < receives_.size(); ++i) post_receive(i);
}

void RdmaQpair::on_completions(const std::vector<rdma::Completion>& batch) {
  for (const rdma::Completion& c : batch) {
    Tag tag = Tag(c.op_id >> 32);
    uint32_t index = uint32_t(c.op_id);
    bool ok = c.status == IBV_WC_SUCCESS;
    if (tag == kRecv) {
      if (ok && !closed_) on_capsule_received(index, c.byte_len);
      continue;
    }
    RdmaRequest& req = requests_[index];
    switch (tag) {
      case kRead:
        if (ok) {
          counters().rdma_read_bytes += req.length;
          on_data_in(&req);
        } else {
          // A bad key or address: the request fails; the QP is in error, so the
          // connection goes too, while the target serves everyone else.
          complete(&req, status::kDataXferError, true);
        }
        break;
      case kWrite:
        if (ok) counters().rdma_write_bytes += req.length;
        break;
      case kSend:
        on_response_sent(&req);
        free_slots_.push_back(req.slot);
        break;
      case kRecv:
        break;
    }
    if (!ok && !closed_) fail_connection();
  }
}

void RdmaQpair::on_capsule_received(uint32_t index, uint32_t bytes) {
  const uint8_t* buf = receives_[index]->data;
  if (bytes < sizeof(SubmissionEntry) || free_slots_.empty()) return fail_connection();
  RdmaRequest& req = requests_[free_slots_.back()];
  free_slots_.pop_back();
  memcpy(&req.cmd, buf, sizeof req.cmd);
  req.state = RequestState::kNew;
  req.in_capsule = bytes - uint32_t(sizeof(SubmissionEntry));
  if (req.in_capsule) {
    // In-capsule data is the one copy: small writes, by design.
    BufferPool::Chunk* c = target().pool().acquire();
    if (!c || req.in_capsule > target().options().max_io_size) return fail_connection();
    req.chunk = c;
    req.data = c->data;
    memcpy(req.data, buf + sizeof(SubmissionEntry), req.in_capsule);
    counters().in_capsule_bytes += req.in_capsule;
    counters().bytes_copied += req.in_capsule;
  }
  try {
    post_receive(index);
  } catch (const Error&) {
    return fail_connection();
  }
  on_capsule(&req);
}

void RdmaQpair::transfer_in(Request* r) {
  auto* req = static_cast<RdmaRequest*>(r);
  try {
    connection_->post(rdma::OpKind::kRead, op(kRead, req->slot), target().pool(), req->chunk, 0, req->length,
                      req->remote_addr, req->rkey);
  } catch (const Error&) {
    complete(req, status::kDataXferError, true);
  }
}

void RdmaQpair::send_response(Request* r) {
  auto* req = static_cast<RdmaRequest*>(r);
  if (closed_) {
    on_response_sent(req);
    free_slots_.push_back(req->slot);
    return;
  }
  memcpy(req->response->data, &req->rsp, sizeof req->rsp);
  bool ok = req->rsp.sct() == 0 && req->rsp.sc() == 0;
  try {
    if (ok && req->dir == kXferControllerToHost && req->length > 0) {
      // Same QP, same order: the host sees the data before the response.
      connection_->post(rdma::OpKind::kWrite, op(kWrite, req->slot), target().pool(), req->chunk, 0, req->length,
                        req->remote_addr, req->rkey);
    }
    connection_->post(rdma::OpKind::kSend, op(kSend, req->slot), *pools_->responses, req->response, 0,
                      sizeof(CompletionEntry), 0, 0, req->invalidate ? req->rkey : 0);
  } catch (const Error&) {
    on_response_sent(req);
    free_slots_.push_back(req->slot);
    fail_connection();
  }
}

void RdmaQpair::fail_connection() {
  counters().errors++;
  connection_->disconnect();
}

void RdmaQpair::disconnect() { connection_->disconnect(); }

void RdmaQpair::on_disconnected() {
  if (closed_) return;
  closed_ = true;
  unbind();
  for (auto& r : requests_) {
    if (r.chunk) {
      target().pool().release(r.chunk);
      r.chunk = nullptr;
      r.data = nullptr;
    }
    r.state = RequestState::kFree;
  }
}

}  // namespace rdmagate::rdma_transport
