// The addon's entry point: registers the bindings of each layer.
#include <napi.h>

#include "napi/addon_data.h"
#include "napi/buffer_pool_binding.h"
#include "napi/errors.h"
#include "napi/host_binding.h"
#include "napi/perf_binding.h"
#include "napi/rdma_binding.h"
#include "napi/target_binding.h"
#include "util/fatal_signal.h"

namespace rdmagate::napi {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  util::report_fatal_signals();
  env.SetInstanceData(new AddonData());
  exports.Set("setErrorFactory", Napi::Function::New(env, set_error_factory));
  BufferPoolBinding::init(env, exports);
  init_rdma(env, exports);
  init_target(env, exports);
  init_host(env, exports);
  init_perf(env, exports);
  return exports;
}

}  // namespace rdmagate::napi

static Napi::Object init_addon(Napi::Env env, Napi::Object exports) {
  return rdmagate::napi::init(env, exports);
}

NODE_API_MODULE(rdmagate, init_addon)
