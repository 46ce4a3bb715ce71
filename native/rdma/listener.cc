#include "rdma/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include "rdma/loader.h"
#include "rdma/resources.h"
#include "util/error.h"

namespace rdmagate::rdma {

Listener::Listener(Reactor& reactor, std::shared_ptr<EventSink> sink, ConnectionOptions options, AcceptPolicy policy)
    : id_(next_object_id()), reactor_(reactor), sink_(std::move(sink)), options_(std::move(options)),
      policy_(std::move(policy)) {}

Listener::~Listener() = default;  // close() has run on the reactor

std::shared_ptr<Listener> Listener::listen(Reactor& reactor, std::shared_ptr<EventSink> sink,
                                           const sockaddr_storage& address, int backlog,
                                           ConnectionOptions accept_options, AcceptPolicy policy) {
  const Api& a = require_api();
  std::shared_ptr<Listener> l(new Listener(reactor, std::move(sink), std::move(accept_options), std::move(policy)));
  // Bind synchronously so that address errors reach the caller of listen().
  auto fail = [&](const char* what) {
    int e = errno;
    if (l->cm_id_) { a.rdma_destroy_id(l->cm_id_); --resources().cm_ids; }
    if (l->channel_) { a.rdma_destroy_event_channel(l->channel_); --resources().channels; }
    std::string msg = std::string(what) + ": " + strerror(e);
    if (e == EADDRNOTAVAIL || e == ENODEV)
      msg += " (no RDMA device has an interface with this address)";
    throw Error(e == EADDRINUSE ? "ERR_ADDRESS_IN_USE" : "ERR_RDMA_VERBS", msg, e);
  };
  l->channel_ = a.rdma_create_event_channel();
  if (!l->channel_) fail("rdma_create_event_channel");
  ++resources().channels;
  fcntl(l->channel_->fd, F_SETFL, fcntl(l->channel_->fd, F_GETFL) | O_NONBLOCK);
  if (a.rdma_create_id(l->channel_, &l->cm_id_, l.get(), RDMA_PS_TCP) != 0) fail("rdma_create_id");
  ++resources().cm_ids;
  sockaddr_storage addr = address;
  if (a.rdma_bind_addr(l->cm_id_, reinterpret_cast<sockaddr*>(&addr)) != 0) fail("rdma_bind_addr");
  if (a.rdma_listen(l->cm_id_, backlog) != 0) fail("rdma_listen");
  const sockaddr* bound = &l->cm_id_->route.addr.src_addr;
  l->port_ = ntohs(bound->sa_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(bound)->sin6_port
                                                : reinterpret_cast<const sockaddr_in*>(bound)->sin_port);
  reactor.post([l] { l->reactor_.add_fd(l->channel_->fd, EPOLLIN, [l](uint32_t) { l->on_cm_events(); }); });
  return l;
}

void Listener::on_cm_events() {
  const Api& a = *api();
  rdma_cm_event* ev = nullptr;
  while (channel_ && a.rdma_get_cm_event(channel_, &ev) == 0) {
    rdma_cm_event_type type = ev->event;
    rdma_cm_id* child = ev->id;
    std::vector<uint8_t> pdata;
    if (ev->param.conn.private_data && ev->param.conn.private_data_len) {
      auto* p = static_cast<const uint8_t*>(ev->param.conn.private_data);
      pdata.assign(p, p + ev->param.conn.private_data_len);
    }
    a.rdma_ack_cm_event(ev);
    if (type == RDMA_CM_EVENT_CONNECT_REQUEST) accept(child, std::move(pdata));
  }
}

void Listener::accept(rdma_cm_id* child, std::vector<uint8_t> request) {
  const Api& a = *api();
  ConnectionOptions options = options_;
  Reactor* home = &reactor_;
  if (policy_) {
    AcceptDecision d = policy_(request);
    if (!d.accept) {
      a.rdma_reject(child, d.private_data.data(), uint8_t(d.private_data.size()));
      a.rdma_destroy_id(child);
      return;
    }
    options = std::move(d.options);
    if (d.reactor) home = d.reactor;
  }
  std::shared_ptr<Connection> c(new Connection(*home, sink_, std::move(options)));
  // Here, on our own reactor: the id moves to the connection's channel before it can see
  // more events, and before close() can destroy our channel under it.
  try {
    c->create_channel();
    if (a.rdma_migrate_id(child, c->channel_) != 0) {
      int e = errno;
      throw Error("ERR_RDMA_VERBS", std::string("rdma_migrate_id: ") + strerror(e), e);
    }
    c->attach_id(child);
  } catch (const Error& e) {
    if (!c->cm_id_) {
      a.rdma_reject(child, nullptr, 0);
      a.rdma_destroy_id(child);
    }
    home->post([c, err = e.errnum(), what = std::string(e.what())] { c->fail(err, what); });
    return;
  }
  if (home == &reactor_) return complete_accept(c, child);
  auto self = shared_from_this();
  home->post([self, c, child] { self->complete_accept(c, child); });
}

void Listener::complete_accept(const std::shared_ptr<Connection>& c, rdma_cm_id* child) {
  const Api& a = *api();
  try {
    if (closed_.load()) throw Error("ERR_RDMA_NOT_CONNECTED", "the listener closed before the connection was accepted", 0);
    c->watch_channel();
    c->create_queue_pair();
    c->state_ = Connection::State::kConnecting;
    // The sink learns of the connection before the host can send, so that it can post
    // its receives first.
    sink_->on_accepted(id_, c);
    rdma_conn_param p = c->conn_param();
    if (a.rdma_accept(child, &p) != 0) {
      int e = errno;
      throw Error("ERR_RDMA_VERBS", std::string("rdma_accept: ") + strerror(e), e);
    }
  } catch (const Error& e) {
    a.rdma_reject(child, nullptr, 0);  // the host hears no, rather than waiting; the id is the connection's
    c->fail(e.errnum(), e.what());
  }
}

void Listener::close() {
  closed_ = true;
  auto self = shared_from_this();
  reactor_.post([self] {
    const Api& a = *api();
    if (self->cm_id_) {
      a.rdma_destroy_id(self->cm_id_);
      --resources().cm_ids;
      self->cm_id_ = nullptr;
    }
    if (self->channel_) {
      self->reactor_.remove_fd(self->channel_->fd);
      a.rdma_destroy_event_channel(self->channel_);
      --resources().channels;
      self->channel_ = nullptr;
    }
  });
}

}  // namespace rdmagate::rdma
