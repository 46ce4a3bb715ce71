#include "perf/tcp_round_trip.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "util/clock.h"
#include "util/error.h"

namespace rdmagate::perf {

namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {
    if (fd_ < 0) throw Error("ERR_PERF", std::string("loopback socket: ") + strerror(errno), errno);
  }
  ~Fd() { ::close(fd_); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Busy-polls until `len` bytes are in; false when the peer closed or failed. Yields
// while it waits, as an idle reactor does, or a core shared with the peer would stall.
bool receive(int fd, uint8_t* p, size_t len) {
  while (len) {
    ssize_t r = recv(fd, p, len, MSG_DONTWAIT);
    if (r > 0) {
      p += r;
      len -= size_t(r);
    } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
      return false;
    } else {
      sched_yield();
    }
  }
  return true;
}

bool send_all(int fd, const uint8_t* p, size_t len) {
  while (len) {
    ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    len -= size_t(w);
  }
  return true;
}

}  // namespace

RoundTripResult tcp_round_trip(uint32_t round_trips, uint32_t request_bytes, uint32_t response_bytes) {
  const uint32_t warmup = std::max<uint32_t>(round_trips / 10, 1);
  Fd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t addr_len = sizeof addr;
  if (bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listener.get(), 1) != 0 ||
      getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0)
    throw Error("ERR_PERF", std::string("loopback listener: ") + strerror(errno), errno);
  Fd client(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw Error("ERR_PERF", std::string("loopback connect: ") + strerror(errno), errno);
  Fd server(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  int one = 1;
  setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(server.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  const uint32_t total = warmup + round_trips;
  std::thread responder([&] {
    std::vector<uint8_t> req(request_bytes), rsp(response_bytes);
    for (uint32_t i = 0; i < total; ++i)
      if (!receive(server.get(), req.data(), req.size()) || !send_all(server.get(), rsp.data(), rsp.size())) break;
    shutdown(server.get(), SHUT_RDWR);
  });
  std::vector<uint8_t> req(request_bytes), rsp(response_bytes);
  RoundTripResult result;
  uint64_t sum = 0, min = UINT64_MAX;
  bool ok = true;
  for (uint32_t i = 0; i < total && ok; ++i) {
    uint64_t t0 = util::monotonic_ns();
    ok = send_all(client.get(), req.data(), req.size()) && receive(client.get(), rsp.data(), rsp.size());
    uint64_t dt = util::monotonic_ns() - t0;
    if (i < warmup) continue;
    sum += dt;
    min = std::min(min, dt);
  }
  shutdown(client.get(), SHUT_RDWR);
  responder.join();
  if (!ok) throw Error("ERR_PERF", "the loopback round trip failed", EPIPE);
  result.mean_us = double(sum) / round_trips / 1000.0;
  result.min_us = double(min) / 1000.0;
  return result;
}

}  // namespace rdmagate::perf
