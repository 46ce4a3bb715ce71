#include "target/controller.h"

#include <algorithm>
#include <cstring>

#include "spec/fabrics.h"
#include "spec/log_pages.h"
#include "target/qpair.h"

namespace rdmagate::target {

using namespace spec;

Controller::Controller(uint16_t cntlid, std::shared_ptr<Subsystem> subsystem, std::string hostnqn,
                       const uint8_t hostid[16], uint32_t kato_ms, uint16_t max_io_queues)
    : cntlid_(cntlid), subsystem_(std::move(subsystem)), hostnqn_(std::move(hostnqn)), kato_ms_(kato_ms),
      max_io_queues_(max_io_queues), io_queues_(max_io_queues), last_keep_alive_us_(Reactor::now_us()) {
  memcpy(hostid_, hostid, 16);
  io_.resize(max_io_queues);
}

void Controller::set_cc(uint32_t cc) {
  uint32_t old = cc_;
  cc_ = cc;
  if (cc_en(cc) && !cc_en(old)) {
    // Only the queue entry sizes that fabrics use are valid.
    if (cc_iosqes(cc) != kSqesLog2 || cc_iocqes(cc) != kCqesLog2) {
      csts_ |= kCstsCfs;
    } else {
      csts_ |= kCstsRdy;
      ready_.store(true, std::memory_order_release);
    }
  } else if (!cc_en(cc) && cc_en(old)) {
    csts_ &= ~kCstsRdy;
    ready_.store(false, std::memory_order_release);
  }
  if (cc_shn(cc) != kShnNone) {
    csts_ = csts_set_shst(csts_, kShstComplete);
    ready_.store(false, std::memory_order_release);
  }
}

bool Controller::queue_aer(Request* req) {
  if (aers_.size() >= kAerLimit) return false;
  aers_.push_back(req);
  deliver_events();
  return true;
}

void Controller::notify_namespace_changed(uint32_t nsid) {
  const bool all = changed_ns_.size() == 1 && changed_ns_[0] == 0xffffffff;
  if (!all && std::find(changed_ns_.begin(), changed_ns_.end(), nsid) == changed_ns_.end()) {
    if (changed_ns_.size() < 1024) changed_ns_.push_back(nsid);
    else changed_ns_.assign(1, 0xffffffff);  // more than 1024 changed: the list says "all"
  }
  ns_notice_pending_ = true;
  deliver_events();
}

std::vector<uint32_t> Controller::take_changed_namespaces(bool retain) {
  std::vector<uint32_t> out = changed_ns_;
  std::sort(out.begin(), out.end());
  if (!retain) {
    changed_ns_.clear();
    ns_notice_masked_ = false;  // the host read the log: the notice may fire again
  }
  return out;
}

void Controller::notify_ana_changed() {
  ana_notice_pending_ = true;
  deliver_events();
}

void Controller::ana_log_read(bool retain) {
  if (!retain) ana_notice_masked_ = false;
}

// A notice is enabled by its bit of Set Features Asynchronous Event Configuration (8:
// namespace attributes, 11: ANA change), and masked after it fires until its log page is read.
void Controller::deliver_events() {
  struct Notice {
    bool& pending;
    bool& masked;
    uint32_t enable_bit;
    uint8_t info;
    uint8_t log;
  };
  for (Notice n : {Notice{ns_notice_pending_, ns_notice_masked_, kAecNsAttr, kAerNoticeNsAttrChanged, kLogChangedNs},
                   Notice{ana_notice_pending_, ana_notice_masked_, kAecAnaChange, kAerNoticeAnaChange, kLogAna}}) {
    if (!n.pending || !(async_event_config_ & n.enable_bit) || n.masked || aers_.empty()) continue;
    Request* req = aers_.front();
    aers_.pop_front();
    n.pending = false;
    n.masked = true;
    req->rsp.dw0 = make_async_event(kAerNotice, n.info, n.log);
    req->qpair->complete(req, status::kSuccess);
  }
}

void Controller::attach_admin(std::shared_ptr<Qpair> admin) {
  portid_.store(admin->portid(), std::memory_order_release);
  std::lock_guard<std::mutex> lock(queues_mutex_);
  admin_reactor_ = &admin->reactor();
  admin_ = admin;
}

void Controller::post_to_admin(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(queues_mutex_);
  if (admin_reactor_ && !admin_.expired()) admin_reactor_->post(std::move(task));
}

bool Controller::attach_io(uint16_t qid, std::shared_ptr<Qpair> qpair) {
  std::lock_guard<std::mutex> lock(queues_mutex_);
  if (qid == 0 || qid > io_.size() || !io_[qid - 1].expired()) return false;
  io_[qid - 1] = qpair;
  return true;
}

void Controller::detach(Qpair* qpair) {
  bool admin_gone = false;
  {
    std::lock_guard<std::mutex> lock(queues_mutex_);
    if (admin_.lock().get() == qpair) {
      admin_.reset();
      admin_gone = true;
      // The admin queue's requests are freed with it: drop the held AERs.
      aers_.clear();
    }
    for (auto& w : io_)
      if (w.lock().get() == qpair) w.reset();
  }
  // Without its admin queue, a controller is gone: so are its I/O queues.
  if (admin_gone) shutdown("admin queue disconnected");
}

void Controller::shutdown(const char*) {
  shut_down_ = true;
  ready_.store(false, std::memory_order_release);
  std::vector<std::shared_ptr<Qpair>> all;
  {
    std::lock_guard<std::mutex> lock(queues_mutex_);
    if (auto a = admin_.lock()) all.push_back(a);
    for (auto& w : io_)
      if (auto q = w.lock()) all.push_back(q);
  }
  for (auto& q : all) q->disconnect_async();
}

size_t Controller::queue_count() const {
  std::lock_guard<std::mutex> lock(queues_mutex_);
  size_t n = admin_.expired() ? 0 : 1;
  for (auto& w : io_) n += w.expired() ? 0 : 1;
  return n;
}

std::vector<std::shared_ptr<Qpair>> Controller::qpairs() const {
  std::lock_guard<std::mutex> lock(queues_mutex_);
  std::vector<std::shared_ptr<Qpair>> out;
  if (auto a = admin_.lock()) out.push_back(a);
  for (auto& w : io_)
    if (auto q = w.lock()) out.push_back(q);
  return out;
}

std::string Controller::admin_peer() const {
  std::lock_guard<std::mutex> lock(queues_mutex_);
  auto a = admin_.lock();
  return a ? a->peer_address() : "";
}

void Controller::start_keep_alive(Reactor& reactor) {
  if (kato_ms_ == 0) return;
  keep_alive();
  std::weak_ptr<Controller> weak = shared_from_this();
  reactor.add_timer(uint64_t(kato_ms_) * 1000, [weak, &reactor] {
    if (auto c = weak.lock()) c->check_keep_alive(reactor);
  });
}

void Controller::check_keep_alive(Reactor& reactor) {
  if (shut_down_ || kato_ms_ == 0) return;
  uint64_t idle_us = Reactor::now_us() - last_keep_alive_us_;
  if (idle_us > uint64_t(kato_ms_) * 1000) {
    shutdown("keep-alive timeout");
    return;
  }
  std::weak_ptr<Controller> weak = shared_from_this();
  uint64_t next = uint64_t(kato_ms_) * 1000 - idle_us;
  reactor.add_timer(next + 1000, [weak, &reactor] {
    if (auto c = weak.lock()) c->check_keep_alive(reactor);
  });
}

}  // namespace rdmagate::target
