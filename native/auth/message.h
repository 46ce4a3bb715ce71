// A DH-HMAC-CHAP message to and from bytes: the packed structs of spec/auth.h, copied, as
// the bytes come from a command's buffer with no alignment promised.
#pragma once

#include <cstdint>
#include <cstring>

#include "auth/crypto.h"

namespace rdmagate::auth {

// The caller has checked that `data` holds sizeof(T) bytes.
template <class T>
T read_message(const uint8_t* data) {
  T v;
  std::memcpy(&v, data, sizeof v);
  return v;
}

template <class T>
Bytes message_bytes(const T& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  return Bytes(p, p + sizeof v);
}

}  // namespace rdmagate::auth
