// One NVMe queue pair over a fabric transport (NVMe/TCP or NVMe/RDMA, see
// queue_transport.h): request slots (cid = slot index), the Fabrics Connect of its
// queue, command submission and completion, command timeouts, and what happens to
// requests when the connection goes away. How data moves is the transport's.
//
// A queue pair lives on one reactor. Its connection is replaced on each (re)connect;
// its slots are not, so that requests held for a retry keep their place.
//
// A request moves through these states, all changed in this file:
//   FREE -> ACTIVE (capsule sent; the transport moves data; it reports the end) -> FREE
//   FREE or ACTIVE -> PARKED (the connection is down, retry mode) -> ACTIVE after a reconnect
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "auth/dhchap_host.h"
#include "host/failure.h"
#include "host/options.h"
#include "host/queue_transport.h"
#include "host/submit_ring.h"
#include "mem/buffer_pool.h"
#include "reactor/reactor.h"
#include "spec/nvme.h"

namespace rdmagate::host {

// An I/O command from JS, as pushed into a queue pair's ring.
struct SubmitEntry {
  uint32_t op_id = 0;
  uint8_t opcode = 0;  // read, write, flush, write zeroes, dataset management (deallocate)
  uint32_t nsid = 0;
  uint64_t slba = 0;
  uint32_t nlb = 0;     // blocks, 1's based
  uint8_t* data = nullptr;
  uint32_t length = 0;  // bytes at data
  BufferPool::Chunk* chunk = nullptr;  // its inflight count was raised by the submitter
  // The pool of `chunk`: NVMe/RDMA points the controller straight at it. Without one,
  // RDMA bounces the data through registered memory of its own, and counts the copy.
  BufferPool* pool = nullptr;
};

// Receives finished I/O: [op_id, status word] pairs, once per burst, on reactor threads.
class IoCompletionSink {
 public:
  virtual ~IoCompletionSink() = default;
  virtual void on_io_completions(uint64_t controller_id, const uint32_t* pairs, size_t count) = 0;
};

// The controller a queue pair reports to. Called on the queue pair's reactor thread.
class QueueOwner {
 public:
  virtual ~QueueOwner() = default;
  virtual void on_queue_connected(uint16_t qid, uint64_t generation, uint16_t cntlid) = 0;
  // The connection failed by itself (not by shutdown()/kill()).
  virtual void on_queue_failed(uint16_t qid, uint64_t generation, const Failure& failure) = 0;
  // An I/O command outlived its timeout: the owner may Abort it on the admin queue.
  virtual void on_request_timeout(uint16_t qid, uint64_t generation, uint16_t cid) = 0;
};

struct QueueConfig {
  Transport transport = Transport::kTcp;
  uint16_t qid = 0;
  uint16_t depth = 32;  // command slots; SQSIZE is depth - 1
  std::string subnqn;
  std::string hostnqn;
  std::array<uint8_t, 16> hostid{};
  bool hdgst = false;
  bool ddgst = false;
  bool disable_sqflow = false;
  bool recv_pipe = true;
  uint32_t kato_ms = 0;  // admin queue only
  uint32_t timeout_ms = 30000;
  IoFailureMode io_failure = IoFailureMode::kFail;
  uint64_t controller_id = 0;
  std::shared_ptr<BufferPool> lend_pool;  // I/O queues only
  auth::SecretRef dhchap_key, dhchap_ctrlr_key;
  tls::PskRef tls_psk;  // NVMe/TCP TLS: see ControllerOptions
  int tls_identity_version = 0;
};

// What a connect attempt needs that only the controller knows at the time.
struct QueueConnect {
  uint64_t generation = 0;
  TransportAddress to;          // the controller's path for this attempt
  uint16_t cntlid = 0;          // for the ConnectData: dynamic on the admin queue
  uint32_t incapsule_max = 0;   // in-capsule data limit in bytes once connected
};

struct QueueCounters {
  TransportCounters transport;
  std::atomic<uint64_t> commands{0};
  std::atomic<uint64_t> completions{0};
  std::atomic<uint64_t> timeouts{0};
  std::atomic<uint64_t> retries{0};
};

class QueuePair final : public QueueTransport::Handler,
                        public std::enable_shared_from_this<QueuePair> {
 public:
  // Status word, the CQE (synthesized when there was none), and the command's data.
  using InternalDone =
      std::function<void(uint32_t status, const spec::CompletionEntry& cqe, std::vector<uint8_t>& data)>;

  QueuePair(Reactor& reactor, QueueConfig config, std::weak_ptr<QueueOwner> owner,
            std::shared_ptr<IoCompletionSink> sink);
  ~QueuePair() override;

  Reactor& reactor() const { return reactor_; }
  const QueueCounters& counters() const { return counters_; }

  // Reactor thread.
  // Opens a new connection and sends Connect; on_queue_connected or on_queue_failed follows.
  void connect(const QueueConnect& c);
  // Closes the connection. Internal commands fail; I/O is parked (retry mode) or fails
  // with `why`'s status.
  void shutdown(const Failure& why);
  // shutdown(), and parked I/O fails too; later submissions fail at once. Final.
  // `released`, when given, runs once the connection's resources are freed: at once over
  // TCP; over RDMA after the QP's teardown, where its last reference went (normally here).
  void kill(const Failure& why, std::function<void()> released = nullptr);
  // As kill(), but not final: the controller gave up on the association and may yet try
  // another (a revive or a reset); until connect(), submissions fail at once.
  void give_up(const Failure& why);
  // What a lost connection does to I/O from now on; switched to kFail, I/O parked now fails.
  void set_io_failure(IoFailureMode mode);
  const TcpParams& tcp_params() const { return transport_->tcp_params(); }
  // The most in-capsule data an I/O queue of this queue's transport carries.
  uint32_t incapsule_capacity() const { return transport_->incapsule_capacity(); }
  // DH-HMAC-CHAP again on a live queue, with these keys (which its reconnects use too):
  // done(nullptr) once authenticated, done(&failure) if not, and then the queue goes down
  // as a lost connection (its controller refuses it everything now).
  void reauthenticate(auth::SecretRef key, auth::SecretRef ctrlr_key, std::function<void(const Failure*)> done);
  // An admin or fabrics command. `data` holds the bytes to send (host to controller) or
  // is sized for the bytes to receive. `done` runs on this reactor.
  void submit_internal(const spec::SubmissionEntry& sqe, spec::DataDirection dir,
                       std::vector<uint8_t> data, uint32_t timeout_ms, InternalDone done);

  // JS thread (the single producer).
  bool push(const SubmitEntry& e) { return ring_.push(e); }
  // Has the reactor drain the ring; at most one wake-up is pending at a time.
  void kick();
  // Reactor thread, when this thread is the ring's only producer (the gateway's
  // forwarding): no hop through the task queue, and the commands that one reactor
  // iteration submits leave together, in one send, before the reactor next polls.
  // False when the ring is full (more outstanding than the queue's depth).
  bool submit_now(const SubmitEntry& e);
  // Free command slots: what submit_now() may use now.
  size_t free_slots() const { return free_.size(); }

 private:
  enum class State : uint8_t { kDown, kConnecting, kLive, kGivenUp, kDead };
  // Held I/O fails rather than waiting for a reconnect.
  bool failing() const { return state_ == State::kGivenUp || state_ == State::kDead; }
  struct Request {
    enum class State : uint8_t { kFree, kParked, kActive };
    State state = State::kFree;
    bool internal = false;
    bool abort_requested = false;
    spec::DataDirection dir = spec::kXferNone;
    uint16_t cid = 0;
    uint32_t op_id = 0;
    uint8_t* data = nullptr;
    uint32_t length = 0;
    uint32_t timeout_ms = 0;
    uint64_t deadline_us = 0;
    BufferPool* pool = nullptr;
    BufferPool::Chunk* chunk = nullptr;
    spec::SubmissionEntry sqe{};
    spec::DsmRange dsm{};          // the one range of a deallocate
    std::vector<uint8_t> buf;      // internal commands' data
    InternalDone done;
  };
  struct WaitingInternal {
    spec::SubmissionEntry sqe;
    spec::DataDirection dir;
    std::vector<uint8_t> data;
    uint32_t timeout_ms;
    InternalDone done;
  };

  // QueueTransport::Handler
  void on_established() override;
  void on_command_done(uint16_t cid, uint32_t status, const spec::CompletionEntry& cqe) override;
  void on_burst_end() override;
  void on_failed(const Failure& failure) override;

  void on_connect_done(uint32_t status, const spec::CompletionEntry& cqe);
  void go_live(uint16_t cntlid);
  void connect_failed(const Failure& failure);
  // DH-HMAC-CHAP: after a Connect that asked for it, or on request on a live queue.
  void run_authentication(std::function<void()> succeeded);
  void auth_reply(std::vector<uint8_t> challenge);
  void auth_replied(std::vector<uint8_t> reply);
  void auth_success1(std::vector<uint8_t>& success1);
  void auth_done();
  void auth_command(uint8_t fctype, std::vector<uint8_t> data, std::function<void(std::vector<uint8_t>&)> next);
  void auth_failed();
  void authentication_failed(const Failure& failure);
  Failure auth_failure() const;
  void drain();
  void pop_ring();
  Request* take_slot();
  void prepare_internal(Request& r, const spec::SubmissionEntry& sqe, spec::DataDirection dir,
                        std::vector<uint8_t> data, uint32_t timeout_ms, InternalDone done);
  void prepare_io(Request& r, const SubmitEntry& e);
  void dispatch(Request& r);
  void start(Request& r);
  void finish(Request& r, uint32_t status, const spec::CompletionEntry* cqe);
  void go_down(uint32_t status);
  // Closes the connection and fails everything held and everything JS pushed, in `state`.
  void fail_all(State state, const Failure& why);
  void resend_parked();
  void start_waiting();
  void arm_tick();
  void on_tick();
  void timed_out(Request& r);
  void flush_completions();
  void report_failure(const Failure& failure);

  Reactor& reactor_;
  const QueueConfig config_;
  IoFailureMode io_failure_;  // config_'s until set_io_failure()
  const std::weak_ptr<QueueOwner> owner_;
  const std::shared_ptr<IoCompletionSink> sink_;
  QueueCounters counters_;

  State state_ = State::kDown;
  uint64_t generation_ = 0;
  uint32_t connected_incapsule_ = 0;  // in effect once Connect succeeds
  std::vector<uint8_t> connect_data_;
  auth::DhchapKeys keys_;  // config_'s, until a re-authentication brings others
  std::shared_ptr<auth::DhchapHost> auth_;  // while authenticating
  std::function<void()> auth_succeeded_;
  bool auth_offloaded_ = false;  // auth_ is busy on the reactor's helper thread
  std::function<void(const Failure*)> reauth_done_;  // a re-authentication's caller
  std::unique_ptr<QueueTransport> transport_;
  // depth_ command slots, then one for Connect, which goes out alone on a new connection.
  std::vector<Request> slots_;
  std::vector<uint16_t> free_;
  std::deque<WaitingInternal> waiting_;  // internal commands with no free slot yet
  std::vector<uint32_t> completions_;    // [op_id, status] for the sink
  Reactor::TimerId connect_timer_ = 0;
  Reactor::TimerId tick_timer_ = 0;

  SpscRing<SubmitEntry> ring_;
  bool drain_deferred_ = false;  // reactor thread: submit_now() has a drain deferred
  std::atomic<bool> drain_scheduled_{false};
};

}  // namespace rdmagate::host
