// An NVM subsystem: its identity, namespaces and the hosts allowed in. Changed by the
// control plane (any thread, under a mutex); read by the data path through an immutable
// namespace table whose version a qpair checks per command with one atomic load.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "auth/dhchap_secret.h"
#include "bdev/bdev.h"
#include "spec/fabrics.h"
#include "target/ana_states.h"
#include "target/namespace_counters.h"
#include "tls/psk.h"

namespace rdmagate::target {

struct Namespace {
  uint32_t nsid;
  // Unique to this add: the counters of a namespace removed and added again with the same
  // nsid start from zero, as Prometheus expects of a new series' counters.
  uint64_t instance;
  uint32_t anagrpid;  // its ANA group: nsid unless given
  std::shared_ptr<bdev::Bdev> bdev;
  uint8_t nguid[16];
  uint8_t uuid[16];
};

using NamespaceTable = std::map<uint32_t, std::shared_ptr<const Namespace>>;

class Subsystem {
 public:
  enum class Type { kNvm, kDiscovery };

  // What a subsystem is made with beyond its names (SPDK's nvmf_create_subsystem).
  struct Options {
    uint32_t max_namespaces = 32;
    // ANA reporting: groups, states per listener, the ANA log page and notices.
    bool ana_reporting = false;
    // The controller IDs this subsystem hands out: gateways of one group that export the
    // same subsystem take ranges apart, so that a host never sees one ID twice.
    uint16_t min_cntlid = spec::kCntlidMin, max_cntlid = spec::kCntlidMax;
  };

  Subsystem(std::string nqn, Type type, std::string serial, std::string model, const Options& options);

  const std::string& nqn() const { return nqn_; }
  Type type() const { return type_; }
  const std::string& serial() const { return serial_; }
  const std::string& model() const { return model_; }
  uint32_t max_namespaces() const { return options_.max_namespaces; }
  bool ana_reporting() const { return options_.ana_reporting; }
  uint16_t min_cntlid() const { return options_.min_cntlid; }
  uint16_t max_cntlid() const { return options_.max_cntlid; }
  AnaStates& ana() { return ana_; }
  const AnaStates& ana() const { return ana_; }

  // Control plane. add_namespace picks the lowest free nsid when nsid is 0.
  // anagrpid 0 takes the nsid's, as SPDK does.
  uint32_t add_namespace(uint32_t nsid, std::shared_ptr<bdev::Bdev> bdev, const uint8_t* nguid, const uint8_t* uuid,
                         uint32_t anagrpid = 0);
  void remove_namespace(uint32_t nsid);
  void set_namespace_ana_group(uint32_t nsid, uint32_t anagrpid);
  void set_allow_any_host(bool allow);
  // A host with keys must authenticate (DH-HMAC-CHAP) on every queue; adding one that is
  // there replaces its keys.
  void add_host(const std::string& hostnqn, auth::DhchapKeys keys = {});
  // Rotation: queues already authenticated stay; the next transaction uses the new keys.
  // Throws Error(ERR_NOT_FOUND) for a host not added.
  void set_host_keys(const std::string& hostnqn, auth::DhchapKeys keys);
  auth::DhchapKeys host_keys(const std::string& hostnqn) const;
  // NVMe/TCP TLS: the configured PSK of a host added (null: none). Throws like set_host_keys.
  void set_host_psk(const std::string& hostnqn, tls::PskRef psk);
  tls::PskRef host_psk(const std::string& hostnqn) const;
  void remove_host(const std::string& hostnqn);
  bool allow_any_host() const;
  std::vector<std::string> hosts() const;
  bool host_allowed(const std::string& hostnqn) const;

  // Listener access, by portid. By default a subsystem is offered on every listener;
  // once one is added explicitly (SPDK's nvmf_subsystem_add_listener), only on those.
  void add_listener(uint16_t portid);
  void remove_listener(uint16_t portid);
  void set_allow_any_listener(bool allow);
  bool listener_allowed(uint16_t portid) const;
  bool allow_any_listener() const;
  std::vector<uint16_t> listener_ports() const;

  // Data path: the current table and its version.
  uint64_t namespace_version() const { return ns_version_.load(std::memory_order_acquire); }
  std::shared_ptr<const NamespaceTable> namespaces() const;

  // Per-namespace counts of the queue pairs that are gone (Target::namespace_stats adds
  // the live ones).
  void retire_counters(const NamespaceCounterList& counters);
  NamespaceCounterList retired_counters() const;

 private:
  const std::string nqn_;
  const Type type_;
  const std::string serial_, model_;
  const Options options_;
  AnaStates ana_;
  mutable std::mutex mutex_;
  std::shared_ptr<const NamespaceTable> table_;
  std::atomic<uint64_t> ns_version_{1};
  bool allow_any_host_ = true;
  std::map<std::string, auth::DhchapKeys> hosts_;
  std::map<std::string, tls::PskRef> psks_;  // of hosts_ that have one
  bool allow_any_listener_ = true;
  std::set<uint16_t> listeners_;
  NamespaceCounterList retired_;
};

}  // namespace rdmagate::target
