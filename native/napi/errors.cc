#include "napi/errors.h"

#include <cmath>

#include "napi/addon_data.h"

namespace rdmagate::napi {

void set_error_factory(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "factory must be a function");
  addon_data(info.Env()).error_factory = Napi::Persistent(info[0].As<Napi::Function>());
}

Napi::Error make_error(Napi::Env env, const std::string& code, const std::string& message, int errnum) {
  Napi::FunctionReference& factory = addon_data(env).error_factory;
  if (factory.IsEmpty()) {
    Napi::Error e = Napi::Error::New(env, message);
    e.Set("code", Napi::String::New(env, code));
    return e;
  }
  Napi::Value v = factory.Call({Napi::String::New(env, code), Napi::String::New(env, message),
                                  Napi::Number::New(env, errnum)});
  return Napi::Error(env, v);
}

uint32_t arg_u32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  double d = info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : NAN;
  if (!(d >= 0 && d <= 4294967295.0 && d == std::floor(d)))
    throw make_error(info.Env(), "ERR_INVALID_ARG", std::string(name) + " must be an integer in [0, 2^32)");
  return uint32_t(d);
}

uint64_t arg_u64(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsBigInt())
    throw make_error(info.Env(), "ERR_INVALID_ARG", std::string(name) + " must be a bigint");
  bool lossless = false;
  uint64_t v = info[i].As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) throw make_error(info.Env(), "ERR_INVALID_ARG", std::string(name) + " must fit in 64 bits");
  return v;
}

}  // namespace rdmagate::napi
