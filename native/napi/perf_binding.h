// N-API binding of the perf engine (native/perf): perfConnect(options) connects a host
// controller as nvmeConnect does, but with the engine between the controller and the JS
// sink, and adds `engine` to nvmeConnect's { id, handle }:
//   engine.run(config) -> { done: Promise<result>, progress(): { ios, bytes }, stop() }
#pragma once

#include <napi.h>

namespace rdmagate::napi {

void init_perf(Napi::Env env, Napi::Object exports);

}  // namespace rdmagate::napi
