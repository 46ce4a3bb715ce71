#include "host/tcp_connection.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace rdmagate::host {

namespace {

using spec::PduError;

// C2HData length is bounded per request by the queue pair, not by the stream.
constexpr uint32_t kNoDataLimit = UINT32_MAX;

std::atomic<uint64_t> g_open_sockets{0};

}  // namespace

uint64_t TcpConnection::open_sockets() { return g_open_sockets.load(); }

TcpConnection::TcpConnection(Reactor& reactor, Handler& handler, TransportCounters& counters)
    : handler_(handler),
      stream_(reactor, *this, counters, spec::Direction::ControllerToHost, kNoDataLimit, "the controller") {}

TcpConnection::~TcpConnection() { close(); }

void TcpConnection::connect(const std::string& traddr, uint16_t port, bool hdgst, bool ddgst, bool recv_pipe,
                            const tls::TlsPsk* tls) {
  want_hdgst_ = hdgst;
  want_ddgst_ = ddgst;
  bool v6 = traddr.find(':') != std::string::npos;
  std::string peer = (v6 ? "[" + traddr + "]" : traddr) + ":" + std::to_string(port);

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
  int e = errno;
  if (fd >= 0) {
    // Commands are small and latency bound; never let Nagle hold one back.
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    e = ::connect(fd, res->ai_addr, res->ai_addrlen) == 0 ? 0 : errno;
  }
  freeaddrinfo(res);
  if (fd < 0 || (e != 0 && e != EINPROGRESS)) {
    if (fd >= 0) ::close(fd);
    handler_.on_failed(Failure{kErrConnect, std::string(fd < 0 ? "socket for " : "connect to ") + peer + ": " + strerror(e), e});
    return;
  }
  try {
    stream_.open(fd, peer, true, recv_pipe, nullptr, tls ? tls::TlsSession::client(fd, *tls) : nullptr);
  } catch (const Error& err) {
    // Thrown on a reactor thread, nothing would catch it: report it like any other failure.
    ::close(fd);
    handler_.on_failed(Failure{kErrConnect, "connect to " + peer + ": " + err.what(), err.errnum()});
    return;
  }
  counted_ = true;
  ++g_open_sockets;
}

void TcpConnection::on_connected() {
  spec::IcReqPdu req{};
  req.pfv = spec::kTcpPfv10;
  req.hpda = 0;  // we receive data anywhere: no alignment asked of the controller
  req.digest = uint8_t((want_hdgst_ ? spec::kIcDigestHeader : 0) | (want_ddgst_ ? spec::kIcDigestData : 0));
  req.maxr2t = 0;  // one R2T outstanding per command
  stream_.send_handshake(&req, spec::kPduIcReq);
}

void TcpConnection::on_pdu(const uint8_t* hdr, uint32_t) {
  switch (hdr[0]) {
    case spec::kPduIcResp:
      return on_icresp(hdr);
    case spec::kPduCapsuleResp: {
      spec::CapsuleRespPdu p;
      std::memcpy(&p, hdr, sizeof p);
      return handler_.on_capsule_resp(p.cqe);
    }
    case spec::kPduR2T: {
      spec::R2tPdu p;
      std::memcpy(&p, hdr, sizeof p);
      return handler_.on_r2t(p);
    }
    case spec::kPduC2HData: {
      std::memcpy(&c2h_, hdr, sizeof c2h_);
      uint8_t* dest = handler_.on_c2h_data(c2h_);
      if (!open()) return;
      if (!dest) return protocol_error(PduError{spec::kFesDataOutOfRange, 0}, "C2HData the host cannot place");
      return stream_.receive_data(dest);
    }
  }
}

void TcpConnection::on_pdu_data(bool digest_ok) { handler_.on_c2h_data_done(c2h_, digest_ok); }

void TcpConnection::on_icresp(const uint8_t* hdr) {
  spec::IcRespPdu p;
  std::memcpy(&p, hdr, sizeof p);  // pfv, cpda and maxh2cdata are checked by the stream
  bool hd = p.digest & spec::kIcDigestHeader;
  bool dd = p.digest & spec::kIcDigestData;
  if ((hd && !want_hdgst_) || (dd && !want_ddgst_) || (p.digest & ~0x3)) {
    return protocol_error(PduError{spec::kFesInvalidHeaderField, offsetof(spec::IcRespPdu, digest)},
                          "ICResp enables a digest the host did not ask for");
  }
  if (hd != want_hdgst_ || dd != want_ddgst_) {
    return fail(Failure{kErrConnect,
                        "the controller at " + stream_.peer() + " declined the " +
                            (hd != want_hdgst_ ? "header" : "data") + " digest",
                        EPROTO});
  }
  params_ = TcpParams{hd, dd, p.cpda, p.maxh2cdata};
  stream_.establish(tcp::StreamParams{hd, dd, p.cpda});
  handler_.on_established();
}

void TcpConnection::on_end(const tcp::StreamEnd& end) {
  closed();
  using Kind = tcp::StreamEnd::Kind;
  // Until ICResp, any failure is one to connect; after it, a socket that ends is a
  // disconnect and a broken protocol a transport error.
  const bool connecting = !stream_.established();
  const char* code = end.kind == Kind::kProtocolError || end.kind == Kind::kTermReq ? kErrTransport
                   : connecting                                                  ? kErrConnect
                                                                                 : kErrDisconnected;
  handler_.on_failed(Failure{code, end.what, end.err});
}

void TcpConnection::fail(const Failure& failure) {
  if (!open()) return;
  close();
  handler_.on_failed(failure);
}

void TcpConnection::close() {
  stream_.close();
  closed();
}

void TcpConnection::closed() {
  if (!counted_) return;
  counted_ = false;
  --g_open_sockets;
}

}  // namespace rdmagate::host
