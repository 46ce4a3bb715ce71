// Turns native errors into the typed JS errors of lib/errors.ts. lib/ registers a
// factory at load time, so the classes live in TypeScript and native code only names codes.
#pragma once

#include <napi.h>

#include <functional>
#include <string>

#include "util/error.h"

namespace rdmagate::napi {

void set_error_factory(const Napi::CallbackInfo& info);
Napi::Error make_error(Napi::Env env, const std::string& code, const std::string& message,
                       int errnum = 0);

// Runs `body`, rethrowing a native rdmagate::Error as its typed JS error.
template <typename F>
auto guarded(Napi::Env env, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Error& e) {
    throw make_error(env, e.code(), e.what(), e.errnum());
  } catch (const std::bad_alloc&) {
    throw make_error(env, "ERR_NO_MEMORY", "out of memory");
  }
}

// Argument checks for the bindings. lib/ validates first with friendlier messages;
// these keep a wrong call from reaching native code regardless.
uint32_t arg_u32(const Napi::CallbackInfo& info, size_t i, const char* name);
uint64_t arg_u64(const Napi::CallbackInfo& info, size_t i, const char* name);

}  // namespace rdmagate::napi
