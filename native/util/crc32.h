// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320): the checksum of a DH-HMAC-CHAP
// secret's representation (DHHC-1). A check value, not cryptography.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace rdmagate::util {

inline uint32_t crc32(const uint8_t* p, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = ~0u;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return ~c;
}

}  // namespace rdmagate::util
