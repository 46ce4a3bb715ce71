#include "host/queue_pair.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "host/rdma_queue_transport.h"
#include "host/tcp_queue_transport.h"
#include "spec/auth.h"
#include "spec/fabrics.h"

namespace rdmagate::host {

namespace {

using spec::CompletionEntry;

constexpr uint64_t kTickMinUs = 100 * 1000;
constexpr uint64_t kTickMaxUs = 1000 * 1000;

CompletionEntry synthetic_cqe(uint16_t cid) {
  CompletionEntry c{};
  c.cid = cid;
  return c;
}

std::string command_name(const spec::SubmissionEntry& sqe, uint16_t qid) {
  std::string name = "opcode 0x";
  static const char* hex = "0123456789abcdef";
  name += hex[sqe.opcode >> 4];
  name += hex[sqe.opcode & 0xf];
  return name + " (cid " + std::to_string(sqe.cid) + ") on queue " + std::to_string(qid);
}

}  // namespace

QueuePair::QueuePair(Reactor& reactor, QueueConfig config, std::weak_ptr<QueueOwner> owner,
                     std::shared_ptr<IoCompletionSink> sink)
    : reactor_(reactor),
      config_(std::move(config)),
      io_failure_(config_.io_failure),
      owner_(std::move(owner)),
      sink_(std::move(sink)),
      slots_(size_t(config_.depth) + 1),
      ring_(config_.depth) {
  keys_ = auth::DhchapKeys{config_.dhchap_key, config_.dhchap_ctrlr_key};
  free_.reserve(config_.depth);
  for (uint16_t i = config_.depth; i-- > 0;) free_.push_back(i);
  for (uint16_t i = 0; i < slots_.size(); ++i) slots_[i].cid = i;
  completions_.reserve(size_t(config_.depth) * 2);
  QueueEndpoint at{config_.qid, config_.depth, config_.hdgst, config_.ddgst, config_.recv_pipe,
                   config_.lend_pool, nullptr};
  if (config_.tls_psk)
    at.tls = std::make_shared<const tls::TlsPsk>(
        config_.tls_psk->derive(config_.hostnqn, config_.subnqn, config_.tls_identity_version));
  if (config_.transport == Transport::kRdma)
    transport_ = std::make_unique<RdmaQueueTransport>(reactor_, std::move(at), *this, counters_.transport);
  else
    transport_ = std::make_unique<TcpQueueTransport>(reactor_, std::move(at), *this, counters_.transport);
}

QueuePair::~QueuePair() = default;

// --- connect -------------------------------------------------------------------------

void QueuePair::connect(const QueueConnect& c) {
  if (state_ == State::kDead) return;
  generation_ = c.generation;
  state_ = State::kConnecting;

  auto weak = weak_from_this();
  uint64_t gen = generation_;
  std::string to = c.to.text();
  connect_timer_ = reactor_.add_timer(uint64_t(config_.timeout_ms) * 1000, [weak, gen, to] {
    auto q = weak.lock();
    if (!q || q->generation_ != gen || q->state_ != State::kConnecting) return;
    q->connect_timer_ = 0;
    q->transport_->fail(Failure{kErrConnect,
                                "timed out connecting queue " + std::to_string(q->config_.qid) +
                                    " to " + to +
                                    " after " + std::to_string(q->config_.timeout_ms) + " ms",
                                ETIMEDOUT});
  });

  spec::ConnectData d{};
  std::memcpy(d.hostid, config_.hostid.data(), sizeof d.hostid);
  d.cntlid = c.cntlid;
  spec::set_field(d.subnqn, config_.subnqn);  // lengths checked by validate()
  spec::set_field(d.hostnqn, config_.hostnqn);
  connect_data_.assign(reinterpret_cast<const uint8_t*>(&d),
                       reinterpret_cast<const uint8_t*>(&d) + sizeof d);
  connected_incapsule_ = c.incapsule_max;
  transport_->connect(c.to, c.cntlid);
}

void QueuePair::on_established() {
  spec::ConnectCommand c{};
  c.opcode = spec::kOpcodeFabrics;
  c.fctype = spec::kFctConnect;
  c.recfmt = spec::kConnectRecfmt;
  c.qid = config_.qid;
  c.sqsize = uint16_t(config_.depth - 1);
  c.cattr = config_.disable_sqflow ? spec::kConnectCattrDisableSqFlow : 0;
  c.kato = config_.qid == 0 ? config_.kato_ms : 0;
  spec::SubmissionEntry sqe;
  std::memcpy(&sqe, &c, sizeof sqe);

  Request& r = slots_[config_.depth];  // the Connect slot: nothing else is outstanding
  prepare_internal(r, sqe, spec::kXferHostToController, connect_data_, config_.timeout_ms,
                   [this](uint32_t status, const CompletionEntry& cqe, std::vector<uint8_t>&) {
                     on_connect_done(status, cqe);
                   });
  start(r);
  transport_->flush();
}

void QueuePair::on_connect_done(uint32_t status, const CompletionEntry& cqe) {
  if (status >= kHostStatusBase) return;  // the connection failed; on_failed reports it
  std::string queue = "queue " + std::to_string(config_.qid);
  Failure failure;
  if (!status_ok(status)) {
    failure = status_failure(kErrConnect, "Connect of " + queue + " rejected", status);
    if (status_sct(status) == spec::kSctCommandSpecific &&
        status_sc(status) == spec::status::kConnectInvalidParam.sc) {
      failure.message += std::string(": bad field at byte ") +
                         std::to_string(spec::connect_invalid_offset(cqe.dw0)) + " of the " +
                         (spec::connect_invalid_in_data(cqe.dw0) ? "Connect data" : "command");
    }
  } else if (cqe.dw0 & spec::kConnectAuthreqAscr) {
    failure = Failure{kErrConnect, "the controller requires a secure channel negotiated by authentication, which this host does not support", 0, 0};
  } else if (cqe.dw0 & spec::kConnectAuthreqAtr) {
    if (keys_.host) {
      uint16_t cntlid = spec::connect_result_cntlid(cqe.dw0);
      return run_authentication([this, cntlid] { go_live(cntlid); });
    }
    failure = Failure{kErrConnect, "the controller requires DH-HMAC-CHAP authentication: connect with a DH-HMAC-CHAP key (dhchapKey, --dhchap-secret)", 0, 0};
  } else {
    return go_live(spec::connect_result_cntlid(cqe.dw0));
  }
  connect_failed(failure);
}

void QueuePair::go_live(uint16_t cntlid) {
  auth_.reset();
  reactor_.cancel_timer(connect_timer_);
  connect_timer_ = 0;
  state_ = State::kLive;
  transport_->enable_incapsule(connected_incapsule_);
  arm_tick();
  resend_parked();
  start_waiting();
  if (auto o = owner_.lock()) o->on_queue_connected(config_.qid, generation_, cntlid);
}

void QueuePair::connect_failed(const Failure& failure) {
  auth_.reset();
  transport_->close();
  state_ = State::kDown;
  go_down(kStatusDisconnected);
  flush_completions();
  report_failure(failure);
}

// --- authentication ----------------------------------------------------------------------

// Negotiate, fetch the Challenge, Reply, fetch Success1, and Success2 when the controller
// proved itself too. After a Connect this runs on the Connect's slot, still inside the
// connect's timeout; on a live queue (a re-authentication) on ordinary internal slots.
void QueuePair::run_authentication(std::function<void()> succeeded) {
  auth_ = std::make_shared<auth::DhchapHost>(keys_.host, keys_.ctrlr, config_.hostnqn, config_.subnqn, config_.qid);
  auth_succeeded_ = std::move(succeeded);
  auth_offloaded_ = false;
  auth_command(spec::kFctAuthSend, auth_->negotiate(), [this](std::vector<uint8_t>&) {
    auth_command(spec::kFctAuthRecv, std::vector<uint8_t>(auth::DhchapHost::kReceiveLength),
                 [this](std::vector<uint8_t>& challenge) { auth_reply(std::move(challenge)); });
  });
}

// The Reply's DH computation (a key and the shared secret: milliseconds, tens of them for
// FFDHE-8192) runs on the reactor's helper thread: the reactor serves other queues meanwhile,
// a gateway's frontends among them when this is one of its backends.
void QueuePair::auth_reply(std::vector<uint8_t> challenge) {
  auto a = auth_;
  // The NULL group's Reply is HMACs of microseconds: not worth two thread hops.
  if (challenge.size() < sizeof(spec::DhchapChallenge) || challenge[offsetof(spec::DhchapChallenge, dhgid)] == spec::kDhNull)
    return auth_replied(a->reply(challenge.data(), challenge.size()));
  auto reply = std::make_shared<std::vector<uint8_t>>();
  std::weak_ptr<QueuePair> weak = weak_from_this();
  auth_offloaded_ = true;
  reactor_.offload([a, challenge = std::move(challenge), reply] { *reply = a->reply(challenge.data(), challenge.size()); },
                   [weak, a, reply] {
                     auto q = weak.lock();
                     if (!q || q->auth_ != a) return;  // a failed connect that ended it meanwhile
                     q->auth_offloaded_ = false;
                     // Shut down or killed meanwhile: no command of this exchange was there to
                     // fail with the others, so its caller hears of it here.
                     if (q->state_ != State::kLive && q->state_ != State::kConnecting) {
                       q->auth_.reset();
                       Failure f{kErrDisconnected, "queue " + std::to_string(q->config_.qid) + " went down during authentication", 0, 0};
                       if (auto done = std::exchange(q->reauth_done_, nullptr)) done(&f);
                       return;
                     }
                     q->auth_replied(std::move(*reply));
                   });
}

void QueuePair::auth_replied(std::vector<uint8_t> reply) {
  if (reply.empty()) return auth_failed();
  auth_command(spec::kFctAuthSend, std::move(reply), [this](std::vector<uint8_t>&) {
    auth_command(spec::kFctAuthRecv, std::vector<uint8_t>(auth::DhchapHost::kReceiveLength),
                 [this](std::vector<uint8_t>& success1) { auth_success1(success1); });
  });
}

void QueuePair::auth_success1(std::vector<uint8_t>& success1) {
  if (!auth_->success1(success1.data(), success1.size())) return auth_failed();
  if (!auth_->success2_needed()) return auth_done();
  auth_command(spec::kFctAuthSend, auth_->success2(), [this](std::vector<uint8_t>&) { auth_done(); });
}

void QueuePair::auth_done() {
  auth_.reset();
  std::exchange(auth_succeeded_, nullptr)();
}

void QueuePair::reauthenticate(auth::SecretRef key, auth::SecretRef ctrlr_key, std::function<void(const Failure*)> done) {
  keys_ = auth::DhchapKeys{std::move(key), std::move(ctrlr_key)};  // and for every reconnect after
  if (state_ != State::kLive || auth_) {
    Failure f{kErrDisconnected, "queue " + std::to_string(config_.qid) + " is not connected", 0, 0};
    return done(&f);
  }
  if (!keys_.host) return done(nullptr);  // nothing to prove with: the next connect goes without
  reauth_done_ = std::move(done);
  run_authentication([this] { std::exchange(reauth_done_, nullptr)(nullptr); });
}

void QueuePair::auth_command(uint8_t fctype, std::vector<uint8_t> data, std::function<void(std::vector<uint8_t>&)> next) {
  spec::AuthCommand c{};
  c.opcode = spec::kOpcodeFabrics;
  c.fctype = fctype;
  c.secp = spec::kAuthSecp;
  c.spsp0 = spec::kAuthSpsp0;
  c.spsp1 = spec::kAuthSpsp1;
  c.length = uint32_t(data.size());
  spec::SubmissionEntry sqe;
  std::memcpy(&sqe, &c, sizeof sqe);
  spec::DataDirection dir = fctype == spec::kFctAuthSend ? spec::kXferHostToController : spec::kXferControllerToHost;
  InternalDone then = [this, fctype, next = std::move(next)](uint32_t status, const CompletionEntry&, std::vector<uint8_t>& d) {
    if (!auth_) return;
    if (status >= kHostStatusBase) {
      // The connection failed: on_failed reports it; a re-authentication also hears of it here.
      if (reauth_done_) {
        auth_.reset();
        Failure f{kErrDisconnected, "queue " + std::to_string(config_.qid) + " was lost during re-authentication", 0, 0};
        std::exchange(reauth_done_, nullptr)(&f);
      }
      return;
    }
    if (!status_ok(status)) {
      if (!auth_->error().empty()) return authentication_failed(auth_failure());  // our Failure2's answer
      return authentication_failed(status_failure(
          kErrAuth,
          std::string("DH-HMAC-CHAP: Authentication ") + (fctype == spec::kFctAuthSend ? "Send" : "Receive") + " on queue " +
              std::to_string(config_.qid) + " rejected",
          status));
    }
    next(d);
  };
  if (state_ == State::kLive) return submit_internal(sqe, dir, std::move(data), config_.timeout_ms, std::move(then));
  Request& r = slots_[config_.depth];  // the Connect slot: nothing else is outstanding yet
  prepare_internal(r, sqe, dir, std::move(data), config_.timeout_ms, std::move(then));
  start(r);
  transport_->flush();
}

Failure QueuePair::auth_failure() const {
  return Failure{kErrAuth, "DH-HMAC-CHAP authentication of queue " + std::to_string(config_.qid) + " failed: " + auth_->error(), 0, 0};
}

void QueuePair::auth_failed() {
  std::vector<uint8_t> failure2 = auth_->failure2();
  if (failure2.empty()) return authentication_failed(auth_failure());
  // The controller is told why, as Linux's host does, before the connection closes.
  auth_command(spec::kFctAuthSend, std::move(failure2), [this](std::vector<uint8_t>&) { authentication_failed(auth_failure()); });
}

// A failed Connect fails; a live queue that fails to re-authenticate is refused everything by
// its controller from now on, so it goes down as a lost connection does (the controller
// reconnects, with the keys it now has, or gives up).
void QueuePair::authentication_failed(const Failure& failure) {
  auth_.reset();
  if (state_ != State::kLive) return connect_failed(failure);
  auto done = std::exchange(reauth_done_, nullptr);
  transport_->close();
  on_failed(failure);
  if (done) done(&failure);
}

// --- submission ----------------------------------------------------------------------

void QueuePair::kick() {
  // A queue polled by the thread that submits (IdleMode::kCaller) sends at once.
  if (reactor_.on_thread()) return drain();
  if (drain_scheduled_.exchange(true, std::memory_order_acq_rel)) return;
  auto self = shared_from_this();
  reactor_.post([self] { self->drain(); });
}

void QueuePair::drain() {
  // An exchange, not a store: it reads the producer's exchange, so every entry pushed
  // before that is visible to the pops below; one pushed after it schedules a new drain.
  drain_scheduled_.exchange(false, std::memory_order_acq_rel);
  pop_ring();
  transport_->flush();
  flush_completions();
}

bool QueuePair::submit_now(const SubmitEntry& e) {
  if (!ring_.push(e)) return false;
  if (drain_deferred_) return true;
  drain_deferred_ = true;
  reactor_.defer([self = shared_from_this()] {
    self->drain_deferred_ = false;
    self->pop_ring();
    self->transport_->flush();
    self->flush_completions();
  });
  return true;
}

void QueuePair::pop_ring() {
  SubmitEntry e;
  // JS keeps at most `depth` commands outstanding, so a slot is free for each entry.
  while (!free_.empty() && ring_.pop(e)) {
    Request& r = *take_slot();
    prepare_io(r, e);
    dispatch(r);
  }
}

void QueuePair::submit_internal(const spec::SubmissionEntry& sqe, spec::DataDirection dir,
                                std::vector<uint8_t> data, uint32_t timeout_ms, InternalDone done) {
  Request* r = state_ == State::kLive ? take_slot() : nullptr;
  if (!r) {
    if (state_ != State::kLive) {
      CompletionEntry c = synthetic_cqe(0);
      done(kStatusDisconnected, c, data);
      return;
    }
    waiting_.push_back(WaitingInternal{sqe, dir, std::move(data), timeout_ms, std::move(done)});
    return;
  }
  prepare_internal(*r, sqe, dir, std::move(data), timeout_ms, std::move(done));
  start(*r);
  transport_->flush();
}

void QueuePair::start_waiting() {
  while (!waiting_.empty() && !free_.empty() && state_ == State::kLive) {
    WaitingInternal w = std::move(waiting_.front());
    waiting_.pop_front();
    Request& r = *take_slot();
    prepare_internal(r, w.sqe, w.dir, std::move(w.data), w.timeout_ms, std::move(w.done));
    start(r);
  }
  transport_->flush();
}

QueuePair::Request* QueuePair::take_slot() {
  if (free_.empty()) return nullptr;
  Request& r = slots_[free_.back()];
  free_.pop_back();
  r.internal = false;
  r.op_id = 0;
  r.pool = nullptr;
  r.chunk = nullptr;
  r.data = nullptr;
  r.length = 0;
  r.done = nullptr;
  r.buf.clear();
  return &r;
}

void QueuePair::prepare_internal(Request& r, const spec::SubmissionEntry& sqe,
                                 spec::DataDirection dir, std::vector<uint8_t> data,
                                 uint32_t timeout_ms, InternalDone done) {
  r.internal = true;
  r.sqe = sqe;
  r.buf = std::move(data);
  r.dir = r.buf.empty() ? spec::kXferNone : dir;
  r.data = r.buf.data();
  r.length = uint32_t(r.buf.size());
  r.timeout_ms = timeout_ms;
  r.done = std::move(done);
}

void QueuePair::prepare_io(Request& r, const SubmitEntry& e) {
  r.op_id = e.op_id;
  r.pool = e.pool;
  r.chunk = e.chunk;
  r.timeout_ms = config_.timeout_ms;
  spec::SubmissionEntry& s = r.sqe;
  s = spec::SubmissionEntry{};
  s.opcode = e.opcode;
  s.nsid = e.nsid;
  switch (e.opcode) {
    case spec::kIoRead:
    case spec::kIoWrite:
    case spec::kIoWriteZeroes:
      s.cdw10 = uint32_t(e.slba);
      s.cdw11 = uint32_t(e.slba >> 32);
      s.cdw12 = e.nlb - 1;  // 0's based
      r.data = e.data;
      r.length = e.opcode == spec::kIoWriteZeroes ? 0 : e.length;
      break;
    case spec::kIoDsm:
      r.dsm = spec::DsmRange{0, e.nlb, e.slba};
      s.cdw10 = 0;  // one range
      s.cdw11 = spec::kDsmDeallocate;
      r.data = reinterpret_cast<uint8_t*>(&r.dsm);
      r.length = sizeof r.dsm;
      break;
    default:  // flush
      r.length = 0;
      break;
  }
  r.dir = r.length ? spec::opcode_direction(e.opcode) : spec::kXferNone;
}

void QueuePair::dispatch(Request& r) {
  if (state_ == State::kLive) {
    start(r);
  } else if (failing() || r.internal || io_failure_ == IoFailureMode::kFail) {
    finish(r, kStatusDisconnected, nullptr);
  } else {
    r.state = Request::State::kParked;
  }
}

void QueuePair::start(Request& r) {
  r.state = Request::State::kActive;
  r.abort_requested = false;
  r.deadline_us = r.timeout_ms ? Reactor::now_us() + uint64_t(r.timeout_ms) * 1000 : 0;

  TransportCommand cmd;
  cmd.sqe = r.sqe;
  cmd.sqe.cid = r.cid;
  // Fabrics commands describe data with SGLs only.
  cmd.sqe.flags = uint8_t((cmd.sqe.flags & ~spec::kPsdtMask) | spec::kPsdtSglMptrBuffer << spec::kPsdtShift);
  cmd.dir = r.dir;
  cmd.data = r.data;
  cmd.length = r.length;
  cmd.pool = r.pool;
  cmd.chunk = r.chunk;
  counters_.commands.fetch_add(1, std::memory_order_relaxed);
  // Last: a command the transport cannot carry ends here, and its slot may be reused.
  if (uint32_t refused = transport_->send(cmd)) finish(r, refused, nullptr);
}

void QueuePair::resend_parked() {
  for (Request& r : slots_) {
    if (r.state != Request::State::kParked) continue;
    counters_.retries.fetch_add(1, std::memory_order_relaxed);
    start(r);
  }
  transport_->flush();
}

// --- completion ------------------------------------------------------------------------

void QueuePair::on_command_done(uint16_t cid, uint32_t status, const CompletionEntry& cqe) {
  Request& r = slots_[cid];
  // The target deleted this queue under the command (it is tearing the controller down):
  // in retry mode the command waits for the reconnect, as those on a lost connection do,
  // rather than failing. The queue is gone, so it is failed as a lost connection is.
  if (io_failure_ == IoFailureMode::kRetry && !r.internal && !failing() &&
      status_sct(status) == spec::kSctGeneric && status_sc(status) == spec::status::kSqDeletion.sc) {
    if (state_ == State::kLive) {
      on_failed(Failure{kErrDisconnected, "the target deleted the queue (a command was aborted: SQ deletion)", 0, status});
    } else {
      r.state = Request::State::kParked;  // one more abort on the queue already going down
    }
    return;
  }
  finish(r, status, &cqe);
}

void QueuePair::finish(Request& r, uint32_t status, const CompletionEntry* cqe) {
  CompletionEntry c = cqe ? *cqe : synthetic_cqe(r.cid);
  // The buffer is ours no more: JS may release it as soon as it hears of this.
  if (r.chunk) r.chunk->inflight.fetch_sub(1, std::memory_order_acq_rel);
  r.chunk = nullptr;
  r.state = Request::State::kFree;
  if (r.cid < config_.depth) free_.push_back(r.cid);
  if (r.internal) {
    InternalDone done = std::move(r.done);
    r.done = nullptr;
    std::vector<uint8_t> data = std::move(r.buf);
    r.buf.clear();
    done(status, c, data);
    start_waiting();
    return;
  }
  completions_.push_back(r.op_id);
  completions_.push_back(status);
  counters_.completions.fetch_add(1, std::memory_order_relaxed);
}

void QueuePair::on_burst_end() {
  if (!ring_.empty()) pop_ring();  // entries that found no free slot earlier
  flush_completions();
}

void QueuePair::flush_completions() {
  if (completions_.empty()) return;
  sink_->on_io_completions(config_.controller_id, completions_.data(), completions_.size() / 2);
  completions_.clear();
}

// --- timeouts --------------------------------------------------------------------------

void QueuePair::arm_tick() {
  uint64_t us = std::clamp<uint64_t>(uint64_t(config_.timeout_ms) * 1000 / 4, kTickMinUs, kTickMaxUs);
  auto weak = weak_from_this();
  tick_timer_ = reactor_.add_timer(us, [weak] {
    if (auto q = weak.lock()) q->on_tick();
  });
}

void QueuePair::on_tick() {
  tick_timer_ = 0;
  if (state_ != State::kLive) return;
  uint64_t now = Reactor::now_us();
  for (Request& r : slots_) {
    if (r.state != Request::State::kActive || !r.deadline_us || now < r.deadline_us) continue;
    if (!r.internal && !r.abort_requested && config_.qid != 0) {
      // First expiry: ask the controller to abort it, and give the Abort as long again.
      r.abort_requested = true;
      r.deadline_us = now + uint64_t(r.timeout_ms) * 1000;
      counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
      if (auto o = owner_.lock()) o->on_request_timeout(config_.qid, generation_, r.cid);
      continue;
    }
    timed_out(r);
    return;
  }
  arm_tick();
}

void QueuePair::timed_out(Request& r) {
  spec::SubmissionEntry sqe = r.sqe;
  sqe.cid = r.cid;
  Failure failure{kErrTimeout,
                  "command " + command_name(sqe, config_.qid) + " timed out after " +
                      std::to_string(r.timeout_ms) + " ms" +
                      (r.abort_requested ? ", and Abort did not end it" : ""),
                  ETIMEDOUT};
  if (!r.abort_requested) counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
  transport_->close();
  state_ = State::kDown;
  finish(r, kStatusTimeout, nullptr);
  go_down(kStatusDisconnected);
  flush_completions();
  report_failure(failure);
}

// --- going down ------------------------------------------------------------------------

void QueuePair::go_down(uint32_t status) {
  reactor_.cancel_timer(connect_timer_);
  reactor_.cancel_timer(tick_timer_);
  connect_timer_ = tick_timer_ = 0;
  for (Request& r : slots_) {
    if (r.state != Request::State::kActive) continue;
    if (r.internal || failing() || io_failure_ == IoFailureMode::kFail) {
      finish(r, status, nullptr);
    } else {
      r.state = Request::State::kParked;  // resent from the start after the reconnect
    }
  }
  while (!waiting_.empty()) {
    WaitingInternal w = std::move(waiting_.front());
    waiting_.pop_front();
    CompletionEntry c = synthetic_cqe(0);
    w.done(status, c, w.data);
  }
}

void QueuePair::on_failed(const Failure& failure) {
  state_ = State::kDown;
  go_down(failure.request_status());
  flush_completions();
  // A controller may close the connection as soon as authentication fails (Linux's does,
  // as it sends Failure1 and after our Failure2): what failed is the authentication.
  if (auth_) {
    // While the helper thread computes the Reply, its outcome is not ours to read.
    Failure why = auth_offloaded_ || auth_->error().empty()
                      ? Failure{kErrAuth, "DH-HMAC-CHAP authentication of queue " + std::to_string(config_.qid) +
                                              " did not complete: " + failure.message, failure.errnum, 0}
                      : auth_failure();
    auth_.reset();
    if (auto done = std::exchange(reauth_done_, nullptr)) done(&why);
    return report_failure(why);
  }
  report_failure(failure);
}

void QueuePair::shutdown(const Failure& why) {
  if (failing()) return;
  transport_->close();
  state_ = State::kDown;
  go_down(why.request_status());
  flush_completions();
}

void QueuePair::kill(const Failure& why, std::function<void()> released) {
  fail_all(State::kDead, why);
  if (released) transport_->when_released(std::move(released));
}

void QueuePair::give_up(const Failure& why) {
  if (state_ != State::kDead) fail_all(State::kGivenUp, why);
}

void QueuePair::set_io_failure(IoFailureMode mode) {
  io_failure_ = mode;
  if (mode != IoFailureMode::kFail) return;
  for (Request& r : slots_) {
    if (r.state == Request::State::kParked) finish(r, kStatusDisconnected, nullptr);
  }
  flush_completions();
}

void QueuePair::fail_all(State state, const Failure& why) {
  transport_->close();
  state_ = state;
  go_down(why.request_status());
  for (Request& r : slots_) {
    if (r.state == Request::State::kParked) finish(r, kStatusDisconnected, nullptr);
  }
  pop_ring();  // anything JS pushed meanwhile fails now rather than on a later drain
  flush_completions();
}

void QueuePair::report_failure(const Failure& failure) {
  if (auto o = owner_.lock()) o->on_queue_failed(config_.qid, generation_, failure);
}

}  // namespace rdmagate::host
