// A remote NVMe-oF controller attached through our host, whose namespaces become bdevs:
// the gateway's backends (SPDK's bdev_nvme). The host controller is given the target's
// reactors, one I/O queue each, so a frontend command becomes a backend command on the
// reactor that received it, with no thread hop and no copy: the backend reads into and
// writes from the frontend request's own buffer.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bdev/bdev.h"
#include "host/controller.h"

namespace rdmagate::bdev {

struct RemoteNamespace {
  uint32_t nsid;
  uint64_t num_blocks;
  uint32_t block_size;
  uint8_t nguid[16];
  uint8_t uuid[16];
};

class NvmfBackend : public host::ControllerEvents, public std::enable_shared_from_this<NvmfBackend> {
 public:
  enum class State { kConnecting, kLive, kReconnecting, kFailed, kClosed };

  // Starts connecting; I/O held during a reconnect fails after ctrl_loss_tmo.
  static std::shared_ptr<NvmfBackend> create(const std::string& name, host::ControllerOptions options,
                                             std::vector<Reactor*> reactors);
  ~NvmfBackend() override;

  // How an attach ended: the namespaces, or an error `code` (ERR_NVME_CONNECT and the
  // other connect failures, ERR_NVME_TIMEOUT, ERR_NVME_STATUS) and its message.
  using AttachDone = std::function<void(std::vector<RemoteNamespace> namespaces, const std::string& code, const std::string& message)>;
  // Any thread, once: waits for the connection, then identifies the namespaces, all on the
  // admin reactor, within `timeout_ms`; `done` runs there, blocking no thread meanwhile.
  void attach(uint32_t timeout_ms, AttachDone done);
  void close();
  // Reconnects now (host::Controller::reset): resetting until it ends, in enabled or (a
  // backend that had failed, and fails this one attempt) in failed again.
  void reset();
  // Blocking (not on a reactor): DH-HMAC-CHAP again on every queue with these keys, which
  // reconnects use too (SPDK's bdev_nvme_set_keys). Throws ERR_NVME_AUTH when a queue fails
  // (it then goes down and reconnects with them), ERR_NVME_DISCONNECTED when one was not
  // connected (the keys apply when it is), ERR_NVME_TIMEOUT.
  void authenticate(auth::SecretRef key, auth::SecretRef ctrlr_key, uint32_t timeout_ms);
  // Blocking: waits until close() has finished, at most `timeout_ms`.
  void wait_closed(uint32_t timeout_ms);
  bool closed();
  const std::string& name() const { return name_; }
  const std::vector<Reactor*>& reactors() const { return reactors_; }
  State state() const { return state_.load(); }
  // Called, on a reactor thread, when namespace `nsid` has a new size (after a Namespace
  // Attribute Changed notice or a reconnect, as SPDK's bdev_nvme resizes); never after
  // close(), and not set by a call after it.
  void on_resized(std::function<void(uint32_t nsid)> handler);
  // The blocks namespace `nsid` had when last identified.
  uint64_t namespace_blocks(uint32_t nsid);
  const char* state_name() const;
  // The last connect or loss failure, in words; empty while there was none.
  std::string reason();
  host::ControllerCounters counters() const { return controller_->counters(); }
  // Failover paths (host::Controller::add_path and remove_path), any thread.
  void add_path(const host::TransportAddress& to) { controller_->add_path(to); }
  void remove_path(const host::TransportAddress& to) { controller_->remove_path(to); }
  host::ControllerPaths paths() const { return controller_->paths(); }
  // Any thread: whether I/O is held through a reconnect (the default) or fails at once with a
  // pathing error, for a multipath bdev to send it down another backend.
  void hold_io(bool hold) {
    holds_io_.store(hold, std::memory_order_release);
    controller_->set_io_failure(hold ? host::IoFailureMode::kRetry : host::IoFailureMode::kFail);
  }
  bool holds_io() const { return holds_io_.load(std::memory_order_acquire); }
  // The ANA state (spec::AnaState; 0 until the ANA log is read) of attached namespace `nsid`
  // through this backend, kept from the log read at connect and at each ANA change notice;
  // readable on any thread for the backend's life. Null for a namespace not attached.
  const std::atomic<uint8_t>* ana_state(uint32_t nsid);
  // Every attached namespace's ANA state through this backend, by nsid (0: not read yet).
  std::vector<std::pair<uint32_t, uint8_t>> ana_states();
  // Reactor thread: commands this reactor has sent to the backend and not seen completed.
  size_t queued_here();

  // Reactor thread.
  void submit(uint32_t nsid, const IoRequest& io, uint32_t block_size, IoDone done, void* ctx);

  // host::ControllerEvents
  void on_io_completions(uint64_t controller_id, const uint32_t* pairs, size_t count) override;
  void on_connected(uint64_t id, const host::ControllerInfo& info) override;
  void on_connect_failed(uint64_t id, const host::Failure& failure) override;
  void on_disconnected(uint64_t id, const host::Failure& failure, bool reconnecting) override;
  void on_reconnected(uint64_t id) override;
  void on_removed(uint64_t id, const host::Failure& failure) override;
  void on_closed(uint64_t id) override;
  void on_admin_done(uint64_t id, uint32_t op_id, uint32_t status, uint32_t dw0, std::vector<uint8_t>&& data) override;
  void on_namespaces_changed(uint64_t id, const std::vector<uint32_t>& nsids) override;
  // An ANA change notice: the log is read, and a path that became inaccessible (or lost) for
  // an attached namespace is left for the next, before a command finds out.
  void on_ana_changed(uint64_t id) override;

 private:
  struct InFlight {
    IoDone done = nullptr;
    void* ctx = nullptr;
    IoRequest io{};  // to send it again after a failover
    // Deallocate of several ranges goes one range per command, in a chain.
    const spec::DsmRange* ranges = nullptr;
    uint32_t ranges_left = 0;
    uint32_t nsid = 0;
    uint32_t block_size = 0;
    uint32_t path_retries = 0;  // times it came back with a path error and was sent again
  };
  struct Waiting {
    uint32_t nsid;
    IoRequest io;
    uint32_t block_size;
    IoDone done;
    void* ctx;
  };
  // One per reactor: its backend queue and the context of what is in flight on it.
  struct Lane {
    Reactor* reactor = nullptr;
    host::QueuePair* queue = nullptr;
    std::vector<InFlight> slots;
    std::vector<uint32_t> free;
    std::deque<Waiting> waiting;  // no slot free: sent as completions free some
    std::vector<uint32_t> after_failover;  // slots whose command came back with a path error
  };

  NvmfBackend(std::string name, std::vector<Reactor*> reactors);
  Lane* lane_here();
  // `data` within `chunk` of lend_pool_, where given: lent to the backend queue, zero copy over RDMA.
  void send(Lane& lane, uint32_t slot, uint8_t opcode, uint32_t nsid, uint64_t slba, uint32_t nlb, uint8_t* data,
            uint32_t length, BufferPool::Chunk* chunk = nullptr);
  void start(Lane& lane, uint32_t nsid, const IoRequest& io, uint32_t block_size, IoDone done, void* ctx);
  // Sends slot's command (again), from where it stands (a deallocate chain: its current range).
  void issue(Lane& lane, uint32_t slot);
  // Reactor thread: a command came back with a path error. With another path to try, it waits
  // for the failover (which the first such command asks for) and is sent again after it.
  bool retry_after_failover(Lane& lane, uint32_t slot);
  // Every lane, on its reactor: the commands waiting for a failover are sent again (`resend`)
  // or fail with a pathing error.
  void end_failover_wait(bool resend);
  // Frees `slot`, then reports `status` to the I/O that held it.
  void finish(Lane& lane, uint32_t slot, spec::Status status);
  // The attach's steps, on the admin reactor.
  struct Attach;
  void identify_namespaces(const std::shared_ptr<Attach>& a);
  void identify_next(const std::shared_ptr<Attach>& a, std::vector<uint32_t> nsids, size_t next);
  void end_attach(const std::shared_ptr<Attach>& a, const std::string& code, const std::string& message);
  // Identify, whose outcome `then` gets on the admin reactor.
  using AdminThen = std::function<void(uint32_t status, std::vector<uint8_t>& data)>;
  void identify_then(uint8_t cns, uint32_t nsid, AdminThen then);
  // Reads the ANA log; after a notice, also leaves a path that became unreachable.
  void read_ana(bool after_notice);
  // Takes each attached namespace's state from the log; returns the first that it puts in an
  // inaccessible or lost group (0 when none is).
  uint32_t take_ana_states(const std::vector<uint8_t>& log);
  void set_reason(const std::string& why);

  const std::string name_;
  const std::vector<Reactor*> reactors_;
  BufferPool* lend_pool_ = nullptr;  // ControllerOptions::lend_pool: the pool IoRequest chunks come from
  std::shared_ptr<host::Controller> controller_;
  std::vector<Lane> lanes_;
  std::atomic<State> state_{State::kConnecting};

  std::mutex mutex_;  // control path: connect and identify results
  std::condition_variable cv_;
  bool connect_done_ = false;
  bool closed_ = false;
  host::Failure connect_failure_;
  std::string reason_;
  std::map<uint32_t, std::pair<uint32_t, std::vector<uint8_t>>> admin_results_;
  std::map<uint32_t, AdminThen> admin_then_;  // Identify ops of the attach
  std::shared_ptr<Attach> attach_;  // admin reactor: the attach under way
  uint32_t next_admin_op_ = 1;
  std::map<uint32_t, uint64_t> ns_blocks_;  // by nsid: the namespaces attached
  std::map<uint32_t, uint32_t> size_probes_;  // Identify ops after a notice: op -> nsid
  std::map<uint32_t, bool> ana_reads_;  // Get Log Page (ANA) ops: whether after a notice
  std::map<uint32_t, std::unique_ptr<std::atomic<uint8_t>>> ana_;  // by attached nsid; never erased
  std::atomic<bool> failing_over_{false};  // a failover was asked for and has not ended
  std::atomic<bool> holds_io_{true};  // hold_io()'s

  std::mutex resized_mutex_;  // held while the handler runs, so close() waits it out
  std::function<void(uint32_t)> resized_;
};

}  // namespace rdmagate::bdev
