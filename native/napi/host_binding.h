// N-API bindings of the NVMe-oF host (native/host): NativeNvmeController, discovery,
// and the batch channel that brings controller events and I/O completions to JS.
#pragma once

#include <napi.h>

namespace rdmagate::napi {

void init_host(Napi::Env env, Napi::Object exports);

}  // namespace rdmagate::napi
