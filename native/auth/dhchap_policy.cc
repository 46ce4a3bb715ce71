#include "auth/dhchap_policy.h"

#include "util/error.h"

namespace rdmagate::auth {

namespace {

constexpr const char* kDigestNames[] = {nullptr, "sha256", "sha384", "sha512"};
constexpr const char* kGroupNames[] = {"null", "ffdhe2048", "ffdhe3072", "ffdhe4096", "ffdhe6144", "ffdhe8192"};

}  // namespace

uint8_t digest_id(const std::string& name) {
  for (uint8_t i = 1; i < 4; ++i)
    if (name == kDigestNames[i]) return i;
  throw Error("ERR_INVALID_ARG", "unknown DH-HMAC-CHAP digest '" + name + "' (sha256, sha384 or sha512)");
}

uint8_t dhgroup_id(const std::string& name) {
  for (uint8_t i = 0; i < 6; ++i)
    if (name == kGroupNames[i]) return i;
  throw Error("ERR_INVALID_ARG", "unknown DH-HMAC-CHAP DH group '" + name + "' (null or ffdhe2048 ... ffdhe8192)");
}

const char* digest_name(uint8_t id) { return id >= 1 && id < 4 ? kDigestNames[id] : "unknown"; }
const char* dhgroup_name(uint8_t id) { return id < 6 ? kGroupNames[id] : "unknown"; }

}  // namespace rdmagate::auth
