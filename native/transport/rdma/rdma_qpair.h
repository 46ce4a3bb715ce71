// The target side of one NVMe/RDMA queue pair. Command capsules arrive in pre-posted,
// registered receive buffers (the reactor's shared receive queue for the device, or the
// queue pair's own where the device has none); host data is fetched with RDMA READ into the request's
// buffer, and controller data is pushed with RDMA WRITE before the response SEND. The
// bdev works in that same buffer: nothing is copied but in-capsule data.
#pragma once

#include <memory>
#include <vector>

#include "rdma/connection.h"
#include "transport/rdma/capsule_pools.h"
#include "transport/rdma/capsule_receive_queue.h"
#include "target/qpair.h"

namespace rdmagate::rdma_transport {

class RdmaQpair final : public target::Qpair {
 public:
  RdmaQpair(target::TransportContext& context, Reactor& reactor, uint16_t portid, std::shared_ptr<rdma::Connection> connection,
            std::shared_ptr<CapsulePools> pools, uint32_t queue_depth,
            std::shared_ptr<CapsuleReceiveQueue> shared_receives);
  ~RdmaQpair() override;

  // Posts its receive buffers (or its share of the shared queue's); called before the
  // connection is accepted.
  void start_receiving();
  void on_completions(const std::vector<rdma::Completion>& batch);
  // The connection is gone and every work request has completed or been flushed.
  void on_disconnected();

  void transfer_in(target::Request* req) override;
  void send_response(target::Request* req) override;
  void disconnect() override;
  const char* transport_name() const override { return "rdma"; }
  spec::DataSglKind data_sgl_kind() const override { return spec::DataSglKind::Keyed; }
  std::string peer_address() const override { return connection_->peer_address(); }

 private:
  void release_buffers();
  struct RdmaRequest : target::Request {
    BufferPool::Chunk* response = nullptr;
  };
  enum Tag : uint64_t { kRecv = 1, kRead = 2, kWrite = 3, kSend = 4 };
  static uint64_t op(Tag tag, uint32_t index) { return uint64_t(tag) << 32 | index; }

  // Takes a request slot for the capsule in `buf` and copies it out; null when the
  // connection fails instead.
  RdmaRequest* take_capsule(const uint8_t* buf, uint32_t bytes);
  void on_receive(const rdma::Completion& c);
  void post_receive(uint32_t index);
  void fail_connection();

  std::shared_ptr<rdma::Connection> connection_;
  std::shared_ptr<CapsulePools> pools_;
  std::vector<RdmaRequest> requests_;
  std::vector<uint16_t> free_slots_;
  std::vector<BufferPool::Chunk*> receives_;  // its own receive buffers, without a shared queue
  const std::shared_ptr<CapsuleReceiveQueue> shared_;
  const uint32_t depth_;
  bool joined_shared_ = false;
  bool closed_ = false;
};

}  // namespace rdmagate::rdma_transport
