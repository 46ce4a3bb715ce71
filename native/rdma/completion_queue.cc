#include "rdma/completion_queue.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <mutex>
#include <vector>

#include "rdma/connection.h"
#include "rdma/loader.h"
#include "rdma/resources.h"
#include "rdma/shared_receive_queue.h"
#include "util/error.h"

namespace rdmagate::rdma {

namespace {

[[noreturn]] void throw_errno(const char* what) {
  int e = errno;
  throw Error("ERR_RDMA_VERBS", std::string(what) + ": " + strerror(e), e);
}

// Each reactor's CQs per device. Only the reactor itself joins or ends its own, but the
// map is shared by all reactors.
struct Registry {
  using Key = std::pair<const Reactor*, const ibv_context*>;
  std::mutex mutex;
  std::map<Key, std::vector<std::weak_ptr<CompletionQueue>>> queues;
};

Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: a CQ may end during static destruction
  return *r;
}

}  // namespace

std::shared_ptr<CompletionQueue> CompletionQueue::join(Reactor& reactor, ibv_context* context, uint32_t entries,
                                                       const SharedReceiveQueue* srq) {
  auto needed = [&](const CompletionQueue& q) {
    return entries + (srq && !q.srq_users_.count(srq) ? srq->capacity() : 0);
  };
  std::vector<std::shared_ptr<CompletionQueue>> live;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    for (auto& weak : r.queues[{&reactor, context}])
      if (auto q = weak.lock()) live.push_back(std::move(q));
  }
  std::shared_ptr<CompletionQueue> chosen;
  for (auto& q : live) {
    if (q->reserve(needed(*q))) {
      chosen = q;
      break;
    }
  }
  if (!chosen) {
    chosen.reset(new CompletionQueue(reactor, context));
    chosen->open(needed(*chosen));
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.queues[{&reactor, context}].push_back(chosen);
  }
  if (srq) chosen->srq_users_[srq]++;
  return chosen;
}

void CompletionQueue::open(uint32_t entries) {
  const Api& a = *api();
  ibv_device_attr attr{};
  max_entries_ = a.ibv_query_device(context_, &attr) == 0 && attr.max_cqe > 0 ? uint32_t(attr.max_cqe) : entries;
  if (entries > max_entries_)
    throw Error("ERR_RDMA_VERBS", "a connection needs " + std::to_string(entries) +
                                      " completion queue entries; the device allows " + std::to_string(max_entries_),
                EINVAL);
  channel_ = a.ibv_create_comp_channel(context_);
  if (!channel_) throw_errno("ibv_create_comp_channel");
  fcntl(channel_->fd, F_SETFL, fcntl(channel_->fd, F_GETFL) | O_NONBLOCK);
  cq_ = a.ibv_create_cq(context_, int(std::min(std::max(entries, kMinEntries), max_entries_)), nullptr, channel_, 0);
  if (!cq_) throw_errno("ibv_create_cq");
  ++resources().cqs;
  capacity_ = uint32_t(cq_->cqe);
  reserved_ = entries;
  if (ibv_req_notify_cq(cq_, 0) != 0) throw_errno("ibv_req_notify_cq");
  // While the CQ has traffic, the reactor polls it itself (in user space, no syscall)
  // rather than wait for the completion event, which still comes and finds it drained.
  // The handlers need no reference: the destructor, on this reactor, removes them.
  reactor_.add_fd(channel_->fd, EPOLLIN, [this](uint32_t) { on_event(); }, [this] { return poll_some(); });
}

CompletionQueue::~CompletionQueue() {
  const Api& a = *api();
  if (channel_) reactor_.remove_fd(channel_->fd);
  // A CQ whose QPs were never destroyed (a reactor gone before its connections' teardown)
  // cannot be destroyed: it stays counted, as it stays allocated.
  if (cq_ && a.ibv_destroy_cq(cq_) == 0) --resources().cqs;
  if (channel_) a.ibv_destroy_comp_channel(channel_);
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.queues.find({&reactor_, context_});
  if (it == r.queues.end()) return;
  auto& list = it->second;
  list.erase(std::remove_if(list.begin(), list.end(), [](const auto& w) { return w.expired(); }), list.end());
  if (list.empty()) r.queues.erase(it);
}

bool CompletionQueue::reserve(uint32_t entries) {
  uint32_t want = reserved_ + entries;
  if (want > capacity_) {
    uint32_t size = std::min(std::max(want, capacity_ * 2), max_entries_);
    if (size < want || api()->ibv_resize_cq(cq_, int(size)) != 0) return false;
    capacity_ = uint32_t(cq_->cqe);
    if (capacity_ < want) return false;
  }
  reserved_ = want;
  return true;
}

void CompletionQueue::leave(Connection* connection, uint32_t qp_num, uint32_t entries, const SharedReceiveQueue* srq) {
  if (find(qp_num) == connection) connections_.erase(qp_num);
  reserved_ -= entries;
  if (!srq) return;
  auto it = srq_users_.find(srq);
  if (it == srq_users_.end() || --it->second > 0) return;
  srq_users_.erase(it);
  reserved_ -= srq->capacity();
}

void CompletionQueue::on_event() {
  ibv_cq* cq = nullptr;
  void* context = nullptr;
  if (api()->ibv_get_cq_event(channel_, &cq, &context) != 0) return;
  api()->ibv_ack_cq_events(cq, 1);
  // Re-armed before polling, so a completion that lands in between raises a new event.
  ibv_req_notify_cq(cq_, 0);
  poll_some();
}

bool CompletionQueue::poll_some() {
  auto self = shared_from_this();  // a delivery may end its last connection
  // Bounded: a busy queue refills the CQ while it is polled (the responses it posts
  // complete at once on Soft-RoCE, the host answers with new commands), and an unbounded
  // loop would starve every other handler on the reactor, keep-alives included.
  for (int i = 0; i < kDrainBatches; ++i) {
    int n = poll();
    if (n < kPollBatch) return i > 0 || n > 0;
  }
  if (!poll_deferred_) {
    poll_deferred_ = true;
    reactor_.defer([self] {
      self->poll_deferred_ = false;
      self->poll_some();
    });
  }
  return true;
}

void CompletionQueue::drain(Connection* connection) {
  auto self = shared_from_this();
  while (poll(connection) == kPollBatch) {
  }
}

int CompletionQueue::poll(Connection* only) {
  ibv_wc wc[kPollBatch];
  int n = ibv_poll_cq(cq_, kPollBatch, wc);
  if (n <= 0) return 0;
  // Recorded first, delivered after: a delivery may end connections, of this batch too.
  std::shared_ptr<Connection> touched[kPollBatch];
  int count = 0;
  Connection* last = nullptr;
  uint32_t last_qp = 0;
  for (int i = 0; i < n; ++i) {
    Connection* c = last && wc[i].qp_num == last_qp ? last : find(wc[i].qp_num);
    // None: a QP destroyed already, whose teardown drained the CQ after the destruction,
    // so nothing of it can be left (not even a shared receive, whose buffer would be lost).
    if (!c) continue;
    c->record(wc[i]);
    if (c == last) continue;
    last = c;
    last_qp = wc[i].qp_num;
    if (std::none_of(touched, touched + count, [c](const auto& t) { return t.get() == c; }))
      touched[count++] = c->shared_from_this();
  }
  // Every connection gets its batch, whichever sink throws: the first exception goes on to
  // the reactor once all are delivered.
  std::exception_ptr failure;
  for (int i = 0; i < count; ++i) {
    if (only && touched[i].get() != only) {
      reactor_.defer([c = std::move(touched[i])] { c->deliver(); });
      continue;
    }
    try {
      touched[i]->deliver();
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  return n;
}

}  // namespace rdmagate::rdma
