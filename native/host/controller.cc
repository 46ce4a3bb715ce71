#include "host/controller.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <optional>

#include "spec/fabrics.h"
#include "spec/identify.h"
#include "spec/log_pages.h"
#include "util/error.h"

namespace rdmagate::host {

namespace {

using spec::CompletionEntry;
using spec::SubmissionEntry;

constexpr uint16_t kAdminDepth = 32;          // NVMe's usual admin queue size (Linux's too)
// NVMe/TCP admin queues take 8 KiB in-capsule; an NVMe/RDMA queue pair allows its admin
// queue none, whatever is offered.
constexpr uint32_t kAdminIncapsule = 8192;
constexpr uint64_t kReadyPollUs = 20 * 1000;  // CSTS poll interval while enabling
constexpr uint64_t kShutdownUs = 5 * 1000 * 1000;  // Linux's default shutdown_timeout

SubmissionEntry admin_sqe(uint8_t opcode) {
  SubmissionEntry s{};
  s.opcode = opcode;
  return s;
}

}  // namespace

std::shared_ptr<Controller> Controller::create(uint64_t id, std::vector<Reactor*> reactors,
                                               ControllerOptions options,
                                               std::shared_ptr<ControllerEvents> events) {
  std::shared_ptr<Controller> c(
      new Controller(id, std::move(reactors), std::move(options), std::move(events)));
  QueueConfig admin = c->queue_config(0, kAdminDepth);
  admin.kato_ms = c->options_.kato_ms;
  c->admin_ = std::make_shared<QueuePair>(c->reactor_, admin, c->weak_from_this(), c->events_);
  c->io_.reserve(c->options_.nr_io_queues);
  return c;
}

Controller::Controller(uint64_t id, std::vector<Reactor*> reactors, ControllerOptions options,
                       std::shared_ptr<ControllerEvents> events)
    : id_(id),
      reactors_(std::move(reactors)),
      reactor_(*reactors_.front()),
      options_(std::move(options)),
      events_(std::move(events)),
      io_failure_(options_.io_failure) {
  keys_ = auth::DhchapKeys{options_.dhchap_key, options_.dhchap_ctrlr_key};
  paths_.push_back(TransportAddress{options_.traddr, options_.trsvcid});
}

Controller::~Controller() = default;

void Controller::start() {
  auto self = shared_from_this();
  reactor_.post([self] { self->attempt(); });
}

void Controller::set_io_failure(IoFailureMode mode) {
  io_failure_.store(mode);
  // On the admin reactor, which makes the queues: none is made in between with the old mode.
  auto self = shared_from_this();
  reactor_.post([self, mode] {
    for (auto& q : self->io_) q->reactor().post([q, mode] { q->set_io_failure(mode); });
  });
}

QueuePair* Controller::io_queue(uint32_t index) const {
  return index < io_published_.load(std::memory_order_acquire) ? io_[index].get() : nullptr;
}

ControllerCounters Controller::counters() const {
  ControllerCounters t;
  auto add = [&t](const QueueCounters& q) {
    t.bytes_sent += q.transport.bytes_sent;
    t.bytes_received += q.transport.bytes_received;
    t.bytes_copied += q.transport.bytes_copied;
    t.pdus_sent += q.transport.pdus_sent;
    t.pdus_received += q.transport.pdus_received;
    t.digest_errors += q.transport.digest_errors;
    t.commands += q.commands;
    t.completions += q.completions;
    t.r2ts += q.transport.r2ts;
    t.timeouts += q.timeouts;
    t.retries += q.retries;
  };
  add(admin_->counters());
  for (uint32_t i = 0, n = io_published_.load(std::memory_order_acquire); i < n; ++i)
    add(io_[i]->counters());
  t.reconnects = reconnects_.load();
  t.failovers = failovers_.load();
  return t;
}

// --- paths -------------------------------------------------------------------------------

void Controller::add_path(const TransportAddress& to) {
  validate(to);
  std::lock_guard<std::mutex> lock(paths_mutex_);
  if (std::find(paths_.begin(), paths_.end(), to) != paths_.end())
    throw Error("ERR_ALREADY_EXISTS", "the controller already has a path to " + to.text());
  paths_.push_back(to);
}

void Controller::remove_path(const TransportAddress& to) {
  {
    std::lock_guard<std::mutex> lock(paths_mutex_);
    auto it = std::find(paths_.begin(), paths_.end(), to);
    if (it == paths_.end()) throw Error("ERR_NOT_FOUND", "the controller has no path to " + to.text());
    if (paths_.size() == 1) throw Error("ERR_BUSY", to.text() + " is the controller's only path");
    size_t i = size_t(it - paths_.begin());
    paths_.erase(it);
    // The one before it, so that the next advance_path() lands where the removed one was.
    if (i < path_ || (i == path_ && i > 0)) --path_;
    else if (i == path_) path_ = paths_.size() - 1;
  }
  auto self = shared_from_this();
  reactor_.post([self] { self->leave_removed_path(); });
}

void Controller::fail_over(const std::string& why) {
  auto self = shared_from_this();
  reactor_.post([self, why] {
    if (self->state_ != State::kLive || self->path_count() < 2) return;
    self->error_recovery(Failure{kErrDisconnected, why, 0, 0});
  });
}

ControllerPaths Controller::paths() const {
  std::lock_guard<std::mutex> lock(paths_mutex_);
  return ControllerPaths{paths_, path_};
}

size_t Controller::path_count() const {
  std::lock_guard<std::mutex> lock(paths_mutex_);
  return paths_.size();
}

TransportAddress Controller::current_path() const {
  std::lock_guard<std::mutex> lock(paths_mutex_);
  return paths_[path_];
}

void Controller::advance_path() {
  std::lock_guard<std::mutex> lock(paths_mutex_);
  if (paths_.size() < 2) return;
  path_ = (path_ + 1) % paths_.size();
  failovers_.fetch_add(1);
}

void Controller::leave_removed_path() {
  bool gone;
  {
    std::lock_guard<std::mutex> lock(paths_mutex_);
    gone = std::find(paths_.begin(), paths_.end(), attempt_to_) == paths_.end();
  }
  Failure why{kErrDisconnected, "its path " + attempt_to_.text() + " was removed", 0, 0};
  if (state_ == State::kLive && gone) error_recovery(why);
  else if (state_ == State::kConnecting && gone) attempt_failed(gen_, why);
  else if (state_ == State::kResetting || state_ == State::kRemoved) advance_path();
}

// --- the connect sequence ----------------------------------------------------------------

void Controller::attempt() {
  if (state_ != State::kIdle && state_ != State::kResetting) return;
  ++gen_;
  state_ = State::kConnecting;
  io_connected_ = 0;
  attempt_to_ = current_path();
  admin_->connect(QueueConnect{gen_, attempt_to_, spec::kCntlidDynamic, kAdminIncapsule});
}

void Controller::on_queue_connected(uint16_t qid, uint64_t gen, uint16_t cntlid) {
  auto self = shared_from_this();
  reactor_.post([self, qid, gen, cntlid] { self->queue_connected(qid, gen, cntlid); });
}

void Controller::queue_connected(uint16_t qid, uint64_t gen, uint16_t cntlid) {
  if (gen != gen_ || state_ != State::kConnecting) return;
  if (qid == 0) {
    info_.cntlid = cntlid;
    read_cap(gen);
  } else if (++io_connected_ == io_count_) {
    go_live();
  }
}

void Controller::step(uint64_t gen, const std::string& what, const SubmissionEntry& sqe,
                      spec::DataDirection dir, std::vector<uint8_t> data, Then then) {
  auto self = shared_from_this();
  admin_->submit_internal(
      sqe, dir, std::move(data), options_.timeout_ms,
      [self, gen, what, then = std::move(then)](uint32_t status, const CompletionEntry& cqe,
                                               std::vector<uint8_t>& d) {
        if (gen != self->gen_ || self->state_ != State::kConnecting) return;
        // A host status means the admin queue went down, and it reports why itself.
        if (status >= kHostStatusBase) return;
        if (!status_ok(status)) {
          self->attempt_failed(gen, status_failure(kErrConnect, what + " failed", status));
          return;
        }
        then(cqe, d);
      });
}

void Controller::property_get(uint64_t gen, uint32_t offset, Then then) {
  spec::PropertyGetCommand c{};
  c.opcode = spec::kOpcodeFabrics;
  c.fctype = spec::kFctPropertyGet;
  c.attrib = spec::property_width(offset) == 8 ? spec::kPropSize8 : spec::kPropSize4;
  c.offset = offset;
  SubmissionEntry sqe;
  std::memcpy(&sqe, &c, sizeof sqe);
  step(gen, "Property Get 0x" + std::to_string(offset), sqe, spec::kXferNone, {}, std::move(then));
}

void Controller::property_set(uint64_t gen, uint32_t offset, uint32_t value, Then then) {
  spec::PropertySetCommand c{};
  c.opcode = spec::kOpcodeFabrics;
  c.fctype = spec::kFctPropertySet;
  c.attrib = spec::kPropSize4;
  c.offset = offset;
  c.value = value;
  SubmissionEntry sqe;
  std::memcpy(&sqe, &c, sizeof sqe);
  step(gen, "Property Set 0x" + std::to_string(offset), sqe, spec::kXferNone, {}, std::move(then));
}

void Controller::read_cap(uint64_t gen) {
  property_get(gen, spec::kPropCap, [this, gen](const CompletionEntry& cqe, std::vector<uint8_t>&) {
    info_.cap = uint64_t(cqe.dw1) << 32 | cqe.dw0;
    property_get(gen, spec::kPropVs, [this, gen](const CompletionEntry& vs, std::vector<uint8_t>&) {
      info_.vs = vs.dw0;
      enable(gen);
    });
  });
}

void Controller::enable(uint64_t gen) {
  // NVM command set, round robin, the smallest page size the controller allows.
  cc_ = spec::kCcEnable | uint32_t(spec::cap_mpsmin(info_.cap)) << 7 |
        uint32_t(spec::kSqesLog2) << 16 | uint32_t(spec::kCqesLog2) << 20;
  // CAP.TO is in 500 ms units: how long CSTS.RDY may take to follow CC.EN.
  uint64_t deadline = Reactor::now_us() + std::max<uint64_t>(1, spec::cap_to(info_.cap)) * 500000;
  property_set(gen, spec::kPropCc, cc_, [this, gen, deadline](const CompletionEntry&, std::vector<uint8_t>&) {
    wait_ready(gen, deadline);
  });
}

void Controller::wait_ready(uint64_t gen, uint64_t deadline_us) {
  property_get(gen, spec::kPropCsts, [this, gen, deadline_us](const CompletionEntry& cqe, std::vector<uint8_t>&) {
    if (cqe.dw0 & spec::kCstsCfs) {
      attempt_failed(gen, Failure{kErrConnect, "the controller reports a fatal status (CSTS.CFS)", 0, 0});
    } else if (cqe.dw0 & spec::kCstsRdy) {
      identify_controller(gen);
    } else if (Reactor::now_us() > deadline_us) {
      attempt_failed(gen, Failure{kErrTimeout, "the controller did not become ready within CAP.TO", ETIMEDOUT, 0});
    } else {
      std::weak_ptr<Controller> weak = weak_from_this();
      reactor_.add_timer(kReadyPollUs, [weak, gen, deadline_us] {
        auto c = weak.lock();
        if (c && gen == c->gen_ && c->state_ == State::kConnecting) c->wait_ready(gen, deadline_us);
      });
    }
  });
}

void Controller::identify_controller(uint64_t gen) {
  SubmissionEntry sqe = admin_sqe(spec::kAdminIdentify);
  sqe.cdw10 = spec::kCnsController;
  step(gen, "Identify Controller", sqe, spec::kXferControllerToHost,
       std::vector<uint8_t>(spec::kIdentifyDataSize),
       [this, gen](const CompletionEntry&, std::vector<uint8_t>& data) {
         spec::IdentifyController id;
         std::memcpy(&id, data.data(), sizeof id);
         const bool io = options_.nr_io_queues > 0;
         if (io && id.icdoff != 0) {
           attempt_failed(gen, Failure{kErrConnect, "the controller asks for an in-capsule data offset (ICDOFF), which this host does not support", 0, 0});
           return;
         }
         if (io && !(id.sgls & 0x3)) {
           attempt_failed(gen, Failure{kErrConnect, "the controller does not support SGLs", 0, 0});
           return;
         }
         // MDTS is a power of two in units of the minimum page size.
         uint64_t page = 4096ull << spec::cap_mpsmin(info_.cap);
         uint64_t mdts = id.mdts ? std::min<uint64_t>(page << id.mdts, 1ull << 31) : 0;
         info_.max_transfer = uint32_t(mdts);
         uint64_t ccsz = uint64_t(id.ioccsz) * 16;
         uint64_t icd = ccsz > sizeof(SubmissionEntry) ? ccsz - sizeof(SubmissionEntry) : 0;
         info_.incapsule_max = uint32_t(std::min<uint64_t>(icd, admin_->incapsule_capacity()));
         uint32_t depth = std::min<uint32_t>(options_.queue_size, uint32_t(spec::cap_mqes(info_.cap)) + 1);
         if (id.maxcmd) depth = std::min<uint32_t>(depth, id.maxcmd);
         if (!connected_once_) info_.queue_size = uint16_t(std::max<uint32_t>(depth, 2));
         info_.identify = data;
         if (io) set_queue_count(gen);
         else go_live();
       });
}

void Controller::set_queue_count(uint64_t gen) {
  uint16_t want = connected_once_ ? io_count_ : options_.nr_io_queues;
  SubmissionEntry sqe = admin_sqe(spec::kAdminSetFeatures);
  sqe.cdw10 = spec::kFeatNumQueues;
  sqe.cdw11 = spec::make_num_queues(want, want);
  step(gen, "Set Features (Number of Queues)", sqe, spec::kXferNone, {},
       [this, gen, want](const CompletionEntry& cqe, std::vector<uint8_t>&) {
         uint32_t nsq = (cqe.dw0 & 0xffff) + 1, ncq = (cqe.dw0 >> 16) + 1;
         uint16_t granted = uint16_t(std::min<uint32_t>({want, nsq, ncq}));
         if (connected_once_ && granted < io_count_) {
           attempt_failed(gen, Failure{kErrConnect, "the controller now grants " + std::to_string(granted) +
                                                        " I/O queues, fewer than the " +
                                                        std::to_string(io_count_) + " in use", 0, 0});
           return;
         }
         io_count_ = granted;
         connect_io_queues(gen);
       });
}

QueueConfig Controller::queue_config(uint16_t qid, uint16_t depth) const {
  QueueConfig q;
  q.transport = options_.transport;
  q.qid = qid;
  q.depth = depth;
  q.subnqn = options_.subnqn;
  q.hostnqn = options_.hostnqn;
  q.hostid = options_.hostid;
  q.hdgst = options_.hdgst;
  q.ddgst = options_.ddgst;
  q.disable_sqflow = options_.disable_sqflow;
  q.recv_pipe = options_.recv_pipe;
  q.timeout_ms = options_.timeout_ms;
  q.dhchap_key = keys_.host;
  q.dhchap_ctrlr_key = keys_.ctrlr;
  q.tls_psk = options_.tls_psk;
  q.tls_identity_version = options_.tls_identity_version;
  q.controller_id = id_;
  return q;
}

void Controller::connect_io_queues(uint64_t gen) {
  if (!connected_once_) {
    for (uint16_t i = 0; i < io_count_; ++i) {
      QueueConfig q = queue_config(uint16_t(i + 1), info_.queue_size);
      q.io_failure = io_failure_.load();
      q.lend_pool = options_.lend_pool;
      Reactor& r = *reactors_[(i + 1) % reactors_.size()];
      io_.push_back(std::make_shared<QueuePair>(r, q, weak_from_this(), events_));
    }
  }
  QueueConnect c{gen, attempt_to_, info_.cntlid, info_.incapsule_max};
  for (uint16_t i = 0; i < io_count_; ++i) {
    std::shared_ptr<QueuePair> q = io_[i];
    q->reactor().post([q, c] { q->connect(c); });
  }
}

void Controller::go_live() {
  state_ = State::kLive;
  one_attempt_ = false;
  nr_reconnects_ = 0;
  start_keep_alive();
  enable_async_events(gen_);
  if (connected_once_) {
    reconnects_.fetch_add(1);
    events_->on_reconnected(id_);
    return;
  }
  connected_once_ = true;
  info_.io_queues = io_count_;
  info_.maxh2cdata = admin_->tcp_params().maxh2cdata;
  info_.hdgst = admin_->tcp_params().hdgst;
  info_.ddgst = admin_->tcp_params().ddgst;
  max_transfer_.store(info_.max_transfer, std::memory_order_release);
  io_published_.store(io_count_, std::memory_order_release);
  events_->on_connected(id_, info_);
}

// --- losing the controller ---------------------------------------------------------------

void Controller::on_queue_failed(uint16_t, uint64_t gen, const Failure& failure) {
  auto self = shared_from_this();
  reactor_.post([self, gen, failure] { self->queue_failed(gen, failure); });
}

void Controller::queue_failed(uint64_t gen, const Failure& failure) {
  if (gen != gen_) return;
  if (state_ == State::kConnecting) attempt_failed(gen, failure);
  else if (state_ == State::kLive) error_recovery(failure);
}

void Controller::attempt_failed(uint64_t gen, Failure failure) {
  if (gen != gen_ || state_ != State::kConnecting) return;
  ++gen_;
  reactor_.cancel_timer(ka_timer_);
  if (!connected_once_) {
    state_ = State::kFailed;
    kill_queues(failure);
    // A connection that drops before the association exists is a failed connect.
    if (failure.code == kErrDisconnected) failure.code = kErrConnect;
    events_->on_connect_failed(id_, failure);
    return;
  }
  if (one_attempt_) return remove(failure);
  shutdown_queues(failure);
  ++nr_reconnects_;
  state_ = State::kResetting;
  advance_path();
  if (should_reconnect()) schedule_reconnect(reconnect_delay_ms(options_, nr_reconnects_));
  else remove(failure);
}

void Controller::error_recovery(const Failure& failure) {
  state_ = State::kResetting;
  lost_at_us_ = Reactor::now_us();
  ++gen_;
  reactor_.cancel_timer(ka_timer_);
  shutdown_queues(failure);
  // Another path: nothing to wait for before trying it (the delay spares a target that
  // just went away, and the next failed attempt waits as ever).
  bool elsewhere = path_count() > 1;
  advance_path();
  bool again = should_reconnect();
  events_->on_disconnected(id_, failure, again);
  if (again) schedule_reconnect(elsewhere ? 0 : reconnect_delay_ms(options_, nr_reconnects_));
  else remove(failure);
}

// Linux's rule: at most ceil(ctrl_loss_tmo / reconnect_delay) attempts, one every
// reconnect_delay; a negative ctrl_loss_tmo retries forever, 0 never. With backoff the
// delays vary, so the limit is the time since the loss instead.
bool Controller::should_reconnect() const {
  if (options_.ctrl_loss_tmo_ms < 0) return true;
  if (options_.ctrl_loss_tmo_ms == 0) return false;
  if (backoff()) return Reactor::now_us() - lost_at_us_ < uint64_t(options_.ctrl_loss_tmo_ms) * 1000;
  uint64_t delay = std::max<uint64_t>(1, options_.reconnect_delay_ms);
  uint64_t attempts = (uint64_t(options_.ctrl_loss_tmo_ms) + delay - 1) / delay;
  return nr_reconnects_ < attempts;
}

void Controller::schedule_reconnect(uint64_t delay_ms) {
  std::weak_ptr<Controller> weak = weak_from_this();
  reconnect_timer_ = reactor_.add_timer(delay_ms * 1000, [weak] {
    if (auto c = weak.lock()) {
      c->reconnect_timer_ = 0;
      c->attempt();
    }
  });
}

void Controller::remove(const Failure& failure) {
  state_ = State::kRemoved;
  one_attempt_ = false;
  ++gen_;
  give_up_queues(Failure{kErrDisconnected, "gave up reconnecting: " + failure.message, failure.errnum, 0});
  events_->on_removed(id_, failure);
  schedule_revive();
}

void Controller::schedule_revive() {
  if (!options_.revive_interval_ms || options_.ctrl_loss_tmo_ms == 0) return;
  std::weak_ptr<Controller> weak = weak_from_this();
  reconnect_timer_ = reactor_.add_timer(uint64_t(options_.revive_interval_ms) * 1000, [weak] {
    auto c = weak.lock();
    if (!c || c->state_ != State::kRemoved) return;
    c->reconnect_timer_ = 0;
    c->one_attempt_ = true;
    c->advance_path();
    c->restart();
  });
}

void Controller::reset() {
  auto self = shared_from_this();
  reactor_.post([self] { self->do_reset(); });
}

void Controller::do_reset() {
  switch (state_) {
    case State::kLive: {
      Failure why{kErrDisconnected, "reset by request", 0, 0};
      ++gen_;
      reactor_.cancel_timer(ka_timer_);
      shutdown_queues(why);
      events_->on_disconnected(id_, why, true);
      break;
    }
    case State::kResetting: break;
    case State::kRemoved: one_attempt_ = true; break;
    default: return;
  }
  reactor_.cancel_timer(reconnect_timer_);
  reconnect_timer_ = 0;
  restart();
}

void Controller::restart() {
  state_ = State::kResetting;
  lost_at_us_ = Reactor::now_us();
  nr_reconnects_ = 0;
  attempt();
}

void Controller::shutdown_queues(const Failure& why) {
  admin_->shutdown(why);
  for (auto& q : io_) q->reactor().post([q, why] { q->shutdown(why); });
}

void Controller::give_up_queues(const Failure& why) {
  admin_->give_up(why);
  for (auto& q : io_) q->reactor().post([q, why] { q->give_up(why); });
}

void Controller::kill_queues(const Failure& why) {
  admin_->kill(why);
  for (auto& q : io_) q->reactor().post([q, why] { q->kill(why); });
}

// --- keep-alive and abort ----------------------------------------------------------------

void Controller::start_keep_alive() {
  if (options_.kato_ms == 0) return;
  std::weak_ptr<Controller> weak = weak_from_this();
  // Half of KATO, as Linux does, so one late Keep Alive does not expire the controller.
  ka_timer_ = reactor_.add_timer(uint64_t(options_.kato_ms) * 500, [weak] {
    if (auto c = weak.lock()) {
      c->ka_timer_ = 0;
      c->keep_alive();
    }
  });
}

void Controller::keep_alive() {
  if (state_ != State::kLive) return;
  if (!ka_outstanding_) {
    ka_outstanding_ = true;
    auto self = shared_from_this();
    uint64_t gen = gen_;
    // An unanswered Keep Alive times out after KATO and takes the admin queue down.
    admin_->submit_internal(admin_sqe(spec::kAdminKeepAlive), spec::kXferNone, {}, options_.kato_ms,
                            [self, gen](uint32_t status, const CompletionEntry&, std::vector<uint8_t>&) {
                              self->ka_outstanding_ = false;
                              if (!self->live(gen)) return;
                              if (status < kHostStatusBase && !status_ok(status))
                                self->error_recovery(status_failure(kErrDisconnected, "Keep Alive failed", status));
                            });
  }
  start_keep_alive();
}

// --- asynchronous events --------------------------------------------------------------------

// As Linux does: Namespace Attribute Notices on, where the controller offers them (OAES
// bit 8), and one Asynchronous Event Request kept outstanding for the association's life.
void Controller::enable_async_events(uint64_t gen) {
  spec::IdentifyController id;
  std::memcpy(&id, info_.identify.data(), sizeof id);
  const bool discovery = options_.nr_io_queues == 0;  // no namespaces to hear about
  // The notices the controller offers of those we follow (OAES and the configuration share bits).
  const uint32_t notices = id.oaes & (spec::kAecNsAttr | spec::kAecAnaChange);
  if (discovery || !notices) return;
  SubmissionEntry sqe = admin_sqe(spec::kAdminSetFeatures);
  sqe.cdw10 = spec::kFeatAsyncEventConfig;
  sqe.cdw11 = notices;
  auto self = shared_from_this();
  admin_->submit_internal(sqe, spec::kXferNone, {}, options_.timeout_ms,
                          [self, gen](uint32_t status, const CompletionEntry&, std::vector<uint8_t>&) {
                            if (self->live(gen) && status_ok(status)) self->request_async_event(gen);
                          });
}

void Controller::request_async_event(uint64_t gen) {
  auto self = shared_from_this();
  // No timeout: the controller answers only when something happens.
  admin_->submit_internal(admin_sqe(spec::kAdminAsyncEvent), spec::kXferNone, {}, 0,
                          [self, gen](uint32_t status, const CompletionEntry& cqe, std::vector<uint8_t>&) {
                            // An error (the limit, or the queue going down) ends the loop.
                            if (!self->live(gen) || !status_ok(status)) return;
                            self->request_async_event(gen);
                            if (spec::async_event_type(cqe.dw0) != spec::kAerNotice) return;
                            uint8_t info = spec::async_event_info(cqe.dw0);
                            if (info == spec::kAerNoticeNsAttrChanged) self->read_changed_namespaces(gen);
                            if (info == spec::kAerNoticeAnaChange) self->events_->on_ana_changed(self->id_);
                          });
}

// Reading the log (RAE clear) also lets the controller send the next notice.
void Controller::read_changed_namespaces(uint64_t gen) {
  SubmissionEntry sqe = admin_sqe(spec::kAdminGetLogPage);
  sqe.nsid = 0xffffffff;
  constexpr uint32_t kBytes = sizeof(spec::ChangedNsList);
  sqe.cdw10 = spec::kLogChangedNs | (kBytes / 4 - 1) << 16;
  auto self = shared_from_this();
  admin_->submit_internal(sqe, spec::kXferControllerToHost, std::vector<uint8_t>(kBytes), options_.timeout_ms,
                          [self, gen](uint32_t status, const CompletionEntry&, std::vector<uint8_t>& data) {
                            if (!self->live(gen) || !status_ok(status)) return;
                            std::vector<uint32_t> nsids;
                            for (size_t at = 0; at + 4 <= data.size(); at += 4) {
                              uint32_t nsid;
                              std::memcpy(&nsid, data.data() + at, 4);
                              if (nsid == 0) break;
                              nsids.push_back(nsid);
                            }
                            if (!nsids.empty()) self->events_->on_namespaces_changed(self->id_, nsids);
                          });
}

void Controller::on_request_timeout(uint16_t qid, uint64_t gen, uint16_t cid) {
  auto self = shared_from_this();
  reactor_.post([self, qid, gen, cid] {
    if (self->live(gen)) self->abort_command(qid, cid);
  });
}

void Controller::abort_command(uint16_t qid, uint16_t cid) {
  SubmissionEntry sqe = admin_sqe(spec::kAdminAbort);
  sqe.cdw10 = uint32_t(qid) | uint32_t(cid) << 16;
  // Whatever Abort answers, the command's own completion or its second timeout decides.
  admin_->submit_internal(sqe, spec::kXferNone, {}, options_.timeout_ms,
                          [](uint32_t, const CompletionEntry&, std::vector<uint8_t>&) {});
}

// --- admin commands from outside -----------------------------------------------------------

void Controller::admin_command(const SubmissionEntry& sqe, spec::DataDirection dir,
                               std::vector<uint8_t> data, QueuePair::InternalDone done) {
  if (state_ != State::kLive) {
    CompletionEntry c{};
    done(kStatusDisconnected, c, data);
    return;
  }
  admin_->submit_internal(sqe, dir, std::move(data), options_.timeout_ms, std::move(done));
}

void Controller::identify(uint32_t op_id, uint8_t cns, uint32_t nsid) {
  auto self = shared_from_this();
  reactor_.post([self, op_id, cns, nsid] {
    SubmissionEntry sqe = admin_sqe(spec::kAdminIdentify);
    sqe.nsid = nsid;
    sqe.cdw10 = cns;
    self->admin_command(sqe, spec::kXferControllerToHost, std::vector<uint8_t>(spec::kIdentifyDataSize),
                        [self, op_id](uint32_t status, const CompletionEntry& cqe, std::vector<uint8_t>& data) {
                          self->events_->on_admin_done(self->id_, op_id, status, cqe.dw0, std::move(data));
                        });
  });
}

void Controller::authenticate(uint32_t op_id, auth::SecretRef key, auth::SecretRef ctrlr_key) {
  auto self = shared_from_this();
  reactor_.post([self, op_id, key, ctrlr_key] {
    self->keys_ = auth::DhchapKeys{key, ctrlr_key};  // for queues made later
    // Every queue at once, each on its reactor; the first failure is the answer.
    struct Round {
      std::atomic<size_t> left;
      std::mutex mutex;
      std::optional<Failure> failure;
    };
    // A queue that is not live takes the keys for its reconnects and says so: then the
    // answer is that the controller was not connected.
    std::vector<std::shared_ptr<QueuePair>> queues{self->admin_};
    queues.insert(queues.end(), self->io_.begin(), self->io_.end());
    auto round = std::make_shared<Round>();
    round->left = queues.size();
    for (auto& q : queues) {
      q->reactor().post([self, op_id, q, key, ctrlr_key, round] {
        q->reauthenticate(key, ctrlr_key, [self, op_id, round](const Failure* f) {
          if (f) {
            std::lock_guard<std::mutex> lock(round->mutex);
            if (!round->failure) round->failure = *f;
          }
          if (--round->left) return;
          uint32_t status = 0;
          std::vector<uint8_t> why;
          if (round->failure) {
            status = round->failure->code == kErrAuth ? kStatusAuth : kStatusDisconnected;
            why.assign(round->failure->message.begin(), round->failure->message.end());
          }
          self->events_->on_admin_done(self->id_, op_id, status, 0, std::move(why));
        });
      });
    }
  });
}

void Controller::get_log_page(uint32_t op_id, uint8_t lid, uint8_t lsp, uint32_t nsid, uint32_t bytes) {
  auto self = shared_from_this();
  reactor_.post([self, op_id, lid, lsp, nsid, bytes] {
    SubmissionEntry sqe = admin_sqe(spec::kAdminGetLogPage);
    sqe.nsid = nsid;
    uint32_t numd = bytes / 4 - 1;  // 0's based dwords
    sqe.cdw10 = uint32_t(lid) | uint32_t(lsp) << 8 | (numd & 0xffff) << 16;
    sqe.cdw11 = numd >> 16;
    self->admin_command(sqe, spec::kXferControllerToHost, std::vector<uint8_t>(bytes),
                        [self, op_id](uint32_t status, const CompletionEntry& cqe, std::vector<uint8_t>& data) {
                          self->events_->on_admin_done(self->id_, op_id, status, cqe.dw0, std::move(data));
                        });
  });
}

// --- close ---------------------------------------------------------------------------------

void Controller::close() {
  auto self = shared_from_this();
  reactor_.post([self] { self->do_close(); });
}

void Controller::do_close() {
  if (state_ == State::kClosing) return;
  if (state_ == State::kClosed || state_ == State::kFailed) {
    state_ = State::kClosed;
    events_->on_closed(id_);
    return;
  }
  bool live = state_ == State::kLive;
  state_ = State::kClosing;
  uint64_t gen = ++gen_;
  reactor_.cancel_timer(ka_timer_);
  reactor_.cancel_timer(reconnect_timer_);
  Failure closed{kErrDisconnected, "the controller was closed", 0, 0};
  closing_queues_ = io_.size() + 1;
  closing_admin_ = true;
  auto self = shared_from_this();
  for (auto& q : io_) {
    q->reactor().post([self, q, closed] {
      q->kill(closed, [self] { self->reactor_.post([self] { self->queue_closed(); }); });
    });
  }
  if (live) shutdown_controller(gen);
  else admin_closed();
}

void Controller::shutdown_controller(uint64_t gen) {
  // Normal shutdown (CC.SHN), then wait for CSTS.SHST to say complete, as Linux does on delete.
  spec::PropertySetCommand c{};
  c.opcode = spec::kOpcodeFabrics;
  c.fctype = spec::kFctPropertySet;
  c.attrib = spec::kPropSize4;
  c.offset = spec::kPropCc;
  c.value = (cc_ & ~(0x3u << 14)) | uint32_t(spec::kShnNormal) << 14;
  SubmissionEntry sqe;
  std::memcpy(&sqe, &c, sizeof sqe);
  auto self = shared_from_this();
  uint64_t deadline = Reactor::now_us() + kShutdownUs;
  admin_->submit_internal(sqe, spec::kXferNone, {}, options_.timeout_ms,
                          [self, gen, deadline](uint32_t status, const CompletionEntry&, std::vector<uint8_t>&) {
                            if (gen != self->gen_) return;
                            if (status_ok(status)) self->wait_shutdown(gen, deadline);
                            else self->admin_closed();
                          });
}

void Controller::wait_shutdown(uint64_t gen, uint64_t deadline_us) {
  spec::PropertyGetCommand c{};
  c.opcode = spec::kOpcodeFabrics;
  c.fctype = spec::kFctPropertyGet;
  c.attrib = spec::kPropSize4;
  c.offset = spec::kPropCsts;
  SubmissionEntry sqe;
  std::memcpy(&sqe, &c, sizeof sqe);
  auto self = shared_from_this();
  admin_->submit_internal(
      sqe, spec::kXferNone, {}, options_.timeout_ms,
      [self, gen, deadline_us](uint32_t status, const CompletionEntry& cqe, std::vector<uint8_t>&) {
        if (gen != self->gen_) return;
        bool done = !status_ok(status) || spec::csts_shst(cqe.dw0) == spec::kShstComplete ||
                    Reactor::now_us() > deadline_us;
        if (done) {
          self->admin_closed();
          return;
        }
        std::weak_ptr<Controller> weak = self;
        self->reactor_.add_timer(kReadyPollUs, [weak, gen, deadline_us] {
          if (auto c = weak.lock(); c && gen == c->gen_) c->wait_shutdown(gen, deadline_us);
        });
      });
}

void Controller::admin_closed() {
  if (!closing_admin_) return;
  closing_admin_ = false;
  // Posted, as the I/O queues' are: a release may come from wherever an RDMA
  // connection's last reference goes.
  auto self = shared_from_this();
  admin_->kill(Failure{kErrDisconnected, "the controller was closed", 0, 0},
               [self] { self->reactor_.post([self] { self->queue_closed(); }); });
}

// Closed once every queue's connection has released what it held, so that a caller
// checking for leaks after close() finds none.
void Controller::queue_closed() {
  if (--closing_queues_ == 0) {
    state_ = State::kClosed;
    events_->on_closed(id_);
  }
}

}  // namespace rdmagate::host
