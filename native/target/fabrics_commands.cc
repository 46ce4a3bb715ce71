// Fabrics commands: Connect creates a controller (admin queue) or joins one (I/O queue);
// Property Get/Set are the fabrics form of the controller registers; Authentication
// Send/Receive carry DH-HMAC-CHAP.
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>

#include "spec/auth.h"
#include "spec/fabrics.h"
#include "target/commands.h"
#include "target/controller.h"
#include "target/qpair.h"
#include "target/target.h"

namespace rdmagate::target {

using namespace spec;

namespace {

std::string nqn_field(const char* field) { return std::string(field, strnlen(field, kNqnFieldLen)); }

// A queue that has not authenticated this long after its Connect is dropped (Linux's target
// gives a transaction 120 s too). Until then its controller's keep-alive timer waits: a host
// computing its DH value on a slow CPU sends nothing for seconds.
constexpr uint64_t kAuthenticationDeadlineUs = 120ull * 1000 * 1000;

void arm_authentication_deadline(Qpair& q) {
  std::weak_ptr<Qpair> weak = q.shared_from_this();
  q.reactor().add_timer(kAuthenticationDeadlineUs, [weak] {
    auto q = weak.lock();
    if (!q || !q->connected() || q->authenticated()) return;
    if (q->qid() == 0) q->controller()->shutdown("DH-HMAC-CHAP not completed in time");
    else q->disconnect();
  });
}

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
  if (const SecureChannel* sc = q.secure_channel(); sc && (sc->hostnqn != hostnqn || sc->subnqn != subnqn)) {
    fprintf(stderr, "rdmagate: refused Connect from %s: host %s to %s, but its TLS PSK is for host %s to %s\n",
            q.peer_address().c_str(), hostnqn.c_str(), subnqn.c_str(), sc->hostnqn.c_str(), sc->subnqn.c_str());
    return reject_connect(q, req, status::kConnectInvalidHost, connect_invalid_data_field(offsetof(ConnectData, hostnqn)));
  }
  uint32_t queue_entries = uint32_t(cmd.sqsize) + 1;
  if (cmd.sqsize == 0 || queue_entries > target.options().max_queue_depth)
    return reject_connect(q, req, status::kConnectInvalidParam, connect_invalid_sqe_field(offsetof(ConnectCommand, sqsize)));
  bool sq_flow_disabled = cmd.cattr & kConnectCattrDisableSqFlow;
  // A host with keys authenticates on every queue before it may use it.
  bool authenticate = !anonymous && subsystem->host_keys(hostnqn).host != nullptr;
  auto require_authentication = [&] {
    if (!authenticate) return;
    q.require_authentication(std::make_shared<auth::DhchapController>(
        [subsystem, hostnqn] { return subsystem->host_keys(hostnqn); }, target.dhchap_policy(), hostnqn, subnqn));
    arm_authentication_deadline(q);
    req->rsp.dw0 |= kConnectAuthreqAtr;
  };

  if (cmd.qid == 0) {
    auto controller = target.create_controller(subsystem, hostnqn, data.hostid, cmd.kato);
    if (!controller) return reject_connect(q, req, status::kConnectControllerBusy, 0);
    q.bind(controller, 0, uint16_t(queue_entries), sq_flow_disabled);
    controller->attach_admin(q.shared_from_this());
    if (!authenticate) controller->start_keep_alive(q.reactor());  // else once authenticated
    req->rsp.dw0 = connect_result(controller->cntlid());
    require_authentication();
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
  require_authentication();
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

// Authentication Send and Receive: the bytes go to and come from the queue's DH-HMAC-CHAP
// state machine; a failed exchange is answered in the protocol (Failure1), not with a status.
bool auth_command_valid(Qpair& q, Request* req) {
  const auto& cmd = reinterpret_cast<const AuthCommand&>(req->cmd);
  // Only a queue whose host must authenticate takes them.
  if (!q.authentication() || cmd.secp != kAuthSecp || cmd.spsp0 != kAuthSpsp0 || cmd.spsp1 != kAuthSpsp1 ||
      cmd.length == 0 || cmd.length != req->length || !req->data) {
    q.complete(req, status::kInvalidField, true);
    return false;
  }
  // One step at a time: a host waits for each answer before it sends the next message.
  if (q.auth_step_running()) {
    q.complete(req, status::kCmdSeqError, true);
    return false;
  }
  return true;
}

// Once per failed queue, as SPDK's target logs it: who, where, and why; never a key.
void log_failure(Qpair& q) {
  auth::DhchapController& a = *q.authentication();
  Controller& c = *q.controller();
  std::fprintf(stderr, "rdmagate: nvmf: DH-HMAC-CHAP failed for host %s on %s, qid %u, from %s: %s%s\n",
               c.hostnqn().c_str(), c.subsystem().nqn().c_str(), unsigned(q.qid()), q.peer_address().c_str(),
               a.failure_from_host() ? "the host reported " : "", spec::auth_failure_explanation(a.failure()));
}

// After a step: its outcome copied to the queue, a failure logged, and the admin queue's
// keep-alive timer started once the host has first authenticated.
void auth_step_ended(Qpair& q, const auth::DhchapController& a, uint8_t failure_before, bool authenticated_before) {
  q.auth_step_done();
  if (!failure_before && a.failure()) log_failure(q);
  if (q.qid() == 0 && !authenticated_before && q.authenticated()) q.controller()->start_keep_alive(q.reactor());
}

// Once a DH group is negotiated, a step's computation takes milliseconds (FFDHE-8192: tens
// of them, more on a slow CPU): it runs on the reactor's helper thread, its request held as
// a bdev's is, so that the reactor goes on serving its other queues. The NULL group's steps
// are HMACs of microseconds, not worth two thread hops. `step` says whether the command succeeds.
void run_auth_step(Qpair& q, Request* req, std::function<bool(auth::DhchapController&)> step) {
  std::shared_ptr<auth::DhchapController> a = q.authentication();
  uint8_t failure_before = a->failure();
  bool authenticated_before = q.authenticated();
  if (a->dhgroup() == spec::kDhNull) {
    bool ok = step(*a);
    auth_step_ended(q, *a, failure_before, authenticated_before);
    return q.complete(req, ok ? status::kSuccess : status::kInvalidField, !ok);
  }
  Qpair* queue = &q;  // kept alive by its request while the step runs (bdev_io_started)
  auto ok = std::make_shared<bool>(false);
  q.auth_step_started();
  q.bdev_io_started(req);
  q.reactor().offload([a, step, ok] { *ok = step(*a); }, [a, queue, req, ok, failure_before, authenticated_before] {
    if (queue->authentication() == a) auth_step_ended(*queue, *a, failure_before, authenticated_before);
    queue->bdev_io_done(req, *ok ? status::kSuccess : status::kInvalidField, !*ok);
  });
}

void auth_send(Qpair& q, Request* req) {
  if (!auth_command_valid(q, req)) return;
  const uint8_t* data = req->data;
  size_t length = req->length;
  run_auth_step(q, req, [data, length](auth::DhchapController& a) {
    a.on_send(data, length);
    return true;
  });
}

void auth_receive(Qpair& q, Request* req) {
  if (!auth_command_valid(q, req)) return;
  uint8_t* data = req->data;
  size_t length = req->length;
  run_auth_step(q, req, [data, length](auth::DhchapController& a) { return a.on_receive(data, length); });
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
    case kFctAuthSend: return auth_send(q, req);
    case kFctAuthRecv: return auth_receive(q, req);
    case kFctDisconnect:
      // Success is sent first; the transport closes once the host drops the connection.
      return q.complete(req, q.qid() == 0 ? status::kInvalidQueueType : status::kSuccess, q.qid() == 0);
    default:
      return q.complete(req, status::kInvalidOpcode, true);
  }
}

}  // namespace rdmagate::target
