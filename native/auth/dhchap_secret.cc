#include "auth/dhchap_secret.h"

#include "auth/key_text.h"
#include "spec/auth.h"
#include "util/error.h"

namespace rdmagate::auth {

std::shared_ptr<const DhchapSecret> DhchapSecret::parse(const std::string& text) {
  KeyText k = decode_key_text(text, "DHHC-1:", {32, 48, 64}, "invalid DH-HMAC-CHAP secret");
  if (k.hash > spec::kHashSha512) {
    wipe(k.key);
    throw Error("ERR_INVALID_KEY", "invalid DH-HMAC-CHAP secret: its hash must be 00, 01, 02 or 03");
  }
  return std::shared_ptr<const DhchapSecret>(new DhchapSecret(k.hash, std::move(k.key)));
}

DhchapSecret::~DhchapSecret() { wipe(key_); }

Bytes DhchapSecret::transform(const std::string& nqn) const {
  if (hash_ == spec::kHashNone) return key_;
  static const char kSuffix[] = "NVMe-over-Fabrics";
  return Hmac(hash_, key_.data(), key_.size()).update(nqn.data(), nqn.size()).update(kSuffix, sizeof kSuffix - 1).final();
}

}  // namespace rdmagate::auth
