// The NVM command set on a namespace's bdev: Read, Write, Flush, Write Zeroes and
// Dataset Management (deallocate). Every range is checked before the bdev sees it.
#include "target/commands.h"
#include "target/controller.h"
#include "target/qpair.h"

namespace rdmagate::target {

using namespace spec;

namespace {

void bdev_done(void* ctx, Status status) {
  auto* req = static_cast<Request*>(ctx);
  bool failed = status.sc != 0 || status.sct != 0;
  req->qpair->bdev_io_done(req, status, failed && status.sct != kSctPath);  // path errors may be retried
}

void submit(Qpair& q, bdev::Bdev& b, const bdev::IoRequest& io, Request* req) {
  q.bdev_io_started(req);
  b.submit(io, bdev_done, req);
}

bool in_range(const bdev::Bdev& b, uint64_t slba, uint64_t nlb) {
  return slba < b.num_blocks() && nlb <= b.num_blocks() - slba;
}

void read_write(Qpair& q, Request* req, const Namespace& ns, bool write) {
  uint64_t slba = rw_slba(req->cmd);
  uint32_t nlb = rw_nlb(req->cmd);
  bdev::Bdev& b = *ns.bdev;
  if (!in_range(b, slba, nlb)) return q.complete(req, status::kLbaRange, true);
  uint64_t bytes = uint64_t(nlb) * b.block_size();
  if (bytes != req->length) return q.complete(req, status::kDataSglLengthInvalid, true);
  (write ? q.counters().bytes_written : q.counters().bytes_read) += bytes;
  NamespaceCounters& n = q.namespace_counters(req->ns_instance);
  ++(write ? n.writes : n.reads);
  (write ? n.bytes_written : n.bytes_read) += bytes;
  bdev::IoRequest io{write ? bdev::IoType::kWrite : bdev::IoType::kRead, slba, nlb, req->data, nullptr, 0,
                     req->chunk};
  submit(q, b, io, req);
}

void write_zeroes(Qpair& q, Request* req, const Namespace& ns) {
  uint64_t slba = rw_slba(req->cmd);
  uint32_t nlb = rw_nlb(req->cmd);
  if (!in_range(*ns.bdev, slba, nlb)) return q.complete(req, status::kLbaRange, true);
  bdev::IoRequest io{bdev::IoType::kWriteZeroes, slba, nlb, nullptr, nullptr, 0};
  submit(q, *ns.bdev, io, req);
}

void dataset_management(Qpair& q, Request* req, const Namespace& ns) {
  uint32_t n = dsm_nr_ranges(req->cmd);
  if (req->length < n * sizeof(DsmRange)) return q.complete(req, status::kDataSglLengthInvalid, true);
  const auto* ranges = reinterpret_cast<const DsmRange*>(req->data);
  for (uint32_t i = 0; i < n; ++i)
    if (!in_range(*ns.bdev, ranges[i].slba, ranges[i].nlb)) return q.complete(req, status::kLbaRange, true);
  // Only deallocate changes anything; the other attributes are hints.
  if (!(req->cmd.cdw11 & kDsmDeallocate)) return q.complete(req, status::kSuccess);
  bdev::IoRequest io{bdev::IoType::kUnmap, 0, 0, nullptr, ranges, n};
  submit(q, *ns.bdev, io, req);
}

Status ana_io_status(AnaState state) {
  switch (state) {
    case kAnaOptimized:
    case kAnaNonOptimized: return status::kSuccess;
    case kAnaInaccessible: return status::kAnaInaccessible;
    case kAnaPersistentLoss: return status::kAnaPersistentLoss;
    case kAnaChange: return status::kAnaTransition;
  }
  return status::kAnaInaccessible;
}

}  // namespace

void execute_io(Qpair& q, Request* req) {
  uint8_t op = req->cmd.opcode;
  if (op == kIoFlush && req->cmd.nsid == 0xffffffff) {
    // Flush of every namespace: none of today's bdevs caches writes.
    return q.complete(req, status::kSuccess);
  }
  const Namespace* ns = q.find_namespace(req->cmd.nsid);
  if (!ns) {
    bool known = op == kIoRead || op == kIoWrite || op == kIoFlush || op == kIoWriteZeroes || op == kIoDsm;
    return q.complete(req, known ? status::kInvalidNs : status::kInvalidOpcode, true);
  }
  // Through a listener where the namespace's group is not accessible, the command fails with
  // a path status (no DNR): the host's multipath sends it down another path.
  if (q.controller()->subsystem().ana_reporting()) {
    Status s = ana_io_status(q.ana_state(ns->anagrpid));
    if (s.sc != 0) return q.complete(req, s);
  }
  req->ns_instance = ns->instance;
  if (op != kIoRead && op != kIoWrite) q.namespace_counters(ns->instance).other++;
  switch (op) {
    case kIoRead: return read_write(q, req, *ns, false);
    case kIoWrite: return read_write(q, req, *ns, true);
    case kIoWriteZeroes: return write_zeroes(q, req, *ns);
    case kIoDsm: return dataset_management(q, req, *ns);
    case kIoFlush: {
      bdev::IoRequest io{bdev::IoType::kFlush, 0, 0, nullptr, nullptr, 0};
      return submit(q, *ns->bdev, io, req);
    }
  }
  q.complete(req, status::kInvalidOpcode, true);
}

}  // namespace rdmagate::target
