#include "auth/key_text.h"

#include <openssl/evp.h>

#include <cctype>
#include <cstdio>

#include "util/crc32.h"
#include "util/error.h"

namespace rdmagate::auth {

KeyText decode_key_text(const std::string& text, const std::string& prefix, std::initializer_list<size_t> key_sizes,
                        const char* what) {
  auto invalid = [&](const std::string& why) -> KeyText {
    throw Error("ERR_INVALID_KEY", std::string(what) + ": " + why);
  };
  auto sizes = [&] {
    std::string s;
    for (size_t n : key_sizes) s += (s.empty() ? "" : " or ") + std::to_string(n);
    return s;
  };
  if (text.compare(0, prefix.size(), prefix) != 0 || text.size() < prefix.size() + 4 || text[prefix.size() + 2] != ':' ||
      !isdigit(uint8_t(text[prefix.size()])) || !isdigit(uint8_t(text[prefix.size() + 1])))
    return invalid("it must have the form " + prefix + "<hh>:<base64>:");
  uint8_t hash = uint8_t((text[prefix.size()] - '0') * 10 + (text[prefix.size() + 1] - '0'));
  std::string b64 = text.substr(prefix.size() + 3);
  if (!b64.empty() && b64.back() == ':') b64.pop_back();
  bool size_ok = false;
  for (size_t n : key_sizes) size_ok |= b64.size() == (n + 4 + 2) / 3 * 4;
  if (!size_ok) return invalid("its key must be " + sizes() + " bytes");
  Bytes raw(b64.size() / 4 * 3);
  int n = EVP_DecodeBlock(raw.data(), reinterpret_cast<const unsigned char*>(b64.data()), int(b64.size()));
  size_t pad = b64.size() - b64.find_last_not_of('=') - 1;
  if (n < 0 || pad > 2) return invalid("its key is not base64");
  raw.resize(size_t(n) - pad);
  size_ok = false;
  for (size_t k : key_sizes) size_ok |= raw.size() == k + 4;
  if (!size_ok) return invalid("its key must be " + sizes() + " bytes");
  size_t key_len = raw.size() - 4;
  uint32_t stored = uint32_t(raw[key_len]) | uint32_t(raw[key_len + 1]) << 8 | uint32_t(raw[key_len + 2]) << 16 |
                    uint32_t(raw[key_len + 3]) << 24;
  if (util::crc32(raw.data(), key_len) != stored) {
    wipe(raw);
    return invalid("its checksum does not match its key");
  }
  raw.resize(key_len);
  return KeyText{hash, std::move(raw)};
}

std::string encode_key_text(const std::string& prefix, uint8_t hash, const Bytes& key) {
  Bytes raw(key);
  uint32_t crc = util::crc32(key.data(), key.size());
  for (int i = 0; i < 4; ++i) raw.push_back(uint8_t(crc >> (8 * i)));
  std::string b64((raw.size() + 2) / 3 * 4 + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(&b64[0]), raw.data(), int(raw.size()));
  b64.resize(size_t(n));
  wipe(raw);
  char hh[4];
  snprintf(hh, sizeof hh, "%02u", unsigned(hash % 100));
  return prefix + hh + ":" + b64 + ":";
}

}  // namespace rdmagate::auth
