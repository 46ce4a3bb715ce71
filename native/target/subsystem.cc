#include "target/subsystem.h"

#include <atomic>

#include <cstring>

#include "util/error.h"

namespace rdmagate::target {

Subsystem::Subsystem(std::string nqn, Type type, std::string serial, std::string model, const Options& options)
    : nqn_(std::move(nqn)), type_(type), serial_(std::move(serial)), model_(std::move(model)), options_(options),
      table_(std::make_shared<NamespaceTable>()) {}

namespace {

void check_ana_group(uint32_t anagrpid, uint32_t max) {
  // ANAGRPMAX is the most namespaces: a group per namespace at most, as SPDK has it.
  if (anagrpid < 1 || anagrpid > max)
    throw Error("ERR_INVALID_ARG", "anagrpid " + std::to_string(anagrpid) + " is outside [1, " + std::to_string(max) + "]");
}

}  // namespace

uint32_t Subsystem::add_namespace(uint32_t nsid, std::shared_ptr<bdev::Bdev> bdev, const uint8_t* nguid,
                                  const uint8_t* uuid, uint32_t anagrpid) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (type_ == Type::kDiscovery) throw Error("ERR_INVALID_ARG", "a discovery subsystem has no namespaces");
  if (table_->size() >= options_.max_namespaces)
    throw Error("ERR_INVALID_ARG", nqn_ + " already has its maximum of " + std::to_string(options_.max_namespaces) + " namespaces");
  if (nsid == 0) {
    nsid = 1;
    while (table_->count(nsid)) ++nsid;
  }
  if (nsid > options_.max_namespaces)
    throw Error("ERR_INVALID_ARG", "nsid " + std::to_string(nsid) + " exceeds max_namespaces " + std::to_string(options_.max_namespaces));
  if (table_->count(nsid)) throw Error("ERR_ALREADY_EXISTS", "nsid " + std::to_string(nsid) + " is in use in " + nqn_);
  if (anagrpid) check_ana_group(anagrpid, options_.max_namespaces);
  auto ns = std::make_shared<Namespace>();
  ns->nsid = nsid;
  static std::atomic<uint64_t> next_instance{1};
  ns->instance = next_instance++;
  ns->anagrpid = anagrpid ? anagrpid : nsid;
  ns->bdev = std::move(bdev);
  memcpy(ns->nguid, nguid, 16);
  memcpy(ns->uuid, uuid, 16);
  auto next = std::make_shared<NamespaceTable>(*table_);
  (*next)[nsid] = std::move(ns);
  table_ = std::move(next);
  ns_version_.fetch_add(1, std::memory_order_release);
  return nsid;
}

void Subsystem::remove_namespace(uint32_t nsid) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!table_->count(nsid)) throw Error("ERR_NOT_FOUND", "no namespace " + std::to_string(nsid) + " in " + nqn_);
  auto next = std::make_shared<NamespaceTable>(*table_);
  retired_.erase((*table_).at(nsid)->instance);  // its counts go with it
  next->erase(nsid);
  table_ = std::move(next);
  ns_version_.fetch_add(1, std::memory_order_release);
}

void Subsystem::set_namespace_ana_group(uint32_t nsid, uint32_t anagrpid) {
  check_ana_group(anagrpid, options_.max_namespaces);
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = table_->find(nsid);
  if (it == table_->end()) throw Error("ERR_NOT_FOUND", "no namespace " + std::to_string(nsid) + " in " + nqn_);
  auto ns = std::make_shared<Namespace>(*it->second);  // the same namespace (and counters), in another group
  ns->anagrpid = anagrpid;
  auto next = std::make_shared<NamespaceTable>(*table_);
  (*next)[nsid] = std::move(ns);
  table_ = std::move(next);
  ns_version_.fetch_add(1, std::memory_order_release);
}

std::shared_ptr<const NamespaceTable> Subsystem::namespaces() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return table_;
}

void Subsystem::set_allow_any_host(bool allow) {
  std::lock_guard<std::mutex> lock(mutex_);
  allow_any_host_ = allow;
}

void Subsystem::add_host(const std::string& hostnqn, auth::DhchapKeys keys) {
  std::lock_guard<std::mutex> lock(mutex_);
  hosts_[hostnqn] = std::move(keys);
}

void Subsystem::remove_host(const std::string& hostnqn) {
  std::lock_guard<std::mutex> lock(mutex_);
  hosts_.erase(hostnqn);
  psks_.erase(hostnqn);
}

bool Subsystem::allow_any_host() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return allow_any_host_;
}

std::vector<std::string> Subsystem::hosts() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> out;
  for (const auto& h : hosts_) out.push_back(h.first);
  return out;
}

void Subsystem::set_host_keys(const std::string& hostnqn, auth::DhchapKeys keys) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = hosts_.find(hostnqn);
  if (it == hosts_.end()) throw Error("ERR_NOT_FOUND", "host " + hostnqn + " is not allowed in subsystem " + nqn_);
  it->second = std::move(keys);
}

void Subsystem::set_host_psk(const std::string& hostnqn, tls::PskRef psk) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!hosts_.count(hostnqn)) throw Error("ERR_NOT_FOUND", "host " + hostnqn + " is not allowed in subsystem " + nqn_);
  if (psk) psks_[hostnqn] = std::move(psk);
  else psks_.erase(hostnqn);
}

tls::PskRef Subsystem::host_psk(const std::string& hostnqn) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = psks_.find(hostnqn);
  return it == psks_.end() ? nullptr : it->second;
}

auth::DhchapKeys Subsystem::host_keys(const std::string& hostnqn) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = hosts_.find(hostnqn);
  return it == hosts_.end() ? auth::DhchapKeys{} : it->second;
}

bool Subsystem::host_allowed(const std::string& hostnqn) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return type_ == Type::kDiscovery || allow_any_host_ || hosts_.count(hostnqn) > 0;
}

void Subsystem::add_listener(uint16_t portid) {
  std::lock_guard<std::mutex> lock(mutex_);
  allow_any_listener_ = false;
  listeners_.insert(portid);
}

void Subsystem::remove_listener(uint16_t portid) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!listeners_.erase(portid)) throw Error("ERR_NOT_FOUND", nqn_ + " has no such listener");
  }
  ana_.forget(portid);
}

void Subsystem::set_allow_any_listener(bool allow) {
  std::lock_guard<std::mutex> lock(mutex_);
  allow_any_listener_ = allow;
}

bool Subsystem::listener_allowed(uint16_t portid) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return type_ == Type::kDiscovery || allow_any_listener_ || listeners_.count(portid) > 0;
}

bool Subsystem::allow_any_listener() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return allow_any_listener_;
}

std::vector<uint16_t> Subsystem::listener_ports() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {listeners_.begin(), listeners_.end()};
}

void Subsystem::retire_counters(const NamespaceCounterList& counters) {
  std::lock_guard<std::mutex> lock(mutex_);
  retired_.add(counters);
}

NamespaceCounterList Subsystem::retired_counters() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return retired_;
}

}  // namespace rdmagate::target
