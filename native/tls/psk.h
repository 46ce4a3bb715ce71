// NVMe/TCP's pre-shared keys (NVMe/TCP transport spec, 3.6.1): the configured PSK in its
// interchange form ("NVMeTLSkey-1:<hh>:<base64>:", as `nvme gen-tls-key` writes it), the
// retained PSK derived from it for one host, and the TLS PSK and PSK identity that one
// host and one subsystem use in the TLS 1.3 handshake. Derived as libnvme 1.x (nvme-cli
// 2.x) does, so that a key configured here and in Linux (nvme-cli, tlshd) gives both sides
// the same TLS PSK.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "auth/crypto.h"

namespace rdmagate::tls {

using auth::Bytes;

// The hash of a PSK identity ("NVMe0R<hh>"), which names the cipher suite it goes with.
enum PskHash : uint8_t {
  kPskSha256 = 1,  // TLS_AES_128_GCM_SHA256
  kPskSha384 = 2,  // TLS_AES_256_GCM_SHA384
};

// What a TLS PSK is derived for.
struct TlsPsk {
  std::string identity;  // "NVMe<v>R<hh> <hostnqn> <subnqn>[ <digest>]"
  Bytes key;             // as long as the configured PSK
  uint8_t hash = 0;      // PskHash
  TlsPsk() = default;
  TlsPsk(TlsPsk&&) = default;
  TlsPsk& operator=(TlsPsk&&) = default;
  ~TlsPsk() { auth::wipe(key); }
};

// A PSK identity as a ClientHello carries it.
struct PskIdentity {
  int version;  // 0: "NVMe0R", 1: "NVMe1R" with a digest of the retained PSK
  uint8_t hash;
  std::string hostnqn, subnqn;
};
// nullopt for anything that is not an NVMe/TCP PSK identity.
std::optional<PskIdentity> parse_identity(const std::string& identity);

class ConfiguredPsk {
 public:
  // Throws Error(ERR_INVALID_KEY) saying what is wrong, never what the key is.
  static std::shared_ptr<const ConfiguredPsk> parse(const std::string& text);
  ~ConfiguredPsk();

  // The interchange form's hh: how the retained PSK is derived (0: it is the configured PSK).
  uint8_t hmac() const { return hmac_; }
  // The hash of the identities it makes: the hmac's, or (hmac 0) the one as long as the key.
  uint8_t hash() const;
  size_t size() const { return key_.size(); }

  // The TLS PSK and identity for `hostnqn` connecting to `subnqn` (identity version 0 or 1).
  TlsPsk derive(const std::string& hostnqn, const std::string& subnqn, int version) const;

 private:
  ConfiguredPsk(uint8_t hmac, Bytes key) : hmac_(hmac), key_(std::move(key)) {}
  uint8_t hmac_;
  Bytes key_;  // 32 or 48 bytes
};

using PskRef = std::shared_ptr<const ConfiguredPsk>;

// The interchange form of `key` (tests, and `rdmagate gen-tls-key`).
std::string encode_interchange(uint8_t hmac, const Bytes& key);

}  // namespace rdmagate::tls
