#include "auth/crypto.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/dh.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include <string>

#include "spec/auth.h"
#include "util/error.h"

namespace rdmagate::auth {

namespace {

[[noreturn]] void fail(const char* what) {
  unsigned long e = ERR_get_error();
  char reason[256] = "unknown";
  if (e) ERR_error_string_n(e, reason, sizeof reason);
  ERR_clear_error();
  throw Error("ERR_INTERNAL", std::string("OpenSSL: ") + what + ": " + reason);
}

const char* digest_name(uint8_t hash_id) {
  switch (hash_id) {
    case spec::kHashSha256: return "SHA256";
    case spec::kHashSha384: return "SHA384";
    case spec::kHashSha512: return "SHA512";
  }
  throw Error("ERR_INVALID_ARG", "unknown DH-HMAC-CHAP hash id " + std::to_string(hash_id));
}

const char* group_name(uint8_t group) {
  switch (group) {
    case spec::kDhFfdhe2048: return "ffdhe2048";
    case spec::kDhFfdhe3072: return "ffdhe3072";
    case spec::kDhFfdhe4096: return "ffdhe4096";
    case spec::kDhFfdhe6144: return "ffdhe6144";
    case spec::kDhFfdhe8192: return "ffdhe8192";
  }
  throw Error("ERR_INVALID_ARG", "unknown DH group id " + std::to_string(group));
}

struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_clear_free(b); }
};
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Bn = std::unique_ptr<BIGNUM, BnFree>;

Bytes run_hkdf(int mode, uint8_t hash_id, const Bytes& key, const Bytes& info, size_t len) {
  PkeyCtx ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr));
  Bytes out(len);
  size_t out_len = len;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) <= 0 || EVP_PKEY_CTX_set_hkdf_mode(ctx.get(), mode) <= 0 ||
      EVP_PKEY_CTX_set_hkdf_md(ctx.get(), EVP_get_digestbyname(digest_name(hash_id))) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_key(ctx.get(), key.data(), int(key.size())) <= 0 ||
      EVP_PKEY_CTX_add1_hkdf_info(ctx.get(), info.data(), int(info.size())) <= 0 ||
      EVP_PKEY_derive(ctx.get(), out.data(), &out_len) <= 0 || out_len != len)
    fail("HKDF");
  return out;
}

}  // namespace

void wipe(Bytes& b) {
  if (!b.empty()) OPENSSL_cleanse(b.data(), b.size());
  b.clear();
}

Hmac::Hmac(uint8_t hash_id, const uint8_t* key, size_t key_len) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (!mac) fail("HMAC");
  ctx_ = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);
  if (!ctx_) fail("HMAC context");
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest_name(hash_id)), 0),
      OSSL_PARAM_construct_end()};
  if (!EVP_MAC_init(ctx_, key, key_len, params)) {
    EVP_MAC_CTX_free(ctx_);
    fail("HMAC init");
  }
}

Hmac::~Hmac() { EVP_MAC_CTX_free(ctx_); }

Hmac& Hmac::update(const void* data, size_t len) {
  if (!EVP_MAC_update(ctx_, static_cast<const unsigned char*>(data), len)) fail("HMAC update");
  return *this;
}

Bytes Hmac::final() {
  Bytes out(EVP_MAC_CTX_get_mac_size(ctx_));
  size_t n = 0;
  if (!EVP_MAC_final(ctx_, out.data(), &n, out.size())) fail("HMAC final");
  out.resize(n);
  return out;
}

Bytes digest(uint8_t hash_id, const uint8_t* data, size_t len) {
  EVP_MD* md = EVP_MD_fetch(nullptr, digest_name(hash_id), nullptr);
  if (!md) fail("digest");
  Bytes out(EVP_MD_get_size(md));
  unsigned int n = 0;
  bool ok = EVP_Digest(data, len, out.data(), &n, md, nullptr);
  EVP_MD_free(md);
  if (!ok) fail("digest");
  out.resize(n);
  return out;
}

Bytes hkdf(uint8_t hash_id, const Bytes& ikm, const Bytes& info, size_t len) {
  return run_hkdf(EVP_PKEY_HKDEF_MODE_EXTRACT_AND_EXPAND, hash_id, ikm, info, len);
}

Bytes hkdf_expand(uint8_t hash_id, const Bytes& prk, const Bytes& info, size_t len) {
  return run_hkdf(EVP_PKEY_HKDEF_MODE_EXPAND_ONLY, hash_id, prk, info, len);
}

void random_bytes(uint8_t* out, size_t len) {
  if (RAND_bytes(out, int(len)) != 1) fail("random bytes");
}

bool same_bytes(const uint8_t* a, const uint8_t* b, size_t len) { return CRYPTO_memcmp(a, b, len) == 0; }

DhKey::DhKey(uint8_t group) : group_(group) {
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) <= 0) fail("DH key generation");
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(group_name(group)), 0),
      OSSL_PARAM_construct_end()};
  if (EVP_PKEY_CTX_set_params(ctx.get(), params) <= 0 || EVP_PKEY_generate(ctx.get(), &key_) <= 0)
    fail("DH key generation");
  BIGNUM* pub = nullptr;
  if (!EVP_PKEY_get_bn_param(key_, OSSL_PKEY_PARAM_PUB_KEY, &pub)) fail("DH public value");
  Bn owned(pub);
  public_value_.resize(spec::dh_value_length(group));
  if (BN_bn2binpad(pub, public_value_.data(), int(public_value_.size())) < 0) fail("DH public value");
}

DhKey::~DhKey() { EVP_PKEY_free(key_); }

Bytes DhKey::shared_secret(const uint8_t* peer, size_t len) const {
  size_t size = spec::dh_value_length(group_);
  if (len != size) throw Error("ERR_INVALID_ARG", "DH value of " + std::to_string(len) + " bytes, not " + std::to_string(size));
  Bn pub(BN_bin2bn(peer, int(len), nullptr));
  OSSL_PARAM_BLD* build = OSSL_PARAM_BLD_new();
  if (!pub || !build) fail("DH peer value");
  OSSL_PARAM* params = nullptr;
  if (OSSL_PARAM_BLD_push_utf8_string(build, OSSL_PKEY_PARAM_GROUP_NAME, group_name(group_), 0))
    if (OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_PUB_KEY, pub.get())) params = OSSL_PARAM_BLD_to_param(build);
  OSSL_PARAM_BLD_free(build);
  if (!params) fail("DH peer value");
  EVP_PKEY* raw = nullptr;
  PkeyCtx from(EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr));
  bool built = from && EVP_PKEY_fromdata_init(from.get()) > 0 &&
               EVP_PKEY_fromdata(from.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) > 0;
  OSSL_PARAM_free(params);
  Pkey peer_key(raw);
  if (!built) fail("DH peer value");
  PkeyCtx derive(EVP_PKEY_CTX_new_from_pkey(nullptr, key_, nullptr));
  if (!derive || EVP_PKEY_derive_init(derive.get()) <= 0 || EVP_PKEY_CTX_set_dh_pad(derive.get(), 1) <= 0)
    fail("DH derivation");
  // Validates the peer's value (1 < y < p-1, in the subgroup): a bad one is the peer's fault.
  if (EVP_PKEY_derive_set_peer_ex(derive.get(), peer_key.get(), 1) <= 0) {
    ERR_clear_error();
    throw Error("ERR_INVALID_ARG", "the peer's DH value is not a valid public key of the group");
  }
  Bytes secret(size);
  size_t n = secret.size();
  if (EVP_PKEY_derive(derive.get(), secret.data(), &n) <= 0 || n != size) fail("DH derivation");
  return secret;
}

}  // namespace rdmagate::auth
