#include "host/tcp_connection.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "util/crc32c.h"
#include "util/error.h"

namespace rdmagate::host {

namespace {

using spec::CommonHeader;
using spec::Direction;
using spec::PduError;

// Every PDU a controller sends is at least this long, so a header read of this size
// never takes bytes of the PDU after it.
constexpr uint32_t kMinPdu = sizeof(spec::CapsuleRespPdu);
static_assert(sizeof(spec::DataPdu) >= kMinPdu && sizeof(spec::R2tPdu) >= kMinPdu &&
              sizeof(spec::TermReqPdu) >= kMinPdu && sizeof(spec::IcRespPdu) >= kMinPdu);

// C2HData length is bounded per request by the queue pair, not here.
constexpr uint32_t kNoDataLimit = UINT32_MAX;
// With the receive pipe, a C2HData payload up to this size is copied out of the staging
// buffer when it was staged; a larger one makes the connection stage headers only.
constexpr uint32_t kMaxCopiedPayload = 8 * 1024;
constexpr int kMaxIov = 64;

std::atomic<uint64_t> g_open_sockets{0};

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

}  // namespace

uint64_t TcpConnection::open_sockets() { return g_open_sockets.load(); }

TcpConnection::TcpConnection(Reactor& reactor, Handler& handler, TransportCounters& counters)
    : reactor_(reactor), handler_(handler), counters_(counters) {}

TcpConnection::~TcpConnection() { close(); }

Failure TcpConnection::socket_failure(const char* what, int err) const {
  bool connecting = state_ == State::kConnecting || state_ == State::kIcReq;
  return Failure{connecting ? kErrConnect : kErrDisconnected,
                 std::string(what) + " " + peer_ + ": " + strerror(err), err};
}

void TcpConnection::connect(const std::string& traddr, uint16_t port, bool hdgst, bool ddgst, bool recv_pipe) {
  want_hdgst_ = hdgst;
  want_ddgst_ = ddgst;
  recv_pipe_ = recv_pipe;
  bool v6 = traddr.find(':') != std::string::npos;
  peer_ = (v6 ? "[" + traddr + "]" : traddr) + ":" + std::to_string(port);
  state_ = State::kConnecting;

  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  if (getaddrinfo(traddr.c_str(), service.c_str(), &hints, &res) != 0 || !res) {
    handler_.on_failed(Failure{kErrConnect, "not a numeric address: " + traddr, EINVAL});
    return;
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int e = errno;
    freeaddrinfo(res);
    handler_.on_failed(socket_failure("socket for", e));
    return;
  }
  fd_ = fd;
  ++g_open_sockets;
  // Commands are small and latency bound; never let Nagle hold one back.
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int rc = ::connect(fd_, res->ai_addr, res->ai_addrlen);
  int e = errno;
  freeaddrinfo(res);
  if (rc != 0 && e != EINPROGRESS) {
    fail(socket_failure("connect to", e));
    return;
  }
  // Edge triggered, registered once: the reactor has no way to change an fd's events,
  // and with EPOLLET an EPOLLOUT interest costs nothing until a send would block.
  try {
    reactor_.add_fd(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                    [this](uint32_t events) { on_events(events); }, [this] { return poll_receive(); });
  } catch (const Error& err) {
    // Thrown on a reactor thread, nothing would catch it: report it like any other failure.
    fail(Failure{kErrConnect, std::string("connect to ") + peer_ + ": " + err.what(), err.errnum()});
  }
}

void TcpConnection::on_events(uint32_t events) {
  if (state_ == State::kConnecting) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    on_connect_done();
  }
  if (open() && (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)))
    receive(events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP));
  if (open()) flush();
  if (open()) handler_.on_burst_end();
}

bool TcpConnection::poll_receive() {
  if (state_ == State::kConnecting) return false;
  uint64_t before = counters_.bytes_received.load(std::memory_order_relaxed);
  on_events(EPOLLIN);
  return counters_.bytes_received.load(std::memory_order_relaxed) != before;
}

void TcpConnection::on_connect_done() {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    fail(socket_failure("connect to", err));
    return;
  }
  state_ = State::kIcReq;
  start_header();
  send_icreq();
}

void TcpConnection::send_icreq() {
  spec::IcReqPdu req{};
  req.pfv = spec::kTcpPfv10;
  req.hpda = 0;  // we receive data anywhere: no alignment asked of the controller
  req.digest = uint8_t((want_hdgst_ ? spec::kIcDigestHeader : 0) |
                       (want_ddgst_ ? spec::kIcDigestData : 0));
  req.maxr2t = 0;  // one R2T outstanding per command
  std::memcpy(own_.hdr, &req, sizeof req);
  frame(own_, spec::kPduIcReq, 0, nullptr, 0);
  send(own_);
}

void TcpConnection::frame(TxPdu& pdu, uint8_t type, uint8_t flags, const uint8_t* data,
                          uint32_t len) const {
  const bool digests = spec::pdu_has_digests(type);
  const bool hd = params_.hdgst && digests;
  const bool dd = params_.ddgst && digests && len > 0;
  const uint8_t hlen = spec::pdu_hlen(type);
  const uint32_t header_end = hlen + (hd ? spec::kTcpDigestLen : 0);
  const uint32_t pdo = len ? spec::pdu_data_offset(type, hd, params_.cpda) : 0;
  CommonHeader ch{type,
                  uint8_t(flags | (hd ? spec::kPduFlagHdgst : 0) | (dd ? spec::kPduFlagDdgst : 0)),
                  hlen, uint8_t(pdo),
                  len ? pdo + len + (dd ? spec::kTcpDigestLen : 0) : header_end};
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

void TcpConnection::send(TxPdu& pdu) {
  pdu.sent = 0;
  pdu.next = nullptr;
  pdu.queued = true;
  if (tx_tail_) tx_tail_->next = &pdu;
  else tx_head_ = &pdu;
  tx_tail_ = &pdu;
}

void TcpConnection::flush() {
  if (flushing_) return;
  flushing_ = true;
  send_queued();
  flushing_ = false;
}

void TcpConnection::send_queued() {
  while (open() && tx_head_) {
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
    ssize_t w = sendmsg(fd_, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // EPOLLOUT resumes
      fail(socket_failure("send to", errno));
      return;
    }
    counters_.bytes_sent.fetch_add(uint64_t(w), std::memory_order_relaxed);
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
      counters_.pdus_sent.fetch_add(1, std::memory_order_relaxed);
      if (p != &own_) {
        handler_.on_sent(*p);
        if (!open()) return;
      }
    }
  }
}

void TcpConnection::start_header() {
  in_payload_ = false;
  hdr_have_ = 0;
  hdr_need_ = kMinPdu;
}

void TcpConnection::start_payload(Payload kind) {
  in_payload_ = true;
  payload_ = kind;
  cur_seg_ = 0;
  seg_off_ = 0;
}

void TcpConnection::receive(bool hangup) {
  while (open()) {
    // consume_staged() left the staging buffer empty: what is still owed to the current
    // payload goes straight to its destination, and what follows it is staged.
    iovec iov[4];
    int n = 0;
    size_t asked = 0;
    if (in_payload_) {
      for (uint32_t i = cur_seg_; i < nseg_; ++i) {
        uint32_t off = i == cur_seg_ ? seg_off_ : 0;
        iov[n++] = {seg_[i].p + off, seg_[i].len - off};
        asked += seg_[i].len - off;
      }
    }
    // Stage only what a header needs, so that payloads land in place: always without the
    // receive pipe, and after a C2HData too large to copy with it (c2h_ keeps the last one).
    const bool headers_only = !recv_pipe_ || c2h_.datal > kMaxCopiedPayload;
    const uint32_t staged = !headers_only ? kRxStaging : in_payload_ ? kMinPdu : hdr_need_ - hdr_have_;
    iov[n++] = {rx_, staged};
    asked += staged;
    ssize_t r = readv(fd_, iov, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      fail(socket_failure("receive from", errno));
      return;
    }
    if (r == 0) {
      bool connecting = state_ != State::kEstablished;
      fail(Failure{connecting ? kErrConnect : kErrDisconnected,
                   "the controller at " + peer_ + " closed the connection" +
                       (connecting ? " during ICReq/ICResp" : ""),
                   ECONNRESET});
      return;
    }
    counters_.bytes_received.fetch_add(uint64_t(r), std::memory_order_relaxed);
    // A short read emptied the socket: stop here rather than pay a syscall for EAGAIN.
    // Safe with EPOLLET on a stream socket, since data that arrives later is a new edge;
    // but not when this edge also brought the end of the stream, which no edge follows.
    const bool drained = size_t(r) < asked && !hangup;
    uint32_t got = uint32_t(r);
    for (uint32_t i = cur_seg_; in_payload_ && got && i < nseg_; ++i) {
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

void TcpConnection::consume_staged() {
  while (open()) {
    if (in_payload_) {
      while (cur_seg_ < nseg_ && seg_off_ == seg_[cur_seg_].len) {
        ++cur_seg_;
        seg_off_ = 0;
      }
      if (cur_seg_ == nseg_) {
        start_header();
        on_payload_done();
        continue;
      }
      Segment& seg = seg_[cur_seg_];
      uint32_t take = std::min(rx_tail_ - rx_head_, seg.len - seg_off_);
      if (take == 0) break;
      std::memcpy(seg.p + seg_off_, rx_ + rx_head_, take);
      if (payload_ == Payload::kC2HData && cur_seg_ == data_seg_)
        counters_.bytes_copied.fetch_add(take, std::memory_order_relaxed);
      rx_head_ += take;
      seg_off_ += take;
      continue;
    }
    uint32_t take = std::min(rx_tail_ - rx_head_, hdr_need_ - hdr_have_);
    if (take == 0) break;
    std::memcpy(hdr_ + hdr_have_, rx_ + rx_head_, take);
    rx_head_ += take;
    hdr_have_ += take;
    if (hdr_have_ == hdr_need_) on_header();
  }
}

void TcpConnection::on_header() {
  PduError err;
  spec::PduCheck check = spec::check_pdu(hdr_, hdr_have_, params_.hdgst, params_.ddgst, 0,
                                         kNoDataLimit, Direction::ControllerToHost, err);
  if (check == spec::PduCheck::Invalid) {
    protocol_error(err, "invalid PDU from the controller");
    return;
  }
  CommonHeader ch;
  std::memcpy(&ch, hdr_, sizeof ch);
  const uint32_t header_len = spec::pdu_header_length(ch, params_.hdgst);
  if (check == spec::PduCheck::NeedMore) {
    hdr_need_ = header_len;
    return;
  }
  if (params_.hdgst && spec::pdu_has_digests(ch.type) &&
      util::crc32c_digest(hdr_, ch.hlen) != load_le32(hdr_ + ch.hlen)) {
    counters_.digest_errors.fetch_add(1, std::memory_order_relaxed);
    protocol_error(PduError{spec::kFesHeaderDigestError, 0}, "header digest mismatch");
    return;
  }
  counters_.pdus_received.fetch_add(1, std::memory_order_relaxed);
  const bool handshake = state_ == State::kIcReq;
  if (handshake != (ch.type == spec::kPduIcResp) && ch.type != spec::kPduC2HTermReq) {
    protocol_error(PduError{spec::kFesPduSequenceError, 0},
                   handshake ? "expected ICResp" : "unexpected ICResp");
    return;
  }
  switch (ch.type) {
    case spec::kPduIcResp:
      on_icresp();
      return;
    case spec::kPduCapsuleResp: {
      spec::CapsuleRespPdu p;
      std::memcpy(&p, hdr_, sizeof p);
      start_header();
      handler_.on_capsule_resp(p.cqe);
      return;
    }
    case spec::kPduR2T: {
      spec::R2tPdu p;
      std::memcpy(&p, hdr_, sizeof p);
      start_header();
      handler_.on_r2t(p);
      return;
    }
    case spec::kPduC2HData: {
      std::memcpy(&c2h_, hdr_, sizeof c2h_);
      uint8_t* dest = handler_.on_c2h_data(c2h_);
      if (!open()) return;
      if (!dest) {
        protocol_error(PduError{spec::kFesDataOutOfRange, 0}, "C2HData the host cannot place");
        return;
      }
      nseg_ = 0;
      if (ch.pdo > header_len) seg_[nseg_++] = {pad_, ch.pdo - header_len};
      data_seg_ = nseg_;
      seg_[nseg_++] = {dest, c2h_.datal};
      if (params_.ddgst) seg_[nseg_++] = {rx_ddgst_, spec::kTcpDigestLen};
      start_payload(Payload::kC2HData);
      return;
    }
    case spec::kPduC2HTermReq:
      // The error data (the header the controller rejected) lands after the TermReq header.
      nseg_ = 0;
      if (ch.plen > ch.hlen) seg_[nseg_++] = {hdr_ + ch.hlen, ch.plen - ch.hlen};
      start_payload(Payload::kTermReq);
      return;
  }
}

void TcpConnection::on_icresp() {
  spec::IcRespPdu p;
  std::memcpy(&p, hdr_, sizeof p);  // pfv, cpda and maxh2cdata are checked by check_pdu
  bool hd = p.digest & spec::kIcDigestHeader;
  bool dd = p.digest & spec::kIcDigestData;
  if ((hd && !want_hdgst_) || (dd && !want_ddgst_) || (p.digest & ~0x3)) {
    protocol_error(PduError{spec::kFesInvalidHeaderField, offsetof(spec::IcRespPdu, digest)},
                   "ICResp enables a digest the host did not ask for");
    return;
  }
  if (hd != want_hdgst_ || dd != want_ddgst_) {
    fail(Failure{kErrConnect,
                 std::string("the controller at ") + peer_ + " declined the " +
                     (hd != want_hdgst_ ? "header" : "data") + " digest",
                 EPROTO});
    return;
  }
  params_ = TcpParams{hd, dd, p.cpda, p.maxh2cdata};
  state_ = State::kEstablished;
  start_header();
  handler_.on_established();
}

void TcpConnection::on_payload_done() {
  if (payload_ == Payload::kC2HData) {
    bool ok = true;
    if (params_.ddgst) {
      const uint8_t* data = seg_[data_seg_].p;
      ok = util::crc32c_digest(data, c2h_.datal) == load_le32(rx_ddgst_);
      if (!ok) counters_.digest_errors.fetch_add(1, std::memory_order_relaxed);
    }
    handler_.on_c2h_data_done(c2h_, ok);
    return;
  }
  spec::TermReqPdu t;
  std::memcpy(&t, hdr_, sizeof t);
  // The receiver of a TermReq closes without answering.
  fail(Failure{kErrTransport,
               std::string("the controller at ") + peer_ +
                   " terminated the connection (C2HTermReq): " + fes_name(t.fes) + ", FEI " +
                   std::to_string(t.fei),
               EPROTO});
}

void TcpConnection::protocol_error(PduError error, const std::string& what) {
  if (!open()) return;
  // A TermReq may only start between PDUs; with a PDU part-written, just close.
  bool between = !tx_head_ || tx_head_->sent == 0;
  if (between && state_ != State::kConnecting) {
    uint32_t echoed = std::min<uint32_t>(hdr_have_ ? hdr_have_ : hdr_need_,
                                         spec::kTcpTermReqMaxErrorData);
    spec::TermReqPdu t = spec::make_term_req(Direction::ControllerToHost, error, echoed);
    uint8_t buf[spec::kTermReqMaxLen];
    std::memcpy(buf, &t, sizeof t);
    std::memcpy(buf + sizeof t, hdr_, echoed);
    // Best effort: the connection is closed right after, whatever this writes.
    ssize_t unused = ::send(fd_, buf, t.hdr.plen, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)unused;
  }
  fail(Failure{kErrTransport,
               what + " from " + peer_ + " (" + fes_name(error.fes) + ", FEI " +
                   std::to_string(error.fei) + ")",
               EPROTO});
}

void TcpConnection::fail(const Failure& failure) {
  if (!open()) return;
  close();
  handler_.on_failed(failure);
}

void TcpConnection::close() {
  if (fd_ < 0) return;
  reactor_.remove_fd(fd_);
  ::close(fd_);
  fd_ = -1;
  --g_open_sockets;
  state_ = State::kClosed;
  for (TxPdu* p = tx_head_; p;) {
    TxPdu* next = p->next;
    p->next = nullptr;
    p->queued = false;
    p = next;
  }
  tx_head_ = tx_tail_ = nullptr;
}

}  // namespace rdmagate::host
