#include "napi/dhchap_keys.h"

#include <string>

#include "napi/errors.h"

namespace rdmagate::napi {

auth::DhchapKeys parse_dhchap_keys(Napi::Env env, Napi::Value value) {
  auth::DhchapKeys keys;
  if (value.IsUndefined() || value.IsNull()) return keys;
  if (!value.IsObject()) throw make_error(env, "ERR_INVALID_ARG", "keys must be an object");
  Napi::Object o = value.As<Napi::Object>();
  auto secret = [&](const char* name) -> auth::SecretRef {
    Napi::Value v = o.Get(name);
    if (v.IsUndefined() || v.IsNull()) return nullptr;
    if (!v.IsString()) throw make_error(env, "ERR_INVALID_ARG", std::string(name) + " must be a string");
    return guarded(env, [&] { return auth::DhchapSecret::parse(v.As<Napi::String>().Utf8Value()); });
  };
  keys.host = secret("dhchapKey");
  keys.ctrlr = secret("dhchapCtrlrKey");
  if (keys.ctrlr && !keys.host)
    throw make_error(env, "ERR_INVALID_ARG", "dhchapCtrlrKey needs dhchapKey: the controller proves itself only to a host that proved itself");
  return keys;
}

}  // namespace rdmagate::napi
