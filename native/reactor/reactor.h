// A reactor is one thread that owns connections and polls them: registered pollers,
// file descriptors (epoll), timers, and a queue of closures sent from other threads.
// Everything registered with a reactor is touched only on its thread, so the data path
// needs no locks.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "reactor/poll_window.h"
#include "util/thread_pool.h"

namespace rdmagate {

enum class IdleMode {
  kBusyPoll,  // never sleeps: lowest latency, one core per reactor
  kEvent,     // polls for an adaptive window (PollWindow) after its last work, then sleeps in epoll
  kCaller,    // no thread of its own: the thread that creates it runs it by calling poll()
};

// The longest an event-mode reactor keeps polling after its last work before it sleeps.
// A wake-up from epoll costs tens of microseconds on a VM, more than a round trip on
// loopback, so a reactor that sleeps between the commands of a QD1 stream doubles its
// latency; this window covers one round trip through a gateway with room to spare.
// PollWindow shortens it where polling does not pay or the core is shared.
constexpr uint32_t kDefaultSpinUs = 200;

// An idle reactor reads its hot sockets (those with traffic in the last kHotFdUs, at most
// kMaxHotFds) directly, and asks epoll about the rest every kEpollEveryIdleTurns turns. A
// recv that finds nothing costs what epoll_wait does, but one that finds data saves the
// epoll_wait that would have reported it: at QD1 over loopback that is 1-3 us a round trip.
constexpr uint64_t kHotFdUs = 1000;
constexpr size_t kMaxHotFds = 4;
constexpr uint32_t kEpollEveryIdleTurns = 8;

class Reactor {
 public:
  using Task = std::function<void()>;
  using FdHandler = std::function<void(uint32_t events)>;
  // Reads an fd without blocking, as its handler does on EPOLLIN, and returns whether it
  // found anything. Called while the fd is hot, whether or not it is readable.
  using FdPoll = std::function<bool()>;
  using Poller = std::function<int()>;  // returns the amount of work done, 0 when idle
  using TimerId = uint64_t;
  using PollerId = uint64_t;

  Reactor(std::string name, IdleMode mode, uint32_t spin_us = kDefaultSpinUs);
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  // Not for kCaller, which has no thread.
  void start();
  // Runs queued tasks, then joins the thread. Idempotent.
  void stop();
  // kCaller, on the creating thread: one turn of the loop (deferred work, tasks, timers,
  // pollers, ready fds, then what they deferred); returns the amount of work done.
  int poll();
  // Readable while an fd event or a posted task waits (kCaller: the caller's own event
  // loop watches it, to sleep until then).
  int readiness_fd() const { return epoll_fd_; }
  // Milliseconds until the next timer is due (rounded up), -1 with no timer. Reactor thread.
  int next_timeout_ms() const;

  // Any thread.
  void post(Task task);
  // Runs `work` on this reactor's helper thread (started on first use), then `then` on the
  // reactor: for a computation of milliseconds (a DH key) that would stall every queue the
  // reactor serves. stop() waits for a `work` that has begun and drops those that have not.
  void offload(Task work, Task then);
  bool on_thread() const { return std::this_thread::get_id() == thread_id_.load(); }
  const std::string& name() const { return name_; }
  // Exceptions that escaped a task, handler or poller (reported, and survived).
  uint64_t escaped_exceptions() const { return escaped_.load(std::memory_order_relaxed); }

  // Reactor thread only.
  // With `poll`, the fd is read directly while it is hot (see kHotFdUs).
  void add_fd(int fd, uint32_t events, FdHandler handler, FdPoll poll = nullptr);
  void modify_fd(int fd, uint32_t events);
  void remove_fd(int fd);
  PollerId add_poller(Poller poller);
  void remove_poller(PollerId id);
  TimerId add_timer(uint64_t delay_us, Task task);
  // Runs `task` at the start of the next loop iteration, before the reactor may sleep:
  // work that many events in one iteration share (one send for a burst) goes there.
  void defer(Task task) { deferred_.push_back(std::move(task)); }
  void cancel_timer(TimerId id);

  static uint64_t now_us();
  // The reactor whose thread is calling, or nullptr off reactor threads. Lets per-thread
  // resources (an io_uring, a CQ) be found without passing the reactor everywhere.
  static Reactor* current();

 private:
  // Runs one task, handler or poller. An exception that escapes one (an mmap or
  // ibv_reg_mr failure deep in a request) would end the process through std::terminate:
  // it is reported on stderr, and the reactor goes on with the next. What threw is the
  // thrower's to clean up; a request handler fails its request before it can get here.
  template <class F>
  auto guarded(F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const std::exception& e) {
      report_escaped(e.what());
    } catch (...) {
      report_escaped("a non-standard exception");
    }
    return decltype(f())();
  }
  void report_escaped(const char* what);
  std::atomic<uint64_t> escaped_{0};

  struct Fd {
    FdHandler handler;
    FdPoll poll;
  };
  struct HotFd {
    int fd;
    std::shared_ptr<Fd> entry;
    uint64_t last_traffic_us;
  };

  struct Timer {
    uint64_t deadline_us;
    TimerId id;
    bool operator>(const Timer& o) const { return deadline_us > o.deadline_us; }
  };

  void run();
  int run_ready();
  bool has_work_queued();
  void wake();  // makes wake_fd_, and so epoll_fd_, readable
  int drain_tasks();
  int run_timers();
  int wait_events(int timeout_ms);
  bool touch_hot(int fd, uint64_t now);  // a hot fd had traffic; false if it is not hot
  void mark_hot(int fd, const std::shared_ptr<Fd>& entry, uint64_t now);
  void forget_hot(int fd);
  int poll_hot_fds(uint64_t now);

  const std::string name_;
  const IdleMode mode_;
  PollWindow poll_window_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> sleeping_{false};

  std::mutex offload_mutex_;
  std::unique_ptr<ThreadPool> offload_;  // the helper thread; none until offload()
  bool offload_closed_ = false;          // stop() took the helper down: no more
  std::mutex tasks_mutex_;
  std::vector<Task> tasks_;

  std::unordered_map<int, std::shared_ptr<Fd>> fds_;
  std::vector<HotFd> hot_fds_;  // most recent traffic first
  uint32_t idle_turns_ = 0;
  std::vector<std::pair<PollerId, std::shared_ptr<Poller>>> pollers_;
  PollerId next_poller_id_ = 1;
  std::vector<Task> deferred_;
  std::vector<Task> ready_;  // deferred_ as run_ready() takes it, kept for its capacity
  std::vector<Task> running_;  // tasks_ as drain_tasks() takes it, likewise
  std::vector<Timer> timer_heap_;
  std::unordered_map<TimerId, Task> timers_;
  TimerId next_timer_id_ = 1;
};

}  // namespace rdmagate
