// CRC32C: known vectors (RFC 3720 B.4 and the common "123456789" check
// value), hardware/table agreement and incremental use.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <vector>

#include "check.h"
#include "util/crc32c.h"

using namespace rdmagate::util;

namespace {

void test_vectors() {
  const char* digits = "123456789";
  CHECK_EQ(crc32c_digest(digits, 9), 0xe3069283u);
  CHECK_EQ(crc32c_table(~0u, digits, 9) ^ ~0u, 0xe3069283u);

  uint8_t buf[32];
  std::memset(buf, 0, sizeof buf);
  CHECK_EQ(crc32c_digest(buf, 32), 0x8a9136aau);
  std::memset(buf, 0xff, sizeof buf);
  CHECK_EQ(crc32c_digest(buf, 32), 0x62a8ab43u);
  for (int i = 0; i < 32; ++i) buf[i] = uint8_t(i);
  CHECK_EQ(crc32c_digest(buf, 32), 0x46dd794eu);
  for (int i = 0; i < 32; ++i) buf[i] = uint8_t(31 - i);
  CHECK_EQ(crc32c_digest(buf, 32), 0x113fdb5cu);

  CHECK_EQ(crc32c_digest(nullptr, 0), 0u);
  CHECK_EQ(crc32c(0x12345678u, nullptr, 0), 0x12345678u);
}

void test_impl() {
  std::string_view impl = crc32c_impl();
  CHECK(impl == "sse4.2" || impl == "table");
  CHECK_EQ(impl == "sse4.2", crc32c_sse42_available());
}

// Every length 0..1000 at every start offset 0..7, both implementations.
void test_hw_matches_table() {
  std::vector<uint8_t> data(1000 + 8);
  uint32_t x = 0x12345678;
  for (auto& b : data) {
    x = x * 1664525u + 1013904223u;
    b = uint8_t(x >> 24);
  }
  const bool hw = crc32c_sse42_available();
  int mismatches = 0;
  for (size_t start = 0; start < 8; ++start) {
    for (size_t len = 0; len <= 1000; ++len) {
      const uint8_t* p = data.data() + start;
      uint32_t table = crc32c_table(~0u, p, len);
      if (crc32c(~0u, p, len) != table) ++mismatches;
      if (hw && crc32c_sse42(~0u, p, len) != table) ++mismatches;
    }
  }
  CHECK_EQ(mismatches, 0);
}

void test_incremental() {
  std::vector<uint8_t> data(4096);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 7 + 3);
  const uint32_t whole = crc32c_digest(data.data(), data.size());
  for (size_t split : {size_t(0), size_t(1), size_t(7), size_t(8), size_t(9), size_t(100),
                       size_t(4095), size_t(4096)}) {
    uint32_t s = crc32c(~0u, data.data(), split);
    s = crc32c(s, data.data() + split, data.size() - split);
    CHECK_EQ(~s, whole);
  }
}

}  // namespace

int main() {
  test_vectors();
  test_impl();
  test_hw_matches_table();
  test_incremental();
  std::printf("crc32c implementation: %s\n", crc32c_impl());
  return check::report("test_crc32c");
}
