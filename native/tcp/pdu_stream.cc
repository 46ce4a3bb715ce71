#include "tcp/pdu_stream.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/crc32c.h"

namespace rdmagate::tcp {

namespace {

using spec::CommonHeader;
using spec::Direction;
using spec::PduError;

// Every PDU is at least this long, so a header read of this size never takes bytes of
// the PDU after it.
constexpr uint32_t kMinPdu = sizeof(spec::CapsuleRespPdu);
static_assert(sizeof(spec::DataPdu) >= kMinPdu && sizeof(spec::R2tPdu) >= kMinPdu &&
              sizeof(spec::TermReqPdu) >= kMinPdu && sizeof(spec::IcRespPdu) >= kMinPdu &&
              sizeof(spec::CapsuleCmdPdu) >= kMinPdu);
// With the receive pipe, data up to this size is copied out of the staging buffer when
// it was staged; larger data makes the stream stage headers only, until smaller data.
constexpr uint32_t kMaxCopiedPayload = 8 * 1024;
constexpr int kMaxIov = 64;

const char* fes_name(uint16_t fes) {
  switch (fes) {
    case spec::kFesInvalidHeaderField: return "invalid PDU header field";
    case spec::kFesPduSequenceError: return "PDU sequence error";
    case spec::kFesHeaderDigestError: return "header digest error";
    case spec::kFesDataOutOfRange: return "data transfer out of range";
    case spec::kFesDataLimitExceeded: return "data transfer limit exceeded";
    case spec::kFesUnsupportedParam: return "unsupported parameter";
  }
  return "unknown fatal error";
}

uint32_t load_le32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

bool is_handshake(uint8_t type) { return type == spec::kPduIcReq || type == spec::kPduIcResp; }
bool is_term_req(uint8_t type) { return type == spec::kPduH2CTermReq || type == spec::kPduC2HTermReq; }

}  // namespace

PduStream::PduStream(Reactor& reactor, Handler& handler, util::WireCounters& counters, Direction receives,
                     uint32_t max_data, const char* peer_role)
    : reactor_(reactor),
      handler_(handler),
      counters_(counters),
      receives_(receives),
      max_data_(max_data),
      peer_role_(peer_role),
      // A host's commands come whole in one read; a controller's PDUs are read no further
      // than their smallest, so its data (when the pipe is off) is never copied.
      header_read_(receives == Direction::HostToController ? uint32_t(sizeof(spec::CapsuleCmdPdu)) : kMinPdu) {}

PduStream::~PduStream() { close(); }

StreamEnd PduStream::tls_error() const {
  return StreamEnd{StreamEnd::Kind::kTlsError, EPROTO, "TLS with " + std::string(peer_role_) + " at " + peer_ + ": " + tls_->error()};
}

StreamEnd PduStream::socket_error(const char* what, int err) const {
  return StreamEnd{StreamEnd::Kind::kSocketError, err, std::string(what) + " " + peer_ + ": " + strerror(err)};
}

void PduStream::open(int fd, std::string peer, bool connecting, bool recv_pipe, std::shared_ptr<void> keep_alive,
                     std::unique_ptr<tls::TlsSession> tls) {
  peer_ = std::move(peer);
  tls_ = std::move(tls);
  recv_pipe_ = recv_pipe;
  connecting_ = connecting;
  start_header();
  // Edge triggered, registered once: an EPOLLOUT interest costs nothing until a send would
  // block, and it is what resumes a partial send (no epoll_ctl per blocked send).
  reactor_.add_fd(
      fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
      [this, keep_alive](uint32_t events) { on_events(events); },
      [this, keep_alive] { return poll_receive(); });
  fd_ = fd;
}

void PduStream::establish(const StreamParams& params) {
  params_ = params;
  established_ = true;
}

void PduStream::on_events(uint32_t events) {
  if (connecting_) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    on_connect_done();
  }
  if (tls_ && !tls_->established()) {
    if (!advance_tls()) return;
    events |= EPOLLIN;  // records may have come behind the handshake's last flight
  }
  in_burst_ = true;
  if (is_open() && (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)))
    receive(events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP));
  if (is_open()) flush();
  in_burst_ = false;
  if (is_open()) handler_.on_burst_end();
}

bool PduStream::poll_receive() {
  if (connecting_ || (tls_ && !tls_->established())) return false;
  uint64_t before = counters_.bytes_received;
  on_events(EPOLLIN);
  return counters_.bytes_received != before;
}

void PduStream::on_connect_done() {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) return fail(socket_error("connect to", err));
  connecting_ = false;
  if (tls_) connected_pending_ = true;
  else handler_.on_connected();
}

bool PduStream::advance_tls() {
  switch (tls_->handshake()) {
    case tls::TlsSession::Step::kWantRead:
    case tls::TlsSession::Step::kWantWrite: return false;
    case tls::TlsSession::Step::kFailed:
      fail(StreamEnd{StreamEnd::Kind::kTlsError, EPROTO,
                     "TLS handshake with " + std::string(peer_role_) + " at " + peer_ + " failed: " + tls_->error()});
      return false;
    case tls::TlsSession::Step::kDone: break;
  }
  handler_.on_secured(*tls_);
  if (is_open() && connected_pending_) {
    connected_pending_ = false;
    handler_.on_connected();
  }
  return is_open();
}

ssize_t PduStream::read_socket(iovec* iov, int n) {
  if (tls_) return tls_->readv(iov, n);
  // Most reads are polls of an idle socket, into the staging buffer alone: recv() costs
  // less than readv(), which walks the VFS's iovec layer first.
  return n == 1 ? recv(fd_, iov[0].iov_base, iov[0].iov_len, 0) : readv(fd_, iov, n);
}

// ---- send -------------------------------------------------------------------------

void PduStream::frame(TxPdu& pdu, uint8_t type, uint8_t flags, const uint8_t* data, uint32_t len) const {
  const bool digests = spec::pdu_has_digests(type);
  const bool hd = params_.hdgst && digests;
  const bool dd = params_.ddgst && digests && len > 0;
  const uint8_t hlen = spec::pdu_hlen(type);
  const uint32_t header_end = hlen + (hd ? spec::kTcpDigestLen : 0);
  const uint32_t pdo = len ? spec::pdu_data_offset(type, hd, params_.peer_pda) : 0;
  CommonHeader ch{type, uint8_t(flags | (hd ? spec::kPduFlagHdgst : 0) | (dd ? spec::kPduFlagDdgst : 0)), hlen,
                  uint8_t(pdo), len ? pdo + len + (dd ? spec::kTcpDigestLen : 0) : header_end};
  std::memcpy(pdu.hdr, &ch, sizeof ch);
  if (hd) {
    uint32_t d = util::crc32c_digest(pdu.hdr, hlen);
    std::memcpy(pdu.hdr + hlen, &d, sizeof d);
  }
  const uint32_t hdr_total = len ? pdo : header_end;
  std::memset(pdu.hdr + header_end, 0, hdr_total - header_end);  // PDO padding
  pdu.hdr_len = hdr_total;
  pdu.data = data;
  pdu.data_len = len;
  pdu.ddgst_len = 0;
  if (dd) {
    uint32_t d = util::crc32c_digest(data, len);
    std::memcpy(pdu.ddgst, &d, sizeof d);
    pdu.ddgst_len = spec::kTcpDigestLen;
  }
}

void PduStream::send(TxPdu& pdu) {
  pdu.sent = 0;
  pdu.next = nullptr;
  pdu.queued = true;
  if (tx_tail_) tx_tail_->next = &pdu;
  else tx_head_ = &pdu;
  tx_tail_ = &pdu;
}

void PduStream::send_handshake(const void* pdu, uint8_t type) {
  std::memcpy(handshake_.hdr, pdu, spec::pdu_hlen(type));
  frame(handshake_, type, 0, nullptr, 0);
  send(handshake_);
}

void PduStream::flush() {
  if (flushing_) return;
  flushing_ = true;
  send_queued();
  flushing_ = false;
}

void PduStream::send_queued() {
  if (connecting_) return;
  while (is_open() && tx_head_) {
    iovec iov[kMaxIov];
    int n = 0;
    for (TxPdu* p = tx_head_; p && n + 3 <= kMaxIov; p = p->next) {
      uint32_t skip = p->sent;
      auto add = [&](const uint8_t* base, uint32_t len) {
        if (skip >= len) {
          skip -= len;
          return;
        }
        iov[n++] = {const_cast<uint8_t*>(base) + skip, len - skip};
        skip = 0;
      };
      add(p->hdr, p->hdr_len);
      add(p->data, p->data_len);
      add(p->ddgst, p->ddgst_len);
    }
    msghdr m{};
    m.msg_iov = iov;
    m.msg_iovlen = size_t(n);
    ssize_t w = tls_ ? tls_->writev(iov, n) : sendmsg(fd_, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // EPOLLOUT resumes
      if (tls_ && errno == EPROTO) return fail(tls_error());
      return fail(socket_error("send to", errno));
    }
    counters_.bytes_sent += uint64_t(w);
    uint64_t left = uint64_t(w);
    while (left && tx_head_) {
      TxPdu* p = tx_head_;
      uint32_t take = uint32_t(std::min<uint64_t>(left, p->total() - p->sent));
      p->sent += take;
      left -= take;
      if (p->sent < p->total()) break;
      tx_head_ = p->next;
      if (!tx_head_) tx_tail_ = nullptr;
      p->next = nullptr;
      p->queued = false;
      ++counters_.pdus_sent;
      if (p != &handshake_) {
        handler_.on_sent(*p);
        if (!is_open()) return;
      }
    }
  }
}

// ---- receive ----------------------------------------------------------------------

void PduStream::start_header() {
  in_payload_ = false;
  hdr_have_ = 0;
  hdr_need_ = kMinPdu;
  common_checked_ = false;
}

void PduStream::start_payload(Payload kind, uint32_t data_len) {
  in_payload_ = true;
  payload_ = kind;
  data_len_ = data_len;
  cur_seg_ = 0;
  seg_off_ = 0;
}

void PduStream::receive(bool hangup) {
  while (is_open()) {
    // consume_staged() left the staging buffer empty: what is still owed to the current
    // payload goes straight to its destination (up to bytes that are dropped), and what
    // follows is staged.
    iovec iov[4];
    int n = 0;
    size_t asked = 0;
    bool dropping = false;
    if (in_payload_) {
      for (uint32_t i = cur_seg_; i < nseg_; ++i) {
        if (!seg_[i].p) {
          dropping = true;
          break;
        }
        uint32_t off = i == cur_seg_ ? seg_off_ : 0;
        iov[n++] = {seg_[i].p + off, seg_[i].len - off};
        asked += seg_[i].len - off;
      }
    }
    // Stage about one header, so that payloads land in place: always without the receive
    // pipe, and after data too large to copy with it. Bytes to drop are staged.
    const bool headers_only = (!recv_pipe_ || data_len_ > kMaxCopiedPayload) && !dropping;
    const uint32_t header = header_read_ + (params_.hdgst ? spec::kTcpDigestLen : 0);
    const uint32_t staged = !headers_only ? kRxStaging : in_payload_ ? header : std::max(hdr_need_, header) - hdr_have_;
    iov[n++] = {rx_, staged};
    asked += staged;
    ssize_t r = read_socket(iov, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (tls_ && errno == EPROTO) return fail(tls_error());
      return fail(socket_error("receive from", errno));
    }
    if (r == 0) {
      return fail(StreamEnd{StreamEnd::Kind::kPeerClosed, ECONNRESET,
                            std::string(peer_role_) + " at " + peer_ + " closed the connection" +
                                (established_ ? "" : " during ICReq/ICResp")});
    }
    counters_.bytes_received += uint64_t(r);
    // A short read emptied the socket: stop here rather than pay a syscall for EAGAIN.
    // Safe with EPOLLET on a stream socket, since data that arrives later is a new edge;
    // but not when this edge also brought the end of the stream, which no edge follows.
    const bool drained = size_t(r) < asked && !hangup;
    uint32_t got = uint32_t(r);
    for (uint32_t i = cur_seg_; in_payload_ && got && i < nseg_ && seg_[i].p; ++i) {
      uint32_t take = std::min(got, seg_[i].len - seg_off_);
      seg_off_ += take;
      got -= take;
      if (seg_off_ < seg_[i].len) break;
      cur_seg_ = i + 1;
      seg_off_ = 0;
    }
    rx_head_ = 0;
    rx_tail_ = got;
    consume_staged();
    if (drained) return;
  }
}

void PduStream::consume_staged() {
  while (is_open()) {
    if (in_payload_) {
      while (cur_seg_ < nseg_ && seg_off_ == seg_[cur_seg_].len) {
        ++cur_seg_;
        seg_off_ = 0;
      }
      if (cur_seg_ == nseg_) {
        in_payload_ = false;
        on_payload_done();
        start_header();
        continue;
      }
      Segment& seg = seg_[cur_seg_];
      uint32_t take = std::min(rx_tail_ - rx_head_, seg.len - seg_off_);
      if (take == 0) break;
      if (seg.p) {
        std::memcpy(seg.p + seg_off_, rx_ + rx_head_, take);
        if (payload_ == Payload::kData && cur_seg_ == data_seg_) counters_.bytes_copied += take;
      }
      rx_head_ += take;
      seg_off_ += take;
      continue;
    }
    uint32_t take = std::min(rx_tail_ - rx_head_, hdr_need_ - hdr_have_);
    if (take == 0) break;
    std::memcpy(hdr_ + hdr_have_, rx_ + rx_head_, take);
    rx_head_ += take;
    hdr_have_ += take;
    // A common header is checked as soon as it is in, so that a bad one shorter than
    // any PDU is refused now rather than when more bytes come.
    if (hdr_have_ == hdr_need_ || (rx_head_ == rx_tail_ && hdr_have_ >= sizeof(CommonHeader))) on_header();
  }
}

void PduStream::on_header() {
  // A header whose common part passed already is judged again only once it is whole, and
  // then on its own fields alone: a capsule's common header is checked once, not per read.
  if (common_checked_ && hdr_have_ < hdr_need_) return;
  PduError err;
  spec::PduCheck check;
  if (common_checked_) {
    err = spec::validate_pdu_fields(hdr_, params_.ddgst);
    check = err.ok() ? spec::PduCheck::Ok : spec::PduCheck::Invalid;
  } else {
    check = spec::check_pdu(hdr_, hdr_have_, params_.hdgst, params_.ddgst, 0, max_data_, receives_, err);
  }
  hdr_len_ = hdr_have_;
  if (check == spec::PduCheck::Invalid) return protocol_error(err, "invalid PDU");
  CommonHeader ch;
  std::memcpy(&ch, hdr_, sizeof ch);
  const uint32_t header_len = spec::pdu_header_length(ch, params_.hdgst);
  if (check == spec::PduCheck::NeedMore) {
    hdr_need_ = header_len;
    common_checked_ = true;
    return;
  }
  if (params_.hdgst && spec::pdu_has_digests(ch.type) &&
      util::crc32c_digest(hdr_, ch.hlen) != load_le32(hdr_ + ch.hlen)) {
    ++counters_.digest_errors;
    return protocol_error(PduError{spec::kFesHeaderDigestError, 0}, "header digest mismatch");
  }
  ++counters_.pdus_received;
  if (is_term_req(ch.type)) {
    // Its error data (the header the peer rejected) lands after the TermReq header.
    nseg_ = 0;
    if (ch.plen > ch.hlen) seg_[nseg_++] = {hdr_ + ch.hlen, ch.plen - ch.hlen};
    return start_payload(Payload::kTermReq, 0);
  }
  if (established_ == is_handshake(ch.type)) {
    const char* ic = receives_ == Direction::HostToController ? "ICReq" : "ICResp";
    return protocol_error(PduError{spec::kFesPduSequenceError, 0},
                          std::string(established_ ? "unexpected " : "expected ") + ic);
  }
  const bool has_data = spec::pdu_can_carry_data(ch.type) && ch.pdo != 0;
  const uint32_t data_len = has_data ? ch.plen - ch.pdo - (params_.ddgst ? spec::kTcpDigestLen : 0) : 0;
  data_dst_ = nullptr;
  start_header();
  handler_.on_pdu(hdr_, data_len);
  if (!is_open() || !has_data) return;
  nseg_ = 0;
  if (ch.pdo > header_len) seg_[nseg_++] = {pad_, ch.pdo - header_len};
  data_seg_ = nseg_;
  seg_[nseg_++] = {data_dst_, data_len};
  if (params_.ddgst) seg_[nseg_++] = {rx_ddgst_, spec::kTcpDigestLen};
  start_payload(Payload::kData, data_len);
}

void PduStream::on_payload_done() {
  if (payload_ == Payload::kData) {
    bool ok = true;
    if (params_.ddgst && data_dst_) {
      ok = util::crc32c_digest(data_dst_, data_len_) == load_le32(rx_ddgst_);
      if (!ok) ++counters_.digest_errors;
    }
    return handler_.on_pdu_data(ok);
  }
  spec::TermReqPdu t;
  std::memcpy(&t, hdr_, sizeof t);
  // The receiver of a TermReq closes without answering.
  const char* name = receives_ == Direction::HostToController ? "H2CTermReq" : "C2HTermReq";
  fail(StreamEnd{StreamEnd::Kind::kTermReq, EPROTO,
                 std::string(peer_role_) + " at " + peer_ + " terminated the connection (" + name +
                     "): " + fes_name(t.fes) + ", FEI " + std::to_string(t.fei)});
}

void PduStream::protocol_error(PduError error, const std::string& what) {
  if (!is_open()) return;
  // A TermReq may only start between PDUs; with a PDU part-written, just close.
  bool between = !tx_head_ || tx_head_->sent == 0;
  if (between && !connecting_) {
    uint32_t echoed = std::min<uint32_t>(hdr_len_, spec::kTcpTermReqMaxErrorData);
    spec::TermReqPdu t = spec::make_term_req(receives_, error, echoed);
    uint8_t buf[spec::kTermReqMaxLen];
    std::memcpy(buf, &t, sizeof t);
    std::memcpy(buf + sizeof t, hdr_, echoed);
    // Best effort: the connection is closed right after, whatever this writes.
    iovec iov{buf, t.hdr.plen};
    ssize_t unused = tls_ ? tls_->writev(&iov, 1) : ::send(fd_, buf, t.hdr.plen, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)unused;
  }
  fail(StreamEnd{StreamEnd::Kind::kProtocolError, EPROTO,
                 what + " from " + peer_ + " (" + fes_name(error.fes) + ", FEI " + std::to_string(error.fei) + ")"});
}

void PduStream::fail(const StreamEnd& end) {
  if (!is_open()) return;
  close();
  handler_.on_end(end);
}

void PduStream::close() {
  if (fd_ < 0) return;
  int fd = fd_;
  fd_ = -1;
  reactor_.remove_fd(fd);
  if (tls_) tls_->shutdown();
  tls_.reset();
  connected_pending_ = false;
  ::close(fd);
  for (TxPdu* p = tx_head_; p;) {
    TxPdu* next = p->next;
    p->next = nullptr;
    p->queued = false;
    p = next;
  }
  tx_head_ = tx_tail_ = nullptr;
}

}  // namespace rdmagate::tcp
