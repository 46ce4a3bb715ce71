// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the NVMe/TCP header
// and data digest.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rdmagate::util {

// Raw CRC register update: no pre/post inversion, so a message split into
// pieces can be fed piece by piece: s = crc32c(s, piece, len).
uint32_t crc32c(uint32_t seed, const void* p, size_t n);

// NVMe/TCP digest of a buffer (initial value ~0, final xor ~0). The digest is
// sent little-endian on the wire. Equivalent to ~crc32c(~0u, p, n).
inline uint32_t crc32c_digest(const void* p, size_t n) { return ~crc32c(~0u, p, n); }

// "sse4.2" or "table": the implementation crc32c() dispatches to.
const char* crc32c_impl();

// Both implementations, for tests and benchmarks. crc32c_sse42() may only be
// called when crc32c_sse42_available().
uint32_t crc32c_table(uint32_t seed, const void* p, size_t n);
uint32_t crc32c_sse42(uint32_t seed, const void* p, size_t n);
bool crc32c_sse42_available();

}  // namespace rdmagate::util
