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
#include <mutex>
#include <unordered_map>

#include "transport/tcp/tcp_qpair.h"
#include "util/error.h"

namespace rdmagate::tcp {

namespace {

// Out of fds or memory, accept() fails until something closes; with a level-triggered
// listening socket, retrying at once would spin. Accepting pauses, 10 ms at first and
// twice as long each time it fails again, up to a second.
constexpr uint64_t kFirstPauseUs = 10'000, kLongestPauseUs = 1'000'000;

bool out_of_resources(int e) { return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM; }

std::string host_of(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "";
  if (ss.ss_family == AF_INET) inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, host, sizeof host);
  if (ss.ss_family == AF_INET6) inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr, host, sizeof host);
  return host;
}

}  // namespace

struct TcpListener::State : std::enable_shared_from_this<State> {
  State(target::TransportContext& c, int f, uint16_t p, bool s) : context(c), fd(f), portid(p), secure(s) {}
  target::TransportContext& context;
  int fd;
  uint16_t portid;
  bool secure;
  std::atomic<bool> stopped{false};
  uint64_t pause_us = 0;  // the current pause after accept ran out of fds; 0: accepting
  std::atomic<uint64_t> refused{0}, accept_pauses{0};

  std::mutex mutex;  // connections end on any reactor
  uint64_t open = 0;
  std::unordered_map<std::string, uint32_t> open_by_address;

  Reactor& acceptor() { return context.reactor(0); }
  void accept_all();
  void pause_accepting();
  // One open connection, counted against the caps until it is dropped.
  struct Admission {
    Admission(std::shared_ptr<State> s, std::string a) : state(std::move(s)), address(std::move(a)) {}
    ~Admission();
    std::shared_ptr<State> state;
    std::string address;
  };
  // This connection's Admission; null when a cap is reached.
  std::shared_ptr<void> admit(const std::string& address);
};

std::shared_ptr<void> TcpListener::State::admit(const std::string& address) {
  const target::TargetOptions& o = context.options();
  std::lock_guard<std::mutex> lock(mutex);
  uint32_t& from_address = open_by_address[address];
  if ((o.max_connections_per_listener && open >= o.max_connections_per_listener) ||
      (o.max_connections_per_address && from_address >= o.max_connections_per_address)) {
    if (from_address == 0) open_by_address.erase(address);
    refused++;
    return nullptr;
  }
  ++open;
  ++from_address;
  return std::make_shared<Admission>(shared_from_this(), address);
}

TcpListener::State::Admission::~Admission() {
  std::lock_guard<std::mutex> lock(state->mutex);
  --state->open;
  if (--state->open_by_address[address] == 0) state->open_by_address.erase(address);
}

void TcpListener::State::accept_all() {
  for (;;) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int c = accept4(fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
      if (out_of_resources(errno)) return pause_accepting();
      pause_us = 0;
      return;  // EAGAIN, or a transient error (a peer gone before accept): the next event retries
    }
    pause_us = 0;
    std::shared_ptr<void> admission = admit(host_of(peer));
    if (!admission) {
      ::close(c);
      continue;
    }
    int on = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    Reactor& r = context.next_reactor();
    target::TransportContext* t = &context;
    uint16_t id = portid;
    bool tls = secure;
    r.post([t, &r, c, id, tls, admission] { TcpQpair::start(*t, r, c, id, tls, admission); });
  }
}

// The connections already open go on being served meanwhile.
void TcpListener::State::pause_accepting() {
  accept_pauses++;
  pause_us = pause_us ? std::min(pause_us * 2, kLongestPauseUs) : kFirstPauseUs;
  acceptor().remove_fd(fd);
  auto self = shared_from_this();
  acceptor().add_timer(pause_us, [self] {
    if (self->stopped) return;
    self->acceptor().add_fd(self->fd, EPOLLIN, [self](uint32_t) { self->accept_all(); });
  });
}

TcpListener::TcpListener(target::TransportContext& context, const std::string& address, uint16_t port, uint16_t portid,
                         bool secure_channel) {
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
  info_ = {"tcp", address, bound_port, v6, portid, secure_channel, {}};
  state_ = std::make_shared<State>(context, fd, portid, secure_channel);

  auto st = state_;
  st->acceptor().post([st] {
    if (st->stopped) return;
    st->acceptor().add_fd(st->fd, EPOLLIN, [st](uint32_t) { st->accept_all(); });
  });
}

TcpListener::~TcpListener() { stop(); }

target::ListenerCounters TcpListener::counters() const {
  target::ListenerCounters c;
  std::lock_guard<std::mutex> lock(state_->mutex);
  c.connections = state_->open;
  c.refused = state_->refused;
  c.accept_pauses = state_->accept_pauses;
  return c;
}

void TcpListener::stop() {
  if (!state_ || state_->stopped) return;
  auto st = state_;
  st->stopped = true;
  st->acceptor().post([st] {
    st->acceptor().remove_fd(st->fd);
    ::close(st->fd);
  });
}

namespace {

// TCP listeners share nothing: each connection is a socket of its own.
class TcpTransport final : public target::Transport {
 public:
  explicit TcpTransport(target::TransportContext& context) : context_(context) {}
  std::unique_ptr<target::TransportListener> listen(const std::string& address, uint16_t port, uint16_t portid,
                                                    bool secure_channel) override {
    return std::make_unique<TcpListener>(context_, address, port, portid, secure_channel);
  }

 private:
  target::TransportContext& context_;
};

const target::TransportRegistration kTcpTransport({
    "tcp",
    [](target::TransportContext& context) -> std::unique_ptr<target::Transport> {
      return std::make_unique<TcpTransport>(context);
    },
    [](spec::DiscoveryLogEntry& e, const target::ListenerInfo& l) {
      e.trtype = spec::kTrtypeTcp;
      e.tsas.tcp.sectype = l.secure_channel ? spec::kTcpSectypeTls13 : spec::kTcpSectypeNone;
    },
    true,
});

}  // namespace

}  // namespace rdmagate::tcp
