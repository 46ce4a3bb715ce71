// Bindings for the NVMe-oF target: subsystems, namespaces, bdevs, listeners, controllers.
#pragma once

#include <napi.h>

namespace rdmagate::napi {

void init_target(Napi::Env env, Napi::Object exports);

}  // namespace rdmagate::napi
