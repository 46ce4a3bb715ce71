// The boundary between the target's core and its transports, as SPDK's
// spdk_nvmf_transport_ops draws it: each transport registers itself by name, the core
// starts listeners through the registry and includes no transport, and a transport sees
// of the target only a narrow context (options, reactors, the buffer pool).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mem/buffer_pool.h"
#include "reactor/reactor.h"
#include "spec/log_pages.h"
#include "target/options.h"
#include "tls/psk.h"

namespace rdmagate::target {

class Target;

// What a listener has admitted and refused since it started; read while it accepts.
struct ListenerCounters {
  uint64_t connections = 0;    // open now
  uint64_t refused = 0;        // closed at once: over max_connections_per_listener/_address
  uint64_t accept_pauses = 0;  // times accepting stopped a while because fds or memory ran out
};

struct ListenerInfo {
  std::string trtype;  // "tcp"
  std::string traddr;
  uint16_t trsvcid;
  bool ipv6;
  uint16_t portid;
  bool secure_channel = false;  // NVMe/TCP TLS required (discovery: TREQ required, SECTYPE TLS 1.3)
  ListenerCounters counters;    // filled by Target::listeners()
};

// A transport's listener as the target sees it.
class TransportListener {
 public:
  virtual ~TransportListener() = default;
  virtual const ListenerInfo& info() const = 0;
  virtual ListenerCounters counters() const { return {}; }
  virtual void stop() = 0;
};

// What a transport may use of the target.
class TransportContext {
 public:
  virtual const TargetOptions& options() const = 0;
  virtual size_t reactor_count() const = 0;
  virtual Reactor& reactor(size_t i) = 0;
  virtual Reactor& next_reactor() = 0;  // round-robin: where a new connection lives
  virtual BufferPool& pool() = 0;
  // The pool's cache of `reactor` (one of the target's), for I/O buffers taken there.
  virtual BufferPool::Cache& pool_cache(const Reactor& reactor) = 0;
  // The core that the transport's queue pairs serve: handed on to target::Qpair.
  virtual Target& core() = 0;
  // NVMe/TCP TLS: the TLS PSK for the identity a ClientHello offers (Target::find_tls_psk).
  virtual std::optional<tls::TlsPsk> find_tls_psk(const std::string& identity) const = 0;

 protected:
  ~TransportContext() = default;
};

// One transport of one target (SPDK's spdk_nvmf_transport): made with the target's first
// listener of its kind, it holds what all those listeners share (RDMA: receive queues and
// capsule pools per reactor and device).
class Transport {
 public:
  virtual ~Transport() = default;
  // Binds and listens at once, so that address errors (util::Error) reach the caller.
  // `secure_channel` only where TransportOps::secure_channel says the transport has one.
  virtual std::unique_ptr<TransportListener> listen(const std::string& address, uint16_t port, uint16_t portid,
                                                    bool secure_channel) = 0;
};

struct TransportOps {
  const char* name;  // the trtype as the RPCs spell it: "tcp", "rdma"
  std::unique_ptr<Transport> (*create)(TransportContext& context);
  // Fills the transport's fields of a discovery log entry for one of its listeners: TRTYPE
  // and the transport-specific address subtype (TSAS).
  void (*describe)(spec::DiscoveryLogEntry& entry, const ListenerInfo& listener);
  bool secure_channel;  // has listeners that require TLS
};

// A transport registers itself with a static TransportRegistration in its own sources, so
// that what is linked in is what the target serves.
void register_transport(const TransportOps& ops);
const TransportOps* find_transport(const std::string& name);
std::vector<std::string> transport_names();

struct TransportRegistration {
  explicit TransportRegistration(const TransportOps& ops) { register_transport(ops); }
};

}  // namespace rdmagate::target
