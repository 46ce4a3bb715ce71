// The text form that NVMe's configured secrets share: "<prefix><hh>:<base64 of key ||
// CRC-32 of key, little-endian>:" (DH-HMAC-CHAP's DHHC-1, NVMe/TCP's NVMeTLSkey-1), where
// hh is a two-digit hash indicator. Only the checks are here; each key kind names its
// prefix, its indicators and its key sizes.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "auth/crypto.h"

namespace rdmagate::auth {

struct KeyText {
  uint8_t hash;  // the indicator, 0..99
  Bytes key;
};

// Throws Error(ERR_INVALID_KEY) that starts with `what` ("invalid TLS PSK") and says what is
// wrong, never what the key is.
KeyText decode_key_text(const std::string& text, const std::string& prefix, std::initializer_list<size_t> key_sizes,
                        const char* what);
std::string encode_key_text(const std::string& prefix, uint8_t hash, const Bytes& key);

}  // namespace rdmagate::auth
