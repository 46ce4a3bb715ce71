#include "target/qpair.h"

#include <algorithm>

#include "spec/fabrics.h"
#include "target/commands.h"
#include "target/controller.h"
#include "target/target.h"
#include "util/error.h"

namespace rdmagate::target {

using namespace spec;

namespace {

// The data a command moves, as its SGL says. Fabrics commands encode the
// direction in fctype, the others in the opcode.
DataDirection direction_of(const SubmissionEntry& cmd) {
  if (cmd.opcode == kOpcodeFabrics) {
    uint8_t fctype = reinterpret_cast<const FabricsCommand&>(cmd).fctype;
    return static_cast<DataDirection>(fctype & 0x3);
  }
  return opcode_direction(cmd.opcode);
}

bool is_connect(const SubmissionEntry& cmd) {
  return cmd.opcode == kOpcodeFabrics && reinterpret_cast<const FabricsCommand&>(cmd).fctype == kFctConnect;
}

bool is_authentication(const SubmissionEntry& cmd) {
  if (cmd.opcode != kOpcodeFabrics) return false;
  uint8_t fctype = reinterpret_cast<const FabricsCommand&>(cmd).fctype;
  return fctype == kFctAuthSend || fctype == kFctAuthRecv;
}

}  // namespace

Qpair::Qpair(TransportContext& context, Reactor& reactor, uint16_t portid)
    : target_(context.core()), context_(context), pool_cache_(context.pool_cache(reactor)), reactor_(reactor),
      portid_(portid) {}

Qpair::~Qpair() = default;

uint32_t Qpair::in_capsule_limit() const {
  return qid_ == 0 ? 8192 : target_.options().in_capsule_data_size;
}

void Qpair::bind(std::shared_ptr<Controller> controller, uint16_t qid, uint16_t sq_size, bool sq_flow_disabled) {
  controller_ = std::move(controller);
  qid_ = qid;
  sq_size_ = sq_size;
  sq_flow_disabled_ = sq_flow_disabled;
  connected_ = true;
}

void Qpair::unbind() {
  if (controller_) {
    controller_->detach(this);
    NamespaceCounterList gone;
    {
      std::lock_guard<std::mutex> lock(ns_counters_mutex_);
      gone = std::move(ns_counters_);
      ns_counters_ = NamespaceCounterList();
    }
    controller_->subsystem().retire_counters(gone);
  }
  controller_.reset();
  auth_.reset();
  authenticated_ = true;
  connected_ = false;
  waiting_for_buffer_.clear();
  waiting_to_fetch_.clear();
  awaiting_data_.clear();
  awaiting_data_bytes_ = 0;
}

void Qpair::disconnect_async() {
  std::weak_ptr<Qpair> weak = shared_from_this();
  reactor_.post([weak] {
    if (auto q = weak.lock()) q->disconnect();
  });
}

const Namespace* Qpair::find_namespace(uint32_t nsid) {
  Subsystem& s = controller_->subsystem();
  uint64_t v = s.namespace_version();
  if (v != ns_version_) {  // one atomic load per command; the table is re-read only on change
    if (in_bdev_ && ns_table_) retired_tables_.push_back(std::move(ns_table_));
    ns_table_ = s.namespaces();
    ns_version_ = v;
  }
  auto it = ns_table_->find(nsid);
  return it == ns_table_->end() ? nullptr : it->second.get();
}

spec::AnaState Qpair::ana_state(uint32_t grpid) {
  AnaStates& ana = controller_->subsystem().ana();
  uint64_t changes = ana.changes();
  if (changes != ana_changes_seen_) {
    ana_view_ = ana.view(portid_);
    ana_changes_seen_ = changes;
  }
  return ana_view_.of(grpid);
}

void Qpair::auth_step_done() {
  auth_step_running_ = false;
  authenticated_ = !auth_ || auth_->authenticated();
  uint32_t v = 0;
  if (auth_) {
    AuthSummary::State state = auth_->failure()         ? AuthSummary::kFailed
                               : auth_->authenticated() ? AuthSummary::kCompleted
                                                        : AuthSummary::kInProgress;
    v = uint32_t(state) | uint32_t(auth_->hash()) << 8 | uint32_t(auth_->dhgroup()) << 16 |
        uint32_t(auth_->bidirectional()) << 24;
  }
  auth_summary_.store(v, std::memory_order_relaxed);
}

Qpair::AuthSummary Qpair::auth_summary() const {
  uint32_t v = auth_summary_.load(std::memory_order_relaxed);
  AuthSummary s;
  s.state = AuthSummary::State(v & 0xff);
  s.digest = uint8_t(v >> 8);
  s.dhgroup = uint8_t(v >> 16);
  s.bidirectional = (v >> 24) & 1;
  return s;
}

// NEW: a capsule has arrived.
void Qpair::on_capsule(Request* req) {
  counters_.commands++;
  req->start_us = Reactor::now_us();
  req->ns_instance = 0;
  if (sq_size_) sq_head_ = uint16_t((sq_head_ + 1) % sq_size_);
  req->rsp = CompletionEntry{};
  req->rsp.cid = req->cmd.cid;
  req->dir = direction_of(req->cmd);
  req->length = 0;
  req->fetching = false;
  // Before Connect a queue runs nothing else: no buffer, no R2T, for a peer that has not
  // said who it is (SPDK's target answers the same).
  if (!connected_ && !is_connect(req->cmd)) return complete(req, status::kCmdSeqError, true);
  // A slot is reused: nothing of the previous command's SGL may leak into this one.
  req->remote_addr = 0;
  req->rkey = 0;
  req->invalidate = false;
  if (req->dir != kXferNone) {
    DataSgl sgl = decode_data_sgl(req->cmd.dptr.sgl);
    if (sqe_psdt(req->cmd.flags) != kPsdtSglMptrBuffer && req->cmd.opcode != kOpcodeFabrics) {
      return complete(req, status::kInvalidField, true);
    }
    if (sgl.kind == DataSglKind::InCapsule) {
      if (req->dir != kXferHostToController) return complete(req, status::kSglDescriptorTypeInvalid, true);
      Status s = check_incapsule_sgl(sgl, req->in_capsule);
      if (s.sc != 0) return complete(req, s, true);
      if (sgl.addr != 0) return complete(req, status::kSglOffsetInvalid, true);
    } else if (sgl.kind != data_sgl_kind() || req->in_capsule != 0) {
      return complete(req, status::kSglDescriptorTypeInvalid, true);
    }
    req->length = sgl.length;
    req->remote_addr = sgl.addr;
    req->rkey = sgl.key;
    req->invalidate = sgl.invalidate;
    uint32_t limit = std::max<uint32_t>(target_.options().max_io_size, 8192);
    if (req->length > limit) return complete(req, status::kInvalidField, true);  // over MDTS
    // Before Connect, data is fetched only for a Connect, only its own 1 KiB, and one at a
    // time (NVMe/RDMA's Linux host sends it by RDMA READ, NVMe/TCP's in the capsule): any
    // other goes to the Connect handler with nothing fetched, which refuses it.
    if (!connected_ && !req->data && (req->length != sizeof(ConnectData) || awaiting_data_bytes_)) return execute(req);
  }
  start(req);
}

void Qpair::start(Request* req) {
  bool fetch = req->dir == kXferHostToController && req->in_capsule < req->length;
  if (fetch && !req->data && awaiting_data_bytes_ && awaiting_data_bytes_ + req->length > awaiting_data_limit()) {
    req->state = RequestState::kNeedBuffer;
    waiting_to_fetch_.push_back(req);
    return;
  }
  if (req->length && !req->data) {
    switch (acquire_buffer(req)) {
      case Acquired::kBuffer: break;
      case Acquired::kNone:
        counters_.pool_exhausted++;
        req->state = RequestState::kNeedBuffer;
        waiting_for_buffer_.push_back(req);
        retry_buffers();
        return;
      case Acquired::kFailed: return complete(req, status::kInternal);  // no DNR: the host may try again
    }
  }
  if (fetch) return fetch_data(req);
  execute(req);
}

uint64_t Qpair::awaiting_data_limit() const {
  return std::max<uint64_t>(2ull << 20, 2ull * target_.options().max_io_size);
}

void Qpair::fetch_data(Request* req) {
  req->state = RequestState::kTransferIn;
  req->fetching = true;
  req->fetch_us = Reactor::now_us();
  awaiting_data_bytes_ += req->length;
  awaiting_data_.push_back(req);
  transfer_in(req);
}

void Qpair::data_fetch_ended(Request* req) {
  if (!req->fetching) return;
  req->fetching = false;
  awaiting_data_bytes_ -= req->length;
  // Fetches mostly end in the order they began: the oldest is usually at the front.
  auto it = std::find(awaiting_data_.begin(), awaiting_data_.end(), req);
  if (it != awaiting_data_.end()) awaiting_data_.erase(it);
  while (!waiting_to_fetch_.empty() &&
         (!awaiting_data_bytes_ || awaiting_data_bytes_ + waiting_to_fetch_.front()->length <= awaiting_data_limit())) {
    Request* next = waiting_to_fetch_.front();
    waiting_to_fetch_.pop_front();
    start(next);
  }
}

Qpair::Acquired Qpair::acquire_buffer(Request* req) {
  BufferPool::Chunk* c;
  try {
    c = target_.pool().acquire(pool_cache_);
  } catch (const Error&) {
    // The pool could not grow (mmap, or a device's ibv_reg_mr, failed): this request fails,
    // and the reactor goes on.
    counters_.errors++;
    return Acquired::kFailed;
  }
  if (!c) return Acquired::kNone;
  req->chunk = c;
  req->data = c->data;
  return Acquired::kBuffer;
}

bool Qpair::wants_capsule_data(const SubmissionEntry& cmd) const { return connected_ || is_connect(cmd); }

bool Qpair::take_capsule_buffer(Request* req, uint32_t bytes) {
  if (connected_) {
    if (acquire_buffer(req) == Acquired::kBuffer) return true;
    counters_.pool_exhausted++;
  }
  // Page-aligned, as O_DIRECT file bdevs need. Outside the pool's limit, but at most the
  // queue's depth times its in-capsule size per queue.
  const size_t page = 4096;
  req->spill.reset(static_cast<uint8_t*>(std::aligned_alloc(page, (size_t(bytes) + page - 1) / page * page)));
  req->data = req->spill.get();
  return req->data != nullptr;
}

void Qpair::retry_buffers() {
  if (retry_scheduled_) return;
  retry_scheduled_ = true;
  std::weak_ptr<Qpair> weak = shared_from_this();
  reactor_.add_timer(50, [weak] {
    auto q = weak.lock();
    if (!q) return;
    q->retry_scheduled_ = false;
    std::vector<Request*> waiting;
    waiting.swap(q->waiting_for_buffer_);
    for (size_t i = 0; i < waiting.size(); ++i) {
      Acquired got = q->acquire_buffer(waiting[i]);
      if (got == Acquired::kNone) {
        q->waiting_for_buffer_.insert(q->waiting_for_buffer_.end(), waiting.begin() + long(i), waiting.end());
        q->retry_buffers();
        return;
      }
      if (got == Acquired::kFailed) q->complete(waiting[i], status::kInternal);
      else q->start(waiting[i]);
    }
  });
}

// TRANSFER_IN done.
void Qpair::on_data_in(Request* req) {
  data_fetch_ended(req);
  execute(req);
}

// EXECUTING: the command set handlers.
void Qpair::execute(Request* req) {
  req->state = RequestState::kExecuting;
  // An unauthenticated queue runs only the authentication commands (SPDK's target the same).
  if (!authenticated() && !is_authentication(req->cmd)) return complete(req, status::kAuthRequired, true);
  if (req->cmd.opcode == kOpcodeFabrics) return execute_fabrics(*this, req);
  if (!connected_) return complete(req, status::kCmdSeqError, true);
  // Until CC.EN and CSTS.RDY, only fabrics commands are allowed. A controller being torn
  // down (its host no longer allowed, its subsystem gone) aborts what still arrives as a
  // deleted queue does, for the host to retry once it has reconnected (SPDK's target does
  // the same): a Command Sequence Error with DNR would end the I/O for good.
  if (!controller_->ready()) {
    if (controller_->shut_down()) return complete(req, status::kSqDeletion, false);
    return complete(req, status::kCmdSeqError, true);
  }
  if (qid_ == 0) return execute_admin(*this, req);
  execute_io(*this, req);
}

// Handlers end here; TRANSFER_OUT follows.
void Qpair::complete(Request* req, Status status, bool dnr) {
  data_fetch_ended(req);  // a transfer that failed (a digest error) ends here
  req->rsp.cid = req->cmd.cid;
  req->rsp.sqid = qid_;
  req->rsp.sqhd = sq_flow_disabled_ ? 0xffff : sq_head_;
  req->rsp.set_status(status, dnr);
  if (status.sc != 0 || status.sct != 0) {
    counters_.errors++;
    if (req->ns_instance) namespace_counters(req->ns_instance).errors++;
  }
  req->state = RequestState::kTransferOut;
  send_response(req);
}

void Qpair::refresh_namespaces_async() {
  std::weak_ptr<Qpair> weak = shared_from_this();
  reactor_.post([weak] {
    if (auto q = weak.lock(); q && q->controller_) q->find_namespace(0);
  });
}

void Qpair::bdev_io_done(Request* req, Status status, bool dnr) {
  req->in_bdev = false;
  if (--in_bdev_ == 0) retired_tables_.clear();
  if (connected_) return complete(req, status, dnr);
  // The host is gone: the result has nowhere to go.
  release_request(*req);
  if (in_bdev_ == 0 && draining_self_) {
    auto last = std::move(draining_self_);  // may be the last reference: `this` goes with it
  }
}

void Qpair::release_request(Request& r) {
  if (!r.in_bdev) free_request(r);
}

void Qpair::free_request(Request& r) {
  if (r.chunk) {
    target_.pool().release(pool_cache_, r.chunk);
    r.chunk = nullptr;
  }
  r.spill.reset();
  r.data = nullptr;
  r.state = RequestState::kFree;
}

// Back to FREE.
void Qpair::on_response_sent(Request* req) {
  uint64_t us = Reactor::now_us() - req->start_us;
  size_t bucket = latency_bucket(us);
  counters_.latency_us_sum += us;
  counters_.latency[bucket]++;
  if (req->ns_instance) {
    NamespaceCounters& n = namespace_counters(req->ns_instance);
    req->ns_instance = 0;
    n.latency_us_sum += us;
    n.latency[bucket]++;
  }
  free_request(*req);
}

}  // namespace rdmagate::target
