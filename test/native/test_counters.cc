// test-sources: native/reactor/reactor.cc
// tsan: the counters a reactor writes while another thread reads them (the JS thread's
// stats), as Qpair keeps them: no data race, and every snapshot sees counts that only grow.
#include <mutex>
#include <thread>

#include "check.h"
#include "target/qpair.h"

using namespace rdmagate;

namespace {

void test_snapshots_while_written() {
  target::QpairCounters counters;
  target::NamespaceCounterList per_namespace;
  std::mutex grow;  // Qpair's ns_counters_mutex_: held to add an entry, and to copy the list
  constexpr uint64_t kWrites = 200000;
  std::thread writer([&] {
    for (uint64_t i = 0; i < kWrites; ++i) {
      counters.commands++;
      counters.bytes_read += 4096;
      counters.latency[target::latency_bucket(i % 100)]++;
      uint64_t instance = 1 + i % 3;
      target::NamespaceCounters* n = per_namespace.find(instance);
      if (!n) {
        std::lock_guard<std::mutex> lock(grow);
        n = &per_namespace.of(instance);
      }
      n->reads++;
    }
  });
  uint64_t last = 0;
  bool grew_only = true;
  for (int i = 0; i < 2000; ++i) {
    target::QpairCounters snapshot = counters;
    target::NamespaceCounterList list;
    {
      std::lock_guard<std::mutex> lock(grow);
      list = per_namespace;
    }
    grew_only = grew_only && snapshot.commands >= last;
    last = snapshot.commands;
  }
  writer.join();
  CHECK(grew_only);
  CHECK_EQ(uint64_t(counters.commands), kWrites);
  CHECK_EQ(uint64_t(counters.bytes_read), kWrites * 4096);
  uint64_t reads = 0;
  for (uint64_t instance = 1; instance <= 3; ++instance) reads += per_namespace.of(instance).reads;
  CHECK_EQ(reads, kWrites);
}

}  // namespace

int main() {
  test_snapshots_while_written();
  return check::report("test_counters");
}
