// The admin command set of an NVMe-oF controller: Identify, Get Log Page, Get/Set
// Features, Keep Alive, Asynchronous Event Request and Abort. Discovery controllers use
// the same handlers, with the discovery log page and their own Identify data.
#include <algorithm>
#include <cstring>
#include <map>
#include <vector>

#include "spec/fabrics.h"
#include "spec/identify.h"
#include "spec/log_pages.h"
#include "target/commands.h"
#include "target/controller.h"
#include "target/discovery_log.h"
#include "target/qpair.h"
#include "target/target.h"

namespace rdmagate::target {

using namespace spec;

namespace {

constexpr const char* kFirmwareRevision = "0.1";
// ANATT: how long a host waits out the change state before it gives a path up (SPDK's 10 s).
constexpr uint8_t kAnaTransitionTimeS = 10;

// Copies `bytes` (or its [offset, offset+length) window) into the request's data.
void reply_data(Qpair& q, Request* req, const void* bytes, size_t size, uint64_t offset = 0) {
  if (offset > size) return q.complete(req, status::kInvalidField, true);
  memset(req->data, 0, req->length);
  memcpy(req->data, static_cast<const uint8_t*>(bytes) + offset, std::min<uint64_t>(size - offset, req->length));
  q.complete(req, status::kSuccess);
}

uint8_t log2_of(uint32_t v) {
  uint8_t n = 0;
  while ((1u << n) < v) ++n;
  return n;
}

void identify_controller(Qpair& q, Request* req) {
  Controller& c = *q.controller();
  Subsystem& s = c.subsystem();
  const TargetOptions& o = q.target().options();
  bool discovery = s.type() == Subsystem::Type::kDiscovery;
  IdentifyController id;
  memset(&id, 0, sizeof id);
  set_ascii_field(id.sn, discovery ? std::string("rdmagate-discovery") : s.serial());
  set_ascii_field(id.mn, discovery ? std::string("rdmagate discovery") : s.model());
  set_ascii_field(id.fr, kFirmwareRevision);
  id.rab = 6;
  id.cmic = discovery ? 0 : 1u << 1;  // the subsystem may have several controllers
  id.mdts = uint8_t(log2_of(o.max_io_size) - 12);  // in units of the 4 KiB minimum page
  id.cntlid = c.cntlid();
  id.ver = make_version(1, 3, 0);
  id.oaes = discovery ? 0 : 1u << 8;  // namespace attribute notices
  id.cntrltype = discovery ? kCntrlTypeDiscovery : kCntrlTypeIo;
  id.acl = 3;
  id.aerl = Controller::kAerLimit - 1;
  id.lpa = 1u << 2;  // extended data for Get Log Page (offsets)
  id.elpe = 0;
  id.kas = 1;  // keep-alive granularity: 100 ms
  id.sqes = kSqesLog2 << 4 | kSqesLog2;
  id.cqes = kCqesLog2 << 4 | kCqesLog2;
  id.maxcmd = o.max_queue_depth;
  id.nn = discovery ? 0 : s.max_namespaces();
  id.oncs = discovery ? 0 : kOncsDsm | kOncsWriteZeroes;
  id.vwc = discovery ? 0 : kVwcPresent;
  id.sgls = kSglsSupported | 1u << 20;  // bit 20: SGL offsets (in-capsule data)
  // Keyed SGLs are how NVMe/RDMA moves data; Linux refuses an RDMA controller without them.
  if (q.data_sgl_kind() == DataSglKind::Keyed) id.sgls |= kSglsKeyedDataBlock;
  set_field(id.subnqn, s.nqn());
  id.ioccsz = uint32_t((sizeof(SubmissionEntry) + o.in_capsule_data_size) / 16);
  id.iorcsz = sizeof(CompletionEntry) / 16;
  id.icdoff = 0;
  id.msdbd = 1;
  if (s.ana_reporting()) {
    id.cmic |= kCmicAna;
    id.oaes |= kAecAnaChange;  // ANA change notices (the same bit as in the event configuration)
    id.anatt = kAnaTransitionTimeS;
    // Optimized, non-optimized and inaccessible, as SPDK; a namespace's group stays while it
    // is attached (bit 6).
    id.anacap = 1u << 0 | 1u << 1 | 1u << 2 | 1u << 6;
    id.anagrpmax = id.nanagrpid = s.max_namespaces();
    // Linux sizes its ANA log buffer from MNAN, and refuses an ANA controller without one.
    id.mnan = s.max_namespaces();
  }
  reply_data(q, req, &id, sizeof id);
}

// The ANA log page of the controller's port: one descriptor per group that has namespaces,
// with their NSIDs unless Return Groups Only.
std::vector<uint8_t> ana_log(Qpair& q, bool groups_only) {
  Subsystem& s = q.controller()->subsystem();
  const AnaStates& ana = s.ana();
  uint64_t chgcnt = ana.changes();
  AnaStates::View view = ana.view(q.controller()->portid());
  std::map<uint32_t, std::vector<uint32_t>> groups;
  q.find_namespace(0);  // refresh the table
  auto table = s.namespaces();  // held: the loop outlives a temporary
  for (auto& [nsid, ns] : *table) groups[ns->anagrpid].push_back(nsid);
  std::vector<uint8_t> page(sizeof(AnaLogHeader));
  AnaLogHeader h{};
  h.chgcnt = chgcnt;
  h.ngrps = uint16_t(groups.size());
  memcpy(page.data(), &h, sizeof h);
  for (auto& [grpid, nsids] : groups) {
    AnaGroupDescriptor d{};
    d.grpid = grpid;
    d.nnsids = groups_only ? 0 : uint32_t(nsids.size());
    d.chgcnt = chgcnt;
    d.state = view.of(grpid);
    size_t at = page.size();
    page.resize(at + sizeof d + d.nnsids * 4);
    memcpy(page.data() + at, &d, sizeof d);
    if (!groups_only) memcpy(page.data() + at + sizeof d, nsids.data(), nsids.size() * 4);
  }
  return page;
}

void identify_namespace(Qpair& q, Request* req) {
  const Namespace* ns = q.find_namespace(req->cmd.nsid);
  if (!ns) return q.complete(req, status::kInvalidNs, true);
  IdentifyNamespace id;
  memset(&id, 0, sizeof id);
  id.nsze = id.ncap = id.nuse = ns->bdev->num_blocks();
  id.nlbaf = 0;
  id.flbas = 0;
  id.lbaf[0].lbads = log2_of(ns->bdev->block_size());
  id.nmic = 1;         // may be attached to several controllers
  id.dlfeat = 1;       // deallocated blocks read as zeros
  id.nsfeat = 1u << 2; // deallocated blocks report as such (error-free reads of zeros)
  if (q.controller()->subsystem().ana_reporting()) id.anagrpid = ns->anagrpid;
  memcpy(id.nguid, ns->nguid, 16);
  reply_data(q, req, &id, sizeof id);
}

void identify_active_namespaces(Qpair& q, Request* req) {
  uint32_t after = req->cmd.nsid;
  std::vector<uint32_t> ids(1024, 0);
  size_t n = 0;
  q.find_namespace(0);  // refresh the table
  auto table = q.controller()->subsystem().namespaces();  // held: the loop outlives a temporary
  for (auto& [nsid, ns] : *table) {
    if (nsid > after && n < ids.size()) ids[n++] = nsid;
  }
  reply_data(q, req, ids.data(), ids.size() * 4);
}

void identify_descriptors(Qpair& q, Request* req) {
  const Namespace* ns = q.find_namespace(req->cmd.nsid);
  if (!ns) return q.complete(req, status::kInvalidNs, true);
  uint8_t page[kIdentifyDataSize] = {};
  size_t at = 0;
  for (auto [type, value] : {std::pair{kNidtNguid, ns->nguid}, std::pair{kNidtUuid, ns->uuid}}) {
    page[at] = type;
    page[at + 1] = nid_length(type);
    memcpy(page + at + 4, value, nid_length(type));
    at += 4 + nid_length(type);
  }
  reply_data(q, req, page, sizeof page);
}

void identify(Qpair& q, Request* req) {
  bool discovery = q.controller()->subsystem().type() == Subsystem::Type::kDiscovery;
  switch (identify_cns(req->cmd.cdw10)) {
    case kCnsController: return identify_controller(q, req);
    case kCnsNamespace: if (!discovery) return identify_namespace(q, req); break;
    case kCnsActiveNsList: if (!discovery) return identify_active_namespaces(q, req); break;
    case kCnsNsDescList: if (!discovery) return identify_descriptors(q, req); break;
  }
  q.complete(req, status::kInvalidField, true);
}

void get_log_page(Qpair& q, Request* req) {
  GetLogPageArgs a = decode_get_log_page(req->cmd.cdw10, req->cmd.cdw11, req->cmd.cdw12, req->cmd.cdw13);
  Controller& c = *q.controller();
  bool discovery = c.subsystem().type() == Subsystem::Type::kDiscovery;
  if (a.offset % 4) return q.complete(req, status::kInvalidField, true);
  switch (a.lid) {
    case kLogDiscovery: {
      if (!discovery) break;
      auto page = build_discovery_log(q.target(), c.hostnqn());
      return reply_data(q, req, page.data(), page.size(), a.offset);
    }
    case kLogError: {
      ErrorLogEntry e;
      memset(&e, 0, sizeof e);
      return reply_data(q, req, &e, sizeof e, a.offset);
    }
    case kLogSmart: {
      if (discovery) break;
      SmartLog smart;
      memset(&smart, 0, sizeof smart);
      smart.composite_temp = 273 + 35;
      smart.avail_spare = 100;
      smart.spare_thresh = 10;
      return reply_data(q, req, &smart, sizeof smart, a.offset);
    }
    case kLogChangedNs: {
      if (discovery) break;
      ChangedNsList list;
      memset(&list, 0, sizeof list);
      auto changed = c.take_changed_namespaces(a.rae);
      std::copy(changed.begin(), changed.end(), list.nsid);
      return reply_data(q, req, &list, sizeof list, a.offset);
    }
    case kLogAna: {
      if (discovery || !c.subsystem().ana_reporting()) break;
      auto page = ana_log(q, a.lsp & kAnaLspRgo);
      c.ana_log_read(a.rae);
      return reply_data(q, req, page.data(), page.size(), a.offset);
    }
  }
  q.complete(req, status::kInvalidLogPage, true);
}

void set_features(Qpair& q, Request* req) {
  Controller& c = *q.controller();
  const SubmissionEntry& cmd = req->cmd;
  if (cmd.cdw10 & kSetFeaturesSave) return q.complete(req, status::kFeatureNotSaveable, true);
  switch (feature_id(cmd)) {
    case kFeatNumQueues: {
      if (c.subsystem().type() == Subsystem::Type::kDiscovery) break;
      uint32_t nsqr = (cmd.cdw11 & 0xffff) + 1, ncqr = (cmd.cdw11 >> 16) + 1;
      if (nsqr == 0x10000 || ncqr == 0x10000) return q.complete(req, status::kInvalidField, true);
      uint16_t n = uint16_t(std::min<uint32_t>({nsqr, ncqr, c.max_io_queues()}));
      c.set_io_queues(n);
      req->rsp.dw0 = make_num_queues(n, n);
      return q.complete(req, status::kSuccess);
    }
    case kFeatKeepAliveTimer:
      c.set_kato_ms(cmd.cdw11);
      return q.complete(req, status::kSuccess);
    case kFeatAsyncEventConfig:
      c.set_async_event_config(cmd.cdw11);
      return q.complete(req, status::kSuccess);
    case kFeatVolatileWc:
    case kFeatArbitration:
    case kFeatPowerMgmt:
    case kFeatTempThresh:
    case kFeatErrRecovery:
    case kFeatWriteAtomic:
      return q.complete(req, status::kSuccess);  // accepted; these change nothing here
  }
  q.complete(req, status::kInvalidField, true);
}

void get_features(Qpair& q, Request* req) {
  Controller& c = *q.controller();
  switch (feature_id(req->cmd)) {
    case kFeatNumQueues: req->rsp.dw0 = make_num_queues(c.io_queues(), c.io_queues()); break;
    case kFeatKeepAliveTimer: req->rsp.dw0 = c.kato_ms(); break;
    case kFeatAsyncEventConfig: req->rsp.dw0 = c.async_event_config(); break;
    case kFeatVolatileWc: req->rsp.dw0 = 1; break;
    case kFeatArbitration:
    case kFeatPowerMgmt:
    case kFeatTempThresh:
    case kFeatErrRecovery:
    case kFeatWriteAtomic: req->rsp.dw0 = 0; break;
    default: return q.complete(req, status::kInvalidField, true);
  }
  q.complete(req, status::kSuccess);
}

}  // namespace

void execute_admin(Qpair& q, Request* req) {
  Controller& c = *q.controller();
  c.keep_alive();  // any admin command counts as traffic for the keep-alive timer
  switch (req->cmd.opcode) {
    case kAdminIdentify: return identify(q, req);
    case kAdminGetLogPage: return get_log_page(q, req);
    case kAdminSetFeatures: return set_features(q, req);
    case kAdminGetFeatures: return get_features(q, req);
    case kAdminKeepAlive: return q.complete(req, status::kSuccess);
    case kAdminAsyncEvent:
      if (!c.queue_aer(req)) q.complete(req, status::kAerLimit, true);
      return;
    case kAdminAbort:
      req->rsp.dw0 = 1;  // bit 0: the command was not aborted (it completes on its own)
      return q.complete(req, status::kSuccess);
  }
  q.complete(req, status::kInvalidOpcode, true);
}

}  // namespace rdmagate::target
