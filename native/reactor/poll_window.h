// How an idle event-mode reactor waits for its next event: it polls for a window, then
// sleeps in epoll. The window adapts, as Linux's cpuidle-haltpoll sizes its guest poll
// window, since polling pays only when the next event comes soon (a QD1 round trip) and
// only while the thread keeps its core. The window
//   - closes when the thread was descheduled while polling (an idle turn, a few
//     microseconds of work, took far longer: someone else had the core);
//   - halves when a sleep lasted longer than the longest window (nothing came soon: an
//     idle reactor stops polling altogether);
//   - grows, from kStartUs and doubling up to its maximum, when a sleep ended within the
//     maximum (a longer window would have caught that event without the wake-up).
// While polling, a reactor yields the core on each turn, but only while yields come back
// soon. Where reactors outnumber cores (a gateway beside its backend and its hosts), a
// yield hands the core to the reactor that has the next step of an I/O, and now and then
// to one with a long step; beside a CPU-bound neighbour, every yield hands the core over
// for a whole time slice. Yields that come back late more often than not stop yielding
// for kNoYieldUs, and close the window.
#pragma once

#include <algorithm>
#include <cstdint>

namespace rdmagate {

class PollWindow {
 public:
  // The first window after it closed.
  static constexpr uint32_t kStartUs = 8;
  // An idle turn (a recv or an epoll_wait(0)) takes a few microseconds; one that took this
  // long means the thread did not run for most of it.
  static constexpr uint64_t kDescheduledUs = 100;
  // A yield that handed the core to another reactor of ours comes back within that
  // reactor's step (a batch of commands: tens of microseconds); one to a CPU-bound
  // neighbour comes back after the neighbour's slice (the scheduler's base slice, 0.75 ms
  // and up).
  static constexpr uint64_t kLateYieldUs = 500;
  // How long a reactor polls without yielding after a yield came back late; then one
  // yield tries again (costing a slice at most, should the neighbour still be there).
  static constexpr uint64_t kNoYieldUs = 1000000;

  explicit PollWindow(uint32_t max_us) : max_us_(max_us), us_(max_us) {}

  uint32_t us() const { return us_; }

  // Whether the idle turn starting at `now` should yield.
  bool should_yield(uint64_t now) const { return now >= no_yield_until_us_; }

  // An idle turn that did not yield started `gap_us` after the one before.
  void turn(uint64_t gap_us) {
    if (gap_us >= kDescheduledUs) close();  // preempted: the core is shared
  }

  // A yield at `now` took `took_us` to come back.
  void yielded(uint64_t now, uint64_t took_us) {
    // A late yield counts 2, a prompt one -1: two late in a row, or more late than prompt.
    late_yields_ = took_us >= kLateYieldUs ? std::min(late_yields_ + 2, kLateYieldsCap) : std::max(late_yields_ - 1, 0);
    if (late_yields_ >= kLateYieldsToStop) {
      no_yield_until_us_ = now + kNoYieldUs;
      close();
    }
  }

  // The reactor slept `slept_us` in epoll before its next event (or timer).
  void slept(uint64_t slept_us) {
    if (slept_us > max_us_) {
      us_ /= 2;
    } else if (us_ < max_us_) {
      us_ = std::min<uint32_t>(max_us_, us_ ? us_ * 2 : std::min(kStartUs, max_us_));
    }
  }

  // How often polling was cut short by a descheduled thread: a sign of a shared core.
  uint64_t descheduled() const { return descheduled_; }

 private:
  static constexpr int kLateYieldsToStop = 4;
  static constexpr int kLateYieldsCap = 8;

  void close() {
    us_ = 0;
    ++descheduled_;
  }

  const uint32_t max_us_;
  uint32_t us_;
  int late_yields_ = 0;
  uint64_t no_yield_until_us_ = 0;
  uint64_t descheduled_ = 0;
};

}  // namespace rdmagate
