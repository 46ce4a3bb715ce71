#include "host/tcp_queue_transport.h"

#include <algorithm>
#include <cstring>

namespace rdmagate::host {

namespace {

using spec::CompletionEntry;
using spec::PduError;

// NVMe/TCP admin queues take at least 8 KiB of in-capsule data, and Connect's 1 KiB of
// data always travels in the capsule, on every queue.
constexpr uint32_t kConnectIncapsule = 8192;

}  // namespace

TcpQueueTransport::TcpQueueTransport(Reactor& reactor, QueueEndpoint endpoint,
                                     QueueTransport::Handler& handler, TransportCounters& counters)
    : reactor_(reactor),
      endpoint_(std::move(endpoint)),
      handler_(handler),
      counters_(counters),
      slots_(size_t(endpoint_.depth) + 1) {
  for (uint16_t i = 0; i < slots_.size(); ++i) slots_[i].tx.tag = i;
}

TcpQueueTransport::~TcpQueueTransport() = default;

const TcpParams& TcpQueueTransport::tcp_params() const {
  static const TcpParams none;
  return conn_ ? conn_->params() : none;
}

void TcpQueueTransport::connect(const TransportAddress& to, uint16_t) {
  for (Slot& s : slots_) s.active = false;
  incapsule_max_ = kConnectIncapsule;
  conn_ = std::make_unique<TcpConnection>(reactor_, static_cast<TcpConnection::Handler&>(*this), counters_);
  conn_->connect(to.traddr, to.trsvcid, endpoint_.hdgst, endpoint_.ddgst, endpoint_.recv_pipe,
                 endpoint_.tls.get());
}

void TcpQueueTransport::flush() {
  if (conn_) conn_->flush();
}

void TcpQueueTransport::fail(const Failure& failure) {
  if (conn_) conn_->fail(failure);
}

void TcpQueueTransport::close() {
  if (conn_) conn_->close();
  for (Slot& s : slots_) s.active = false;
}

void TcpQueueTransport::on_established() { handler_.on_established(); }
void TcpQueueTransport::on_burst_end() { handler_.on_burst_end(); }
void TcpQueueTransport::on_failed(const Failure& failure) { handler_.on_failed(failure); }

uint32_t TcpQueueTransport::send(const TransportCommand& cmd) {
  Slot& s = slots_[cmd.sqe.cid];
  s.active = true;
  s.cqe_pending = false;
  s.dir = cmd.dir;
  s.data = cmd.data;
  s.length = cmd.length;
  s.h2c_offset = s.r2t_end = s.c2h_received = 0;
  s.status_override = 0;
  s.incapsule = s.dir == spec::kXferHostToController && s.length <= incapsule_max_;

  spec::SubmissionEntry sqe = cmd.sqe;
  sqe.dptr.sgl = s.incapsule ? spec::make_incapsule_sgl(0, s.length) : spec::make_tcp_transport_sgl(s.length);
  std::memcpy(s.tx.hdr + sizeof(spec::CommonHeader), &sqe, sizeof sqe);
  conn_->frame(s.tx, spec::kPduCapsuleCmd, 0, s.incapsule ? s.data : nullptr, s.incapsule ? s.length : 0);
  conn_->send(s.tx);
  return 0;
}

TcpQueueTransport::Slot* TcpQueueTransport::active(uint16_t cid) {
  return cid < slots_.size() && slots_[cid].active ? &slots_[cid] : nullptr;
}

void TcpQueueTransport::complete(uint16_t cid, uint32_t status, const CompletionEntry& cqe) {
  // Inactive first: the handler may reuse the slot before it returns.
  slots_[cid].active = false;
  handler_.on_command_done(cid, status, cqe);
}

void TcpQueueTransport::on_r2t(const spec::R2tPdu& p) {
  Slot* s = active(p.cccid);
  if (!s || s->dir != spec::kXferHostToController || s->incapsule) {
    conn_->protocol_error(PduError{spec::kFesInvalidHeaderField, offsetof(spec::R2tPdu, cccid)},
                          "R2T for command id " + std::to_string(p.cccid) + ", which has no data to send");
    return;
  }
  if (s->h2c_offset < s->r2t_end || s->tx.queued) {
    conn_->protocol_error(PduError{spec::kFesR2tLimitExceeded, 0},
                          "R2T while the previous one is being served");
    return;
  }
  if (p.r2to != s->h2c_offset || p.r2tl > s->length - p.r2to) {
    conn_->protocol_error(PduError{spec::kFesInvalidHeaderField, offsetof(spec::R2tPdu, r2to)},
                          "R2T for bytes " + std::to_string(p.r2to) + "+" + std::to_string(p.r2tl) +
                              " when " + std::to_string(s->h2c_offset) + " of " +
                              std::to_string(s->length) + " are sent");
    return;
  }
  counters_.r2ts += 1;
  s->ttag = p.ttag;
  s->r2t_end = p.r2to + p.r2tl;
  send_h2c(*s);
}

void TcpQueueTransport::send_h2c(Slot& s) {
  uint32_t chunk = std::min(conn_->params().maxh2cdata, s.r2t_end - s.h2c_offset);
  spec::DataPdu d{};
  d.cccid = uint16_t(s.tx.tag);
  d.ttag = s.ttag;
  d.datao = s.h2c_offset;
  d.datal = chunk;
  std::memcpy(s.tx.hdr, &d, sizeof d);
  bool last = s.h2c_offset + chunk == s.r2t_end;  // last PDU of this R2T
  conn_->frame(s.tx, spec::kPduH2CData, last ? spec::kPduFlagDataLast : 0, s.data + s.h2c_offset, chunk);
  s.h2c_offset += chunk;
  conn_->send(s.tx);
}

void TcpQueueTransport::on_sent(TxPdu& pdu) {
  Slot& s = slots_[pdu.tag];
  if (!s.active) return;
  if (s.h2c_offset < s.r2t_end) {
    send_h2c(s);
  } else if (s.cqe_pending) {
    CompletionEntry cqe = s.cqe;
    uint32_t status = status_word(cqe);
    complete(uint16_t(pdu.tag), status_ok(status) && s.status_override ? s.status_override : status, cqe);
  }
}

void TcpQueueTransport::on_capsule_resp(const CompletionEntry& cqe) {
  Slot* s = active(cqe.cid);
  if (!s) {
    conn_->protocol_error(
        PduError{spec::kFesInvalidHeaderField,
                 offsetof(spec::CapsuleRespPdu, cqe) + offsetof(CompletionEntry, cid)},
        "CapsuleResp for command id " + std::to_string(cqe.cid) + ", which is not outstanding");
    return;
  }
  if (s->tx.queued) {
    // The controller may answer before it has all our data (an error); our PDU cannot
    // be taken back from the stream, so the command ends once it is written.
    s->cqe = cqe;
    s->cqe_pending = true;
    return;
  }
  uint32_t status = status_word(cqe);
  complete(cqe.cid, status_ok(status) && s->status_override ? s->status_override : status, cqe);
}

uint8_t* TcpQueueTransport::on_c2h_data(const spec::DataPdu& p) {
  Slot* s = active(p.cccid);
  if (!s || s->dir != spec::kXferControllerToHost) {
    conn_->protocol_error(PduError{spec::kFesInvalidHeaderField, offsetof(spec::DataPdu, cccid)},
                          "C2HData for command id " + std::to_string(p.cccid) + ", which expects none");
    return nullptr;
  }
  if (p.datao != s->c2h_received || p.datal > s->length - p.datao) {
    conn_->protocol_error(PduError{spec::kFesDataOutOfRange, 0},
                          "C2HData for bytes " + std::to_string(p.datao) + "+" + std::to_string(p.datal) +
                              " when " + std::to_string(s->c2h_received) + " of " +
                              std::to_string(s->length) + " are in");
    return nullptr;
  }
  if ((p.hdr.flags & spec::kPduFlagDataSuccess) && p.datao + p.datal != s->length) {
    conn_->protocol_error(PduError{spec::kFesInvalidHeaderField, offsetof(spec::CommonHeader, flags)},
                          "C2HData with SUCCESS before all data");
    return nullptr;
  }
  return s->data + p.datao;
}

void TcpQueueTransport::on_c2h_data_done(const spec::DataPdu& p, bool digest_ok) {
  Slot& s = slots_[p.cccid];  // on_c2h_data checked it
  s.c2h_received += p.datal;
  // Like Linux: a data digest error fails the command, not the connection.
  if (!digest_ok) s.status_override = status_word(spec::status::kDataXferError);
  if (p.hdr.flags & spec::kPduFlagDataSuccess) {
    CompletionEntry cqe{};  // SQ flow control is off: no CapsuleResp
    cqe.cid = p.cccid;
    complete(p.cccid, s.status_override, cqe);
  }
}

}  // namespace rdmagate::host
