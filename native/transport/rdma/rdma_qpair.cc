#include "transport/rdma/rdma_qpair.h"

#include <cstring>

#include "util/error.h"

namespace rdmagate::rdma_transport {

using namespace spec;
using target::Request;
using target::RequestState;

RdmaQpair::RdmaQpair(target::TransportContext& context, Reactor& reactor, uint16_t portid,
                     std::shared_ptr<rdma::Connection> connection, std::shared_ptr<CapsulePools> pools,
                     uint32_t queue_depth, std::shared_ptr<CapsuleReceiveQueue> shared_receives)
    : Qpair(context, reactor, portid),
      connection_(std::move(connection)),
      pools_(std::move(pools)),
      requests_(queue_depth),
      shared_(std::move(shared_receives)),
      depth_(queue_depth) {
  try {
    for (uint32_t i = 0; i < queue_depth; ++i) {
      requests_[i].slot = uint16_t(i);
      requests_[i].qpair = this;
      requests_[i].response = pools_->responses->acquire();
      if (!requests_[i].response) throw Error("ERR_NO_MEMORY", "no response buffers left for an RDMA queue pair");
      if (shared_) continue;
      BufferPool::Chunk* c = pools_->capsules->acquire();
      if (!c) throw Error("ERR_NO_MEMORY", "no capsule buffers left for an RDMA queue pair");
      receives_.push_back(c);
    }
  } catch (...) {
    release_buffers();  // no destructor runs for a constructor that throws
    throw;
  }
  for (uint32_t i = queue_depth; i-- > 0;) free_slots_.push_back(uint16_t(i));
}

RdmaQpair::~RdmaQpair() { release_buffers(); }

void RdmaQpair::release_buffers() {
  for (auto& r : requests_) {
    if (r.response) pools_->responses->release(r.response);
    r.response = nullptr;
  }
  for (auto* c : receives_) pools_->capsules->release(c);
  receives_.clear();
}

void RdmaQpair::post_receive(uint32_t index) {
  connection_->post(rdma::OpKind::kRecv, op(kRecv, index), *pools_->capsules, receives_[index], 0, pools_->capsule_size);
}

void RdmaQpair::start_receiving() {
  if (shared_) {
    shared_->add_queue(depth_);
    joined_shared_ = true;
    return;
  }
  for (uint32_t i = 0; i < receives_.size(); ++i) post_receive(i);
}

void RdmaQpair::on_completions(const std::vector<rdma::Completion>& batch) {
  for (const rdma::Completion& c : batch) {
    Tag tag = Tag(c.op_id >> 32);
    uint32_t index = uint32_t(c.op_id);
    bool ok = c.status == IBV_WC_SUCCESS;
    if (c.kind == rdma::OpKind::kRecv) {
      on_receive(c);
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

void RdmaQpair::on_receive(const rdma::Completion& c) {
  if (c.shared && !shared_) return;  // cannot be: a connection takes from the SRQ its queue pair was given
  const uint32_t index = uint32_t(c.op_id);  // the SRQ's buffer index, or our own op's
  const uint8_t* buf = shared_ && c.shared ? shared_->capsule(index) : receives_[index]->data;
  RdmaRequest* req = c.status == IBV_WC_SUCCESS && !closed_ ? take_capsule(buf, c.byte_len) : nullptr;
  // The capsule is copied out: its buffer goes back to the device before the command runs.
  try {
    // A shared buffer goes back whatever happened here: other connections need it.
    if (c.shared) shared_->repost(index);
    else if (req) post_receive(index);
  } catch (const Error&) {
    if (!closed_) fail_connection();
    return;
  }
  if (req) on_capsule(req);
}

RdmaQpair::RdmaRequest* RdmaQpair::take_capsule(const uint8_t* buf, uint32_t bytes) {
  if (bytes < sizeof(SubmissionEntry) || free_slots_.empty()) {
    fail_connection();
    return nullptr;
  }
  RdmaRequest& req = requests_[free_slots_.back()];
  free_slots_.pop_back();
  memcpy(&req.cmd, buf, sizeof req.cmd);
  req.state = RequestState::kNew;
  req.in_capsule = bytes - uint32_t(sizeof(SubmissionEntry));
  if (req.in_capsule && wants_capsule_data(req.cmd)) {
    // In-capsule data is the one copy: small writes, by design.
    if (req.in_capsule > context().options().max_io_size || !take_capsule_buffer(&req, req.in_capsule)) {
      free_slots_.push_back(req.slot);
      fail_connection();
      return nullptr;
    }
    memcpy(req.data, buf + sizeof(SubmissionEntry), req.in_capsule);
    counters().in_capsule_bytes += req.in_capsule;
    counters().wire.bytes_copied += req.in_capsule;
  }
  return &req;
}

void RdmaQpair::transfer_in(Request* r) {
  auto* req = static_cast<RdmaRequest*>(r);
  try {
    connection_->post(rdma::OpKind::kRead, op(kRead, req->slot), context().pool(), req->chunk, 0, req->length,
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
      connection_->post(rdma::OpKind::kWrite, op(kWrite, req->slot), context().pool(), req->chunk, 0, req->length,
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
  if (joined_shared_) shared_->remove_queue(depth_);
  unbind();
  release_requests(requests_);
}

}  // namespace rdmagate::rdma_transport
