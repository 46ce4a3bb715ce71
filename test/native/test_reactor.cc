// test-sources: native/reactor/reactor.cc
// tsan: the reactor thread against tasks posted from other threads
// Unit tests for the reactor: one run by its caller (IdleMode::kCaller), where everything
// it holds runs on the creating thread, and only inside poll(); and a reactor thread's
// direct reads of its hot fds.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <thread>

#include "check.h"
#include "reactor/reactor.h"

using namespace rdmagate;

namespace {

// A task that throws (an mmap failure deep in a request) is reported, and the reactor
// goes on: the tasks after it run, and so do timers and later polls.
void test_exception_escapes_a_task() {
  Reactor r("throws", IdleMode::kCaller);
  r.start();
  bool after = false, timer = false;
  r.post([] { throw std::runtime_error("mmap: Cannot allocate memory"); });
  r.post([&] { after = true; });
  r.add_timer(0, [&] {
    timer = true;
    throw std::bad_alloc();
  });
  r.poll();
  r.poll();
  CHECK(after);
  CHECK(timer);
  CHECK_EQ(r.escaped_exceptions(), uint64_t(2));
  bool later = false;
  r.post([&] { later = true; });
  r.poll();
  CHECK(later);
}

// offload(): the work runs on the helper thread, then its continuation on the reactor's
// own; stop() waits for work that has begun, and the continuation still runs.
void test_offload() {
  Reactor r("offload", IdleMode::kEvent);
  r.start();
  std::atomic<bool> on_reactor_thread{true}, then_on_reactor{false}, done{false};
  std::atomic<int> slow_then{0};
  r.offload([&] { on_reactor_thread = r.on_thread(); },
            [&] {
              then_on_reactor = r.on_thread();
              done = true;
            });
  for (int i = 0; i < 2000 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(done);
  CHECK(!on_reactor_thread);
  CHECK(then_on_reactor);
  std::atomic<bool> begun{false};
  r.offload(
      [&] {
        begun = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      },
      [&] { slow_then++; });
  while (!begun) std::this_thread::yield();
  r.stop();
  CHECK_EQ(slow_then.load(), 1);
  bool after_stop = false;
  r.offload([&] { after_stop = true; }, [] {});  // dropped: the helper is gone
  CHECK(!after_stop);
}

void test_caller_reactor() {
  Reactor r("caller", IdleMode::kCaller);
  r.start();  // no thread to start
  CHECK(r.on_thread());
  CHECK(Reactor::current() == nullptr);

  std::thread::id ran_on;
  bool deferred_ran = false;
  Reactor* current_in_task = nullptr;
  std::thread other([&] {
    CHECK(!r.on_thread());
    r.post([&] {
      ran_on = std::this_thread::get_id();
      current_in_task = Reactor::current();
      r.defer([&] { deferred_ran = true; });
    });
  });
  other.join();
  CHECK(ran_on == std::thread::id());  // nothing runs between polls
  CHECK(r.poll() >= 1);
  CHECK(ran_on == std::this_thread::get_id());
  CHECK(current_in_task == &r);
  CHECK(deferred_ran);  // work deferred by a task goes out in the same poll
  CHECK(Reactor::current() == nullptr);
  CHECK_EQ(r.poll(), 0);

  int fds[2];
  CHECK_EQ(pipe2(fds, O_NONBLOCK), 0);
  int readable = 0;
  r.add_fd(fds[0], EPOLLIN, [&](uint32_t) {
    char c;
    while (read(fds[0], &c, 1) == 1) ++readable;
  });
  CHECK_EQ(write(fds[1], "ab", 2), 2);
  CHECK_EQ(r.poll(), 1);
  CHECK_EQ(readable, 2);
  r.remove_fd(fds[0]);
  close(fds[0]);
  close(fds[1]);

  bool fired = false;
  r.add_timer(2000, [&] { fired = true; });
  uint64_t deadline = Reactor::now_us() + 5'000'000;
  while (!fired && Reactor::now_us() < deadline) r.poll();
  CHECK(fired);
}

bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

// The caller sleeps in its own loop on readiness_fd(): whatever is left queued after a
// poll() must keep it readable. Here, work that defers the next step, many times over.
void test_caller_readiness() {
  Reactor r("caller", IdleMode::kCaller);
  CHECK(!readable(r.readiness_fd()));
  int left = 20;
  std::function<void()> step = [&] {
    if (--left > 0) r.defer(step);
  };
  r.post(step);
  CHECK(readable(r.readiness_fd()));  // a post wakes the caller
  int polls = 0;
  while (left > 0 && polls < 100) {
    CHECK(readable(r.readiness_fd()));
    r.poll();
    ++polls;
  }
  CHECK_EQ(left, 0);
  CHECK(polls > 1);  // the chain outlasted one poll, so readiness carried it
  r.poll();  // reads the last wake-up
  CHECK(!readable(r.readiness_fd()));

  // A task that posts another: both run in one poll(), though the poll read the wake-up.
  bool second = false;
  r.post([&] { r.post([&] { second = true; }); });
  r.poll();
  CHECK(second);
  CHECK(!readable(r.readiness_fd()));
}

// Waits up to 5 s for `done`, from the test thread, without sleeping: the next write
// must follow well within kHotFdUs.
bool eventually(const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  return done();
}

// A non-blocking pipe registered with a reactor thread: its handler (an epoll event) and
// its poll (the fd is hot) count what each read. Reading `kRemoveOther` in the poll removes
// `other`; reading `kRemoveSelf` in the poll removes this pipe itself.
struct HotPipe {
  static constexpr char kRemoveSelf = 's', kRemoveOther = 'o';
  int fds[2];
  std::atomic<int> by_epoll{0}, by_poll{0}, polls{0};
  std::atomic<bool> removed{false};
  HotPipe* other = nullptr;

  HotPipe() { CHECK_EQ(pipe2(fds, O_NONBLOCK), 0); }
  ~HotPipe() {
    close(fds[0]);
    close(fds[1]);
  }
  int read_all(Reactor& r, bool in_poll) {
    char c[16];
    ssize_t n;
    int got = 0;
    while ((n = read(fds[0], c, sizeof c)) > 0) {
      got += int(n);
      for (ssize_t i = 0; i < n && in_poll; ++i) {
        if (c[i] == kRemoveSelf) remove(r);
        if (c[i] == kRemoveOther && other) other->remove(r);
      }
    }
    return got;
  }
  void remove(Reactor& r) {
    if (removed.exchange(true)) return;
    r.remove_fd(fds[0]);
  }
  void add(Reactor& r) {
    r.post([this, &r] {
      r.add_fd(fds[0], EPOLLIN, [this, &r](uint32_t) { by_epoll += read_all(r, false); }, [this, &r] {
        ++polls;
        int got = read_all(r, true);
        by_poll += got;
        return got > 0;
      });
    });
  }
  int total() const { return by_epoll + by_poll; }
  // Writes `c` and waits for it to be read; true if the poll read it.
  bool send(char c) {
    int before = total(), polled = by_poll;
    CHECK_EQ(write(fds[1], &c, 1), 1);
    CHECK(eventually([&] { return total() == before + 1; }));
    return by_poll > polled;
  }
  // Sends `c` until the poll is what reads it (epoll has every kEpollEveryIdleTurns-th turn).
  void send_to_poll(char c) {
    for (int tries = 0; tries < 100; ++tries)
      if (send(c)) return;
    CHECK(false);
  }
};

// An idle reactor thread reads an fd with recent traffic through the fd's poll, not epoll;
// stops once the fd has been quiet for kHotFdUs; survives a poll that removes its own fd or
// another hot one; and frees what is hot when it is destroyed.
void test_hot_fd_polling() {
  Reactor r("hot", IdleMode::kBusyPoll);
  HotPipe a, b;
  a.other = &b;
  a.add(r);
  b.add(r);
  r.start();

  CHECK(!a.send('x'));  // cold: epoll reports the first byte
  int polled = 0;
  for (int i = 0; i < 100; ++i) polled += a.send('x');
  CHECK(polled > 50);  // hot: most bytes are found by the poll

  // Quiet for well over kHotFdUs: no more polls of it.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  int quiet = a.polls;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK_EQ(a.polls.load(), quiet);

  // Both hot, then a's poll removes b, then its own fd: each removal ends that fd's polls.
  b.send('x');
  a.send('x');
  a.send_to_poll(HotPipe::kRemoveOther);
  CHECK(b.removed.load());
  int b_polls = b.polls;
  a.send_to_poll(HotPipe::kRemoveSelf);
  CHECK(a.removed.load());
  int a_polls = a.polls;
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK_EQ(a.polls.load(), a_polls);
  CHECK_EQ(b.polls.load(), b_polls);
  r.stop();

  // A reactor destroyed while an fd is hot frees the entry (ASan checks).
  {
    Reactor r2("hot2", IdleMode::kBusyPoll);
    HotPipe c;
    c.add(r2);
    r2.start();
    c.send('x');
    c.send('x');
    r2.stop();
  }
}

// The idle reactor's poll window: it closes when the thread is preempted or its yields go
// to a CPU-bound neighbour, shrinks while nothing comes soon, and grows back while events
// come within the longest window.
void test_poll_window() {
  PollWindow w(200);
  CHECK_EQ(w.us(), 200u);
  w.turn(5);  // an ordinary idle turn
  CHECK_EQ(w.us(), 200u);
  w.turn(PollWindow::kDescheduledUs);  // preempted
  CHECK_EQ(w.us(), 0u);
  w.slept(30);  // the event came soon after: polling would have caught it
  CHECK_EQ(w.us(), PollWindow::kStartUs);
  for (int i = 0; i < 10; ++i) w.slept(30);
  CHECK_EQ(w.us(), 200u);  // doubled up to the maximum, and no further
  w.slept(5000);  // nothing for a while: halve
  CHECK_EQ(w.us(), 100u);
  for (int i = 0; i < 20; ++i) w.slept(5000);
  CHECK_EQ(w.us(), 0u);  // an idle reactor stops polling
  CHECK_EQ(w.descheduled(), 1u);

  // Yields: prompt ones (another reactor of ours had a short step) keep yielding; two late
  // ones in a row (a neighbour's whole slice each) stop it for kNoYieldUs and close the window.
  PollWindow y(200);
  uint64_t now = 1000;
  CHECK(y.should_yield(now));
  y.yielded(now, PollWindow::kLateYieldUs);  // one late yield among prompt ones is tolerated
  for (int i = 0; i < 3; ++i) y.yielded(now, 3);
  CHECK(y.should_yield(now));
  CHECK_EQ(y.us(), 200u);
  y.yielded(now, PollWindow::kLateYieldUs);
  y.yielded(now, 4000);
  CHECK(!y.should_yield(now + 1));
  CHECK_EQ(y.us(), 0u);
  CHECK(y.should_yield(now + PollWindow::kNoYieldUs));  // then it tries one yield again
  y.yielded(now + PollWindow::kNoYieldUs, 4000);  // still there: the score stays at its cap
  CHECK(!y.should_yield(now + PollWindow::kNoYieldUs + 1));
}

}  // namespace

int main() {
  test_exception_escapes_a_task();
  test_caller_reactor();
  test_offload();
  test_caller_readiness();
  test_hot_fd_polling();
  test_poll_window();
  return check::report("test_reactor");
}
