#include "rdma/connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>

#include <cerrno>
#include <cstring>
#include <exception>

#include "rdma/listener.h"
#include "rdma/loader.h"
#include "rdma/resources.h"
#include "util/error.h"

namespace rdmagate::rdma {

namespace {

[[noreturn]] void throw_errno(const char* what) {
  int e = errno;
  throw Error("ERR_RDMA_VERBS", std::string(what) + ": " + strerror(e), e);
}

void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

}  // namespace

uint64_t next_object_id() {
  static std::atomic<uint64_t> next{1};
  return next++;
}

sockaddr_storage resolve_address(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_flags = AI_NUMERICSERV | (host.empty() ? AI_PASSIVE : 0);
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0 || !res)
    throw Error("ERR_INVALID_ARG", "cannot resolve address '" + host + "': " + gai_strerror(rc));
  sockaddr_storage ss{};
  memcpy(&ss, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return ss;
}

std::string address_text(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = "";
  uint16_t port = 0;
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return std::string("[") + host + "]:" + std::to_string(ntohs(in6->sin6_port));
  } else {
    return "";
  }
  return std::string(host) + ":" + std::to_string(port);
}

Connection::Connection(Reactor& reactor, std::shared_ptr<EventSink> sink, ConnectionOptions options)
    : id_(next_object_id()), reactor_(reactor), sink_(std::move(sink)), options_(std::move(options)) {
  uint32_t n = options_.send_depth + options_.recv_depth;
  slots_.resize(n);
  free_slots_.reserve(n);
  for (uint32_t i = n; i-- > 0;) free_slots_.push_back(i);
}

Connection::~Connection() = default;  // teardown() has run on the reactor

std::shared_ptr<Connection> Connection::connect(Reactor& reactor, std::shared_ptr<EventSink> sink,
                                                const sockaddr_storage& destination,
                                                ConnectionOptions options) {
  require_api();
  std::shared_ptr<Connection> c(new Connection(reactor, std::move(sink), std::move(options)));
  reactor.post([c, destination] {
    try {
      const Api& a = *api();
      c->open_channel();
      rdma_cm_id* id = nullptr;
      if (a.rdma_create_id(c->channel_, &id, c.get(), RDMA_PS_TCP) != 0) throw_errno("rdma_create_id");
      c->attach_id(id);
      sockaddr_storage dst = destination;
      if (a.rdma_resolve_addr(id, nullptr, reinterpret_cast<sockaddr*>(&dst), c->options_.timeout_ms) != 0)
        throw_errno("rdma_resolve_addr");
    } catch (const Error& e) {
      c->fail(e.errnum(), e.what());
    }
  });
  return c;
}

void Connection::create_channel() {
  const Api& a = *api();
  channel_ = a.rdma_create_event_channel();
  if (!channel_) throw_errno("rdma_create_event_channel");
  ++resources().channels;
  set_nonblocking(channel_->fd);
}

void Connection::watch_channel() {
  auto self = shared_from_this();
  reactor_.add_fd(channel_->fd, EPOLLIN, [self](uint32_t) { self->on_cm_events(); });
}

void Connection::attach_id(rdma_cm_id* id) {
  cm_id_ = id;
  cm_id_->context = this;
  ++resources().cm_ids;
}

void Connection::create_queue_pair() {
  const Api& a = *api();
  domain_ = ProtectionDomain::for_context(cm_id_->verbs);
  srq_ = sink_->shared_receive_queue(domain_);
  cq_entries_ = options_.send_depth + (srq_ ? 0 : options_.recv_depth);
  cq_ = CompletionQueue::join(reactor_, cm_id_->verbs, cq_entries_, srq_.get());
  ibv_qp_init_attr init{};
  init.send_cq = cq_->cq();
  init.recv_cq = cq_->cq();
  init.srq = srq_ ? srq_->srq() : nullptr;
  init.qp_type = IBV_QPT_RC;
  init.sq_sig_all = 1;
  init.cap.max_send_wr = options_.send_depth;
  init.cap.max_recv_wr = srq_ ? 0 : options_.recv_depth;
  init.cap.max_send_sge = 1;
  init.cap.max_recv_sge = 1;
  init.cap.max_inline_data = options_.inline_size;
  if (a.rdma_create_qp(cm_id_, domain_->pd(), &init) != 0) throw_errno("rdma_create_qp");
  ++resources().qps;
  qp_num_ = cm_id_->qp->qp_num;
  cq_->attach(qp_num_, this);
  std::lock_guard<std::mutex> lock(qp_mutex_);
  qp_ = cm_id_->qp;
  postable_ = true;  // receives may be posted before the connection is established
}

rdma_conn_param Connection::conn_param() const {
  rdma_conn_param p{};
  p.responder_resources = 16;
  p.initiator_depth = 16;
  p.retry_count = 7;
  p.rnr_retry_count = 7;  // retry forever while the peer has no receive posted
  p.private_data = options_.private_data.empty() ? nullptr : options_.private_data.data();
  p.private_data_len = uint8_t(options_.private_data.size());
  return p;
}

void Connection::on_cm_events() {
  const Api& a = *api();
  rdma_cm_event* ev = nullptr;
  while (channel_ && a.rdma_get_cm_event(channel_, &ev) == 0) {
    // Copy what is needed and ack first: destroying an id waits for its events' acks.
    rdma_cm_event_type type = ev->event;
    int status = ev->status;
    std::vector<uint8_t> pdata;
    if (ev->param.conn.private_data && ev->param.conn.private_data_len) {
      auto* p = static_cast<const uint8_t*>(ev->param.conn.private_data);
      pdata.assign(p, p + ev->param.conn.private_data_len);
    }
    a.rdma_ack_cm_event(ev);
    handle_cm_event(type, status, std::move(pdata));
  }
}

void Connection::handle_cm_event(rdma_cm_event_type type, int status, std::vector<uint8_t> pdata) {
  const Api& a = *api();
  try {
    switch (type) {
      case RDMA_CM_EVENT_ADDR_RESOLVED:
        create_queue_pair();
        if (a.rdma_resolve_route(cm_id_, options_.timeout_ms) != 0) throw_errno("rdma_resolve_route");
        break;
      case RDMA_CM_EVENT_ROUTE_RESOLVED: {
        state_ = State::kConnecting;
        rdma_conn_param p = conn_param();
        if (a.rdma_connect(cm_id_, &p) != 0) throw_errno("rdma_connect");
        break;
      }
      case RDMA_CM_EVENT_ESTABLISHED: {
        state_ = State::kConnected;
        std::lock_guard<std::mutex> lock(qp_mutex_);
        local_address_ = address_text(&cm_id_->route.addr.src_addr);
        peer_address_ = address_text(&cm_id_->route.addr.dst_addr);
      }
        sink_->on_connection_event(id_, {ConnectionEvent::Type::kEstablished, 0, "", std::move(pdata)});
        break;
      case RDMA_CM_EVENT_REJECTED:
        fail(status, "connection rejected by the peer", std::move(pdata));
        break;
      case RDMA_CM_EVENT_ADDR_ERROR:
      case RDMA_CM_EVENT_ROUTE_ERROR:
      case RDMA_CM_EVENT_UNREACHABLE:
      case RDMA_CM_EVENT_CONNECT_ERROR:
        fail(status, std::string(a.rdma_event_str(type)) + " (" + strerror(status < 0 ? -status : status) + ")");
        break;
      case RDMA_CM_EVENT_DISCONNECTED:
      case RDMA_CM_EVENT_DEVICE_REMOVAL:
        if (state_ == State::kConnected) a.rdma_disconnect(cm_id_);
        teardown();
        break;
      default:
        break;  // TIMEWAIT_EXIT, ADDR_CHANGE: nothing to do
    }
  } catch (const Error& e) {
    fail(e.errnum(), e.what());
  }
}

void Connection::fail(int status, const std::string& message, std::vector<uint8_t> pdata) {
  bool was_connected = state_ == State::kConnected || state_ == State::kClosing;
  teardown();
  if (!was_connected)
    sink_->on_connection_event(id_, {ConnectionEvent::Type::kFailed, status, message, std::move(pdata)});
}

void Connection::record(const ibv_wc& wc) {
  auto lock = data_path_lock();
  if (wc.wr_id & kSharedReceiveBit) {
    // The SRQ's buffer, not ours: its owner reposts it, whatever the status. Once the
    // teardown has begun, a capsule that did arrive is reported flushed: its command
    // must not start on a connection whose buffers are being taken back.
    bool ok = wc.status == IBV_WC_SUCCESS && postable_;
    int status = ok || wc.status != IBV_WC_SUCCESS ? int(wc.status) : int(IBV_WC_WR_FLUSH_ERR);
    if (ok) counters_.bytes_received += wc.byte_len;
    batch_.push_back({wc.wr_id & ~kSharedReceiveBit, status, OpKind::kRecv, ok ? wc.byte_len : 0,
                      ok ? uint32_t(wc.wc_flags) : 0, ok && (wc.wc_flags & IBV_WC_WITH_INV) ? wc.invalidated_rkey : 0,
                      true});
    return;
  }
  if (slots_flushed_) return;  // its slot was reported flushed already
  Slot& s = slots_[wc.wr_id];
  uint32_t bytes = s.kind == OpKind::kRecv ? wc.byte_len : s.length;
  if (wc.status == IBV_WC_SUCCESS) {
    switch (s.kind) {
      case OpKind::kSend: counters_.bytes_sent += bytes; break;
      case OpKind::kRecv: counters_.bytes_received += bytes; break;
      case OpKind::kWrite: counters_.bytes_written += bytes; break;
      case OpKind::kRead: counters_.bytes_read += bytes; break;
    }
  }
  (s.kind == OpKind::kRecv ? recvs_outstanding_ : sends_outstanding_)--;
  s.chunk->inflight--;
  bool with_inv = wc.status == IBV_WC_SUCCESS && s.kind == OpKind::kRecv && (wc.wc_flags & IBV_WC_WITH_INV);
  batch_.push_back({s.op_id, int(wc.status), s.kind, bytes, wc.status == IBV_WC_SUCCESS ? uint32_t(wc.wc_flags) : 0,
                    with_inv ? wc.invalidated_rkey : 0, false});
  free_slots_.push_back(uint32_t(wc.wr_id));
}

void Connection::deliver() {
  if (in_delivery_) return;  // the delivery under way hands these over after its own
  in_delivery_ = true;
  struct Done {
    Connection& c;
    ~Done() {
      c.in_delivery_ = false;
      c.delivering_.clear();  // delivered, also when the sink threw: never handed over twice
    }
  };
  {
    Done done{*this};
    while (!batch_.empty()) {
      std::swap(batch_, delivering_);
      sink_->on_completions(id_, delivering_);
      delivering_.clear();
    }
  }
  if (disconnect_pending_) {
    disconnect_pending_ = false;
    sink_->on_connection_event(id_, {ConnectionEvent::Type::kDisconnected, 0, "", {}});
  }
}

uint32_t Connection::remote_key(BufferPool& pool, BufferPool::Chunk* chunk) {
  std::lock_guard<std::mutex> lock(qp_mutex_);
  if (!postable_) throw Error("ERR_RDMA_NOT_CONNECTED", "the connection is not open");
  return chunk_keys(pool, chunk, domain_).rkey;
}

void Connection::register_pool(BufferPool& pool) {
  std::lock_guard<std::mutex> lock(qp_mutex_);
  if (!postable_) throw Error("ERR_RDMA_NOT_CONNECTED", "the connection is not open");
  pool.register_with(domain_.get(), domain_);
}

void Connection::post(OpKind kind, uint64_t op_id, BufferPool& pool, BufferPool::Chunk* chunk,
                      uint32_t offset, uint32_t length, uint64_t remote_addr, uint32_t rkey,
                      uint32_t invalidate_rkey) {
  if (options_.reactor_only && !reactor_.on_thread())
    throw Error("ERR_INTERNAL", "a reactor-only RDMA connection was posted to from another thread");
  auto lock = data_path_lock();
  if (!postable_) throw Error("ERR_RDMA_NOT_CONNECTED", "the connection is not open");
  bool recv = kind == OpKind::kRecv;
  if (recv && srq_) throw Error("ERR_RDMA_VERBS", "this connection receives from a shared receive queue");
  uint32_t& outstanding = recv ? recvs_outstanding_ : sends_outstanding_;
  if (outstanding >= (recv ? options_.recv_depth : options_.send_depth))
    throw Error("ERR_RDMA_QUEUE_FULL", std::string(recv ? "receive" : "send") + " queue is full (" +
                                           std::to_string(outstanding) + " outstanding)");
  ibv_sge sge{reinterpret_cast<uint64_t>(chunk->data + offset), length, local_key(pool, chunk, domain_)};
  uint32_t slot = free_slots_.back();
  if (recv) {
    ibv_recv_wr wr{}, *bad = nullptr;
    wr.wr_id = slot;
    wr.sg_list = &sge;
    wr.num_sge = 1;
    int rc = ibv_post_recv(qp_, &wr, &bad);
    if (rc != 0) throw Error("ERR_RDMA_VERBS", std::string("ibv_post_recv: ") + strerror(rc), rc);
  } else {
    ibv_send_wr wr{};
    wr.wr_id = slot;
    wr.num_sge = 1;
    wr.send_flags = IBV_SEND_SIGNALED;
    if (kind == OpKind::kSend) {
      wr.opcode = invalidate_rkey ? IBV_WR_SEND_WITH_INV : IBV_WR_SEND;
      wr.invalidate_rkey = invalidate_rkey;
      // Inline data is copied when the device takes the request, at the flush: the
      // caller keeps the buffer unchanged until the completion anyway.
      if (length <= options_.inline_size) wr.send_flags |= IBV_SEND_INLINE;
    } else {
      wr.opcode = kind == OpKind::kWrite ? IBV_WR_RDMA_WRITE : IBV_WR_RDMA_READ;
      wr.wr.rdma.remote_addr = remote_addr;
      wr.wr.rdma.rkey = rkey;
    }
    if (reactor_.on_thread()) {
      // One doorbell per reactor iteration: an RDMA WRITE and its response SEND, and
      // every response of a burst, go to the device in one chained ibv_post_send.
      pending_.push_back({wr, sge});
      if (!flush_scheduled_) {
        flush_scheduled_ = true;
        reactor_.defer([self = shared_from_this()] {
          self->flush_scheduled_ = false;
          self->flush_posts();
        });
      }
    } else {
      ibv_send_wr* bad = nullptr;
      wr.sg_list = &sge;
      int rc = ibv_post_send(qp_, &wr, &bad);
      if (rc != 0) throw Error("ERR_RDMA_VERBS", std::string("ibv_post_send: ") + strerror(rc), rc);
    }
  }
  free_slots_.pop_back();
  slots_[slot] = {op_id, chunk, kind, length};
  chunk->inflight++;
  outstanding++;
}

void Connection::flush_posts() {
  int rc = 0;
  {
    auto lock = data_path_lock();
    if (pending_.empty() || !postable_) return;  // a teardown flushes the slots itself
    for (size_t i = 0; i < pending_.size(); ++i) {
      pending_[i].wr.sg_list = &pending_[i].sge;
      pending_[i].wr.next = i + 1 < pending_.size() ? &pending_[i + 1].wr : nullptr;
    }
    ibv_send_wr* bad = nullptr;
    rc = ibv_post_send(qp_, &pending_[0].wr, &bad);
    pending_.clear();
  }
  // Part of a chain reached the device and part did not (a response's SEND without its
  // WRITE, say): failing single requests could free a buffer the device still reads.
  // The connection goes instead; its teardown flushes every slot once the QP is gone.
  if (rc != 0) fail(rc, std::string("ibv_post_send: ") + strerror(rc));
}

void Connection::disconnect() {
  // On the reactor thread the peer loses access to our memory at once, so the buffers its
  // commands were lent may be reused as soon as those commands are failed. The teardown,
  // which frees the QP and CQ, waits for the next turn: the caller may be inside poll_cq().
  if (reactor_.on_thread()) stop_remote_access();
  auto self = shared_from_this();
  reactor_.post([self] {
    self->stop_remote_access();
    if (self->state_ == State::kClosing) self->teardown();
    else if (self->state_ != State::kClosed) self->fail(ECANCELED, "connect aborted by close()");
  });
}

void Connection::stop_remote_access() {
  if (state_ != State::kConnected) return;
  // rdma_disconnect moves the QP to the error state; the peer learns of it from the DREQ,
  // and nothing here needs to wait for its answer.
  state_ = State::kClosing;
  api()->rdma_disconnect(cm_id_);
}

std::string Connection::local_address() const {
  std::lock_guard<std::mutex> lock(qp_mutex_);
  return local_address_;
}

std::string Connection::peer_address() const {
  std::lock_guard<std::mutex> lock(qp_mutex_);
  return peer_address_;
}

void Connection::teardown() {
  if (state_ == State::kClosed) return;
  bool announce = state_ == State::kConnected || state_ == State::kClosing;
  state_ = State::kClosed;
  const Api& a = *api();
  {
    std::lock_guard<std::mutex> lock(qp_mutex_);
    postable_ = false;
    pending_.clear();  // their slots are flushed below with the rest
  }
  // A sink that throws must not leave the QP alive on the CQ: the teardown goes on, and
  // the first exception is raised again in a task of the reactor, which reports it.
  std::exception_ptr failure;
  auto drain = [&] {
    try {
      if (cq_) cq_->drain(this);
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  };
  drain();  // what completed so far, as it was
  {
    // Work requests the device never completed fail as flushed, after the real completions
    // recorded above, so no caller waits forever.
    std::lock_guard<std::mutex> lock(qp_mutex_);
    std::vector<bool> free(slots_.size(), false);
    for (uint32_t i : free_slots_) free[i] = true;
    for (uint32_t i = 0; i < slots_.size(); ++i) {
      if (free[i]) continue;
      slots_[i].chunk->inflight--;
      batch_.push_back({slots_[i].op_id, IBV_WC_WR_FLUSH_ERR, slots_[i].kind, 0});
      free_slots_.push_back(i);
    }
    slots_flushed_ = true;
    sends_outstanding_ = recvs_outstanding_ = 0;
    if (qp_) {
      a.rdma_destroy_qp(cm_id_);
      --resources().qps;
      qp_ = nullptr;
    }
  }
  if (cq_) {
    // A shared receive that completed after the first drain is the SRQ owner's buffer:
    // hand it over, or that buffer is never posted again. Nothing of the QP can follow
    // its destruction, so none is delivered to a later QP given the same number.
    drain();
    cq_->leave(this, qp_num_, cq_entries_, srq_.get());
    cq_.reset();
  }
  try {
    deliver();  // unless this teardown runs inside a delivery of ours, which then hands these over
  } catch (...) {
    if (!failure) failure = std::current_exception();
  }
  srq_.reset();  // after the QP: an SRQ outlives the QPs attached to it
  if (cm_id_) {
    a.rdma_destroy_id(cm_id_);
    --resources().cm_ids;
    cm_id_ = nullptr;
  }
  if (channel_) {
    reactor_.remove_fd(channel_->fd);
    a.rdma_destroy_event_channel(channel_);
    --resources().channels;
    channel_ = nullptr;
  }
  domain_.reset();
  if (announce) {
    // After every completion: a sink drops what it knew of the connection on kDisconnected.
    if (in_delivery_) disconnect_pending_ = true;
    else sink_->on_connection_event(id_, {ConnectionEvent::Type::kDisconnected, 0, "", {}});
  }
  if (failure) reactor_.post([failure] { std::rethrow_exception(failure); });
}

}  // namespace rdmagate::rdma
