// A host's association with one NVMe-oF controller: the admin queue and its connect
// sequence (Connect, CAP/VS, CC.EN, CSTS.RDY, Identify, Number of Queues), the I/O
// queues, keep-alive, Abort of timed-out commands, error recovery with reconnects
// (reconnect_delay / ctrl_loss_tmo as Linux has them), and shutdown on close.
//
// The state machine runs on the admin queue's reactor. I/O queues run on their own
// reactors and report back through posted tasks; a generation number, bumped whenever
// an attempt ends, makes late reports from an older attempt harmless.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "host/failure.h"
#include "host/options.h"
#include "host/queue_pair.h"
#include "reactor/reactor.h"

namespace rdmagate::host {

// What connecting settled.
struct ControllerInfo {
  uint16_t cntlid = 0;
  uint64_t cap = 0;
  uint32_t vs = 0;
  uint16_t io_queues = 0;       // granted by Number of Queues, at most what was asked
  uint16_t queue_size = 0;      // I/O queue depth in effect
  uint32_t max_transfer = 0;    // bytes per command from MDTS; 0 when unlimited
  uint32_t incapsule_max = 0;   // writes up to this many bytes go in the command capsule
  uint32_t maxh2cdata = 0;
  bool hdgst = false;
  bool ddgst = false;
  std::vector<uint8_t> identify;  // the Identify Controller data (4096 bytes)
};

// What a controller reports, on its reactor threads. Implementations queue and return.
class ControllerEvents : public IoCompletionSink {
 public:
  virtual void on_connected(uint64_t id, const ControllerInfo& info) = 0;
  virtual void on_connect_failed(uint64_t id, const Failure& failure) = 0;
  // The association was lost; `reconnecting` says whether a reconnect is scheduled.
  virtual void on_disconnected(uint64_t id, const Failure& failure, bool reconnecting) = 0;
  virtual void on_reconnected(uint64_t id) = 0;
  // Reconnecting was given up (ctrl_loss_tmo); everything held has failed.
  virtual void on_removed(uint64_t id, const Failure& failure) = 0;
  virtual void on_closed(uint64_t id) = 0;
  virtual void on_admin_done(uint64_t id, uint32_t op_id, uint32_t status, uint32_t dw0,
                             std::vector<uint8_t>&& data) = 0;
  // A Namespace Attribute Changed notice came, with the Changed Namespace List: their
  // size or identity changed, or they came or went (0xffffffff: more than 1024 did).
  virtual void on_namespaces_changed(uint64_t, const std::vector<uint32_t>&) {}
  // An ANA change notice came: read the ANA log page (which also lets the next one come).
  virtual void on_ana_changed(uint64_t) {}
};

struct ControllerCounters {
  uint64_t bytes_sent = 0, bytes_received = 0, bytes_copied = 0;
  uint64_t pdus_sent = 0, pdus_received = 0, digest_errors = 0;
  uint64_t commands = 0, completions = 0, r2ts = 0, timeouts = 0, retries = 0;
  uint64_t reconnects = 0;
  uint64_t failovers = 0;  // reconnect attempts that moved to another path

  ControllerCounters& operator+=(const ControllerCounters& o) {
    bytes_sent += o.bytes_sent, bytes_received += o.bytes_received, bytes_copied += o.bytes_copied;
    pdus_sent += o.pdus_sent, pdus_received += o.pdus_received, digest_errors += o.digest_errors;
    commands += o.commands, completions += o.completions, r2ts += o.r2ts, timeouts += o.timeouts;
    retries += o.retries, reconnects += o.reconnects, failovers += o.failovers;
    return *this;
  }
};

// The paths a controller is reached by, and the one in use (or tried next).
struct ControllerPaths {
  std::vector<TransportAddress> paths;
  size_t active = 0;
};

class Controller final : public QueueOwner, public std::enable_shared_from_this<Controller> {
 public:
  // reactors[0] runs the admin queue and this state machine; I/O queues are spread
  // over all of them.
  static std::shared_ptr<Controller> create(uint64_t id, std::vector<Reactor*> reactors,
                                            ControllerOptions options,
                                            std::shared_ptr<ControllerEvents> events);
  ~Controller() override;

  // Any thread.
  void start();
  // Shuts the controller down (CC.SHN) when connected and closes every queue; I/O
  // outstanding or held fails. on_closed follows.
  void close();
  // Any thread: reconnect now, whatever the loss timeout says (SPDK's
  // bdev_nvme_reset_controller): a live controller drops its association first and holds
  // I/O as after a loss; one reconnecting makes its next attempt now; one given up makes
  // one attempt, and is given up again (on_removed) if it fails. Nothing while connecting
  // or closing, or before the first connect.
  void reset();
  // Identify with `cns` and `nsid`; on_admin_done(op_id) brings the 4096 bytes.
  void identify(uint32_t op_id, uint8_t cns, uint32_t nsid);
  // Get Log Page `lid` (log specific field `lsp`), `bytes` of it; on_admin_done(op_id) brings them.
  void get_log_page(uint32_t op_id, uint8_t lid, uint8_t lsp, uint32_t nsid, uint32_t bytes);
  // Any thread: DH-HMAC-CHAP again on every queue, with these keys, which later connects
  // use too (SPDK's bdev_nvme_set_keys). on_admin_done(op_id) tells: 0 once every queue has
  // re-authenticated; else kStatusAuth (or kStatusDisconnected) with the reason as its data.
  void authenticate(uint32_t op_id, auth::SecretRef key, auth::SecretRef ctrlr_key);
  ControllerCounters counters() const;
  uint64_t id() const { return id_; }

  // Any thread. Failover (SPDK's multipath "failover"): further paths to the same
  // subsystem. When the association is lost, each reconnect attempt goes to the next path
  // in turn. Throws ERR_INVALID_ARG for a bad address, ERR_ALREADY_EXISTS for a path it has.
  void add_path(const TransportAddress& to);
  // Any thread: forgets a path; the one in use is left at once for the next (as after a
  // loss). Throws ERR_NOT_FOUND for a path it lacks, ERR_BUSY for its only path.
  void remove_path(const TransportAddress& to);
  ControllerPaths paths() const;
  size_t path_count() const;
  // Any thread: leave the path in use for the next now, as after a loss (a command came back
  // with a path error there: ANA inaccessible, say). Nothing unless live with several paths.
  void fail_over(const std::string& why);

  // Any thread: what a lost association does to I/O from now on (ControllerOptions::io_failure);
  // switched to kFail, I/O held for a reconnect fails now. A member of a multipath bdev fails
  // it, for the bdev to send it down another controller.
  void set_io_failure(IoFailureMode mode);

  // JS thread, after on_connected: I/O queue `index` (qid index + 1), or nullptr.
  QueuePair* io_queue(uint32_t index) const;
  uint32_t max_transfer() const { return max_transfer_.load(std::memory_order_acquire); }

  // Admin reactor thread: runs an admin command while connected; `done` runs there.
  void admin_command(const spec::SubmissionEntry& sqe, spec::DataDirection dir,
                     std::vector<uint8_t> data, QueuePair::InternalDone done);

 private:
  enum class State : uint8_t {
    kIdle, kConnecting, kLive, kResetting, kRemoved, kFailed, kClosing, kClosed
  };
  using Then = std::function<void(const spec::CompletionEntry& cqe, std::vector<uint8_t>& data)>;

  Controller(uint64_t id, std::vector<Reactor*> reactors, ControllerOptions options,
             std::shared_ptr<ControllerEvents> events);

  // QueueOwner: post to this controller's reactor.
  void on_queue_connected(uint16_t qid, uint64_t generation, uint16_t cntlid) override;
  void on_queue_failed(uint16_t qid, uint64_t generation, const Failure& failure) override;
  void on_request_timeout(uint16_t qid, uint64_t generation, uint16_t cid) override;

  // The connect sequence, one admin command per step.
  void attempt();
  void step(uint64_t gen, const std::string& what, const spec::SubmissionEntry& sqe,
            spec::DataDirection dir, std::vector<uint8_t> data, Then then);
  void property_get(uint64_t gen, uint32_t offset, Then then);
  void property_set(uint64_t gen, uint32_t offset, uint32_t value, Then then);
  void read_cap(uint64_t gen);
  void enable(uint64_t gen);
  void wait_ready(uint64_t gen, uint64_t deadline_us);
  void identify_controller(uint64_t gen);
  void set_queue_count(uint64_t gen);
  // A queue's settings from the controller's options; each queue adds its own.
  QueueConfig queue_config(uint16_t qid, uint16_t depth) const;
  void connect_io_queues(uint64_t gen);
  void queue_connected(uint16_t qid, uint64_t gen, uint16_t cntlid);
  void go_live();

  // Losing and giving up.
  void attempt_failed(uint64_t gen, Failure failure);
  void queue_failed(uint64_t gen, const Failure& failure);
  void error_recovery(const Failure& failure);
  bool backoff() const { return options_.first_reconnect_delay_ms < options_.reconnect_delay_ms; }
  bool should_reconnect() const;
  void schedule_reconnect(uint64_t delay_ms);
  void remove(const Failure& failure);
  void give_up_queues(const Failure& why);
  void do_reset();
  // Reconnects now, with a fresh ctrl_loss_tmo window.
  void restart();
  // Before a reconnect attempt: the next path, when there are several.
  void advance_path();
  TransportAddress current_path() const;
  // The path in use was removed: leave it now.
  void leave_removed_path();
  void schedule_revive();
  void shutdown_queues(const Failure& why);
  void kill_queues(const Failure& why);

  // Whether a callback of association `gen` may still act: it is the live one.
  bool live(uint64_t gen) const { return gen == gen_ && state_ == State::kLive; }
  void start_keep_alive();
  void keep_alive();
  void enable_async_events(uint64_t gen);
  void request_async_event(uint64_t gen);
  void read_changed_namespaces(uint64_t gen);
  void abort_command(uint16_t qid, uint16_t cid);

  void do_close();
  void shutdown_controller(uint64_t gen);
  void wait_shutdown(uint64_t gen, uint64_t deadline_us);
  void admin_closed();
  void queue_closed();

  const uint64_t id_;
  const std::vector<Reactor*> reactors_;
  Reactor& reactor_;
  const ControllerOptions options_;
  auth::DhchapKeys keys_;  // options_' until authenticate() (admin reactor)
  const std::shared_ptr<ControllerEvents> events_;

  // Admin reactor thread.
  State state_ = State::kIdle;
  uint64_t gen_ = 0;
  bool connected_once_ = false;
  bool one_attempt_ = false;  // a revive or a reset of a controller given up: no retries
  uint32_t nr_reconnects_ = 0;  // failed attempts since the association was lost
  uint64_t lost_at_us_ = 0;      // when it was lost
  uint32_t cc_ = 0;
  uint16_t io_connected_ = 0;
  uint16_t io_count_ = 0;
  bool ka_outstanding_ = false;
  Reactor::TimerId ka_timer_ = 0;
  Reactor::TimerId reconnect_timer_ = 0;
  size_t closing_queues_ = 0;  // queues whose connections are not released yet
  bool closing_admin_ = false;  // the admin queue is still to be killed
  ControllerInfo info_;
  TransportAddress attempt_to_;  // the path of the current (or last) attempt

  std::shared_ptr<QueuePair> admin_;
  // Grown once, during the first connect, with capacity reserved up front so that the
  // JS thread may read the entries published through io_published_.
  std::vector<std::shared_ptr<QueuePair>> io_;
  std::atomic<uint32_t> io_published_{0};
  std::atomic<uint32_t> max_transfer_{0};
  std::atomic<uint64_t> reconnects_{0};
  std::atomic<uint64_t> failovers_{0};
  std::atomic<IoFailureMode> io_failure_;

  mutable std::mutex paths_mutex_;  // the admin reactor reads them, any thread changes them
  std::vector<TransportAddress> paths_;
  size_t path_ = 0;  // paths_[path_]: the path in use, or tried next
};

}  // namespace rdmagate::host
