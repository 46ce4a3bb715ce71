#include "bdev/nvmf_bdev.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>

#include "host/failure.h"
#include "spec/identify.h"
#include "spec/log_pages.h"
#include "util/error.h"

namespace rdmagate::bdev {

using namespace spec;

namespace {

constexpr uint32_t kSlotBits = 20;

// A backend given up (ctrl_loss_tmo) still tries again this often, or every
// reconnect_delay if that is longer: its frontend hosts stay connected to the gateway, and
// their I/O resumes when it comes back (meanwhile it fails at once, with a pathing error).
constexpr uint32_t kReviveIntervalMs = 10000;

// What the frontend sees of a backend outcome. NVMe statuses pass through; a backend
// the host could not reach (timeout, lost connection, given up) is a pathing error of
// this controller, which hosts may retry on another path.
Status frontend_status(uint32_t word) {
  if (host::status_ok(word)) return status::kSuccess;
  if (word < host::kHostStatusBase) return Status{host::status_sct(word), host::status_sc(word)};
  return status::kControllerPathingError;
}

// An ANA log with every group and its NSIDs: a few groups of a few namespaces fit.
constexpr uint32_t kAnaLogBytes = 4096;

uint64_t next_backend_id() {
  static std::atomic<uint64_t> id{1u << 20};  // apart from the JS host's controller ids
  return id++;
}

}  // namespace

NvmfBackend::NvmfBackend(std::string name, std::vector<Reactor*> reactors)
    : name_(std::move(name)), reactors_(std::move(reactors)), lanes_(reactors_.size()) {
  for (size_t i = 0; i < reactors_.size(); ++i) lanes_[i].reactor = reactors_[i];
}

NvmfBackend::~NvmfBackend() = default;

std::shared_ptr<NvmfBackend> NvmfBackend::create(const std::string& name, host::ControllerOptions options,
                                                 std::vector<Reactor*> reactors) {
  options.nr_io_queues = uint16_t(reactors.size());
  options.io_failure = host::IoFailureMode::kRetry;  // held through a reconnect, failed after ctrl_loss_tmo
  options.revive_interval_ms = std::max(options.reconnect_delay_ms, kReviveIntervalMs);
  host::validate(options);
  std::shared_ptr<NvmfBackend> b(new NvmfBackend(name, reactors));
  b->lend_pool_ = options.lend_pool.get();  // kept alive by the controller's options
  b->controller_ = host::Controller::create(next_backend_id(), reactors, options, b);
  b->controller_->start();
  return b;
}

const char* NvmfBackend::state_name() const {
  switch (state_.load()) {
    case State::kConnecting: return "connecting";
    case State::kLive: return "enabled";
    case State::kReconnecting: return "resetting";
    case State::kFailed: return "failed";
    case State::kClosed: return "deleting";
  }
  return "unknown";
}

// ---- control path -------------------------------------------------------------

struct NvmfBackend::Attach {
  AttachDone done;
  uint32_t timeout_ms;
  Reactor::TimerId timer = 0;
  bool ended = false;
  std::vector<RemoteNamespace> namespaces;
};

void NvmfBackend::attach(uint32_t timeout_ms, AttachDone done) {
  auto a = std::make_shared<Attach>();
  a->done = std::move(done);
  a->timeout_ms = timeout_ms;
  auto self = shared_from_this();
  reactors_.front()->post([self, a] {
    self->attach_ = a;
    a->timer = self->reactors_.front()->add_timer(uint64_t(a->timeout_ms) * 1000, [self, a] {
      a->timer = 0;
      bool connected;
      {
        std::lock_guard<std::mutex> lock(self->mutex_);
        connected = self->connect_done_;
      }
      self->end_attach(a, "ERR_NVME_TIMEOUT", connected ? "Identify timed out"
                                                         : "no connection within " + std::to_string(a->timeout_ms) + " ms");
    });
    // Connected (or failed) before this ran: on_connected / on_connect_failed, on this same
    // reactor, have been and gone.
    host::Failure failure;
    {
      std::lock_guard<std::mutex> lock(self->mutex_);
      if (!self->connect_done_) return;
      failure = self->connect_failure_;
    }
    if (!failure.code.empty()) return self->end_attach(a, failure.code, failure.message);
    self->identify_namespaces(a);
  });
}

void NvmfBackend::end_attach(const std::shared_ptr<Attach>& a, const std::string& code, const std::string& message) {
  if (a->ended) return;
  a->ended = true;
  if (a->timer) reactors_.front()->cancel_timer(a->timer);
  if (attach_ == a) attach_.reset();
  std::vector<RemoteNamespace> out;
  if (code.empty()) {
    out.swap(a->namespaces);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto& ns : out) {
        ns_blocks_[ns.nsid] = ns.num_blocks;
        if (!ana_.count(ns.nsid)) ana_[ns.nsid] = std::make_unique<std::atomic<uint8_t>>(0);
      }
    }
    read_ana(false);
  }
  a->done(std::move(out), code, code.empty() ? "" : "backend " + name_ + ": " + message);
}

void NvmfBackend::identify_then(uint8_t cns, uint32_t nsid, AdminThen then) {
  uint32_t op;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    op = next_admin_op_++;
    admin_then_[op] = std::move(then);
  }
  controller_->identify(op, cns, nsid);
}

void NvmfBackend::identify_namespaces(const std::shared_ptr<Attach>& a) {
  auto self = shared_from_this();
  identify_then(kCnsActiveNsList, 0, [self, a](uint32_t status, std::vector<uint8_t>& list) {
    if (!host::status_ok(status)) return self->end_attach(a, "ERR_NVME_STATUS", "Identify (CNS 2) failed");
    std::vector<uint32_t> nsids;
    for (size_t i = 0; i + 4 <= list.size(); i += 4) {
      uint32_t nsid;
      memcpy(&nsid, list.data() + i, 4);
      if (nsid == 0) break;
      nsids.push_back(nsid);
    }
    self->identify_next(a, std::move(nsids), 0);
  });
}

void NvmfBackend::identify_next(const std::shared_ptr<Attach>& a, std::vector<uint32_t> nsids, size_t next) {
  if (a->ended) return;
  if (next == nsids.size()) return end_attach(a, "", "");
  const uint32_t nsid = nsids[next];
  auto self = shared_from_this();
  identify_then(kCnsNamespace, nsid, [self, a, nsids = std::move(nsids), next, nsid](uint32_t status, std::vector<uint8_t>& raw) mutable {
    IdentifyNamespace id;
    if (a->ended) return;
    if (!host::status_ok(status) || raw.size() < sizeof id) return self->end_attach(a, "ERR_NVME_STATUS", "Identify (CNS 0) failed");
    memcpy(&id, raw.data(), sizeof id);
    RemoteNamespace ns{};
    ns.nsid = nsid;
    ns.num_blocks = id.nsze;
    ns.block_size = 1u << id.lbaf[flbas_index(id.flbas)].lbads;
    memcpy(ns.nguid, id.nguid, 16);
    // The UUID is only in the descriptor list; a controller without one leaves it zero.
    self->identify_then(kCnsNsDescList, nsid, [self, a, nsids = std::move(nsids), next, ns](uint32_t status, std::vector<uint8_t>& d) mutable {
      for (size_t at = 0; host::status_ok(status) && at + 4 <= d.size() && d[at] != 0;) {
        uint8_t type = d[at], len = d[at + 1];
        if (type == kNidtUuid && len == 16 && at + 20 <= d.size()) memcpy(ns.uuid, d.data() + at + 4, 16);
        at += 4 + len;
      }
      if (ns.num_blocks && ns.block_size >= 512) a->namespaces.push_back(ns);
      self->identify_next(a, std::move(nsids), next + 1);
    });
  });
}

std::vector<std::pair<uint32_t, uint8_t>> NvmfBackend::ana_states() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::pair<uint32_t, uint8_t>> out;
  for (auto& [nsid, cell] : ana_) out.emplace_back(nsid, cell->load(std::memory_order_relaxed));
  return out;
}

const std::atomic<uint8_t>* NvmfBackend::ana_state(uint32_t nsid) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = ana_.find(nsid);
  return it == ana_.end() ? nullptr : it->second.get();
}

void NvmfBackend::on_resized(std::function<void(uint32_t nsid)> handler) {
  std::lock_guard<std::mutex> lock(resized_mutex_);
  if (handler && state_ == State::kClosed) return;  // close() has cleared it for good
  resized_ = std::move(handler);
}

uint64_t NvmfBackend::namespace_blocks(uint32_t nsid) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = ns_blocks_.find(nsid);
  return it == ns_blocks_.end() ? 0 : it->second;
}

void NvmfBackend::on_namespaces_changed(uint64_t, const std::vector<uint32_t>& nsids) {
  std::vector<std::pair<uint32_t, uint32_t>> probes;  // op, nsid
  const bool all = !nsids.empty() && nsids.front() == 0xffffffff;  // more than the list holds
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [nsid, blocks] : ns_blocks_) {
      // Namespaces that came after the attach are not bdevs: only the attached ones resize.
      if (!all && std::find(nsids.begin(), nsids.end(), nsid) == nsids.end()) continue;
      probes.emplace_back(next_admin_op_++, nsid);
      size_probes_[probes.back().first] = nsid;
    }
  }
  for (auto& [op, nsid] : probes) controller_->identify(op, kCnsNamespace, nsid);
}

void NvmfBackend::on_ana_changed(uint64_t) { read_ana(true); }

void NvmfBackend::read_ana(bool after_notice) {
  uint32_t op;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    op = next_admin_op_++;
    ana_reads_[op] = after_notice;
  }
  // Reading the log also lets the controller send the next notice. A controller without
  // ANA refuses it, and its namespaces keep state 0 (optimized, as far as anyone knows).
  controller_->get_log_page(op, spec::kLogAna, 0, 0, kAnaLogBytes);
}

uint32_t NvmfBackend::take_ana_states(const std::vector<uint8_t>& log) {
  spec::AnaLogHeader h;
  if (log.size() < sizeof h) return 0;
  memcpy(&h, log.data(), sizeof h);
  std::lock_guard<std::mutex> lock(mutex_);
  uint32_t unreachable_nsid = 0;
  size_t at = sizeof h;
  for (uint16_t g = 0; g < h.ngrps; ++g) {
    spec::AnaGroupDescriptor d;
    if (log.size() - at < sizeof d) break;
    memcpy(&d, log.data() + at, sizeof d);
    at += sizeof d;
    if (uint64_t(d.nnsids) * 4 > log.size() - at) break;
    uint8_t state = d.state & 0xf;
    bool unreachable = state == spec::kAnaInaccessible || state == spec::kAnaPersistentLoss;
    for (uint32_t i = 0; i < d.nnsids; ++i, at += 4) {
      uint32_t nsid;
      memcpy(&nsid, log.data() + at, 4);
      auto cell = ana_.find(nsid);
      if (cell == ana_.end()) continue;
      cell->second->store(state, std::memory_order_relaxed);
      if (unreachable && !unreachable_nsid) unreachable_nsid = nsid;
    }
  }
  return unreachable_nsid;
}

void NvmfBackend::authenticate(auth::SecretRef key, auth::SecretRef ctrlr_key, uint32_t timeout_ms) {
  uint32_t op;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    op = next_admin_op_++;
  }
  controller_->authenticate(op, std::move(key), std::move(ctrlr_key));
  std::unique_lock<std::mutex> lock(mutex_);
  if (!cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return admin_results_.count(op) > 0; }))
    throw Error("ERR_NVME_TIMEOUT", "backend " + name_ + ": re-authentication timed out");
  auto [status, data] = std::move(admin_results_[op]);
  admin_results_.erase(op);
  if (status == 0) return;
  std::string why(data.begin(), data.end());
  throw Error(status == host::kStatusAuth ? "ERR_NVME_AUTH" : "ERR_NVME_DISCONNECTED", "backend " + name_ + ": " + why);
}

void NvmfBackend::close() {
  state_ = State::kClosed;
  on_resized(nullptr);
  // An attach under way ends now, while the reactors run: its controller's close (which
  // ends it too) may outlast the target's wait for it.
  auto self = shared_from_this();
  reactors_.front()->post([self] {
    if (auto a = self->attach_) self->end_attach(a, "ERR_CLOSED", "closed while attaching");
  });
  controller_->close();
}

void NvmfBackend::reset() {
  // Resetting from this call on, so that a caller waiting for the outcome does not take the
  // state before the reset for it.
  for (State s : {State::kLive, State::kFailed}) {
    if (state_.compare_exchange_strong(s, State::kReconnecting)) break;
  }
  controller_->reset();
}

bool NvmfBackend::closed() {
  std::lock_guard<std::mutex> lock(mutex_);
  return closed_;
}

void NvmfBackend::wait_closed(uint32_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return closed_; });
}

void NvmfBackend::on_connected(uint64_t, const host::ControllerInfo& info) {
  // The queues exist from here on, and never change: give each reactor its own.
  for (uint32_t i = 0; i < info.io_queues; ++i) {
    host::QueuePair* q = controller_->io_queue(i);
    for (auto& lane : lanes_) {
      if (q && &q->reactor() == lane.reactor && !lane.queue) {
        lane.queue = q;
        lane.slots.resize(q->free_slots());
        for (uint32_t s = uint32_t(lane.slots.size()); s-- > 0;) lane.free.push_back(s);
      }
    }
  }
  state_.store(State::kLive, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    connect_done_ = true;
  }
  if (auto a = attach_) identify_namespaces(a);
}

std::string NvmfBackend::reason() {
  std::lock_guard<std::mutex> lock(mutex_);
  return reason_;
}

void NvmfBackend::on_connect_failed(uint64_t, const host::Failure& failure) {
  state_ = State::kFailed;
  std::unique_lock<std::mutex> lock(mutex_);
  reason_ = failure.message;
  connect_done_ = true;
  connect_failure_ = failure;
  if (connect_failure_.code.empty()) connect_failure_.code = host::kErrConnect;
  if (auto a = attach_) {
    lock.unlock();
    end_attach(a, connect_failure_.code, failure.message);
  }
}

void NvmfBackend::set_reason(const std::string& why) {
  std::lock_guard<std::mutex> lock(mutex_);
  reason_ = why;
}

void NvmfBackend::on_disconnected(uint64_t, const host::Failure& failure, bool reconnecting) {
  set_reason(failure.message);
  if (state_ != State::kClosed) state_ = reconnecting ? State::kReconnecting : State::kFailed;
}

void NvmfBackend::on_reconnected(uint64_t id) {
  if (state_ != State::kClosed) state_ = State::kLive;
  end_failover_wait(true);
  // A notice may have been lost with the connection: look at every namespace again, and
  // at the ANA states through this path, which may be another.
  on_namespaces_changed(id, {0xffffffff});
  read_ana(false);
}

void NvmfBackend::on_removed(uint64_t, const host::Failure& failure) {
  set_reason(failure.message);
  if (state_ != State::kClosed) state_ = State::kFailed;
  end_failover_wait(false);
}

void NvmfBackend::on_closed(uint64_t) {
  state_ = State::kClosed;
  if (auto a = attach_) end_attach(a, "ERR_CLOSED", "closed while attaching");
  end_failover_wait(false);
  std::lock_guard<std::mutex> lock(mutex_);
  closed_ = true;
  cv_.notify_all();
}

void NvmfBackend::on_admin_done(uint64_t, uint32_t op_id, uint32_t status, uint32_t, std::vector<uint8_t>&& data) {
  std::optional<bool> ana_read;  // whether after a notice
  AdminThen then;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = ana_reads_.find(op_id); it != ana_reads_.end()) {
      ana_read = it->second;
      ana_reads_.erase(it);
    } else if (auto t = admin_then_.find(op_id); t != admin_then_.end()) {
      then = std::move(t->second);
      admin_then_.erase(t);
    }
  }
  if (then) return then(status, data);
  if (ana_read) {
    uint32_t nsid = host::status_ok(status) ? take_ana_states(data) : 0;
    // Only a change moves the controller: a path found inaccessible as it connects is kept,
    // or two such paths would hand the controller back and forth for ever.
    if (nsid && *ana_read) controller_->fail_over("the ANA state of namespace " + std::to_string(nsid) + " through this path is inaccessible");
    return;
  }
  uint32_t resized = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto probe = size_probes_.find(op_id);
    if (probe == size_probes_.end()) {
      admin_results_[op_id] = {status, std::move(data)};
      cv_.notify_all();
      return;
    }
    const uint32_t nsid = probe->second;
    size_probes_.erase(probe);
    IdentifyNamespace id;
    if (!host::status_ok(status) || data.size() < sizeof id) return;
    memcpy(&id, data.data(), sizeof id);
    if (id.nsze == 0 || id.nsze == ns_blocks_[nsid]) return;
    ns_blocks_[nsid] = id.nsze;
    resized = nsid;
  }
  std::lock_guard<std::mutex> lock(resized_mutex_);
  if (resized_) resized_(resized);
}

// ---- data path (reactor threads) ----------------------------------------------

size_t NvmfBackend::queued_here() {
  Lane* lane = lane_here();
  return lane ? lane->slots.size() - lane->free.size() + lane->waiting.size() : 0;
}

NvmfBackend::Lane* NvmfBackend::lane_here() {
  Reactor* r = Reactor::current();
  for (auto& lane : lanes_)
    if (lane.reactor == r) return &lane;
  return nullptr;
}

void NvmfBackend::submit(uint32_t nsid, const IoRequest& io, uint32_t block_size, IoDone done, void* ctx) {
  State s = state_.load(std::memory_order_acquire);
  Lane* lane = lane_here();
  // Connected at least once: while reconnecting the host holds the I/O for the retry.
  if (!lane || !lane->queue || s == State::kFailed || s == State::kClosed || s == State::kConnecting)
    return done(ctx, status::kControllerPathingError);
  if (lane->free.empty()) {
    lane->waiting.push_back({nsid, io, block_size, done, ctx});
    return;
  }
  start(*lane, nsid, io, block_size, done, ctx);
}

void NvmfBackend::start(Lane& lane, uint32_t nsid, const IoRequest& io, uint32_t bs, IoDone done, void* ctx) {
  uint32_t slot = lane.free.back();
  lane.free.pop_back();
  InFlight& f = lane.slots[slot];
  f = InFlight{done, ctx, io, io.ranges, io.nr_ranges, nsid, bs, 0};
  if (io.type == IoType::kUnmap && io.nr_ranges == 0) return finish(lane, slot, status::kSuccess);
  issue(lane, slot);
}

void NvmfBackend::issue(Lane& lane, uint32_t slot) {
  const InFlight& f = lane.slots[slot];
  const IoRequest& io = f.io;
  uint32_t nlb = uint32_t(io.num_blocks);
  switch (io.type) {
    case IoType::kRead: return send(lane, slot, kIoRead, f.nsid, io.offset_blocks, nlb, io.buf, nlb * f.block_size, io.chunk);
    case IoType::kWrite: return send(lane, slot, kIoWrite, f.nsid, io.offset_blocks, nlb, io.buf, nlb * f.block_size, io.chunk);
    case IoType::kWriteZeroes: return send(lane, slot, kIoWriteZeroes, f.nsid, io.offset_blocks, nlb, nullptr, 0);
    case IoType::kFlush: return send(lane, slot, kIoFlush, f.nsid, 0, 0, nullptr, 0);
    case IoType::kUnmap: return send(lane, slot, kIoDsm, f.nsid, f.ranges->slba, f.ranges->nlb, nullptr, 0);
  }
}

bool NvmfBackend::retry_after_failover(Lane& lane, uint32_t slot) {
  InFlight& f = lane.slots[slot];
  // Each path once: a command that every path refuses gets its status.
  if (f.path_retries + 1 >= controller_->path_count()) return false;
  ++f.path_retries;
  lane.after_failover.push_back(slot);
  bool asked = false;
  if (failing_over_.compare_exchange_strong(asked, true)) controller_->fail_over("a command came back with a path error: failing over");
  return true;
}

void NvmfBackend::end_failover_wait(bool resend) {
  failing_over_.store(false);
  auto self = shared_from_this();
  for (auto& lane : lanes_) {
    Lane* l = &lane;
    l->reactor->post([self, l, resend] {
      std::vector<uint32_t> slots;
      slots.swap(l->after_failover);
      for (uint32_t slot : slots) {
        if (resend) self->issue(*l, slot);
        else self->finish(*l, slot, status::kControllerPathingError);
      }
    });
  }
}

void NvmfBackend::send(Lane& lane, uint32_t slot, uint8_t opcode, uint32_t nsid, uint64_t slba, uint32_t nlb,
                       uint8_t* data, uint32_t length, BufferPool::Chunk* chunk) {
  host::SubmitEntry e;
  e.op_id = uint32_t(&lane - lanes_.data()) << kSlotBits | slot;
  e.opcode = opcode;
  e.nsid = nsid;
  e.slba = slba;
  e.nlb = nlb;
  e.data = data;
  e.length = length;
  if (chunk && lend_pool_) {
    chunk->inflight.fetch_add(1, std::memory_order_acq_rel);  // the queue pair drops it on completion
    e.pool = lend_pool_;
    e.chunk = chunk;
  }
  if (!lane.queue->submit_now(e)) {
    if (e.chunk) e.chunk->inflight.fetch_sub(1, std::memory_order_acq_rel);
    // Cannot be while lanes hold no more than the queue's depth; if it ever is, the
    // command fails rather than hang.
    finish(lane, slot, status::kInternal);
  }
}

void NvmfBackend::finish(Lane& lane, uint32_t slot, spec::Status status) {
  InFlight& f = lane.slots[slot];
  IoDone done = f.done;
  void* ctx = f.ctx;
  lane.free.push_back(slot);
  done(ctx, status);
}

void NvmfBackend::on_io_completions(uint64_t, const uint32_t* pairs, size_t count) {
  Lane* touched = nullptr;
  for (size_t i = 0; i < count; ++i) {
    uint32_t op = pairs[2 * i], word = pairs[2 * i + 1];
    Lane& lane = lanes_[op >> kSlotBits];
    uint32_t slot = op & ((1u << kSlotBits) - 1);
    InFlight& f = lane.slots[slot];
    touched = &lane;
    if (f.ranges_left > 1 && host::status_ok(word)) {  // the next range of a deallocate
      --f.ranges_left;
      ++f.ranges;
      send(lane, slot, kIoDsm, f.nsid, f.ranges->slba, f.ranges->nlb, nullptr, 0);
      continue;
    }
    // A path status (SCT 3: ANA inaccessible, a pathing error) with DNR clear is the path's,
    // not the command's: another path may take it.
    if (word < host::kHostStatusBase && host::status_sct(word) == 3 && !(word & (1u << 14)) && retry_after_failover(lane, slot)) continue;
    finish(lane, slot, frontend_status(word));
  }
  // Completions free slots: send what was waiting for one.
  while (touched && !touched->free.empty() && !touched->waiting.empty()) {
    Waiting w = touched->waiting.front();
    touched->waiting.pop_front();
    start(*touched, w.nsid, w.io, w.block_size, w.done, w.ctx);
  }
}

}  // namespace rdmagate::bdev
