// Bindings for the typed RDMA verbs API: devices, resources, connections, listeners.
#pragma once

#include <napi.h>

namespace rdmagate::napi {

void init_rdma(Napi::Env env, Napi::Object exports);

}  // namespace rdmagate::napi
