// Accepts RC connections through rdma_cm on one address. Each accepted connection gets
// its own event channel (rdma_migrate_id), so it outlives the listener if need be, and
// lives on the reactor the accept policy names.
#pragma once

#include <functional>
#include <atomic>
#include <memory>
#include <string>

#include "rdma/connection.h"

namespace rdmagate::rdma {

// Decides on a connect request from its private data: accept with these options (whose
// private_data goes back in the accept), or reject with `private_data` as the reason.
struct AcceptDecision {
  bool accept;
  ConnectionOptions options;
  std::vector<uint8_t> private_data;  // the reject's, when !accept
  // The reactor the connection lives on (its cm events and CQ), or null for the
  // listener's: servers spread connections over their reactors.
  Reactor* reactor = nullptr;
};
using AcceptPolicy = std::function<AcceptDecision(const std::vector<uint8_t>& request_private_data)>;

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // Without a policy every request is accepted with `accept_options`.
  static std::shared_ptr<Listener> listen(Reactor& reactor, std::shared_ptr<EventSink> sink,
                                          const sockaddr_storage& address, int backlog,
                                          ConnectionOptions accept_options, AcceptPolicy policy = nullptr);
  ~Listener();
  uint64_t id() const { return id_; }
  uint16_t port() const { return port_; }
  // Stops accepting; established connections are unaffected.
  void close();

 private:
  Listener(Reactor& reactor, std::shared_ptr<EventSink> sink, ConnectionOptions options, AcceptPolicy policy);
  void on_cm_events();
  void accept(rdma_cm_id* child, std::vector<uint8_t> private_data);
  // On the connection's reactor, with `child` already moved to its channel: accepts it,
  // unless the listener closed in the meantime.
  void complete_accept(const std::shared_ptr<Connection>& connection, rdma_cm_id* child);

  const uint64_t id_;
  Reactor& reactor_;
  std::shared_ptr<EventSink> sink_;
  const ConnectionOptions options_;
  const AcceptPolicy policy_;
  rdma_event_channel* channel_ = nullptr;
  rdma_cm_id* cm_id_ = nullptr;
  std::atomic<bool> closed_{false};
  uint16_t port_ = 0;
};

uint64_t next_object_id();

}  // namespace rdmagate::rdma
