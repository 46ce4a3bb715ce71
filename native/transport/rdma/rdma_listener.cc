#include "transport/rdma/rdma_listener.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <numeric>

#include "rdma/listener.h"
#include "spec/rdma_cm.h"
#include "transport/rdma/poll_groups.h"
#include "transport/rdma/rdma_qpair.h"
#include "util/error.h"

namespace rdmagate::rdma_transport {

using namespace spec;

namespace {

rdma::AcceptDecision reject(uint16_t sts) {
  RdmaCmReject r{kRdmaCmRecfmt, sts};
  std::vector<uint8_t> pd(sizeof r);
  memcpy(pd.data(), &r, sizeof r);
  return {false, {}, std::move(pd)};
}

}  // namespace

// Routes the listener's connections to their queue pairs. The listener accepts on
// reactor 0 and hands each connection to the next reactor in turn, as TCP does; from then
// on its events and completions arrive on that reactor, so each reactor has its own
// table, touched by its thread alone.
class RdmaTargetListener::Sink : public rdma::EventSink {
 public:
  Sink(target::TransportContext& context, std::shared_ptr<PollGroups> groups, uint16_t portid)
      : context_(context), groups_(std::move(groups)), portid_(portid) {
    for (size_t i = 0; i < context.reactor_count(); ++i) reactors_[&context.reactor(i)];
  }

  rdma::AcceptDecision decide(const std::vector<uint8_t>& pdata) const {
    if (pdata.size() < sizeof(RdmaCmRequest)) return reject(kRdmaCmInvalidPrivateDataLen);
    RdmaCmRequest r;
    memcpy(&r, pdata.data(), sizeof r);
    const auto& o = context_.options();
    if (r.recfmt != kRdmaCmRecfmt) return reject(kRdmaCmInvalidRecfmt);
    if (r.qid > o.max_io_queues) return reject(kRdmaCmInvalidQid);
    uint32_t depth = uint32_t(r.hsqsize) + 1;
    if (r.hsqsize == 0 || depth > o.max_queue_depth) return reject(kRdmaCmInvalidHsqsize);
    if (r.hrqsize == 0 || r.hrqsize > 2 * o.max_queue_depth) return reject(kRdmaCmInvalidHrqsize);
    rdma::ConnectionOptions c;
    c.reactor_only = true;
    c.recv_depth = depth;
    c.send_depth = 2 * depth + 1;  // an RDMA WRITE and a SEND per request, at most
    c.inline_size = sizeof(CompletionEntry);
    RdmaCmAccept a{kRdmaCmRecfmt, uint16_t(depth), {}};
    c.private_data.resize(sizeof a);
    memcpy(c.private_data.data(), &a, sizeof a);
    rdma::AcceptDecision d{true, std::move(c), {}};
    d.reactor = &context_.next_reactor();  // admin queues too: each queue is a connection of its own
    return d;
  }

  // The target's, per device on each reactor: shared with its other RDMA listeners.
  std::shared_ptr<rdma::SharedReceiveQueue> shared_receive_queue(
      const std::shared_ptr<rdma::ProtectionDomain>& domain) override {
    std::shared_ptr<CapsuleReceiveQueue> queue = groups_->receive_queue(domain);
    return queue ? queue->srq() : nullptr;  // null: no SRQ on this device
  }

  void on_accepted(uint64_t, std::shared_ptr<rdma::Connection> connection) override {
    PerReactor& r = here();
    std::shared_ptr<CapsuleReceiveQueue> shared = groups_->find(connection->shared_receive_queue());
    try {
      auto q = std::make_shared<RdmaQpair>(context_, connection->reactor(), portid_, connection, groups_->pools(),
                                           connection->options().recv_depth, shared);
      q->start_receiving();
      r.qpairs[connection->id()] = q;
    } catch (const Error&) {
      // No buffers: the host sees the connection fail. A capsule it sent meanwhile took
      // a shared buffer, which must still go back.
      if (shared) r.orphans[connection->id()] = shared;
      connection->disconnect();
    }
  }

  void on_completions(uint64_t id, const std::vector<rdma::Completion>& batch) override {
    PerReactor& r = here();
    auto it = r.qpairs.find(id);
    if (it != r.qpairs.end()) return it->second->on_completions(batch);
    auto orphan = r.orphans.find(id);
    if (orphan == r.orphans.end()) return;
    for (const rdma::Completion& c : batch) {
      try {
        if (c.shared) orphan->second->repost(uint32_t(c.op_id));
      } catch (const Error&) {
      }
    }
  }

  void on_connection_event(uint64_t id, rdma::ConnectionEvent&& event) override {
    if (event.type == rdma::ConnectionEvent::Type::kEstablished) return;
    here().orphans.erase(id);
    auto& qpairs = here().qpairs;
    auto it = qpairs.find(id);
    if (it == qpairs.end()) return;
    auto q = it->second;
    qpairs.erase(it);
    q->on_disconnected();
  }

  // Connections that never joined a controller are not reached by controller shutdown.
  // Each reactor disconnects its own.
  void disconnect_all(const std::shared_ptr<Sink>& self) {
    for (auto& [reactor, state] : reactors_) {
      std::weak_ptr<Sink> weak = self;
      reactor->post([weak, st = &state] {
        auto alive = weak.lock();
        if (!alive) return;
        for (auto& [id, q] : st->qpairs) q->disconnect();
      });
    }
  }

  std::shared_ptr<rdma::Listener> listener;

 private:
  struct PerReactor {
    std::map<uint64_t, std::shared_ptr<RdmaQpair>> qpairs;  // by connection id
    // Connections whose queue pair could not be made, by id: their shared receives go back.
    std::map<uint64_t, std::shared_ptr<CapsuleReceiveQueue>> orphans;
  };
  // The calling reactor's state. Sink callbacks run on the connection's reactor, which is
  // one of the target's; the map itself never changes after construction.
  PerReactor& here() { return reactors_.at(Reactor::current()); }

  target::TransportContext& context_;
  std::shared_ptr<PollGroups> groups_;
  const uint16_t portid_;
  std::map<Reactor*, PerReactor> reactors_;
};

RdmaTargetListener::RdmaTargetListener(target::TransportContext& context, std::shared_ptr<PollGroups> groups,
                                       const std::string& address, uint16_t port, uint16_t portid) {
  sink_ = std::make_shared<Sink>(context, std::move(groups), portid);
  std::weak_ptr<Sink> weak = sink_;
  sink_->listener = rdma::Listener::listen(
      context.reactor(0), sink_, rdma::resolve_address(address, port), 128, rdma::ConnectionOptions{},
      [weak](const std::vector<uint8_t>& pdata) {
        auto s = weak.lock();
        return s ? s->decide(pdata) : reject(kRdmaCmNoResources);
      });
  bool v6 = address.find(':') != std::string::npos;
  info_ = {"rdma", address, sink_->listener->port(), v6, portid, false, {}};
}

RdmaTargetListener::~RdmaTargetListener() { stop(); }

void RdmaTargetListener::stop() {
  if (stopped_) return;
  stopped_ = true;
  sink_->listener->close();
  // The listener holds the sink as its EventSink: let go of it, or neither is ever freed.
  sink_->listener.reset();
  sink_->disconnect_all(sink_);
}

namespace {

class RdmaTransport final : public target::Transport {
 public:
  explicit RdmaTransport(target::TransportContext& context) : context_(context) {}
  std::unique_ptr<target::TransportListener> listen(const std::string& address, uint16_t port,
                                                    uint16_t portid, bool) override {
    // Made with the first listener, so that a target without rdma-core never maps them.
    if (!groups_) groups_ = std::make_shared<PollGroups>(context_);
    return std::make_unique<RdmaTargetListener>(context_, groups_, address, port, portid);
  }

 private:
  target::TransportContext& context_;
  std::shared_ptr<PollGroups> groups_;
};

const target::TransportRegistration kRdmaTransport({
    "rdma",
    [](target::TransportContext& context) -> std::unique_ptr<target::Transport> {
      return std::make_unique<RdmaTransport>(context);
    },
    [](spec::DiscoveryLogEntry& e, const target::ListenerInfo&) {
      e.trtype = kTrtypeRdma;
      e.tsas.rdma.qptype = kRdmaQptypeConnected;
      e.tsas.rdma.prtype = kRdmaPrtypeNotSpecified;
      e.tsas.rdma.cms = kRdmaCmsRdmaCm;
    },
    false,
});

}  // namespace

}  // namespace rdmagate::rdma_transport
