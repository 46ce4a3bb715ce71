#include "transport/tcp/tcp_qpair.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>


namespace rdmagate::tcp {

using namespace spec;
using target::Request;
using target::RequestState;

namespace {

std::string peer_of(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  char host[INET6_ADDRSTRLEN] = "";
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  if (ss.ss_family != AF_INET6) return "";  // a unix socket, in tests
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
  return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
}

}  // namespace

void TcpQpair::start(target::TransportContext& context, Reactor& reactor, int fd, uint16_t portid, bool tls,
                     std::shared_ptr<void> admission) {
  std::shared_ptr<TcpQpair> q(new TcpQpair(context, reactor, portid, std::move(admission)));
  try {
    std::unique_ptr<tls::TlsSession> session;
    if (tls) {
      const target::TransportContext* target = &context;
      session = tls::TlsSession::server(fd, [target](const std::string& id) { return target->find_tls_psk(id); });
    }
    // The reactor's registration holds the queue pair until the socket is closed.
    q->stream_.open(fd, peer_of(fd), false, true, q, std::move(session));
  } catch (const std::exception&) {
    ::close(fd);
    q->counters().errors++;
    return q->close_connection();
  }
  q->watch_deadlines();
}

TcpQpair::TcpQpair(target::TransportContext& context, Reactor& reactor, uint16_t portid, std::shared_ptr<void> admission)
    : Qpair(context, reactor, portid),
      stream_(reactor, *this, counters().wire, Direction::HostToController, context.options().max_io_size,
              "the host"),
      admission_(std::move(admission)),
      accepted_us_(Reactor::now_us()),
      maxh2cdata_(context.options().max_io_size),
      requests_(context.options().max_queue_depth) {
  for (uint16_t i = 0; i < requests_.size(); ++i) {
    requests_[i].slot = i;
    requests_[i].qpair = this;
    requests_[i].data_pdu.tag = requests_[i].rsp_pdu.tag = i;
  }
  for (size_t i = requests_.size(); i-- > 0;) free_slots_.push_back(uint16_t(i));
}

TcpQpair::~TcpQpair() { close_connection(); }

// ---- receive ----------------------------------------------------------------------

void TcpQpair::on_pdu(const uint8_t* hdr, uint32_t data_len) {
  pdu_started_us_ = 0;  // each PDU that comes whole restarts the PDU deadline
  switch (hdr[0]) {
    case kPduIcReq: return handle_ic_req(hdr);
    case kPduCapsuleCmd: return handle_capsule(hdr, data_len);
    case kPduH2CData: return handle_h2c_data(hdr);
  }
}

void TcpQpair::handle_ic_req(const uint8_t* hdr) {
  IcReqPdu req;
  memcpy(&req, hdr, sizeof req);
  IcRespPdu rsp{};
  rsp.pfv = kTcpPfv10;
  rsp.cpda = 0;
  rsp.digest = req.digest & (kIcDigestHeader | kIcDigestData);  // both are supported
  rsp.maxh2cdata = maxh2cdata_;
  hpda_ = req.hpda;
  stream_.send_handshake(&rsp, kPduIcResp);
  stream_.establish(StreamParams{bool(rsp.digest & kIcDigestHeader), bool(rsp.digest & kIcDigestData), hpda_});
}

void TcpQpair::handle_capsule(const uint8_t* hdr, uint32_t icd) {
  if (free_slots_.empty())
    return stream_.protocol_error(PduError{kFesInvalidHeaderField, 0}, "a command beyond the queue's size");
  TcpRequest* req = &requests_[free_slots_.back()];
  free_slots_.pop_back();
  memcpy(&req->cmd, hdr + sizeof(CommonHeader), sizeof req->cmd);
  req->state = RequestState::kNew;
  req->digest_error = false;
  req->h2c_received = 0;
  req->in_capsule = 0;
  req->last_pdu = nullptr;
  if (icd == 0) return on_capsule(req);
  if (icd > in_capsule_limit())
    return stream_.protocol_error(PduError{kFesDataLimitExceeded, offsetof(CommonHeader, plen)},
                                  "in-capsule data beyond the controller's limit");
  req->in_capsule = icd;
  data_req_ = req;
  data_is_capsule_ = true;
  data_len_ = icd;
  // Dropped: the command is refused (Command Sequence Error) once it is in.
  if (!wants_capsule_data(req->cmd)) return;
  if (!take_capsule_buffer(req, icd))
    return stream_.protocol_error(PduError{kFesDataLimitExceeded, 0}, "no buffer for in-capsule data");
  counters().in_capsule_bytes += icd;
  stream_.receive_data(req->data);
}

void TcpQpair::handle_h2c_data(const uint8_t* hdr) {
  DataPdu p;
  memcpy(&p, hdr, sizeof p);
  TcpRequest* req = p.ttag < requests_.size() ? &requests_[p.ttag] : nullptr;
  if (!req || req->state != RequestState::kTransferIn || req->cmd.cid != p.cccid)
    return stream_.protocol_error(PduError{kFesInvalidHeaderField, offsetof(DataPdu, ttag)},
                                  "H2CData for no outstanding R2T");
  if (p.datao != req->h2c_received || uint64_t(p.datao) + p.datal > req->length)
    return stream_.protocol_error(PduError{kFesDataOutOfRange, offsetof(DataPdu, datao)},
                                  "H2CData outside the command's data");
  data_req_ = req;
  data_is_capsule_ = false;
  data_len_ = p.datal;
  stream_.receive_data(req->data + p.datao);
}

void TcpQpair::on_pdu_data(bool digest_ok) {
  pdu_started_us_ = 0;
  TcpRequest* req = data_req_;
  data_req_ = nullptr;
  if (!digest_ok) req->digest_error = true;
  if (data_is_capsule_) {
    if (req->digest_error) {
      req->rsp = CompletionEntry{};
      return complete(req, status::kTransientTransportError);
    }
    return on_capsule(req);
  }
  req->h2c_received += data_len_;
  if (req->h2c_received < req->length) return;  // more H2CData PDUs follow
  if (req->digest_error) return complete(req, status::kTransientTransportError);
  on_data_in(req);
}

void TcpQpair::on_burst_end() {
  // Part of a PDU is in and the rest is not: its deadline runs from now, unless it already
  // runs. Each whole PDU stops it, so a busy stream never trips it.
  if (!stream_.mid_pdu()) pdu_started_us_ = 0;
  else if (!pdu_started_us_) pdu_started_us_ = Reactor::now_us();
}

void TcpQpair::on_secured(const tls::TlsSession& session) {
  std::optional<tls::PskIdentity> id = tls::parse_identity(session.identity());
  if (!id) return stream_.fail(StreamEnd{StreamEnd::Kind::kTlsError, EPROTO, "TLS without an NVMe PSK identity"});
  secure_ = target::SecureChannel{id->hostnqn, id->subnqn, session.cipher(), session.ktls()};
}

void TcpQpair::on_end(const StreamEnd& end) {
  // A host that hangs up or gives up (TermReq) is no error of ours to count.
  if (end.kind == StreamEnd::Kind::kProtocolError) counters().errors++;
  // A refused handshake (no PSK for the identity, plain NVMe/TCP to a secure channel) is
  // logged once, naming the identity, which names the host.
  if (end.kind == StreamEnd::Kind::kTlsError) {
    counters().errors++;
    fprintf(stderr, "rdmagate: refused a connection: %s\n", end.what.c_str());
  }
  close_connection();
}

// ---- send -------------------------------------------------------------------------

void TcpQpair::transfer_in(Request* r) {
  auto* req = static_cast<TcpRequest*>(r);
  req->h2c_received = req->in_capsule;
  R2tPdu r2t{};
  r2t.cccid = req->cmd.cid;
  r2t.ttag = req->slot;
  r2t.r2to = req->in_capsule;
  r2t.r2tl = req->length - req->in_capsule;
  memcpy(req->data_pdu.hdr, &r2t, sizeof r2t);
  stream_.frame(req->data_pdu, kPduR2T, 0, nullptr, 0);
  queue(req->data_pdu);
}

void TcpQpair::send_response(Request* r) {
  auto* req = static_cast<TcpRequest*>(r);
  bool ok = req->rsp.sct() == 0 && req->rsp.sc() == 0;
  if (ok && req->dir == kXferControllerToHost && req->length > 0) {
    // With SQ flow control off, the last C2HData can carry the completion itself.
    bool success_flag = sq_flow_disabled_;
    DataPdu d{};
    d.cccid = req->cmd.cid;
    d.datao = 0;
    d.datal = req->length;
    memcpy(req->data_pdu.hdr, &d, sizeof d);
    stream_.frame(req->data_pdu, kPduC2HData, kPduFlagDataLast | (success_flag ? kPduFlagDataSuccess : 0),
                  req->data, req->length);
    if (success_flag) {
      req->last_pdu = &req->data_pdu;
      return queue(req->data_pdu);
    }
    queue(req->data_pdu);
  }
  CapsuleRespPdu rsp{};
  rsp.cqe = req->rsp;
  memcpy(req->rsp_pdu.hdr, &rsp, sizeof rsp);
  stream_.frame(req->rsp_pdu, kPduCapsuleResp, 0, nullptr, 0);
  req->last_pdu = &req->rsp_pdu;
  queue(req->rsp_pdu);
}

void TcpQpair::queue(TxPdu& pdu) {
  if (closed_) return on_sent(pdu);  // nothing goes out: the request ends here
  stream_.send(pdu);
  // Completions outside a burst of socket events (a backend's burst, the bdev's) leave
  // together, in one send at the start of the reactor's next iteration.
  if (!stream_.in_burst() && !flush_deferred_) {
    flush_deferred_ = true;
    std::weak_ptr<Qpair> weak = shared_from_this();
    reactor().defer([weak] {
      if (auto q = weak.lock()) {
        auto* self = static_cast<TcpQpair*>(q.get());
        self->flush_deferred_ = false;
        if (!self->closed_) self->stream_.flush();
      }
    });
  }
}

void TcpQpair::on_sent(TxPdu& pdu) {
  TcpRequest& req = requests_[pdu.tag];
  if (&pdu != req.last_pdu) return;
  req.last_pdu = nullptr;
  on_response_sent(&req);
  free_slots_.push_back(req.slot);
}

void TcpQpair::disconnect() { close_connection(); }

// ---- deadlines ----------------------------------------------------------------

void TcpQpair::watch_deadlines() {
  const target::ConnectionDeadlines& d = context().options().deadlines;
  uint64_t shortest_ms = std::min({d.ic_req_ms, d.connect_ms, d.pdu_ms, d.data_ms});
  // A deadline is met to within a quarter of the shortest one, and at most a second late.
  uint64_t period_us = std::clamp<uint64_t>(shortest_ms * 250, 10'000, 1'000'000);
  std::weak_ptr<Qpair> weak = shared_from_this();
  deadline_timer_ = reactor().add_timer(period_us, [weak] {
    auto q = weak.lock();
    if (!q) return;
    auto* self = static_cast<TcpQpair*>(q.get());
    self->deadline_timer_ = 0;
    if (self->closed_) return;
    if (self->missed_deadline(Reactor::now_us())) {
      self->counters().errors++;
      return self->close_connection();
    }
    self->watch_deadlines();
  });
}

bool TcpQpair::missed_deadline(uint64_t now_us) const {
  const target::ConnectionDeadlines& d = context().options().deadlines;
  auto past = [now_us](uint64_t since_us, uint32_t ms) { return since_us && now_us - since_us > uint64_t(ms) * 1000; };
  return (!stream_.established() && past(accepted_us_, d.ic_req_ms)) ||                 // no ICReq
         (!connected() && past(accepted_us_, d.connect_ms)) ||             // no Connect
         past(pdu_started_us_, d.pdu_ms) ||                                // a PDU left unfinished
         (!awaiting_data().empty() && past(awaiting_data().front()->fetch_us, d.data_ms));  // an R2T unanswered
}

void TcpQpair::close_connection() {
  if (closed_) return;
  closed_ = true;
  // Closing the socket drops the reactor's hold on us: hold on until the end.
  std::shared_ptr<Qpair> self = weak_from_this().lock();
  if (deadline_timer_) reactor().cancel_timer(deadline_timer_);
  deadline_timer_ = 0;
  stream_.close();
  admission_.reset();
  unbind();
  release_requests(requests_);
}

}  // namespace rdmagate::tcp
