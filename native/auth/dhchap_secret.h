// A DH-HMAC-CHAP secret, as `nvme gen-dhchap-key` writes it and SPDK's and Linux's
// configuration take it: "DHHC-1:<hh>:<base64 of key || CRC-32 of key, little-endian>:",
// where hh names the hash that transforms the key (00: none).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "auth/crypto.h"

namespace rdmagate::auth {

class DhchapSecret {
 public:
  // Throws Error(ERR_INVALID_KEY) saying what is wrong, never what the secret is.
  static std::shared_ptr<const DhchapSecret> parse(const std::string& text);
  ~DhchapSecret();

  uint8_t hash() const { return hash_; }
  size_t size() const { return key_.size(); }

  // The key a response is computed with (NVMe Base 8.13.5.7): HMAC(key, NQN ||
  // "NVMe-over-Fabrics") with the secret's hash, or the key itself when it names none.
  // The host's key is transformed with the host NQN, the controller's with the subsystem's.
  Bytes transform(const std::string& nqn) const;

 private:
  DhchapSecret(uint8_t hash, Bytes key) : hash_(hash), key_(std::move(key)) {}
  uint8_t hash_;
  Bytes key_;  // 32, 48 or 64 bytes
};

using SecretRef = std::shared_ptr<const DhchapSecret>;

// What a controller holds for one host.
struct DhchapKeys {
  SecretRef host;   // proves the host; none: the host is not asked to authenticate
  SecretRef ctrlr;  // proves the controller, when the host asks (bidirectional)
};

}  // namespace rdmagate::auth
