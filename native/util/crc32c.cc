#include "util/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace rdmagate::util {
namespace {

constexpr uint32_t kPoly = 0x82f63b78;

// kTables[0] is the byte-wise table; kTables[k][b] advances kTables[k-1][b]
// by one more zero byte, so eight bytes can be folded in one step.
using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables make_tables() {
  Tables t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int i = 0; i < 8; ++i) c = (c >> 1) ^ ((c & 1) ? kPoly : 0);
    t[0][b] = c;
  }
  for (size_t k = 1; k < t.size(); ++k) {
    for (uint32_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xff];
  }
  return t;
}

constexpr Tables kTables = make_tables();

using Impl = uint32_t (*)(uint32_t, const void*, size_t);

Impl select_impl() { return crc32c_sse42_available() ? crc32c_sse42 : crc32c_table; }

Impl impl() {
  static const Impl chosen = select_impl();
  return chosen;
}

}  // namespace

uint32_t crc32c_table(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);  // little-endian host (see util/endian.h)
    w ^= crc;
    crc = kTables[7][w & 0xff] ^ kTables[6][(w >> 8) & 0xff] ^ kTables[5][(w >> 16) & 0xff] ^
          kTables[4][(w >> 24) & 0xff] ^ kTables[3][(w >> 32) & 0xff] ^
          kTables[2][(w >> 40) & 0xff] ^ kTables[1][(w >> 48) & 0xff] ^ kTables[0][w >> 56];
    p += 8;
    n -= 8;
  }
  while (n--) crc = (crc >> 8) ^ kTables[0][(crc ^ *p++) & 0xff];
  return crc;
}

#if defined(__x86_64__)

// Compiled for SSE4.2 on its own so the rest of the build needs no -msse4.2;
// only reached after the runtime CPU check.
__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(uint32_t crc, const void* data,
                                                          size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t c = crc;
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    c = _mm_crc32_u64(c, w);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (n--) c32 = _mm_crc32_u8(c32, *p++);
  return c32;
}

bool crc32c_sse42_available() { return __builtin_cpu_supports("sse4.2"); }

#else

uint32_t crc32c_sse42(uint32_t crc, const void* data, size_t n) {
  return crc32c_table(crc, data, n);
}

bool crc32c_sse42_available() { return false; }

#endif

uint32_t crc32c(uint32_t seed, const void* p, size_t n) { return impl()(seed, p, n); }

const char* crc32c_impl() { return impl() == crc32c_sse42 ? "sse4.2" : "table"; }

}  // namespace rdmagate::util
