// The cryptographic primitives DH-HMAC-CHAP and the NVMe/TCP PSKs need, from OpenSSL
// (libcrypto): HMAC, HKDF and digests over SHA-2, random bytes, and finite-field
// Diffie-Hellman in RFC 7919's groups.
// Nothing here is hand-written crypto; this file only adapts OpenSSL's API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

using evp_mac_ctx_st = struct evp_mac_ctx_st;
using evp_pkey_st = struct evp_pkey_st;

namespace rdmagate::auth {

using Bytes = std::vector<uint8_t>;

// Overwrites `b` before it is freed: session keys and transformed secrets.
void wipe(Bytes& b);

// HMAC with the hash a DH-HMAC-CHAP hash id names (spec::kHashSha256...).
class Hmac {
 public:
  Hmac(uint8_t hash_id, const uint8_t* key, size_t key_len);
  ~Hmac();
  Hmac(const Hmac&) = delete;
  Hmac& operator=(const Hmac&) = delete;
  Hmac& update(const void* data, size_t len);
  Bytes final();

 private:
  evp_mac_ctx_st* ctx_;
};

Bytes digest(uint8_t hash_id, const uint8_t* data, size_t len);
// HKDF-Expand(HKDF-Extract(0, ikm), info, len) (RFC 5869), with SHA-256 or SHA-384.
Bytes hkdf(uint8_t hash_id, const Bytes& ikm, const Bytes& info, size_t len);
// HKDF-Expand(prk, info, len) alone.
Bytes hkdf_expand(uint8_t hash_id, const Bytes& prk, const Bytes& info, size_t len);
void random_bytes(uint8_t* out, size_t len);
// Compares in time that does not depend on where the bytes differ.
bool same_bytes(const uint8_t* a, const uint8_t* b, size_t len);

// A private key in one of the FFDHE groups (spec::kDhFfdhe2048...), made at construction.
class DhKey {
 public:
  explicit DhKey(uint8_t group);
  ~DhKey();
  DhKey(const DhKey&) = delete;
  DhKey& operator=(const DhKey&) = delete;
  // g^x mod p, big-endian, padded to the group's size.
  const Bytes& public_value() const { return public_value_; }
  // The shared secret with the peer's public value, padded to the group's size. Throws
  // Error(ERR_INVALID_ARG) for a value that is not a valid public key of the group.
  Bytes shared_secret(const uint8_t* peer, size_t len) const;

 private:
  uint8_t group_;
  evp_pkey_st* key_ = nullptr;
  Bytes public_value_;
};

}  // namespace rdmagate::auth
