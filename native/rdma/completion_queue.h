// One completion queue per reactor and device, shared by all of that reactor's
// connections on that device (SPDK's poll-group CQ). The reactor polls one CQ and
// sleeps on one completion channel, however many queue pairs it serves. A completion
// finds its connection by QP number.
//
// Room is reserved per connection: its send depth, its receive depth unless it draws
// from a shared receive queue, and each SRQ's capacity once. The CQ grows with
// ibv_resize_cq as connections join. Where the device cannot resize, or is at its
// max_cqe, a further CQ is opened, so a reactor has one CQ per device or a few.
//
// Reactor thread only.
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>
#include <map>
#include <memory>
#include <unordered_map>

#include "reactor/reactor.h"

namespace rdmagate::rdma {

class Connection;
class SharedReceiveQueue;

class CompletionQueue : public std::enable_shared_from_this<CompletionQueue> {
 public:
  static constexpr int kPollBatch = 32;    // completions per ibv_poll_cq
  static constexpr int kDrainBatches = 4;  // polls per reactor turn before other handlers run
  static constexpr uint32_t kMinEntries = 1024;

  // The calling reactor's CQ on `context` with room for `entries` more completions, and
  // for `srq`'s receives if `srq` is new to it. Throws ERR_RDMA_VERBS.
  static std::shared_ptr<CompletionQueue> join(Reactor& reactor, ibv_context* context, uint32_t entries,
                                               const SharedReceiveQueue* srq);
  ~CompletionQueue();
  CompletionQueue(const CompletionQueue&) = delete;
  CompletionQueue& operator=(const CompletionQueue&) = delete;

  ibv_cq* cq() const { return cq_; }
  uint32_t capacity() const { return capacity_; }
  // Completions of QP `qp_num` go to `connection` until leave().
  void attach(uint32_t qp_num, Connection* connection) { connections_[qp_num] = connection; }
  // Gives back what `connection` reserved with join(), and stops delivering its QP's
  // completions (`qp_num` 0: it attached none).
  void leave(Connection* connection, uint32_t qp_num, uint32_t entries, const SharedReceiveQueue* srq);
  // Polls until the CQ is found empty, for `connection`'s teardown: every completion queued
  // before the call is recorded by its connection when it returns. `connection` delivers its
  // own itself; the others deliver theirs on the reactor's next turn, not from inside a
  // teardown that may run deep in their sink.
  void drain(Connection* connection);

 private:
  CompletionQueue(Reactor& reactor, ibv_context* context) : reactor_(reactor), context_(context) {}
  void open(uint32_t entries);
  // Makes room for `entries` more; false if the device cannot (this CQ is full).
  bool reserve(uint32_t entries);
  void on_event();
  // Bounded, for the reactor's turn: what is left is polled again after the other handlers.
  bool poll_some();
  // One batch, recorded by each completion's connection and then delivered, or (with
  // `only`) delivered by `only` alone and by the others on the next turn.
  int poll(Connection* only = nullptr);
  Connection* find(uint32_t qp_num) const {
    auto it = connections_.find(qp_num);
    return it == connections_.end() ? nullptr : it->second;
  }

  Reactor& reactor_;
  ibv_context* const context_;
  ibv_comp_channel* channel_ = nullptr;
  ibv_cq* cq_ = nullptr;
  uint32_t capacity_ = 0, reserved_ = 0, max_entries_ = 0;
  bool poll_deferred_ = false;
  std::unordered_map<uint32_t, Connection*> connections_;
  std::map<const SharedReceiveQueue*, uint32_t> srq_users_;  // connections per SRQ
};

}  // namespace rdmagate::rdma
