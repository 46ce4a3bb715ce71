// The controller's end of a host NVMe/TCP connection, for the host tests and fuzzer: a
// listening socket on 127.0.0.1, blocking I/O on the accepted socket and the ICReq/ICResp
// exchange. Every wait is bounded, so a host that stops reading fails a check instead of
// hanging the test.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "spec/tcp_pdu.h"

namespace tcp_controller {

constexpr int kTimeoutMs = 10000;

class Listener {
 public:
  Listener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || listen(fd_, 16) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      std::perror("controller listen");
      std::abort();
    }
    port_ = ntohs(a.sin_port);
  }
  ~Listener() { ::close(fd_); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  uint16_t port() const { return port_; }

  // The next connection, or -1 if none comes. Nagle is off so that each write leaves as
  // written, and reads and writes time out. Signals (libFuzzer's timeout alarm) are
  // retried through.
  int accept() const {
    pollfd p{fd_, POLLIN, 0};
    int n;
    while ((n = poll(&p, 1, kTimeoutMs)) < 0 && errno == EINTR) {
    }
    if (n != 1) return -1;
    int fd;
    while ((fd = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC)) < 0 && errno == EINTR) {
    }
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{kTimeoutMs / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// False on end of stream, error or timeout.
inline bool read_full(int fd, void* p, size_t n) {
  auto* b = static_cast<uint8_t*>(p);
  while (n > 0) {
    ssize_t r = ::read(fd, b, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    b += r;
    n -= size_t(r);
  }
  return true;
}

// False once the host has closed, or on timeout.
inline bool write_full(int fd, const void* p, size_t n) {
  auto* b = static_cast<const uint8_t*>(p);
  while (n > 0) {
    ssize_t w = ::send(fd, b, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    b += w;
    n -= size_t(w);
  }
  return true;
}

// Everything the host sends until it closes; false on timeout. A reset ends the stream
// too: the host resets when it closes with our bytes unread, after what it sent.
inline bool read_to_end(int fd, std::vector<uint8_t>& out) {
  uint8_t buf[4096];
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0 || (r < 0 && errno == ECONNRESET)) return true;
    if (r < 0) return false;
    out.insert(out.end(), buf, buf + r);
  }
}

// Reads the host's ICReq; true when it is well formed and asks for these digests.
inline bool read_icreq(int fd, bool hdgst, bool ddgst) {
  rdmagate::spec::IcReqPdu req;
  if (!read_full(fd, &req, sizeof req)) return false;
  uint8_t digest = uint8_t((hdgst ? rdmagate::spec::kIcDigestHeader : 0) |
                           (ddgst ? rdmagate::spec::kIcDigestData : 0));
  return req.hdr.type == rdmagate::spec::kPduIcReq && req.hdr.hlen == sizeof req &&
         req.hdr.plen == sizeof req && req.pfv == rdmagate::spec::kTcpPfv10 && req.digest == digest;
}

inline rdmagate::spec::IcRespPdu ic_resp(uint8_t digest) {
  rdmagate::spec::IcRespPdu resp{};
  resp.hdr = {rdmagate::spec::kPduIcResp, 0, sizeof resp, 0, sizeof resp};
  resp.pfv = rdmagate::spec::kTcpPfv10;
  resp.digest = digest;
  resp.maxh2cdata = 128 * 1024;
  return resp;
}

}  // namespace tcp_controller
