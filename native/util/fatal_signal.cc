#include "util/fatal_signal.h"

#include <execinfo.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace rdmagate::util {

namespace {

constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
constexpr int kMaxFrames = 64;
struct sigaction previous[sizeof kSignals / sizeof kSignals[0]];
std::atomic<bool> reporting{false};

// Async-signal-safe output: write(2) only, no allocation, no stdio.
void put(const char* s) {
  ssize_t unused = write(STDERR_FILENO, s, strlen(s));
  (void)unused;
}

void put_hex(uintptr_t v) {
  char buf[2 + 2 * sizeof v + 1];
  char* p = buf + sizeof buf - 1;
  *p = '\0';
  do {
    *--p = "0123456789abcdef"[v & 0xf];
    v >>= 4;
  } while (v);
  *--p = 'x';
  *--p = '0';
  put(p);
}

size_t index_of(int sig) {
  for (size_t i = 0; i < sizeof kSignals / sizeof kSignals[0]; ++i)
    if (kSignals[i] == sig) return i;
  return 0;
}

void on_fatal(int sig, siginfo_t* info, void* context);

bool still_ours(int sig) {
  struct sigaction now {};
  sigaction(sig, nullptr, &now);
  return (now.sa_flags & SA_SIGINFO) && now.sa_sigaction == on_fatal;
}

void on_fatal(int sig, siginfo_t* info, void* context) {
  const struct sigaction& before = previous[index_of(sig)];
  if ((sig == SIGSEGV || sig == SIGBUS) && (before.sa_flags & SA_SIGINFO) && before.sa_sigaction) {
    // Node's WebAssembly trap handler recovers from the faults of bounds checks; any other it
    // does not handle, and it puts back the handler it found (not ours) before returning.
    before.sa_sigaction(sig, info, context);
    if (still_ours(sig)) return;
  }
  if (!reporting.exchange(true)) {
    char thread[17] = "";
    prctl(PR_GET_NAME, thread, 0, 0, 0);
    put("rdmagate: fatal signal SIG");
    put(sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
    if (info->si_code > 0 && sig != SIGABRT) {  // raised by a fault, not sent
      put(" at address ");
      put_hex(reinterpret_cast<uintptr_t>(info->si_addr));
    }
    put(" in thread '");
    put(thread);
    put("'; native backtrace:\n");
    void* frames[kMaxFrames];
    int n = backtrace(frames, kMaxFrames);
    backtrace_symbols_fd(frames, n, STDERR_FILENO);
  }
  // The default action now: the process ends of this signal, and dumps core if it may.
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

void report_fatal_signals() {
  static std::atomic<bool> installed{false};
  if (installed.exchange(true)) return;
  // backtrace() loads libgcc on its first call, which allocates: not in a signal handler.
  void* warm[1];
  backtrace(warm, 1);
  // Its own stack, so that a stack overflow can still be reported.
  static char alt_stack[64 * 1024];
  stack_t ss{};
  ss.ss_sp = alt_stack;
  ss.ss_size = sizeof alt_stack;
  sigaltstack(&ss, nullptr);
  for (size_t i = 0; i < sizeof kSignals / sizeof kSignals[0]; ++i) {
    struct sigaction sa {};
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(kSignals[i], &sa, &previous[i]);
  }
}

}  // namespace rdmagate::util
