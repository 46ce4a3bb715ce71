// NVMe/RDMA under a host queue pair (NVMe/RDMA transport binding 1.0a): an rdma_cm
// connection with the NVMe/RDMA private data, command capsules SENT from registered
// buffers, 16-byte responses in pre-posted receives, and data moved by the controller
// (RDMA READ of our writes, RDMA WRITE of our reads) against a keyed SGL that points
// straight into the caller's registered buffer. The CPU copies only in-capsule data
// (small writes on I/O queues) and data that lies outside registered memory (internal
// commands' data), which is bounced through a scratch chunk; both count as bytes_copied.
//
// Each connect makes a new rdma::Connection (a new QP) with registered capsule memory of
// its own, freed once that connection's teardown has flushed its every work request.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "host/queue_transport.h"
#include "rdma/connection.h"
#include "reactor/reactor.h"

namespace rdmagate::host {

class RdmaQueueTransport final : public QueueTransport {
 public:
  RdmaQueueTransport(Reactor& reactor, QueueEndpoint endpoint, Handler& handler, TransportCounters& counters);
  // Reactor thread, or after close().
  ~RdmaQueueTransport() override;

  void connect(const TransportAddress& to, uint16_t cntlid) override;
  void enable_incapsule(uint32_t max) override;
  uint32_t incapsule_capacity() const override;
  uint32_t send(const TransportCommand& cmd) override;
  // The capsules sent since the last flush go to the device in one chained post.
  void flush() override {
    if (connection_) connection_->flush_posts();
  }
  void fail(const Failure& failure) override;
  void close() override;
  void when_released(std::function<void()> done) override;
  const TcpParams& tcp_params() const override;

 private:
  class Link;
  struct Releases;
  // The state of command `cid` on the current connection.
  struct Slot {
    bool active = false;
    bool sent = false;      // its SEND completed: the capsule buffer is free again
    bool answered = false;  // its response came; `cqe` holds it
    spec::DataDirection dir = spec::kXferNone;
    uint8_t* data = nullptr;
    uint32_t length = 0;
    BufferPool::Chunk* bounce = nullptr;  // scratch holding the data, when it is not registered
    spec::CompletionEntry cqe{};
  };

  // From the current Link, on the reactor thread.
  void on_established(const std::vector<uint8_t>& private_data);
  void on_completion(const rdma::Completion& c);
  void on_link_failed(const rdma::ConnectionEvent& event);
  void on_link_down();

  void on_response(const rdma::Completion& c);
  void on_sent(uint16_t cid, uint32_t bytes);
  void complete(uint16_t cid);
  void post_receive(uint32_t index);
  // The rkey of a command's pool chunk; false where the pool cannot be registered.
  bool lend(const TransportCommand& cmd, uint32_t* rkey);
  // Fails the connection from a place that must not call the handler (send()).
  void fail_later(const Failure& failure);
  std::string where() const;

  Reactor& reactor_;
  const QueueEndpoint endpoint_;
  TransportAddress to_;  // this connection's
  Handler& handler_;
  TransportCounters& counters_;
  uint32_t incapsule_max_ = 0;
  bool lending_failed_ = false;  // a pool failed to register: bounce everything
  std::shared_ptr<rdma::Connection> connection_;
  std::shared_ptr<Link> link_;  // the current connection's; null when closed
  std::shared_ptr<Releases> releases_;
  std::vector<Slot> slots_;  // by cid
};

}  // namespace rdmagate::host
