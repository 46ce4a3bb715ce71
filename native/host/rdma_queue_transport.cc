#include "host/rdma_queue_transport.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "rdma/loader.h"
#include "spec/rdma_cm.h"
#include "util/error.h"

namespace rdmagate::host {

namespace {

using spec::CompletionEntry;
using spec::SubmissionEntry;

// In-capsule data on I/O queues: up to a page, the Linux target's default. Larger
// writes go by RDMA READ from the caller's buffer, with no copy.
constexpr uint32_t kIncapsuleMax = 4096;
// A capsule buffer holds the SQE and, on I/O queues, the in-capsule data (in the pool's
// 512-byte units). Admin queues carry no in-capsule data, as with Linux.
constexpr size_t kIoCapsuleChunk = 4608;
constexpr size_t kAdminCapsuleChunk = 512;
// Bounce buffers for data outside registered memory: Connect's, Identify's, and log
// pages up to 127 discovery records.
constexpr size_t kScratchChunk = 128 * 1024;
// A keyed SGL's length field has 24 bits.
constexpr uint32_t kKeyedSglMax = (1u << 24) - 1;
// The reject reason of an IB/RoCE CM REJ that carries the consumer's private data
// (iWARP reports -ECONNREFUSED instead).
constexpr int kIbCmRejConsumerDefined = 28;

enum Tag : uint32_t { kSend = 1, kRecv = 2 };
uint64_t op(Tag tag, uint32_t index) { return uint64_t(tag) << 32 | index; }

size_t round_up(size_t n, size_t unit) { return (n + unit - 1) / unit * unit; }

}  // namespace

// Connections not torn down yet, and who waits for all of them to be.
struct RdmaQueueTransport::Releases {
  uint32_t pending = 0;
  std::vector<std::function<void()>> waiters;

  void released() {
    if (--pending > 0) return;
    std::vector<std::function<void()>> ready = std::move(waiters);
    waiters.clear();
    for (auto& w : ready) w();
  }
};

// One connection's event sink and registered memory. The rdma::Connection holds it, so
// it outlives the transport's interest in the connection: once closed, it only waits for
// the teardown (every work request completed or flushed), then frees the memory.
class RdmaQueueTransport::Link final : public rdma::EventSink {
 public:
  Link(RdmaQueueTransport* transport, std::shared_ptr<Releases> releases, uint16_t qid, uint16_t depth)
      : owner(transport), releases_(std::move(releases)), depth_(depth) {
    const size_t chunk = qid == 0 ? kAdminCapsuleChunk : kIoCapsuleChunk;
    per_chunk_ = uint32_t(chunk / sizeof(CompletionEntry));
    const size_t responses = (depth + per_chunk_ - 1) / per_chunk_;
    const size_t n = size_t(depth) + 1 + responses;
    // One region, so one memory registration, for all of the connection's capsules.
    BufferPoolOptions o;
    o.chunk_size = chunk;
    o.region_size = round_up(n * chunk, std::lcm(chunk, size_t(sysconf(_SC_PAGESIZE))));
    o.capacity = o.region_size;
    o.hugepages = BufferPoolOptions::Hugepages::kNever;  // kept for data pools
    capsules_ = BufferPool::create(o);
    for (size_t i = 0; i < n; ++i) (i <= depth ? capsule_chunks_ : response_chunks_).push_back(capsules_->acquire());
    ++releases_->pending;  // last: a constructor that throws releases nothing
  }
  ~Link() override { release(); }

  // The transport while it uses this connection; null once it let go.
  RdmaQueueTransport* owner;

  BufferPool& capsules() { return *capsules_; }
  BufferPool::Chunk* capsule(uint16_t cid) { return capsule_chunks_[cid]; }
  // Receive buffer `index`: a 16-byte slice of a response chunk.
  BufferPool::Chunk* response(uint32_t index, uint32_t* offset) {
    *offset = index % per_chunk_ * uint32_t(sizeof(CompletionEntry));
    return response_chunks_[index / per_chunk_];
  }
  // Made on first use: most I/O queues only bounce their Connect data.
  BufferPool& scratch() {
    if (!scratch_) {
      BufferPoolOptions o;
      o.chunk_size = kScratchChunk;
      o.region_size = kScratchChunk;
      o.capacity = kScratchChunk * (size_t(depth_) + 1);  // one per command slot at most
      o.hugepages = BufferPoolOptions::Hugepages::kNever;
      scratch_ = BufferPool::create(o);
    }
    return *scratch_;
  }

  void on_completions(uint64_t, const std::vector<rdma::Completion>& batch) override {
    for (const rdma::Completion& c : batch) {
      if (!owner) return;  // a completion closed the connection: the rest are moot
      owner->on_completion(c);
    }
    if (owner) owner->handler_.on_burst_end();
  }

  void on_connection_event(uint64_t, rdma::ConnectionEvent&& event) override {
    if (event.type == rdma::ConnectionEvent::Type::kEstablished) {
      if (owner) owner->on_established(event.private_data);
      return;
    }
    // The connection is torn down: its work requests are all completed or flushed.
    if (owner && event.type == rdma::ConnectionEvent::Type::kFailed) owner->on_link_failed(event);
    else if (owner) owner->on_link_down();
    release();
  }

  void on_accepted(uint64_t, std::shared_ptr<rdma::Connection>) override {}  // hosts listen for nothing

 private:
  void release() {
    if (released_) return;
    released_ = true;
    capsule_chunks_.clear();
    response_chunks_.clear();
    capsules_.reset();  // deregisters its memory
    scratch_.reset();
    releases_->released();
  }

  const std::shared_ptr<Releases> releases_;
  const uint16_t depth_;
  uint32_t per_chunk_ = 0;  // responses per response chunk
  std::shared_ptr<BufferPool> capsules_;
  std::vector<BufferPool::Chunk*> capsule_chunks_;   // by cid
  std::vector<BufferPool::Chunk*> response_chunks_;
  std::shared_ptr<BufferPool> scratch_;
  bool released_ = false;
};

RdmaQueueTransport::RdmaQueueTransport(Reactor& reactor, QueueEndpoint endpoint, Handler& handler,
                                       TransportCounters& counters)
    : reactor_(reactor),
      endpoint_(std::move(endpoint)),
      handler_(handler),
      counters_(counters),
      releases_(std::make_shared<Releases>()),
      slots_(size_t(endpoint_.depth) + 1) {}

RdmaQueueTransport::~RdmaQueueTransport() { close(); }

const TcpParams& RdmaQueueTransport::tcp_params() const {
  static const TcpParams none;
  return none;
}

std::string RdmaQueueTransport::where() const {
  return "queue " + std::to_string(endpoint_.qid) + " at " + to_.text();
}

// --- connection ------------------------------------------------------------------------

void RdmaQueueTransport::connect(const TransportAddress& to, uint16_t cntlid) {
  close();
  to_ = to;
  spec::RdmaCmRequest r{};
  r.recfmt = spec::kRdmaCmRecfmt;
  r.qid = endpoint_.qid;
  r.hrqsize = endpoint_.depth;  // one receive per command slot
  r.hsqsize = uint16_t(endpoint_.depth - 1);
  r.cntlid = endpoint_.qid == 0 ? 0 : cntlid;  // named on I/O queues only, as Linux does
  rdma::ConnectionOptions o;
  o.send_depth = endpoint_.depth + 1u;  // a SEND per command, Connect's slot included
  o.recv_depth = endpoint_.depth;
  o.inline_size = sizeof(SubmissionEntry);
  o.reactor_only = true;  // the queue pair's reactor alone touches it
  o.private_data.assign(reinterpret_cast<const uint8_t*>(&r), reinterpret_cast<const uint8_t*>(&r) + sizeof r);
  try {
    link_ = std::make_shared<Link>(this, releases_, endpoint_.qid, endpoint_.depth);
    connection_ = rdma::Connection::connect(reactor_, link_, rdma::resolve_address(to_.traddr, to_.trsvcid),
                                            std::move(o));
  } catch (const Error& e) {
    close();
    handler_.on_failed(Failure{kErrConnect, "connecting " + where() + " over NVMe/RDMA: " + e.what(), e.errnum()});
  }
}

void RdmaQueueTransport::on_established(const std::vector<uint8_t>& pdata) {
  spec::RdmaCmAccept a{};
  if (pdata.size() < offsetof(spec::RdmaCmAccept, crqsize) + sizeof a.crqsize) {
    fail(Failure{kErrConnect, "the controller accepted " + where() + " without NVMe/RDMA private data", EPROTO});
    return;
  }
  std::memcpy(&a, pdata.data(), std::min(pdata.size(), sizeof a));
  if (a.recfmt != spec::kRdmaCmRecfmt) {
    fail(Failure{kErrConnect, "the controller accepted " + where() + " with private data format " +
                                  std::to_string(a.recfmt) + ", not " + std::to_string(spec::kRdmaCmRecfmt),
                 EPROTO});
    return;
  }
  if (a.crqsize < endpoint_.depth) {
    fail(Failure{kErrConnect, "the controller's receive queue for " + where() + " holds " + std::to_string(a.crqsize) +
                                  " commands, fewer than the queue's " + std::to_string(endpoint_.depth),
                 EPROTO});
    return;
  }
  try {
    for (uint32_t i = 0; i < endpoint_.depth; ++i) post_receive(i);
  } catch (const Error& e) {
    fail(Failure{kErrConnect, "posting the receives of " + where() + ": " + e.what(), e.errnum()});
    return;
  }
  if (endpoint_.lend_pool && !lending_failed_) {
    // Once per pool and device (later queues find it done), and here rather than in the
    // first I/O lent from it: registering pins every region the pool has mapped.
    try {
      connection_->register_pool(*endpoint_.lend_pool);
    } catch (const Error&) {
      lending_failed_ = true;  // as in lend(): bounce rather than fail
    }
  }
  handler_.on_established();
}

void RdmaQueueTransport::on_link_failed(const rdma::ConnectionEvent& event) {
  Failure f{kErrConnect, "connecting " + where() + " over NVMe/RDMA: " + event.message, std::abs(event.status)};
  // Only rejects carry private data; only a consumer's reject carries the controller's verdict.
  if (!event.private_data.empty()) {
    f.errnum = ECONNREFUSED;
    spec::RdmaCmReject rej{};
    bool nvme = (event.status == kIbCmRejConsumerDefined || event.status == -ECONNREFUSED) &&
                event.private_data.size() >= sizeof rej;
    if (nvme) std::memcpy(&rej, event.private_data.data(), sizeof rej);
    if (nvme && rej.recfmt == spec::kRdmaCmRecfmt) {
      char sts[8];
      std::snprintf(sts, sizeof sts, "0x%02x", rej.sts);
      f.message = "the controller rejected " + where() + ": " + spec::rdma_cm_reject_name(rej.sts) +
                  " (NVMe/RDMA reject status " + sts + ")";
    } else {
      f.message = "the connection of " + where() + " was refused (rdma_cm reject reason " +
                  std::to_string(event.status) + "): is an NVMe/RDMA controller listening there?";
    }
  }
  close();
  handler_.on_failed(f);
}

void RdmaQueueTransport::on_link_down() {
  close();
  handler_.on_failed(Failure{kErrDisconnected, "the controller closed the connection of " + where(), ECONNRESET});
}

void RdmaQueueTransport::enable_incapsule(uint32_t max) {
  incapsule_max_ = endpoint_.qid == 0 ? 0 : std::min(max, kIncapsuleMax);
}

uint32_t RdmaQueueTransport::incapsule_capacity() const { return kIncapsuleMax; }

void RdmaQueueTransport::fail(const Failure& failure) {
  if (!link_) return;
  close();
  handler_.on_failed(failure);
}

void RdmaQueueTransport::fail_later(const Failure& failure) {
  std::weak_ptr<Link> weak = link_;
  reactor_.post([weak, failure] {
    auto link = weak.lock();
    if (link && link->owner) link->owner->fail(failure);
  });
}

void RdmaQueueTransport::close() {
  if (!link_) return;
  link_->owner = nullptr;
  link_.reset();
  if (connection_) connection_->disconnect();  // the Link frees its memory after the teardown
  connection_.reset();
  for (Slot& s : slots_) s = Slot{};
  incapsule_max_ = 0;
}

void RdmaQueueTransport::when_released(std::function<void()> done) {
  if (releases_->pending == 0) done();
  else releases_->waiters.push_back(std::move(done));
}

// --- commands --------------------------------------------------------------------------

void RdmaQueueTransport::post_receive(uint32_t index) {
  uint32_t offset = 0;
  BufferPool::Chunk* c = link_->response(index, &offset);
  connection_->post(rdma::OpKind::kRecv, op(kRecv, index), link_->capsules(), c, offset, sizeof(CompletionEntry));
}

uint32_t RdmaQueueTransport::send(const TransportCommand& cmd) {
  if (!link_) return kStatusDisconnected;
  const uint16_t cid = cmd.sqe.cid;
  const bool registered = cmd.pool && cmd.chunk && !lending_failed_;
  const bool incapsule = cmd.dir == spec::kXferHostToController && cmd.length <= incapsule_max_;
  // Refused, not failed: the same command would fail again on any connection.
  if (cmd.length > kKeyedSglMax || (!registered && !incapsule && cmd.length > kScratchChunk)) return kStatusTransport;

  Slot& s = slots_[cid];
  s = Slot{};
  s.active = true;
  s.dir = cmd.dir;
  s.data = cmd.data;
  s.length = cmd.length;
  SubmissionEntry sqe = cmd.sqe;
  BufferPool::Chunk* capsule = link_->capsule(cid);
  uint32_t capsule_len = sizeof sqe;
  try {
    if (incapsule) {
      // The one copy of a small write: it saves the controller an RDMA READ round trip.
      std::memcpy(capsule->data + sizeof sqe, cmd.data, cmd.length);
      counters_.bytes_copied += cmd.length;
      capsule_len += cmd.length;
      sqe.dptr.sgl = spec::make_incapsule_sgl(0, cmd.length);
    } else if (cmd.length == 0) {
      sqe.dptr.sgl = spec::make_keyed_sgl(0, 0, 0, false);  // no data: a null keyed SGL, as Linux sends
    } else if (uint32_t rkey; registered && lend(cmd, &rkey)) {
      // Zero copy: the controller reads or writes the caller's buffer itself. We never ask
      // it to invalidate the key: it is the pool region's, shared by every I/O.
      sqe.dptr.sgl = spec::make_keyed_sgl(reinterpret_cast<uint64_t>(cmd.data), cmd.length, rkey, false);
    } else if (cmd.length > kScratchChunk) {
      throw Error("ERR_RDMA_VERBS", "the buffer pool could not be registered, and the I/O is too large to bounce");
    } else {
      BufferPool& scratch = link_->scratch();
      s.bounce = scratch.acquire();
      if (!s.bounce) throw Error("ERR_NO_MEMORY", "no scratch buffer left");
      if (cmd.dir == spec::kXferHostToController) {
        std::memcpy(s.bounce->data, cmd.data, cmd.length);
        counters_.bytes_copied += cmd.length;
      }
      uint32_t rkey = connection_->remote_key(scratch, s.bounce);
      sqe.dptr.sgl = spec::make_keyed_sgl(reinterpret_cast<uint64_t>(s.bounce->data), cmd.length, rkey, false);
    }
    std::memcpy(capsule->data, &sqe, sizeof sqe);
    connection_->post(rdma::OpKind::kSend, op(kSend, cid), link_->capsules(), capsule, 0, capsule_len);
  } catch (const Error& e) {
    // The command stays outstanding and ends with the connection, as any other would.
    bool gone = e.code() == "ERR_RDMA_NOT_CONNECTED";
    fail_later(Failure{gone ? kErrDisconnected : kErrTransport,
                       "sending a command on " + where() + ": " + e.what(), e.errnum()});
  }
  return 0;
}

bool RdmaQueueTransport::lend(const TransportCommand& cmd, uint32_t* rkey) {
  try {
    *rkey = connection_->remote_key(*cmd.pool, cmd.chunk);
    return true;
  } catch (const Error& e) {
    if (e.code() != "ERR_RDMA_VERBS") throw;
    // Registering the pool failed (ulimit -l, most likely): this queue bounces its data
    // from now on, rather than fail every connection until ctrl_loss_tmo.
    lending_failed_ = true;
    return false;
  }
}

void RdmaQueueTransport::on_completion(const rdma::Completion& c) {
  const Tag tag = Tag(c.op_id >> 32);
  const uint32_t index = uint32_t(c.op_id);
  if (c.status == IBV_WC_WR_FLUSH_ERR) {
    // The QP went to error: the controller left, or a transfer failed at its end.
    fail(Failure{kErrDisconnected, "the connection of " + where() + " went down", ECONNRESET});
    return;
  }
  if (c.status != IBV_WC_SUCCESS) {
    // We never ask for invalidation and our keys are plain MRs, which a
    // SEND_WITH_INVALIDATE cannot take (only memory windows and fast-registered MRs
    // can): on Soft-RoCE an invalidating controller shows up here, as a failed receive.
    fail(Failure{kErrTransport,
                 std::string(tag == kSend ? "a command SEND" : "a response receive") + " on " + where() +
                     " failed: " + rdma::api()->ibv_wc_status_str(ibv_wc_status(c.status)) + " (ibv_wc_status " +
                     std::to_string(c.status) + ")",
                 EIO});
    return;
  }
  if (tag == kRecv) on_response(c);
  else on_sent(uint16_t(index), c.byte_len);
}

void RdmaQueueTransport::on_sent(uint16_t cid, uint32_t bytes) {
  counters_.bytes_sent += bytes;
  counters_.pdus_sent += 1;
  Slot& s = slots_[cid];
  if (!s.active) return;
  s.sent = true;
  if (s.answered) complete(cid);
}

void RdmaQueueTransport::on_response(const rdma::Completion& rc) {
  const uint32_t index = uint32_t(rc.op_id);
  const uint32_t bytes = rc.byte_len;
  if (bytes < sizeof(CompletionEntry)) {
    fail(Failure{kErrTransport, "a response capsule of " + std::to_string(bytes) + " bytes on " + where(), EPROTO});
    return;
  }
  counters_.bytes_received += bytes;
  counters_.pdus_received += 1;
  uint32_t offset = 0;
  BufferPool::Chunk* c = link_->response(index, &offset);
  CompletionEntry cqe;
  std::memcpy(&cqe, c->data + offset, sizeof cqe);
  try {
    post_receive(index);  // before the command ends, and with it the slot a new command may take
  } catch (const Error& e) {
    fail(Failure{kErrDisconnected, "reposting a receive of " + where() + ": " + e.what(), e.errnum()});
    return;
  }
  Slot* s = cqe.cid < slots_.size() ? &slots_[cqe.cid] : nullptr;
  if (!s || !s->active || s->answered) {
    fail(Failure{kErrTransport,
                 "a response for command id " + std::to_string(cqe.cid) + ", which is not outstanding, on " + where(),
                 EPROTO});
    return;
  }
  if (rc.wc_flags & IBV_WC_WITH_INV) {
    // A controller may invalidate a key only when the command's SGL asks for it (sub type
    // Invalidate Key), and ours never do: the key is the pool region's, shared by all I/O.
    fail(Failure{kErrTransport,
                 "the response to command id " + std::to_string(cqe.cid) + " on " + where() +
                     " invalidated key " + std::to_string(rc.invalidated_rkey) + ", which this host never offers",
                 EPROTO});
    return;
  }
  s->cqe = cqe;
  s->answered = true;
  // The capsule buffer may still be in the send queue: the command ends once both are done.
  if (s->sent) complete(cqe.cid);
}

void RdmaQueueTransport::complete(uint16_t cid) {
  Slot& s = slots_[cid];
  const CompletionEntry cqe = s.cqe;
  const uint32_t status = status_word(cqe);
  if (s.bounce) {
    if (s.dir == spec::kXferControllerToHost && status_ok(status)) {
      std::memcpy(s.data, s.bounce->data, s.length);
      counters_.bytes_copied += s.length;
    }
    link_->scratch().release(s.bounce);
  }
  s = Slot{};  // inactive first: the handler may reuse the slot before it returns
  handler_.on_command_done(cid, status, cqe);
}

}  // namespace rdmagate::host
