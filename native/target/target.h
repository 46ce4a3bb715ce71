// The NVMe-oF target: reactors, subsystems (the discovery subsystem among them),
// listeners and controllers. Control-plane calls come from the JS thread; connections
// live on reactors, spread round-robin.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "auth/dhchap_policy.h"
#include "mem/buffer_pool.h"
#include "reactor/reactor.h"
#include "target/controller.h"
#include "target/qpair.h"
#include "target/subsystem.h"
#include "target/transport.h"

namespace rdmagate::target {

struct QpairInfo {
  uint16_t cntlid, qid;
  std::string transport, peer;
  std::string reactor;     // the name of the reactor thread that serves it
  Qpair::AuthSummary auth;
  std::optional<SecureChannel> tls;  // NVMe/TCP TLS, where the queue has it
  QpairCounters counters;  // read while reactors run: a snapshot, not a transaction
};

struct NamespaceStats {
  std::string subnqn;
  uint32_t nsid;
  std::string bdev;
  NamespaceCounters counters;  // a snapshot, as QpairInfo::counters
};

struct ControllerInfo {
  uint16_t cntlid;
  std::string subnqn, hostnqn, peer;
  size_t queues;
  uint32_t kato_ms;
};

class Target final : public TransportContext {
 public:
  explicit Target(const TargetOptions& options);
  ~Target();
  void close();

  const TargetOptions& options() const override { return options_; }

  // Subsystems. Throws ERR_INVALID_ARG, ERR_ALREADY_EXISTS, ERR_NOT_FOUND.
  std::shared_ptr<Subsystem> add_subsystem(const std::string& nqn, const std::string& serial,
                                           const std::string& model, const Subsystem::Options& options);
  void remove_subsystem(const std::string& nqn);
  std::shared_ptr<Subsystem> find_subsystem(const std::string& nqn) const;
  std::vector<std::shared_ptr<Subsystem>> subsystems() const;
  // After a namespace change: tells the subsystem's controllers (AEN + changed list).
  void namespaces_changed(const std::shared_ptr<Subsystem>& subsystem, uint32_t nsid);
  // Sets an ANA state (AnaStates::set) and sends the ANA change notice to the controllers
  // that came in through that listener.
  void set_ana_state(const std::shared_ptr<Subsystem>& subsystem, uint16_t portid, uint32_t grpid, spec::AnaState state);
  // A namespace moved to another ANA group: every controller of the subsystem is told.
  void set_namespace_ana_group(const std::shared_ptr<Subsystem>& subsystem, uint32_t nsid, uint32_t grpid);
  // `bdev` has a new size: every namespace it backs changed (Identify Namespace reads it).
  void bdev_resized(const bdev::Bdev& bdev);
  // After a host or listener was taken off the subsystem (or allow-any turned off):
  // disconnects its controllers whose host, or whose queues' listener, is no longer
  // allowed, as SPDK does. Returns how many were disconnected.
  size_t enforce_access(const std::shared_ptr<Subsystem>& subsystem);

  // DH-HMAC-CHAP: the hashes and DH groups offered to hosts, in the order preferred
  // (SPDK's nvmf_set_config dhchap_digests / dhchap_dhgroups). Applies to the next Negotiate.
  void set_dhchap_policy(auth::DhchapPolicy policy);
  auth::DhchapPolicy dhchap_policy() const;
  // NVMe/TCP TLS: the TLS PSK for the identity a ClientHello offers, from the configured PSK
  // of that host in that subsystem (for the discovery subsystem: in any, see there);
  // nullopt for an identity no host here has.
  std::optional<tls::TlsPsk> find_tls_psk(const std::string& identity) const override;

  // Listeners.
  // trtype: a registered transport ("tcp", "rdma"). Throws ERR_INVALID_ARG for another,
  // ERR_RDMA_UNAVAILABLE for rdma without rdma-core.
  // secure_channel: NVMe/TCP TLS required (SPDK's secure_channel); ERR_INVALID_ARG for a
  // transport without it.
  const ListenerInfo& add_listener(const std::string& trtype, const std::string& address, uint16_t port,
                                   bool secure_channel = false);
  void remove_listener(const std::string& trtype, const std::string& address, uint16_t port);
  // The listener on this address, started if there is none yet (port 0 is not allowed);
  // ERR_ALREADY_EXISTS where one is there with the other secure_channel.
  ListenerInfo ensure_listener(const std::string& trtype, const std::string& address, uint16_t port,
                               bool secure_channel = false);
  std::optional<ListenerInfo> find_listener(const std::string& trtype, const std::string& address, uint16_t port) const;
  std::vector<ListenerInfo> listeners() const;
  uint64_t discovery_generation() const { return discovery_genctr_.load(); }

  // Controllers.
  std::shared_ptr<Controller> create_controller(std::shared_ptr<Subsystem> subsystem, const std::string& hostnqn,
                                                const uint8_t hostid[16], uint32_t kato_ms);
  std::shared_ptr<Controller> find_controller(uint16_t cntlid) const;
  void forget_controller(uint16_t cntlid);
  std::vector<ControllerInfo> controllers() const;
  std::vector<QpairInfo> qpairs() const;
  // Every namespace of every NVM subsystem, with its I/O since it was added (the
  // counts of its nsid, should one be removed and re-added, carry on).
  std::vector<NamespaceStats> namespace_stats() const;

  // Reactors and memory.
  Reactor& reactor(size_t i) override { return *reactors_[i]; }
  size_t reactor_count() const override { return reactors_.size(); }
  Reactor& next_reactor() override;
  // The live controllers of `subsystem`.
  std::vector<std::shared_ptr<Controller>> controllers_of(const Subsystem& subsystem) const;
  BufferPool& pool() override { return *pool_; }
  BufferPool::Cache& pool_cache(const Reactor& reactor) override;
  Target& core() override { return *this; }
  const std::shared_ptr<BufferPool>& shared_pool() const { return pool_; }

 private:
  const TargetOptions options_;
  std::vector<std::unique_ptr<Reactor>> reactors_;
  std::atomic<size_t> next_reactor_{0};
  std::shared_ptr<BufferPool> pool_;
  std::vector<BufferPool::Cache*> pool_caches_;  // one per reactor, parallel to reactors_

  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Subsystem>> subsystems_;
  std::map<std::string, std::unique_ptr<Transport>> transports_;  // by name, made on first use
  std::vector<std::unique_ptr<TransportListener>> listeners_;
  uint16_t next_portid_ = 1;
  std::map<uint16_t, std::weak_ptr<Controller>> controllers_;
  uint16_t next_cntlid_ = 1;
  std::atomic<uint64_t> discovery_genctr_{1};
  bool closed_ = false;
  auth::DhchapPolicy dhchap_policy_;
};

}  // namespace rdmagate::target
