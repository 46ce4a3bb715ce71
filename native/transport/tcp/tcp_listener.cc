#include "transport/tcp/tcp_listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "transport/tcp/tcp_qpair.h"
#include "util/error.h"

namespace rdmagate::tcp {

struct TcpListener::State {
  State(target::Target& t, int f, uint16_t p) : target(t), fd(f), portid(p) {}
  target::Target& target;
  int fd;
  uint16_t portid;
  std::atomic<bool> stopped{false};
};

TcpListener::TcpListener(target::Target& target, const std::string& address, uint16_t port, uint16_t portid) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(address.empty() ? nullptr : address.c_str(), service.c_str(), &hints, &res);
  if (rc != 0 || !res) throw Error("ERR_INVALID_ARG", "cannot resolve listen address '" + address + "': " + gai_strerror(rc));
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  bool v6 = res->ai_family == AF_INET6;
  if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 128) != 0) {
    int e = errno;
    freeaddrinfo(res);
    if (fd >= 0) ::close(fd);
    throw Error(e == EADDRINUSE ? "ERR_ADDRESS_IN_USE" : "ERR_SYSTEM",
                "cannot listen on tcp " + address + ":" + std::to_string(port) + ": " + strerror(e), e);
  }
  freeaddrinfo(res);
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  uint16_t bound_port = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                 : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  info_ = {"tcp", address, bound_port, v6, portid};
  state_ = std::make_shared<State>(target, fd, portid);

  auto st = state_;
  Reactor& acceptor = target.reactor(0);
  acceptor.post([st, &acceptor] {
    if (st->stopped) return;
    acceptor.add_fd(st->fd, EPOLLIN, [st](uint32_t) {
      for (;;) {
        int c = accept4(st->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) return;  // EAGAIN, or a transient error: the next event retries
        int on = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        Reactor& r = st->target.next_reactor();
        target::Target* t = &st->target;
        uint16_t portid = st->portid;
        r.post([t, &r, c, portid] { TcpQpair::start(*t, r, c, portid); });
      }
    });
  });
}

TcpListener::~TcpListener() { stop(); }

void TcpListener::stop() {
  if (!state_ || state_->stopped) return;
  auto st = state_;
  st->target.reactor(0).post([st] {
    st->target.reactor(0).remove_fd(st->fd);
    ::close(st->fd);
  });
  st->stopped = true;
}

}  // namespace rdmagate::tcp
