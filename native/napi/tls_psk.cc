#include "napi/tls_psk.h"

#include "napi/errors.h"

namespace rdmagate::napi {

tls::PskRef parse_tls_psk(Napi::Env env, Napi::Value object) {
  if (!object.IsObject()) return nullptr;
  Napi::Value v = object.As<Napi::Object>().Get("psk");
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  if (!v.IsString()) throw make_error(env, "ERR_INVALID_ARG", "psk must be a string");
  return guarded(env, [&] { return tls::ConfiguredPsk::parse(v.As<Napi::String>().Utf8Value()); });
}

}  // namespace rdmagate::napi
