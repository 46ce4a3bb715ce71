// Unit tests for the host's header-only pieces: the SPSC submission ring (single
// thread edges, then a producer and a consumer thread) and status words.
#include <cstdint>
#include <thread>

#include "check.h"
#include "host/failure.h"
#include "host/submit_ring.h"

using namespace rdmagate;

namespace {

void test_ring_edges() {
  host::SpscRing<uint32_t> ring(3);  // rounded up to 4
  uint32_t v = 0;
  CHECK(ring.empty());
  CHECK(!ring.pop(v));
  for (uint32_t i = 0; i < 4; ++i) CHECK(ring.push(i));
  CHECK(!ring.push(99));  // full
  for (uint32_t i = 0; i < 4; ++i) {
    CHECK(ring.pop(v));
    CHECK_EQ(v, i);
  }
  CHECK(ring.empty());
  // Wrap around many times.
  for (uint32_t i = 0; i < 1000; ++i) {
    CHECK(ring.push(i));
    CHECK(ring.pop(v));
    CHECK_EQ(v, i);
  }
}

void test_ring_threads() {
  host::SpscRing<uint64_t> ring(64);
  constexpr uint64_t kCount = 200000;
  std::thread producer([&] {
    for (uint64_t i = 1; i <= kCount;) {
      if (ring.push(i)) ++i;
    }
  });
  uint64_t expect = 1, v = 0;
  bool in_order = true;
  while (expect <= kCount) {
    if (!ring.pop(v)) continue;
    in_order = in_order && v == expect;
    ++expect;
  }
  producer.join();
  CHECK(in_order);
  CHECK(ring.empty());
}

void test_status_words() {
  spec::CompletionEntry cqe{};
  cqe.set_status(spec::status::kLbaRange, true);
  uint32_t w = host::status_word(cqe);
  CHECK_EQ(w, host::status_word(spec::status::kLbaRange, true));
  CHECK_EQ(host::status_sct(w), 0);
  CHECK_EQ(host::status_sc(w), 0x80);
  CHECK(!host::status_ok(w));
  CHECK(host::status_ok(0));
  CHECK(host::status_ok(1u << 14));  // DNR alone is not an error
  CHECK(!host::status_ok(host::kStatusTimeout));
  CHECK(host::kStatusTransport > 0x7fff);  // never a CQE status
  host::Failure f = host::status_failure(host::kErrConnect, "Connect", host::status_word(spec::status::kConnectInvalidHost));
  CHECK_EQ(f.message, std::string("Connect: connect: invalid host (sct 1, sc 0x84)"));
  CHECK_EQ(f.request_status(), host::kStatusDisconnected);
  CHECK_EQ((host::Failure{host::kErrTimeout, "", 0, 0}.request_status()), host::kStatusTimeout);
}

}  // namespace

int main() {
  test_ring_edges();
  test_ring_threads();
  test_status_words();
  return check::report("test_host_ring");
}
