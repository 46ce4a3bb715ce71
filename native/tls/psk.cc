#include "tls/psk.h"

#include <openssl/evp.h>

#include "auth/key_text.h"
#include "util/error.h"

namespace rdmagate::tls {

namespace {

constexpr char kPrefix[] = "NVMeTLSkey-1:";

std::string base64(const Bytes& b) {
  std::string out((b.size() + 2) / 3 * 4 + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(&out[0]), b.data(), int(b.size()));
  out.resize(size_t(n));
  return out;
}

// HKDF-Expand-Label(HKDF-Extract(0, ikm), label, context, len), with the HkdfLabel laid out
// as libnvme 1.x lays it out, which is what Linux's tools and so tlshd use: the length in
// little-endian, then "tls13 " label context with no length bytes before either (RFC 8446
// 7.1 has a big-endian length and both length bytes). Keys derived the RFC's way would
// not match the ones nvme-cli puts in the kernel's keyring.
Bytes expand_label(uint8_t hash, const Bytes& ikm, const std::string& label, const std::string& context, size_t len) {
  Bytes info{uint8_t(len), uint8_t(len >> 8)};
  const std::string text = "tls13 " + label + context;
  info.insert(info.end(), text.begin(), text.end());
  return auth::hkdf(hash, ikm, info, len);
}

}  // namespace

std::optional<PskIdentity> parse_identity(const std::string& identity) {
  // "NVMe" <version> "R" <hh> " " hostnqn " " subnqn [" " digest]; NQNs have no spaces.
  if (identity.size() < 10 || identity.compare(0, 4, "NVMe") != 0 || identity[5] != 'R' || identity[8] != ' ')
    return std::nullopt;
  int version = identity[4] - '0';
  int hash = (identity[6] - '0') * 10 + (identity[7] - '0');
  if ((version != 0 && version != 1) || (hash != kPskSha256 && hash != kPskSha384)) return std::nullopt;
  size_t host_end = identity.find(' ', 9);
  if (host_end == std::string::npos || host_end == 9) return std::nullopt;
  size_t sub_end = identity.find(' ', host_end + 1);
  if ((version == 0) != (sub_end == std::string::npos) || sub_end == host_end + 1) return std::nullopt;
  return PskIdentity{version, uint8_t(hash), identity.substr(9, host_end - 9),
                     identity.substr(host_end + 1, sub_end == std::string::npos ? sub_end : sub_end - host_end - 1)};
}

std::shared_ptr<const ConfiguredPsk> ConfiguredPsk::parse(const std::string& text) {
  auth::KeyText k = auth::decode_key_text(text, kPrefix, {32, 48}, "invalid TLS PSK");
  const bool fits = k.hash == 0 || (k.hash == kPskSha256 && k.key.size() == 32) ||
                    (k.hash == kPskSha384 && k.key.size() == 48);
  if (!fits) {
    auth::wipe(k.key);
    throw Error("ERR_INVALID_KEY", "invalid TLS PSK: hash 01 takes a 32-byte key, 02 a 48-byte key");
  }
  return std::shared_ptr<const ConfiguredPsk>(new ConfiguredPsk(k.hash, std::move(k.key)));
}

ConfiguredPsk::~ConfiguredPsk() { auth::wipe(key_); }

uint8_t ConfiguredPsk::hash() const {
  if (hmac_ != 0) return hmac_;
  return key_.size() == 48 ? kPskSha384 : kPskSha256;
}

TlsPsk ConfiguredPsk::derive(const std::string& hostnqn, const std::string& subnqn, int version) const {
  if (version != 0 && version != 1) throw Error("ERR_INVALID_ARG", "PSK identity version must be 0 or 1");
  // Retained PSK = HKDF-Expand-Label(HKDF-Extract(0, configured), "HostNQN", hostnqn, L),
  // unless the configured PSK is to be used as it is.
  Bytes retained = hmac_ == 0 ? key_ : expand_label(hmac_, key_, "HostNQN", hostnqn, key_.size());
  const uint8_t h = hash();
  const std::string hh = h == kPskSha384 ? "02" : "01";
  TlsPsk out;
  out.hash = h;
  std::string context;
  out.identity = "NVMe" + std::to_string(version) + "R" + hh + " " + hostnqn + " " + subnqn;
  if (version == 0) {
    context = out.identity;
  } else {
    // The digest binds the identity to the retained PSK: HMAC(retained, hostnqn " " subnqn
    // " NVMe-over-Fabrics"), in base64.
    static const char kSeed[] = "NVMe-over-Fabrics";
    Bytes mac = auth::Hmac(h, retained.data(), retained.size())
                    .update(hostnqn.data(), hostnqn.size())
                    .update(" ", 1)
                    .update(subnqn.data(), subnqn.size())
                    .update(" ", 1)
                    .update(kSeed, sizeof kSeed - 1)
                    .final();
    std::string digest = base64(mac);
    out.identity += " " + digest;
    context = hh + " " + digest;
  }
  // TLS PSK = HKDF-Expand-Label(HKDF-Extract(0, retained), "nvme-tls-psk", context, L).
  out.key = expand_label(h, retained, "nvme-tls-psk", context, key_.size());
  auth::wipe(retained);
  return out;
}

std::string encode_interchange(uint8_t hmac, const Bytes& key) { return auth::encode_key_text(kPrefix, hmac, key); }

}  // namespace rdmagate::tls
