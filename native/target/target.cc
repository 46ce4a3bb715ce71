#include "target/target.h"

#include "spec/fabrics.h"
#include "target/qpair.h"
#include "util/error.h"

namespace rdmagate::target {

Target::Target(const TargetOptions& options) : options_(options) {
  if (options.reactors == 0 || options.reactors > 64) throw Error("ERR_INVALID_ARG", "reactors must be in [1, 64]");
  if (options.max_io_size < 4096 || options.max_io_size > (1u << 20) || (options.max_io_size & (options.max_io_size - 1)))
    throw Error("ERR_INVALID_ARG", "maxIoSize must be a power of two in [4 KiB, 1 MiB]");
  if (options.in_capsule_data_size > options.max_io_size || options.in_capsule_data_size % 16)
    throw Error("ERR_INVALID_ARG", "inCapsuleDataSize must be a multiple of 16, at most maxIoSize");
  if (options.max_queue_depth < 2 || options.max_queue_depth > 1024)
    throw Error("ERR_INVALID_ARG", "maxQueueDepth must be in [2, 1024]");
  BufferPoolOptions po;
  po.chunk_size = options.max_io_size;
  po.region_size = std::max<size_t>(2u << 20, options.max_io_size);
  po.capacity = std::max<size_t>(options.buffer_pool_bytes, po.region_size);
  pool_ = BufferPool::create(po);
  // The first region now, on this thread; the reactors' caches start the next ones ahead of
  // need. Each cache keeps at most a quarter of the pool's share of its reactor.
  pool_->prefill(po.region_size);
  const size_t cache_chunks = po.capacity / po.chunk_size / (4 * options.reactors);
  subsystems_[std::string(spec::kDiscoveryNqn)] =
      std::make_shared<Subsystem>(std::string(spec::kDiscoveryNqn), Subsystem::Type::kDiscovery, "", "",
                                  Subsystem::Options{0});
  for (uint32_t i = 0; i < options.reactors; ++i) {
    reactors_.push_back(std::make_unique<Reactor>("nvmf-tgt-" + std::to_string(i), options.idle_mode));
    pool_caches_.push_back(pool_->make_cache(cache_chunks));
    reactors_.back()->start();
  }
}

Target::~Target() { close(); }

BufferPool::Cache& Target::pool_cache(const Reactor& reactor) {
  for (size_t i = 0; i < reactors_.size(); ++i)
    if (reactors_[i].get() == &reactor) return *pool_caches_[i];
  throw Error("ERR_INTERNAL", "not a reactor of this target");
}

void Target::close() {
  std::vector<std::unique_ptr<TransportListener>> listeners;
  std::vector<std::shared_ptr<Controller>> controllers;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return;
    closed_ = true;
    listeners.swap(listeners_);
    for (auto& [id, w] : controllers_)
      if (auto c = w.lock()) controllers.push_back(c);
  }
  for (auto& l : listeners) l->stop();
  for (auto& c : controllers) c->shutdown("target closed");
  // Stopping a reactor runs its queued tasks (the disconnects) before joining. Then the
  // reactors go, with whatever connections they still hold, while the buffer pool those
  // connections return buffers to is still alive.
  for (auto& r : reactors_) r->stop();
  reactors_.clear();
}

std::shared_ptr<Subsystem> Target::add_subsystem(const std::string& nqn, const std::string& serial,
                                                 const std::string& model, const Subsystem::Options& o) {
  if (!spec::valid_nqn(nqn)) throw Error("ERR_INVALID_ARG", "invalid NQN '" + nqn + "'");
  if (nqn == spec::kDiscoveryNqn) throw Error("ERR_ALREADY_EXISTS", "the discovery subsystem always exists");
  if (serial.empty() || serial.size() > 20) throw Error("ERR_INVALID_ARG", "serial number must be 1 to 20 characters");
  if (model.empty() || model.size() > 40) throw Error("ERR_INVALID_ARG", "model number must be 1 to 40 characters");
  if (o.max_namespaces == 0 || o.max_namespaces > 1024) throw Error("ERR_INVALID_ARG", "max_namespaces must be in [1, 1024]");
  if (o.min_cntlid < spec::kCntlidMin || o.max_cntlid > spec::kCntlidMax || o.min_cntlid > o.max_cntlid)
    throw Error("ERR_INVALID_ARG", "min_cntlid and max_cntlid must be in [1, 65519], min_cntlid at most max_cntlid, got [" +
                                       std::to_string(o.min_cntlid) + ", " + std::to_string(o.max_cntlid) + "]");
  std::lock_guard<std::mutex> lock(mutex_);
  if (subsystems_.count(nqn)) throw Error("ERR_ALREADY_EXISTS", "subsystem " + nqn + " exists");
  auto s = std::make_shared<Subsystem>(nqn, Subsystem::Type::kNvm, serial, model, o);
  subsystems_[nqn] = s;
  discovery_genctr_++;
  return s;
}

void Target::remove_subsystem(const std::string& nqn) {
  std::vector<std::shared_ptr<Controller>> affected;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = subsystems_.find(nqn);
    if (it == subsystems_.end() || it->second->type() == Subsystem::Type::kDiscovery)
      throw Error("ERR_NOT_FOUND", "no subsystem " + nqn);
    for (auto& [id, w] : controllers_)
      if (auto c = w.lock(); c && &c->subsystem() == it->second.get()) affected.push_back(c);
    subsystems_.erase(it);
    discovery_genctr_++;
  }
  for (auto& c : affected) c->shutdown("subsystem removed");
}

std::shared_ptr<Subsystem> Target::find_subsystem(const std::string& nqn) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = subsystems_.find(nqn);
  return it == subsystems_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Subsystem>> Target::subsystems() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::shared_ptr<Subsystem>> out;
  for (auto& [n, s] : subsystems_) out.push_back(s);
  return out;
}

void Target::namespaces_changed(const std::shared_ptr<Subsystem>& subsystem, uint32_t nsid) {
  for (auto& c : controllers_of(*subsystem)) {
    c->post_to_admin([c, nsid] { c->notify_namespace_changed(nsid); });
    for (auto& q : c->qpairs()) q->refresh_namespaces_async();
  }
}

void Target::set_ana_state(const std::shared_ptr<Subsystem>& subsystem, uint16_t portid, uint32_t grpid,
                           spec::AnaState state) {
  if (!subsystem->ana_reporting()) throw Error("ERR_INVALID_ARG", subsystem->nqn() + " was made without ANA reporting");
  if (grpid > subsystem->max_namespaces())
    throw Error("ERR_INVALID_ARG", "anagrpid " + std::to_string(grpid) + " is outside [1, " +
                                       std::to_string(subsystem->max_namespaces()) + "]");
  subsystem->ana().set(portid, grpid, state);
  for (auto& c : controllers_of(*subsystem)) {
    if (c->portid() == portid) c->post_to_admin([c] { c->notify_ana_changed(); });
  }
}

void Target::set_namespace_ana_group(const std::shared_ptr<Subsystem>& subsystem, uint32_t nsid, uint32_t grpid) {
  subsystem->set_namespace_ana_group(nsid, grpid);
  for (auto& c : controllers_of(*subsystem)) {
    c->post_to_admin([c] { c->notify_ana_changed(); });
    for (auto& q : c->qpairs()) q->refresh_namespaces_async();
  }
}

std::vector<std::shared_ptr<Controller>> Target::controllers_of(const Subsystem& subsystem) const {
  std::vector<std::shared_ptr<Controller>> out;
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [id, w] : controllers_)
    if (auto c = w.lock(); c && &c->subsystem() == &subsystem) out.push_back(c);
  return out;
}

void Target::bdev_resized(const bdev::Bdev& bdev) {
  for (auto& s : subsystems()) {
    auto table = s->namespaces();  // held: the loop outlives a temporary
    for (auto& [nsid, ns] : *table)
      if (ns->bdev.get() == &bdev) namespaces_changed(s, nsid);
  }
}

const ListenerInfo& Target::add_listener(const std::string& trtype, const std::string& address, uint16_t port,
                                         bool secure_channel) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_) throw Error("ERR_CLOSED", "the target is closed");
  const TransportOps* transport = find_transport(trtype);
  if (!transport) {
    std::string known;
    for (const std::string& name : transport_names()) known += (known.empty() ? "" : ", ") + name;
    throw Error("ERR_INVALID_ARG", "unknown transport '" + trtype + "' (this target serves " + known + ")");
  }
  if (secure_channel && !transport->secure_channel)
    throw Error("ERR_INVALID_ARG", "a secure channel (TLS) is for tcp listeners, not " + trtype);
  for (auto& l : listeners_)
    if (l->info().trtype == trtype && l->info().traddr == address && l->info().trsvcid == port && port != 0)
      throw Error("ERR_ALREADY_EXISTS", "already listening on " + trtype + " " + address + ":" + std::to_string(port));
  std::unique_ptr<Transport>& instance = transports_[trtype];
  if (!instance) instance = transport->create(*this);
  listeners_.push_back(instance->listen(address, port, next_portid_, secure_channel));
  next_portid_++;
  discovery_genctr_++;
  return listeners_.back()->info();
}

void Target::remove_listener(const std::string& trtype, const std::string& address, uint16_t port) {
  std::unique_ptr<TransportListener> gone;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = listeners_.begin(); it != listeners_.end(); ++it) {
      const ListenerInfo& i = (*it)->info();
      if (i.trtype == trtype && i.traddr == address && i.trsvcid == port) {
        gone = std::move(*it);
        listeners_.erase(it);
        discovery_genctr_++;
        break;
      }
    }
  }
  if (!gone) throw Error("ERR_NOT_FOUND", "no " + trtype + " listener on " + address + ":" + std::to_string(port));
  gone->stop();
}

std::optional<ListenerInfo> Target::find_listener(const std::string& trtype, const std::string& address,
                                                  uint16_t port) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& l : listeners_)
    if (l->info().trtype == trtype && l->info().traddr == address && l->info().trsvcid == port) return l->info();
  return std::nullopt;
}

ListenerInfo Target::ensure_listener(const std::string& trtype, const std::string& address, uint16_t port,
                                     bool secure_channel) {
  if (port == 0) throw Error("ERR_INVALID_ARG", "a subsystem listener needs an explicit port");
  if (auto l = find_listener(trtype, address, port)) {
    if (l->secure_channel != secure_channel)
      throw Error("ERR_ALREADY_EXISTS", trtype + " " + address + ":" + std::to_string(port) + " is listening " +
                                            (l->secure_channel ? "with" : "without") + " a secure channel");
    return *l;
  }
  return add_listener(trtype, address, port, secure_channel);
}

std::vector<ListenerInfo> Target::listeners() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<ListenerInfo> out;
  for (auto& l : listeners_) {
    out.push_back(l->info());
    out.back().counters = l->counters();
  }
  return out;
}

std::shared_ptr<Controller> Target::create_controller(std::shared_ptr<Subsystem> subsystem, const std::string& hostnqn,
                                                      const uint8_t hostid[16], uint32_t kato_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Dynamic controller model: a free id of the subsystem's range, scanning from where the
  // last ended (the discovery subsystem's range is all of them).
  const uint16_t lo = subsystem->min_cntlid(), hi = subsystem->max_cntlid();
  for (uint32_t tries = 0; tries <= uint32_t(hi - lo); ++tries) {
    if (next_cntlid_ < lo || next_cntlid_ > hi) next_cntlid_ = lo;
    uint16_t id = next_cntlid_;
    next_cntlid_ = next_cntlid_ >= hi ? lo : uint16_t(next_cntlid_ + 1);
    auto it = controllers_.find(id);
    if (it != controllers_.end() && !it->second.expired()) continue;
    uint16_t ioq = subsystem->type() == Subsystem::Type::kDiscovery ? 0 : options_.max_io_queues;
    auto c = std::make_shared<Controller>(id, std::move(subsystem), hostnqn, hostid, kato_ms, ioq);
    controllers_[id] = c;
    return c;
  }
  return nullptr;
}

std::shared_ptr<Controller> Target::find_controller(uint16_t cntlid) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = controllers_.find(cntlid);
  return it == controllers_.end() ? nullptr : it->second.lock();
}

void Target::forget_controller(uint16_t cntlid) {
  std::lock_guard<std::mutex> lock(mutex_);
  controllers_.erase(cntlid);
}

std::vector<ControllerInfo> Target::controllers() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<ControllerInfo> out;
  for (auto& [id, w] : controllers_) {
    auto c = w.lock();
    if (!c || c->shut_down()) continue;
    out.push_back({id, c->subsystem().nqn(), c->hostnqn(), c->admin_peer(), c->queue_count(), c->kato_ms()});
  }
  return out;
}

std::vector<QpairInfo> Target::qpairs() const {
  std::vector<std::shared_ptr<Controller>> list;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [id, w] : controllers_)
      if (auto c = w.lock()) list.push_back(c);
  }
  std::vector<QpairInfo> out;
  for (auto& c : list)
    for (auto& q : c->qpairs()) out.push_back({c->cntlid(), q->qid(), q->transport_name(), q->peer_address(), q->reactor().name(), q->auth_summary(),
                     q->secure_channel() ? std::optional<SecureChannel>(*q->secure_channel()) : std::nullopt,
                     q->counters()});
  return out;
}

size_t Target::enforce_access(const std::shared_ptr<Subsystem>& subsystem) {
  std::vector<std::shared_ptr<Controller>> list;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [id, w] : controllers_)
      if (auto c = w.lock(); c && &c->subsystem() == subsystem.get() && !c->shut_down()) list.push_back(c);
  }
  size_t n = 0;
  for (auto& c : list) {
    bool allowed = subsystem->host_allowed(c->hostnqn());
    for (auto& q : c->qpairs()) allowed = allowed && subsystem->listener_allowed(q->portid());
    if (allowed) continue;
    c->shutdown("host or listener removed from the subsystem");
    ++n;
  }
  return n;
}

std::vector<NamespaceStats> Target::namespace_stats() const {
  std::vector<std::shared_ptr<Controller>> list;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [id, w] : controllers_)
      if (auto c = w.lock()) list.push_back(c);
  }
  std::map<const Subsystem*, NamespaceCounterList> live;
  for (auto& c : list) {
    NamespaceCounterList& sum = live[&c->subsystem()];
    for (auto& q : c->qpairs()) sum.add(q->namespace_counters_snapshot());
  }
  std::vector<NamespaceStats> out;
  for (auto& s : subsystems()) {
    if (s->type() != Subsystem::Type::kNvm) continue;
    NamespaceCounterList sum = s->retired_counters();
    if (auto it = live.find(s.get()); it != live.end()) sum.add(it->second);
    auto table = s->namespaces();
    for (auto& [nsid, ns] : *table) out.push_back({s->nqn(), nsid, ns->bdev->name(), sum.of(ns->instance)});
  }
  return out;
}

Reactor& Target::next_reactor() { return *reactors_[next_reactor_++ % reactors_.size()]; }

void Target::set_dhchap_policy(auth::DhchapPolicy policy) {
  if (policy.digests.empty() || policy.dhgroups.empty())
    throw Error("ERR_INVALID_ARG", "DH-HMAC-CHAP needs at least one digest and one DH group");
  std::lock_guard<std::mutex> lock(mutex_);
  dhchap_policy_ = std::move(policy);
}

auth::DhchapPolicy Target::dhchap_policy() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return dhchap_policy_;
}

std::optional<tls::TlsPsk> Target::find_tls_psk(const std::string& identity) const {
  std::optional<tls::PskIdentity> id = tls::parse_identity(identity);
  std::shared_ptr<Subsystem> subsystem = id ? find_subsystem(id->subnqn) : nullptr;
  tls::PskRef psk = subsystem ? subsystem->host_psk(id->hostnqn) : nullptr;
  // Discovery over TLS (nvme discover --tls): the host's PSK of the discovery subsystem if
  // it has one there, else the one of the first subsystem (by NQN) that has one for it.
  if (subsystem && !psk && subsystem->type() == Subsystem::Type::kDiscovery)
    for (auto& s : subsystems())
      if ((psk = s->host_psk(id->hostnqn))) break;
  if (!psk || psk->hash() != id->hash) return std::nullopt;
  tls::TlsPsk derived = psk->derive(id->hostnqn, id->subnqn, id->version);
  // A version 1 identity carries a digest of the retained PSK: another key's does not match.
  if (derived.identity != identity) return std::nullopt;
  return derived;
}

}  // namespace rdmagate::target
