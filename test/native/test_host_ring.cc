// Unit tests for the host's header-only pieces: the SPSC submission ring (single
// thread edges, then a producer and a consumer thread), status words, and the
// completion groups that the JS thread's poll takes.
#include <cstdint>
#include <random>
#include <thread>
#include <tuple>
#include <vector>

#include "check.h"
#include "host/completion_groups.h"
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

// Whatever the buffer sizes, every completion comes out once, in order, under its
// controller, and every group taken is well formed.
void test_completion_groups() {
  using Completion = std::tuple<uint32_t, uint32_t, uint32_t>;  // controller, op id, status
  std::mt19937 rng(7);
  host::CompletionGroups groups;
  std::vector<Completion> added, taken;
  uint32_t out[64];
  uint32_t nonce = 1;
  CHECK(groups.empty());
  CHECK_EQ(groups.take(out, 64), 0);
  for (int round = 0; round < 2000; ++round) {
    if (rng() % 3 != 0) {
      uint32_t id = 1 + rng() % 3;
      std::vector<uint32_t> pairs;
      for (uint32_t i = rng() % 40; i > 0; --i, ++nonce) {
        pairs.push_back(nonce);
        pairs.push_back(nonce * 7);
        added.emplace_back(id, nonce, nonce * 7);
      }
      groups.add(id, pairs.data(), pairs.size() / 2);
      continue;
    }
    size_t capacity = rng() % 65;
    size_t n = groups.take(out, capacity);
    CHECK(n <= capacity);
    CHECK(capacity < 4 ? n == 0 : true);
    for (size_t at = 0; at < n;) {
      uint32_t count = out[at + 1];
      CHECK(count >= 1);
      CHECK(at + 2 + 2 * size_t(count) <= n);
      for (uint32_t i = 0; i < count; ++i) taken.emplace_back(out[at], out[at + 2 + 2 * i], out[at + 3 + 2 * i]);
      at += 2 + 2 * size_t(count);
    }
  }
  while (!groups.empty()) {
    size_t n = groups.take(out, 64);
    CHECK(n > 0);
    for (size_t at = 0; at < n; at += 2 + 2 * size_t(out[at + 1]))
      for (uint32_t i = 0; i < out[at + 1]; ++i) taken.emplace_back(out[at], out[at + 2 + 2 * i], out[at + 3 + 2 * i]);
  }
  CHECK(added.size() > 1000);
  CHECK(taken == added);
}

int main() {
  test_completion_groups();
  test_ring_edges();
  test_ring_threads();
  test_status_words();
  return check::report("test_host_ring");
}
