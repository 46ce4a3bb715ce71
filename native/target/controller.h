// A controller: what one host sees of one subsystem through one admin queue and its I/O
// queues. Its NVMe state (CC, CSTS, features, asynchronous events, keep-alive) lives on
// the admin queue's reactor; I/O queues on other reactors only read `ready()`.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "reactor/reactor.h"
#include "target/subsystem.h"

namespace rdmagate::target {

class Qpair;
struct Request;

class Controller : public std::enable_shared_from_this<Controller> {
 public:
  Controller(uint16_t cntlid, std::shared_ptr<Subsystem> subsystem, std::string hostnqn,
             const uint8_t hostid[16], uint32_t kato_ms, uint16_t max_io_queues);

  uint16_t cntlid() const { return cntlid_; }
  Subsystem& subsystem() const { return *subsystem_; }
  std::shared_ptr<Subsystem> subsystem_ref() const { return subsystem_; }
  const std::string& hostnqn() const { return hostnqn_; }
  const uint8_t* hostid() const { return hostid_; }
  bool ready() const { return ready_.load(std::memory_order_acquire); }

  // Admin reactor only.
  uint32_t cc() const { return cc_; }
  uint32_t csts() const { return csts_; }
  void set_cc(uint32_t cc);
  uint32_t kato_ms() const { return kato_ms_; }
  void set_kato_ms(uint32_t ms) { kato_ms_ = ms; }
  void keep_alive() { last_keep_alive_us_ = Reactor::now_us(); }
  uint16_t io_queues() const { return io_queues_; }
  uint16_t max_io_queues() const { return max_io_queues_; }
  void set_io_queues(uint16_t n) { io_queues_ = n; }
  uint32_t async_event_config() const { return async_event_config_; }
  void set_async_event_config(uint32_t v) { async_event_config_ = v; }
  // Asynchronous Event Request: held until an event, or completed now if one is pending.
  bool queue_aer(Request* req);  // false: limit reached
  // A namespace was added or removed: Changed Namespace List and a notice.
  void notify_namespace_changed(uint32_t nsid);
  // Reads (and, unless `retain`, clears) the Changed Namespace List.
  std::vector<uint32_t> take_changed_namespaces(bool retain);
  // An ANA state through this controller's port changed: an ANA change notice.
  void notify_ana_changed();
  // The host read the ANA log page: unless `retain`, the notice may fire again.
  void ana_log_read(bool retain);
  // The listener the admin queue came through: whose ANA states the controller reports.
  uint16_t portid() const { return portid_.load(std::memory_order_acquire); }

  // Queue membership, from any reactor.
  void attach_admin(std::shared_ptr<Qpair> admin);
  // Runs `task` on the admin queue's reactor, where the controller's state lives.
  void post_to_admin(std::function<void()> task);
  bool attach_io(uint16_t qid, std::shared_ptr<Qpair> qpair);  // false: qid in use
  void detach(Qpair* qpair);
  // Disconnects every queue (keep-alive expiry, admin queue gone, target shutdown).
  void shutdown(const char* why);
  bool shut_down() const { return shut_down_.load(); }
  size_t queue_count() const;
  std::vector<std::shared_ptr<Qpair>> qpairs() const;
  std::string admin_peer() const;

  // Starts the keep-alive timer on the admin reactor.
  void start_keep_alive(Reactor& reactor);

  static constexpr uint32_t kAerLimit = 4;

 private:
  void check_keep_alive(Reactor& reactor);
  void deliver_events();

  const uint16_t cntlid_;
  const std::shared_ptr<Subsystem> subsystem_;
  const std::string hostnqn_;
  uint8_t hostid_[16];
  uint32_t kato_ms_;
  const uint16_t max_io_queues_;
  uint16_t io_queues_;
  uint32_t cc_ = 0, csts_ = 0;
  uint32_t async_event_config_ = 0;
  uint64_t last_keep_alive_us_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> shut_down_{false};
  std::deque<Request*> aers_;
  std::vector<uint32_t> changed_ns_;
  bool ns_notice_pending_ = false;
  bool ns_notice_masked_ = false;  // until the host reads the log page
  bool ana_notice_pending_ = false;
  bool ana_notice_masked_ = false;  // until the host reads the ANA log page
  std::atomic<uint16_t> portid_{0};

  mutable std::mutex queues_mutex_;
  std::weak_ptr<Qpair> admin_;
  Reactor* admin_reactor_ = nullptr;
  std::vector<std::weak_ptr<Qpair>> io_;  // index qid - 1
};

}  // namespace rdmagate::target
