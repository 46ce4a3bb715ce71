#include "transport/tcp/tcp_qpair.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "target/target.h"
#include "util/crc32c.h"

namespace rdmagate::tcp {

using namespace spec;
using target::Request;
using target::RequestState;

namespace {

constexpr size_t kReceiveBuffer = 64 * 1024;

void put_digest(uint8_t* at, const void* p, size_t n) {
  uint32_t d = util::crc32c_digest(p, n);
  memcpy(at, &d, 4);
}

bool digest_ok(const uint8_t* stored, const void* p, size_t n) {
  uint32_t d = util::crc32c_digest(p, n);
  return memcmp(stored, &d, 4) == 0;
}

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

void TcpQpair::start(target::Target& target, Reactor& reactor, int fd, uint16_t portid,
                     std::shared_ptr<void> admission) {
  std::shared_ptr<TcpQpair> q(new TcpQpair(target, reactor, fd, portid, std::move(admission)));
  reactor.add_fd(fd, EPOLLIN, [q](uint32_t events) { q->on_events(events); }, [q] { return q->poll_receive(); });
  q->watch_deadlines();
}

TcpQpair::TcpQpair(target::Target& target, Reactor& reactor, int fd, uint16_t portid, std::shared_ptr<void> admission)
    : Qpair(target, reactor, portid), fd_(fd), peer_(peer_of(fd)), admission_(std::move(admission)),
      accepted_us_(Reactor::now_us()), maxh2cdata_(target.options().max_io_size),
      requests_(target.options().max_queue_depth), rbuf_(kReceiveBuffer) {
  for (uint16_t i = 0; i < requests_.size(); ++i) {
    requests_[i].slot = i;
    requests_[i].qpair = this;
  }
  for (size_t i = requests_.size(); i-- > 0;) free_slots_.push_back(uint16_t(i));
}

TcpQpair::~TcpQpair() { close_connection(); }

TcpQpair::TcpRequest* TcpQpair::request_for_slot(uint16_t slot) {
  return slot < requests_.size() ? &requests_[slot] : nullptr;
}

void TcpQpair::on_events(uint32_t events) {
  auto self = shared_from_this();  // a handler may close us
  if (events & (EPOLLERR | EPOLLHUP)) {
    if (!(events & EPOLLIN)) return close_connection();
  }
  if (events & EPOLLIN) {
    in_receive_ = true;
    drained_ = false;
    receive();
    in_receive_ = false;
  }
  if (!closed_) flush();
}

// ---- receive --------------------------------------------------------------

bool TcpQpair::poll_receive() {
  uint64_t before = bytes_received_;
  on_events(EPOLLIN);
  return bytes_received_ != before;
}

bool TcpQpair::fill(size_t bytes) {
  if (rlen_ - rpos_ >= bytes) return true;
  if (rpos_ > 0) {
    memmove(rbuf_.data(), rbuf_.data() + rpos_, rlen_ - rpos_);
    rlen_ -= rpos_;
    rpos_ = 0;
  }
  while (rlen_ < bytes) {
    if (drained_) return false;
    size_t room = rbuf_.size() - rlen_;
    ssize_t n = recv(fd_, rbuf_.data() + rlen_, room, 0);
    if (n > 0) {
      bytes_received_ += uint64_t(n);
      rlen_ += size_t(n);
      drained_ = size_t(n) < room;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    if (n < 0 && errno == EINTR) continue;
    close_connection();  // orderly shutdown or error
    return false;
  }
  return true;
}

// Takes what the staging buffer holds first (a CPU copy, counted), then reads the rest
// from the socket straight into `dst`.
size_t TcpQpair::read_into(uint8_t* dst, size_t len) {
  size_t got = std::min(len, rlen_ - rpos_);
  if (got) {
    if (dst) memcpy(dst, rbuf_.data() + rpos_, got);
    rpos_ += got;
    if (dst) counters().bytes_copied += got;
  }
  while (got < len) {
    if (!dst) {  // padding: discard through the staging buffer
      if (!fill(1)) return got;
      size_t skip = std::min(len - got, rlen_ - rpos_);
      rpos_ += skip;
      got += skip;
      continue;
    }
    if (drained_) return got;
    ssize_t n = recv(fd_, dst + got, len - got, 0);
    if (n > 0) {
      bytes_received_ += uint64_t(n);
      drained_ = size_t(n) < len - got;
      got += size_t(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return got;
    if (n < 0 && errno == EINTR) continue;
    close_connection();
    return got;
  }
  return got;
}

void TcpQpair::receive() {
  receive_pdus();
  // Part of a PDU is in and the rest is not: its deadline runs from now, unless it already
  // runs. Each finished PDU stops it, so a busy stream never trips it.
  bool mid_pdu = rx_ != Rx::kHeader || rlen_ > rpos_;
  if (!mid_pdu) pdu_started_us_ = 0;
  else if (!pdu_started_us_) pdu_started_us_ = Reactor::now_us();
}

void TcpQpair::receive_pdus() {
  while (!closed_ && !closing_) {
    switch (rx_) {
      case Rx::kHeader:
        if (!handle_header()) return;
        if (rx_ == Rx::kHeader) pdu_started_us_ = 0;  // a PDU with no data, done
        break;
      case Rx::kPadding: {
        pad_left_ -= uint32_t(read_into(nullptr, pad_left_));
        if (pad_left_) return;
        rx_ = Rx::kData;
        break;
      }
      case Rx::kData: {
        data_got_ += uint32_t(read_into(data_dst_ ? data_dst_ + data_got_ : nullptr, data_len_ - data_got_));
        if (data_got_ < data_len_) return;
        if (ddgst_) {
          ddgst_got_ = 0;
          rx_ = Rx::kDataDigest;
        } else {
          data_done();
        }
        break;
      }
      case Rx::kDataDigest: {
        ddgst_got_ += uint32_t(read_into(ddgst_buf_ + ddgst_got_, 4 - ddgst_got_));
        if (ddgst_got_ < 4) return;
        if (data_dst_ && !digest_ok(ddgst_buf_, data_dst_, data_len_)) data_req_->digest_error = true;
        data_done();
        break;
      }
    }
  }
}

// Reads and checks one PDU header; false when more bytes are needed (or we closed).
bool TcpQpair::handle_header() {
  if (!fill(sizeof(CommonHeader))) return false;
  const uint8_t* p = rbuf_.data() + rpos_;
  memcpy(&ch_, p, sizeof ch_);
  PduError e = validate_header(ch_, hdgst_, ddgst_, 0, maxh2cdata_, Direction::HostToController);
  if (!e.ok()) {
    fatal(e, p, std::min<size_t>(rlen_ - rpos_, ch_.hlen));
    return false;
  }
  if (!ic_done_ && ch_.type != kPduIcReq) {
    fatal(PduError{kFesPduSequenceError, 0}, p, sizeof ch_);
    return false;
  }
  uint32_t header_len = pdu_header_length(ch_, hdgst_);
  if (!fill(header_len)) return false;
  p = rbuf_.data() + rpos_;
  memcpy(hdr_, p, header_len);
  rpos_ += header_len;
  if (hdgst_ && pdu_has_digests(ch_.type) && !digest_ok(hdr_ + ch_.hlen, hdr_, ch_.hlen)) {
    fatal(PduError{kFesHeaderDigestError, 0}, hdr_, ch_.hlen);
    return false;
  }
  e = validate_pdu_fields(hdr_, ddgst_);
  if (!e.ok()) {
    fatal(e, hdr_, ch_.hlen);
    return false;
  }
  switch (ch_.type) {
    case kPduIcReq: handle_ic_req(); break;
    case kPduCapsuleCmd: handle_capsule(); break;
    case kPduH2CData: handle_h2c_data(); break;
    case kPduH2CTermReq: close_connection(); return false;  // the host gave up on us
    default: fatal(PduError{kFesInvalidHeaderField, 0}, hdr_, ch_.hlen); return false;
  }
  return !closed_;
}

void TcpQpair::handle_ic_req() {
  if (ic_done_) return fatal(PduError{kFesPduSequenceError, 0}, hdr_, ch_.hlen);
  IcReqPdu req;
  memcpy(&req, hdr_, sizeof req);
  IcRespPdu rsp;
  memset(&rsp, 0, sizeof rsp);
  rsp.hdr = CommonHeader{kPduIcResp, 0, sizeof(IcRespPdu), 0, sizeof(IcRespPdu)};
  rsp.pfv = kTcpPfv10;
  rsp.cpda = 0;
  rsp.digest = req.digest & (kIcDigestHeader | kIcDigestData);  // both are supported
  rsp.maxh2cdata = maxh2cdata_;
  hpda_ = req.hpda;
  // The ICResp is the one PDU not tied to a request; it is sent synchronously (128
  // bytes on a fresh socket) so that no buffer has to outlive this call.
  if (send(fd_, &rsp, sizeof rsp, MSG_NOSIGNAL) != sizeof rsp) return close_connection();
  hdgst_ = rsp.digest & kIcDigestHeader;
  ddgst_ = rsp.digest & kIcDigestData;
  ic_done_ = true;
}

void TcpQpair::handle_capsule() {
  if (free_slots_.empty()) {
    // The host sent more commands than the queue holds.
    return fatal(PduError{kFesInvalidHeaderField, 0}, hdr_, ch_.hlen);
  }
  TcpRequest* req = &requests_[free_slots_.back()];
  free_slots_.pop_back();
  memcpy(&req->cmd, hdr_ + sizeof(CommonHeader), sizeof req->cmd);
  req->state = RequestState::kNew;
  req->digest_error = false;
  req->h2c_received = 0;
  req->in_capsule = 0;
  uint32_t icd = ch_.pdo ? ch_.plen - ch_.pdo - (ddgst_ ? kTcpDigestLen : 0) : 0;
  if (icd == 0) return on_capsule(req);
  if (icd > in_capsule_limit() || icd > target().options().max_io_size)
    return fatal(PduError{kFesDataLimitExceeded, offsetof(CommonHeader, plen)}, hdr_, ch_.hlen);
  req->in_capsule = icd;
  data_is_capsule_ = true;
  // Read past and dropped: the command is refused (Command Sequence Error) once it is in.
  if (!wants_capsule_data(req->cmd)) return expect_data(req, nullptr, icd);
  if (!take_capsule_buffer(req, icd)) return fatal(PduError{kFesDataLimitExceeded, 0}, hdr_, ch_.hlen);
  counters().in_capsule_bytes += icd;
  expect_data(req, req->data, icd);
}

void TcpQpair::handle_h2c_data() {
  DataPdu p;
  memcpy(&p, hdr_, sizeof p);
  TcpRequest* req = request_for_slot(p.ttag);
  if (!req || req->state != RequestState::kTransferIn || req->cmd.cid != p.cccid)
    return fatal(PduError{kFesInvalidHeaderField, offsetof(DataPdu, ttag)}, hdr_, ch_.hlen);
  if (p.datao != req->h2c_received || uint64_t(p.datao) + p.datal > req->length)
    return fatal(PduError{kFesDataOutOfRange, offsetof(DataPdu, datao)}, hdr_, ch_.hlen);
  data_is_capsule_ = false;
  expect_data(req, req->data + p.datao, p.datal);
}

void TcpQpair::expect_data(TcpRequest* req, uint8_t* dst, uint32_t len) {
  data_req_ = req;
  data_dst_ = dst;
  data_len_ = len;
  data_got_ = 0;
  pad_left_ = ch_.pdo - pdu_header_length(ch_, hdgst_);
  rx_ = pad_left_ ? Rx::kPadding : Rx::kData;
}

void TcpQpair::data_done() {
  rx_ = Rx::kHeader;
  pdu_started_us_ = 0;
  TcpRequest* req = data_req_;
  data_req_ = nullptr;
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

// ---- send -------------------------------------------------------------------

void TcpQpair::transfer_in(Request* r) {
  auto* req = static_cast<TcpRequest*>(r);
  req->h2c_received = req->in_capsule;
  R2tPdu r2t;
  memset(&r2t, 0, sizeof r2t);
  uint8_t flags = hdgst_ ? kPduFlagHdgst : 0;
  r2t.hdr = CommonHeader{kPduR2T, flags, sizeof(R2tPdu), 0, uint32_t(sizeof(R2tPdu) + (hdgst_ ? kTcpDigestLen : 0))};
  r2t.cccid = req->cmd.cid;
  r2t.ttag = req->slot;
  r2t.r2to = req->in_capsule;
  r2t.r2tl = req->length - req->in_capsule;
  memcpy(req->data_hdr, &r2t, sizeof r2t);
  if (hdgst_) put_digest(req->data_hdr + sizeof r2t, req->data_hdr, sizeof r2t);
  queue(Out{{{req->data_hdr, r2t.hdr.plen}, {}, {}}, 1, nullptr});
}

void TcpQpair::send_response(Request* r) {
  auto* req = static_cast<TcpRequest*>(r);
  bool ok = req->rsp.sct() == 0 && req->rsp.sc() == 0;
  bool c2h = ok && req->dir == kXferControllerToHost && req->length > 0;
  if (c2h) {
    // With SQ flow control off, the last C2HData can carry the completion itself.
    bool success_flag = sq_flow_disabled_;
    DataPdu d;
    memset(&d, 0, sizeof d);
    uint8_t pdo = pdu_data_offset(kPduC2HData, hdgst_, hpda_);
    uint8_t flags = kPduFlagDataLast | (success_flag ? kPduFlagDataSuccess : 0) | (hdgst_ ? kPduFlagHdgst : 0) |
                    (ddgst_ ? kPduFlagDdgst : 0);
    d.hdr = CommonHeader{kPduC2HData, flags, sizeof(DataPdu), pdo,
                         uint32_t(pdo + req->length + (ddgst_ ? kTcpDigestLen : 0))};
    d.cccid = req->cmd.cid;
    d.datao = 0;
    d.datal = req->length;
    memset(req->data_hdr, 0, pdo);
    memcpy(req->data_hdr, &d, sizeof d);
    if (hdgst_) put_digest(req->data_hdr + sizeof d, req->data_hdr, sizeof d);
    Out out{{{req->data_hdr, pdo}, {req->data, req->length}, {}}, 2, nullptr};
    if (ddgst_) {
      req->data_digest = util::crc32c_digest(req->data, req->length);
      out.iov[2] = {&req->data_digest, kTcpDigestLen};
      out.iovcnt = 3;
    }
    if (success_flag) {
      out.completes = req;
      return queue(out);
    }
    queue(out);
  }
  CapsuleRespPdu rsp;
  uint8_t flags = hdgst_ ? kPduFlagHdgst : 0;
  rsp.hdr = CommonHeader{kPduCapsuleResp, flags, sizeof(CapsuleRespPdu), 0,
                         uint32_t(sizeof(CapsuleRespPdu) + (hdgst_ ? kTcpDigestLen : 0))};
  rsp.cqe = req->rsp;
  memcpy(req->rsp_pdu, &rsp, sizeof rsp);
  if (hdgst_) put_digest(req->rsp_pdu + sizeof rsp, req->rsp_pdu, sizeof rsp);
  queue(Out{{{req->rsp_pdu, rsp.hdr.plen}, {}, {}}, 1, req});
}

void TcpQpair::queue(const Out& out) {
  if (closed_) {
    if (out.completes) {
      on_response_sent(out.completes);
      free_slots_.push_back(out.completes->slot);
    }
    return;
  }
  out_.push_back(out);
  // Completions outside the receive path (a backend's burst, the bdev's) leave together,
  // in one send at the start of the reactor's next iteration.
  if (!in_receive_ && !flush_deferred_) {
    flush_deferred_ = true;
    std::weak_ptr<Qpair> weak = shared_from_this();
    reactor().defer([weak] {
      if (auto q = weak.lock()) {
        auto* self = static_cast<TcpQpair*>(q.get());
        self->flush_deferred_ = false;
        if (!self->closed_) self->flush();
      }
    });
  }
}

void TcpQpair::flush() {
  while (!out_.empty() && !closed_) {
    iovec iov[64];
    int n = 0;
    for (auto it = out_.begin(); it != out_.end() && n + 3 <= 64; ++it)
      for (int i = 0; i < it->iovcnt; ++i)
        if (it->iov[i].iov_len) iov[n++] = it->iov[i];
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = size_t(n);
    ssize_t sent = sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!want_write_) reactor().modify_fd(fd_, EPOLLIN | EPOLLOUT);
        want_write_ = true;
        return;
      }
      return close_connection();
    }
    size_t left = size_t(sent);
    while (!out_.empty()) {
      Out& o = out_.front();
      for (int i = 0; i < o.iovcnt && left; ++i) {
        size_t take = std::min(left, o.iov[i].iov_len);
        o.iov[i].iov_base = static_cast<uint8_t*>(o.iov[i].iov_base) + take;
        o.iov[i].iov_len -= take;
        left -= take;
      }
      bool done = true;
      for (int i = 0; i < o.iovcnt; ++i) done = done && o.iov[i].iov_len == 0;
      if (!done) break;
      TcpRequest* req = o.completes;
      out_.pop_front();
      if (req) {
        on_response_sent(req);
        free_slots_.push_back(req->slot);
      }
    }
  }
  if (want_write_ && out_.empty() && !closed_) {
    reactor().modify_fd(fd_, EPOLLIN);
    want_write_ = false;
  }
  if (closing_ && out_.empty()) close_connection();
}

void TcpQpair::fatal(PduError error, const uint8_t* pdu, size_t len) {
  counters().errors++;
  closing_ = true;
  size_t echo = std::min<size_t>(len, kTcpTermReqMaxErrorData);
  TermReqPdu term = make_term_req(Direction::HostToController, error, uint32_t(echo));
  uint8_t buf[kTermReqMaxLen];
  memcpy(buf, &term, sizeof term);
  memcpy(buf + sizeof term, pdu, echo);
  // Best effort and synchronous: the connection is closed right after.
  ssize_t unused = send(fd_, buf, sizeof term + echo, MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)unused;
  close_connection();
}

void TcpQpair::disconnect() { close_connection(); }

// ---- deadlines ----------------------------------------------------------------

void TcpQpair::watch_deadlines() {
  const target::ConnectionDeadlines& d = target().options().deadlines;
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
  const target::ConnectionDeadlines& d = target().options().deadlines;
  auto past = [now_us](uint64_t since_us, uint32_t ms) { return since_us && now_us - since_us > uint64_t(ms) * 1000; };
  return (!ic_done_ && past(accepted_us_, d.ic_req_ms)) ||                 // no ICReq
         (!connected() && past(accepted_us_, d.connect_ms)) ||             // no Connect
         past(pdu_started_us_, d.pdu_ms) ||                                // a PDU left unfinished
         (!awaiting_data().empty() && past(awaiting_data().front()->fetch_us, d.data_ms));  // an R2T unanswered
}

void TcpQpair::close_connection() {
  if (closed_) return;
  closed_ = true;
  if (deadline_timer_) reactor().cancel_timer(deadline_timer_);
  deadline_timer_ = 0;
  reactor().remove_fd(fd_);
  ::close(fd_);
  admission_.reset();
  out_.clear();
  unbind();
  release_requests(requests_);
}

}  // namespace rdmagate::tcp
