// Fabrics commands: Connect creates a controller (admin queue) or joins one (I/O queue);
// Property Get/Set are the fabrics form of the controller registers.
#include <cstring>
#include <string>

#include "spec/fabrics.h"
#include "target/commands.h"
#include "target/controller.h"
#include "target/qpair.h"
#include "target/target.h"

namespace rdmagate::target {

using namespace spec;

namespace {

std::string nqn_field(const char* field) { return std::string(field, strnlen(field, kNqnFieldLen)); }

void reject_connect(Qpair& q, Request* req, Status status, uint32_t dw0) {
  req->rsp.dw0 = dw0;
  q.complete(req, status, true);
}

void connect(Qpair& q, Request* req) {
  const auto& cmd = reinterpret_cast<const ConnectCommand&>(req->cmd);
  if (q.connected()) return q.complete(req, status::kCmdSeqError, true);
  if (cmd.recfmt != kConnectRecfmt)
    return reject_connect(q, req, status::kConnectIncompatibleFormat, connect_invalid_sqe_field(offsetof(ConnectCommand, recfmt)));
  if (req->length != sizeof(ConnectData) || !req->data)
    return reject_connect(q, req, status::kConnectInvalidParam, connect_invalid_sqe_field(offsetof(ConnectCommand, sgl)));
  ConnectData data;
  memcpy(&data, req->data, sizeof data);
  std::string subnqn = nqn_field(data.subnqn);
  std::string hostnqn = nqn_field(data.hostnqn);
  Target& target = q.target();

  auto subsystem = target.find_subsystem(subnqn);
  // SPDK's perf sends an empty host NQN unless given one, and SPDK's target admits it where
  // any host may connect: so do we, and only there.
  bool anonymous = hostnqn.empty() && subsystem && subsystem->allow_any_host();
  if (!anonymous && !valid_nqn(hostnqn))
    return reject_connect(q, req, status::kConnectInvalidParam, connect_invalid_data_field(offsetof(ConnectData, hostnqn)));
  if (!subsystem)
    return reject_connect(q, req, status::kConnectInvalidParam, connect_invalid_data_field(offsetof(ConnectData, subnqn)));
  if (!subsystem->host_allowed(hostnqn) || !subsystem->listener_allowed(q.portid()))
    return reject_connect(q, req, status::kConnectInvalidHost, connect_invalid_data_field(offsetof(ConnectData, hostnqn)));
  uint32_t queue_entries = uint32_t(cmd.sqsize) + 1;
  if (cmd.sqsize == 0 || queue_entries > target.options().max_queue_depth)
    return reject_connect(q, req, status::kConnectInvalidParam, connect_invalid_sqe_field(offsetof(ConnectCommand, sqsize)));
  bool sq_flow_disabled = cmd.cattr & kConnectCattrDisableSqFlow;

  if (cmd.qid == 0) {
    auto controller = target.create_controller(subsystem, hostnqn, data.hostid, cmd.kato);
    if (!controller) return reject_connect(q, req, status::kConnectControllerBusy, 0);
    q.bind(controller, 0, uint16_t(queue_entries), sq_flow_disabled);
    controller->attach_admin(q.shared_from_this());
    controller->start_keep_alive(q.reactor());
    req->rsp.dw0 = connect_result(controller->cntlid());
    return q.complete(req, status::kSuccess);
  }

  // An I/O queue joins the controller its admin queue created.
  auto controller = target.find_controller(data.cntlid);
  if (!controller || controller->shut_down() || &controller->subsystem() != subsystem.get() ||
      controller->hostnqn() != hostnqn)
    return reject_connect(q, req, status::kConnectInvalidParam, connect_invalid_data_field(offsetof(ConnectData, cntlid)));
  if (memcmp(controller->hostid(), data.hostid, 16) != 0)
    return reject_connect(q, req, status::kConnectInvalidParam, connect_invalid_data_field(offsetof(ConnectData, hostid)));
  if (!controller->ready()) return q.complete(req, status::kCmdSeqError, true);
  if (cmd.qid > controller->io_queues())
    return reject_connect(q, req, status::kConnectInvalidParam, connect_invalid_sqe_field(offsetof(ConnectCommand, qid)));
  if (!controller->attach_io(cmd.qid, q.shared_from_this()))
    return reject_connect(q, req, status::kConnectInvalidParam, connect_invalid_sqe_field(offsetof(ConnectCommand, qid)));
  q.bind(controller, cmd.qid, uint16_t(queue_entries), sq_flow_disabled);
  req->rsp.dw0 = connect_result(controller->cntlid());
  q.complete(req, status::kSuccess);
}

uint64_t property_value(Qpair& q, uint32_t offset) {
  Controller& c = *q.controller();
  const auto& o = q.target().options();
  switch (offset) {
    case kPropCap:
      // MQES, CQR (contiguous queues required), TO in 500 ms units (15 s), NVM command set.
      return make_cap(uint16_t(o.max_queue_depth - 1), true, 30, kCapCssNvm, 0, 0);
    case kPropVs: return make_version(1, 3, 0);
    case kPropCc: return c.cc();
    case kPropCsts: return c.csts();
  }
  return 0;
}

void property_get(Qpair& q, Request* req) {
  const auto& cmd = reinterpret_cast<const PropertyGetCommand&>(req->cmd);
  uint32_t width = property_width(cmd.offset);
  uint32_t asked = property_size_attr(cmd.attrib) == kPropSize8 ? 8 : 4;
  if (width == 0 || cmd.offset == kPropNssr || asked != width) return q.complete(req, status::kInvalidField, true);
  uint64_t v = property_value(q, cmd.offset);
  req->rsp.dw0 = uint32_t(v);
  req->rsp.dw1 = uint32_t(v >> 32);
  q.complete(req, status::kSuccess);
}

void property_set(Qpair& q, Request* req) {
  const auto& cmd = reinterpret_cast<const PropertySetCommand&>(req->cmd);
  if (cmd.offset != kPropCc || property_size_attr(cmd.attrib) != kPropSize4)
    return q.complete(req, status::kInvalidField, true);
  q.controller()->set_cc(uint32_t(cmd.value));
  q.complete(req, status::kSuccess);
}

}  // namespace

void execute_fabrics(Qpair& q, Request* req) {
  const auto& cmd = reinterpret_cast<const FabricsCommand&>(req->cmd);
  if (cmd.fctype == kFctConnect) return connect(q, req);
  if (!q.connected()) return q.complete(req, status::kCmdSeqError, true);
  switch (cmd.fctype) {
    case kFctPropertyGet:
      return q.qid() == 0 ? property_get(q, req) : q.complete(req, status::kInvalidField, true);
    case kFctPropertySet:
      return q.qid() == 0 ? property_set(q, req) : q.complete(req, status::kInvalidField, true);
    case kFctDisconnect:
      // Success is sent first; the transport closes once the host drops the connection.
      return q.complete(req, q.qid() == 0 ? status::kInvalidQueueType : status::kSuccess, q.qid() == 0);
    default:
      return q.complete(req, status::kInvalidOpcode, true);
  }
}

}  // namespace rdmagate::target
