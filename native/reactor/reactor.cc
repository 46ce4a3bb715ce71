#include "reactor/reactor.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <pthread.h>
#include <sched.h>

#include "util/clock.h"
#include "util/error.h"

namespace rdmagate {

namespace {
thread_local Reactor* current_reactor = nullptr;
}  // namespace

Reactor* Reactor::current() { return current_reactor; }

uint64_t Reactor::now_us() { return util::monotonic_ns() / 1000u; }

Reactor::Reactor(std::string name, IdleMode mode, uint32_t spin_us)
    : name_(std::move(name)), mode_(mode), poll_window_(spin_us) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    int e = errno;
    if (epoll_fd_ >= 0) close(epoll_fd_);
    if (wake_fd_ >= 0) close(wake_fd_);
    throw Error("ERR_SYSTEM", std::string("reactor setup: ") + strerror(e), e);
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  if (mode_ == IdleMode::kCaller) thread_id_ = std::this_thread::get_id();
}

Reactor::~Reactor() {
  stop();
  // Handlers may own the objects they serve, and those may call remove_fd() or post()
  // as they are destroyed: take them out of the maps before they go.
  auto fds = std::move(fds_);
  fds_.clear();
  auto hot_fds = std::move(hot_fds_);
  hot_fds_.clear();
  auto pollers = std::move(pollers_);
  pollers_.clear();
  auto timers = std::move(timers_);
  timers_.clear();
  fds.clear();
  hot_fds.clear();
  pollers.clear();
  timers.clear();
  close(wake_fd_);
  close(epoll_fd_);
}

void Reactor::start() {
  if (thread_.joinable() || mode_ == IdleMode::kCaller) return;
  thread_ = std::thread([this] { run(); });
}

void Reactor::stop() {
  // Helpers first: one that is working posts its `then`, which the loop still runs.
  std::unique_ptr<ThreadPool> helpers;
  {
    std::lock_guard<std::mutex> lock(offload_mutex_);
    helpers = std::move(offload_);
    offload_closed_ = true;
  }
  helpers.reset();
  if (!thread_.joinable()) return;
  stopping_ = true;
  wake();
  thread_.join();
}

void Reactor::post(Task task) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(tasks_mutex_);
    was_empty = tasks_.empty();
    tasks_.push_back(std::move(task));
  }
  // One wake-up per batch of tasks, and only when the reactor may be asleep (a caller
  // may be, in its own loop, watching readiness_fd()).
  if (was_empty && (mode_ != IdleMode::kBusyPoll || sleeping_.load())) wake();
}

void Reactor::offload(Task work, Task then) {
  std::lock_guard<std::mutex> lock(offload_mutex_);
  if (offload_closed_) return;
  if (!offload_) offload_ = std::make_unique<ThreadPool>(1);
  offload_->run([this, work = std::move(work), then = std::move(then)]() mutable {
    work();
    post(std::move(then));
  });
}

void Reactor::add_fd(int fd, uint32_t events, FdHandler handler, FdPoll poll) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    int e = errno;
    throw Error("ERR_SYSTEM", std::string("epoll_ctl add: ") + strerror(e), e);
  }
  fds_[fd] = std::make_shared<Fd>(Fd{std::move(handler), std::move(poll)});
  forget_hot(fd);  // a number closed without remove_fd() and reused: never poll the old owner
}

void Reactor::modify_fd(int fd, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
}

void Reactor::remove_fd(int fd) {
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  fds_.erase(fd);
  forget_hot(fd);
}

void Reactor::forget_hot(int fd) {
  hot_fds_.erase(std::remove_if(hot_fds_.begin(), hot_fds_.end(), [fd](const HotFd& h) { return h.fd == fd; }),
                 hot_fds_.end());
}

bool Reactor::touch_hot(int fd, uint64_t now) {
  auto it = std::find_if(hot_fds_.begin(), hot_fds_.end(), [fd](const HotFd& h) { return h.fd == fd; });
  if (it == hot_fds_.end()) return false;
  it->last_traffic_us = now;
  std::rotate(hot_fds_.begin(), it, it + 1);
  return true;
}

void Reactor::mark_hot(int fd, const std::shared_ptr<Fd>& entry, uint64_t now) {
  if (touch_hot(fd, now)) return;
  if (hot_fds_.size() == kMaxHotFds) hot_fds_.pop_back();
  hot_fds_.insert(hot_fds_.begin(), HotFd{fd, entry, now});
}

void Reactor::report_escaped(const char* what) {
  escaped_.fetch_add(1, std::memory_order_relaxed);
  fprintf(stderr, "rdmagate: reactor %s: an exception escaped a task, and the reactor goes on: %s\n", name_.c_str(), what);
}

// Reads each hot fd once; returns how many found something.
int Reactor::poll_hot_fds(uint64_t now) {
  while (!hot_fds_.empty() && now - hot_fds_.back().last_traffic_us > kHotFdUs) hot_fds_.pop_back();
  int work = 0;
  // By index, holding the entry: a poll may remove its own fd or another one, and the
  // entries after it shift down (one of them then waits for the next turn).
  for (size_t i = 0; i < hot_fds_.size(); ++i) {
    auto entry = hot_fds_[i].entry;
    int fd = hot_fds_[i].fd;
    if (!guarded([&] { return entry->poll(); })) continue;
    ++work;
    touch_hot(fd, now);  // unless the poll removed it: remove_fd() forgets it
  }
  return work;
}

Reactor::PollerId Reactor::add_poller(Poller poller) {
  PollerId id = next_poller_id_++;
  pollers_.emplace_back(id, std::make_shared<Poller>(std::move(poller)));
  return id;
}

void Reactor::remove_poller(PollerId id) {
  pollers_.erase(std::remove_if(pollers_.begin(), pollers_.end(),
                                [id](const auto& p) { return p.first == id; }),
                 pollers_.end());
}

Reactor::TimerId Reactor::add_timer(uint64_t delay_us, Task task) {
  TimerId id = next_timer_id_++;
  timers_.emplace(id, std::move(task));
  timer_heap_.push_back({now_us() + delay_us, id});
  std::push_heap(timer_heap_.begin(), timer_heap_.end(), std::greater<Timer>());
  return id;
}

void Reactor::cancel_timer(TimerId id) { timers_.erase(id); }  // its heap entry expires unused

int Reactor::drain_tasks() {
  {
    std::lock_guard<std::mutex> lock(tasks_mutex_);
    if (tasks_.empty()) return 0;
    running_.swap(tasks_);  // each vector keeps its capacity: a post does not allocate the queue
  }
  for (auto& t : running_) guarded(t);
  int n = int(running_.size());
  running_.clear();
  return n;
}

int Reactor::run_timers() {
  int fired = 0;
  uint64_t now = now_us();
  while (!timer_heap_.empty() && timer_heap_.front().deadline_us <= now) {
    std::pop_heap(timer_heap_.begin(), timer_heap_.end(), std::greater<Timer>());
    TimerId id = timer_heap_.back().id;
    timer_heap_.pop_back();
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;
    Task task = std::move(it->second);
    timers_.erase(it);
    guarded(task);
    ++fired;
  }
  return fired;
}

int Reactor::next_timeout_ms() const {
  if (timer_heap_.empty()) return -1;
  uint64_t now = now_us();
  uint64_t deadline = timer_heap_.front().deadline_us;
  return deadline <= now ? 0 : int((deadline - now + 999) / 1000);
}

int Reactor::wait_events(int timeout_ms) {
  epoll_event events[64];
  int n = epoll_wait(epoll_fd_, events, 64, timeout_ms);
  int work = 0;
  uint64_t now = 0;  // read once per batch, and only where an fd may turn hot
  for (int i = 0; i < n; ++i) {
    int fd = events[i].data.fd;
    if (fd == wake_fd_) {
      uint64_t v;
      ssize_t unused = read(wake_fd_, &v, sizeof v);
      (void)unused;
      continue;
    }
    auto it = fds_.find(fd);
    if (it == fds_.end()) continue;
    auto entry = it->second;  // keeps the handler alive if it removes itself
    if (entry->poll && mode_ != IdleMode::kCaller) {  // a caller never idles here
      if (!now) now = now_us();
      mark_hot(fd, entry, now);
    }
    guarded([&] { entry->handler(events[i].events); });
    ++work;
  }
  return work;
}

// One loop iteration's work, without idling.
int Reactor::run_ready() {
  ready_.swap(deferred_);
  for (auto& t : ready_) guarded(t);
  int work = int(ready_.size()) + drain_tasks() + run_timers();
  ready_.clear();
  for (size_t i = 0; i < pollers_.size(); ++i) {
    auto poller = pollers_[i].second;
    work += guarded([&] { return (*poller)(); });
  }
  return work;
}

int Reactor::poll() {
  Reactor* outer = current_reactor;
  current_reactor = this;
  // Ready fds are read on every turn: a caller polls once per pass of its own loop
  // (an event-loop tick), not in a tight loop where a syscall per turn would show.
  int work = run_ready() + wait_events(0);
  // What that deferred or posted (sends for the burst just received, the next step of a
  // close) runs before the caller returns to its own loop, for a few rounds; anything
  // left keeps readiness_fd() readable (wait_events() has read the wake-up).
  for (int round = 0; round < 4 && has_work_queued(); ++round) work += run_ready();
  if (has_work_queued()) wake();
  current_reactor = outer;
  return work;
}

bool Reactor::has_work_queued() {
  if (!deferred_.empty()) return true;
  std::lock_guard<std::mutex> lock(tasks_mutex_);
  return !tasks_.empty();
}

void Reactor::wake() {
  uint64_t one = 1;
  ssize_t unused = write(wake_fd_, &one, sizeof one);
  (void)unused;
}

void Reactor::run() {
  thread_id_ = std::this_thread::get_id();
  current_reactor = this;
  pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());  // for top -H and perf
  uint64_t idle_since_us = 0;  // 0 while working: the clock is read again only once idle
  uint64_t last_idle_turn_us = 0;
  bool yielded = false;  // by the last idle turn
  uint32_t loops_since_check = 0;
  while (!stopping_.load(std::memory_order_relaxed)) {
    int work = run_ready();
    if (work || !deferred_.empty()) {  // deferred by an idle poller: runs before any sleep
      idle_since_us = 0;
      if ((++loops_since_check & 63) == 0) wait_events(0);  // busy still notices fds, without a syscall per loop
      continue;
    }
    uint64_t now = now_us();
    if (idle_since_us == 0) {
      idle_since_us = now;
    } else if (!yielded) {
      poll_window_.turn(now - last_idle_turn_us);
    }
    yielded = false;
    last_idle_turn_us = now;
    if (mode_ == IdleMode::kEvent && now - idle_since_us >= poll_window_.us()) {
      sleeping_ = true;
      {
        std::lock_guard<std::mutex> lock(tasks_mutex_);
        if (!tasks_.empty()) {
          sleeping_ = false;
          continue;
        }
      }
      wait_events(next_timeout_ms());
      sleeping_ = false;
      poll_window_.slept(now_us() - now);
      idle_since_us = 0;
      continue;
    }
    // Idle and polling; the yield lets another runnable reactor have this core first.
    if (poll_window_.should_yield(now)) {
      sched_yield();
      yielded = true;
      uint64_t back = now_us();
      poll_window_.yielded(back, back - now);
    }
    bool epoll_turn = hot_fds_.empty() || ++idle_turns_ % kEpollEveryIdleTurns == 0;
    if (epoll_turn ? wait_events(0) : poll_hot_fds(now)) idle_since_us = 0;
  }
  // Tasks queued by tasks (a disconnect that tears down) still run; bounded, in case
  // some task keeps posting.
  for (int rounds = 0; rounds < 1000; ++rounds) {
    std::vector<Task> last;
    last.swap(deferred_);
    for (auto& t : last) guarded(t);
    if (drain_tasks() == 0 && deferred_.empty()) break;
  }
}

}  // namespace rdmagate
