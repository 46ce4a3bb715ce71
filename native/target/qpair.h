// The transport-independent half of a target queue pair: Connect, the queue's NVMe state
// (qid, size, SQ head) and the request life cycle. A transport (tcp, rdma) derives from it,
// moves bytes, and calls back into on_capsule() and on_data_in().
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

#include "auth/dhchap_controller.h"
#include "reactor/reactor.h"
#include "util/wire_counters.h"
#include "util/counter.h"
#include "target/namespace_counters.h"
#include "target/request.h"
#include "target/subsystem.h"
#include "target/transport.h"

namespace rdmagate::target {

class Controller;
class Target;

// Written by the queue's reactor, read by any thread (util::Counter).
// What TLS settled for a queue.
struct SecureChannel {
  std::string hostnqn, subnqn;  // of the PSK identity
  std::string cipher;           // "TLS_AES_128_GCM_SHA256"...
  bool ktls = false;            // the kernel runs the record layer (sends at least)
};

struct QpairCounters {
  util::Counter commands, bytes_read, bytes_written, errors;
  util::Counter latency_us_sum;
  util::Counter latency[kLatencyBuckets];
  util::Counter in_capsule_bytes;  // host data that came inside command capsules
  util::Counter rdma_read_bytes, rdma_write_bytes;
  util::WireCounters wire;  // bytes, PDUs, CPU copies and digest errors on the transport
  util::Counter pool_exhausted;  // commands that found the request buffer pool empty
};

class Qpair : public std::enable_shared_from_this<Qpair> {
 public:
  Qpair(TransportContext& context, Reactor& reactor, uint16_t portid);
  virtual ~Qpair();

  // Transport -> core. The capsule (and any in-capsule data, in req->data) is in req.
  void on_capsule(Request* req);
  // Transport -> core: all host data of req has arrived in req->data.
  void on_data_in(Request* req);
  // Transport -> core: the response of req is on the wire; the slot is free again.
  void on_response_sent(Request* req);

  // Core -> transport.
  virtual void transfer_in(Request* req) = 0;       // fetch req->length - req->in_capsule bytes
  virtual void send_response(Request* req) = 0;     // C2H data (reads) then the response
  virtual void disconnect() = 0;                    // tear down (reactor thread)
  virtual const char* transport_name() const = 0;
  // The SGL this transport moves data with (besides in-capsule data).
  virtual spec::DataSglKind data_sgl_kind() const = 0;
  virtual std::string peer_address() const = 0;
  // The TLS PSK identity's host and subsystem, on a queue that came over NVMe/TCP TLS;
  // Connect must name the same.
  virtual const SecureChannel* secure_channel() const { return nullptr; }

  // Handlers complete a request here, on the reactor thread.
  void complete(Request* req, spec::Status status, bool dnr = false);

  // Disconnect from any thread.
  void disconnect_async();

  uint16_t qid() const { return qid_; }
  // The listener (discovery portid) the host came in through.
  uint16_t portid() const { return portid_; }
  bool connected() const { return connected_; }
  // DH-HMAC-CHAP, when the queue's host has keys: set at Connect, driven by the
  // Authentication Send/Receive handlers. Until it succeeds the queue runs nothing else.
  void require_authentication(std::shared_ptr<auth::DhchapController> auth) {
    auth_ = std::move(auth);
    auth_step_done();
  }
  // The state machine, for one step at a time: while a step runs on the reactor's helper
  // thread (Reactor::offload), the reactor reads only what auth_step_done() copied.
  const std::shared_ptr<auth::DhchapController>& authentication() const { return auth_; }
  bool authenticated() const { return authenticated_; }
  bool auth_step_running() const { return auth_step_running_; }
  void auth_step_started() { auth_step_running_ = true; }
  // Reactor thread, after each step: copies its outcome, and publishes the summary.
  void auth_step_done();
  // What an operator sees of it from any thread (SPDK's nvmf_subsystem_get_qpairs "auth").
  struct AuthSummary {
    enum State : uint8_t { kNone, kInProgress, kCompleted, kFailed } state = kNone;
    uint8_t digest = 0, dhgroup = 0;
    bool bidirectional = false;
  };
  AuthSummary auth_summary() const;
  uint16_t sq_size() const { return sq_size_; }
  Controller* controller() const { return controller_.get(); }
  std::shared_ptr<Controller> controller_ref() const { return controller_; }
  Target& target() { return target_; }
  TransportContext& context() { return context_; }
  const TransportContext& context() const { return context_; }
  const Target& target() const { return target_; }
  Reactor& reactor() { return reactor_; }
  const QpairCounters& counters() const { return counters_; }
  QpairCounters& counters() { return counters_; }
  // I/O queues only: what this queue did on each namespace (by Namespace::instance).
  // Reactor thread.
  NamespaceCounters& namespace_counters(uint64_t instance) {
    if (NamespaceCounters* c = ns_counters_.find(instance)) return *c;
    std::lock_guard<std::mutex> lock(ns_counters_mutex_);  // the list grows: not under a reader
    return ns_counters_.of(instance);
  }
  // Any thread: the values are a snapshot, read as counters() is.
  NamespaceCounterList namespace_counters_snapshot() const {
    std::lock_guard<std::mutex> lock(ns_counters_mutex_);
    return ns_counters_;
  }
  // Largest in-capsule data this queue accepts.
  uint32_t in_capsule_limit() const;
  // Namespace nsid of the controller's subsystem, or nullptr.
  const Namespace* find_namespace(uint32_t nsid);
  // The ANA state of group `grpid` through this queue's listener: the subsystem's states
  // are taken again only when they changed. Reactor thread, connected queues.
  spec::AnaState ana_state(uint32_t grpid);
  // Takes the subsystem's namespace table now, on this queue's reactor, rather than at its
  // next command: a queue that stays idle must not keep a removed namespace's bdev held.
  void refresh_namespaces_async();

  // Set by the Connect handler.
  void bind(std::shared_ptr<Controller> controller, uint16_t qid, uint16_t sq_size, bool sq_flow_disabled);

  // I/O handlers: a command goes to a bdev, and its completion comes back. A queue pair
  // that disconnects with commands still in a bdev lives on, and so do their buffers,
  // until the bdev is done with them: the bdev may still write into them.
  void bdev_io_started(Request* req) {
    req->in_bdev = true;
    ++in_bdev_;
  }
  void bdev_io_done(Request* req, spec::Status status, bool dnr);

 protected:
  // Called by the transport before it frees its requests.
  void unbind();
  // The transport's teardown, after unbind(): frees every request (and its buffer) but
  // those still in a bdev, which bdev_io_done() frees once they come back.
  template <class R>
  void release_requests(std::vector<R>& requests) {
    for (Request& r : requests) release_request(r);
    if (in_bdev_) draining_self_ = shared_from_this();
  }
  // A buffer for `bytes` of in-capsule data in `req`: a pool chunk, or memory of the
  // request's own while the pool is empty. The capsule must leave the wire either way: a
  // stalled stream could hold back the data that would free the pool's chunks. False
  // only when memory is out.
  //
  // Before Connect the buffer is never a pool chunk: a peer that has proven nothing must
  // not be able to drain the pool.
  bool take_capsule_buffer(Request* req, uint32_t bytes);
  // Whether a capsule's in-capsule data is worth keeping: before Connect only a Connect's
  // is (anything else is answered with a Command Sequence Error, so its data is dropped).
  bool wants_capsule_data(const spec::SubmissionEntry& cmd) const;
  // Requests whose host data is being fetched (an R2T or an RDMA READ is out), oldest
  // first: the transport's data deadline looks at them.
  const std::deque<Request*>& awaiting_data() const { return awaiting_data_; }
  bool sq_flow_disabled_ = false;

 private:
  void start(Request* req);
  void fetch_data(Request* req);
  // Its host data is in (or it ended without): its bytes no longer count against the cap,
  // and commands parked on the cap may fetch theirs.
  void data_fetch_ended(Request* req);
  // Bytes of host data this queue may have requested and not received yet. A host that
  // sends write commands and never their data holds at most this much of the pool.
  uint64_t awaiting_data_limit() const;
  void execute(Request* req);
  enum class Acquired { kBuffer, kNone, kFailed };  // kNone: the pool is at its limit
  Acquired acquire_buffer(Request* req);
  void retry_buffers();
  void release_request(Request& r);
  // Its buffer back to the pool, and the request back to FREE.
  void free_request(Request& r);

  Target& target_;
  TransportContext& context_;
  BufferPool::Cache& pool_cache_;  // its reactor's: buffers are taken and given back there
  Reactor& reactor_;
  const uint16_t portid_;
  std::shared_ptr<Controller> controller_;
  uint16_t qid_ = 0;
  uint16_t sq_size_ = 0;
  uint16_t sq_head_ = 0;
  bool connected_ = false;
  std::shared_ptr<auth::DhchapController> auth_;
  bool authenticated_ = true;  // no authentication asked, or it succeeded
  bool auth_step_running_ = false;
  std::atomic<uint32_t> auth_summary_{0};  // AuthSummary, packed
  std::shared_ptr<const NamespaceTable> ns_table_;
  uint64_t ns_version_ = 0;
  AnaStates::View ana_view_;
  uint64_t ana_changes_seen_ = UINT64_MAX;
  // Tables replaced while commands were in a bdev: they hold those commands' namespaces
  // (and bdevs) until the bdevs are done with them.
  std::vector<std::shared_ptr<const NamespaceTable>> retired_tables_;
  std::vector<Request*> waiting_for_buffer_;
  std::deque<Request*> awaiting_data_;
  uint64_t awaiting_data_bytes_ = 0;
  std::deque<Request*> waiting_to_fetch_;  // over the cap: started as fetches end
  bool retry_scheduled_ = false;
  uint32_t in_bdev_ = 0;                 // requests handed to a bdev and not yet back
  std::shared_ptr<Qpair> draining_self_;  // held while a torn-down queue waits for them
  QpairCounters counters_;
  NamespaceCounterList ns_counters_;
  mutable std::mutex ns_counters_mutex_;
};

}  // namespace rdmagate::target
