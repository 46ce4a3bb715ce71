#include "auth/dhchap_secret.h"

#include <openssl/evp.h>

#include "spec/auth.h"
#include "util/crc32.h"
#include "util/error.h"

namespace rdmagate::auth {

namespace {

[[noreturn]] void invalid(const std::string& why) {
  throw Error("ERR_INVALID_KEY", "invalid DH-HMAC-CHAP secret: " + why);
}

}  // namespace

std::shared_ptr<const DhchapSecret> DhchapSecret::parse(const std::string& text) {
  static const std::string prefix = "DHHC-1:";
  if (text.compare(0, prefix.size(), prefix) != 0 || text.size() < prefix.size() + 4 || text[prefix.size() + 2] != ':')
    invalid("it must have the form DHHC-1:<hh>:<base64>:");
  std::string hh = text.substr(prefix.size(), 2);
  if (hh != "00" && hh != "01" && hh != "02" && hh != "03") invalid("its hash must be 00, 01, 02 or 03");
  uint8_t hash = uint8_t(hh[1] - '0');
  std::string b64 = text.substr(prefix.size() + 3);
  if (!b64.empty() && b64.back() == ':') b64.pop_back();
  // 32, 48 or 64 key bytes and 4 of CRC: 48, 72 or 92 base64 characters.
  if (b64.size() != 48 && b64.size() != 72 && b64.size() != 92) invalid("its key must be 32, 48 or 64 bytes");
  Bytes raw(b64.size() / 4 * 3);
  int n = EVP_DecodeBlock(raw.data(), reinterpret_cast<const unsigned char*>(b64.data()), int(b64.size()));
  if (n < 0) invalid("its key is not base64");
  size_t pad = b64.size() - b64.find_last_not_of('=') - 1;
  if (pad > 2) invalid("its key is not base64");
  raw.resize(size_t(n) - pad);
  if (raw.size() != 36 && raw.size() != 52 && raw.size() != 68) invalid("its key must be 32, 48 or 64 bytes");
  size_t key_len = raw.size() - 4;
  uint32_t crc = util::crc32(raw.data(), key_len);
  uint32_t stored = uint32_t(raw[key_len]) | uint32_t(raw[key_len + 1]) << 8 | uint32_t(raw[key_len + 2]) << 16 |
                    uint32_t(raw[key_len + 3]) << 24;
  if (crc != stored) {
    wipe(raw);
    invalid("its checksum does not match its key");
  }
  raw.resize(key_len);
  return std::shared_ptr<const DhchapSecret>(new DhchapSecret(hash, std::move(raw)));
}

DhchapSecret::~DhchapSecret() { wipe(key_); }

Bytes DhchapSecret::transform(const std::string& nqn) const {
  if (hash_ == spec::kHashNone) return key_;
  static const char kSuffix[] = "NVMe-over-Fabrics";
  return Hmac(hash_, key_.data(), key_.size()).update(nqn.data(), nqn.size()).update(kSuffix, sizeof kSuffix - 1).final();
}

}  // namespace rdmagate::auth
