// The addon's entry point: registers the bindings of each layer.
#include <napi.h>

#include "napi/addon_data.h"
#include "napi/buffer_pool_binding.h"
#include "napi/errors.h"
#include "napi/host_binding.h"
#include "napi/perf_binding.h"
#include "napi/rdma_binding.h"
#include "napi/target_binding.h"
#include "host/failure.h"
#include "perf/latency_histogram.h"
#include "target/namespace_counters.h"
#include "util/fatal_signal.h"

namespace rdmagate::napi {

namespace {

// Layouts and values that lib/ keeps too (lib/native/layout.ts): lib/native compares them
// at load, so that a stale build fails there, by name, rather than misreading memory.
Napi::Object layout(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("submissionWords", submission_words());
  o.Set("hostStatusTimeout", uint32_t(host::kStatusTimeout));
  o.Set("hostStatusDisconnected", uint32_t(host::kStatusDisconnected));
  o.Set("hostStatusTransport", uint32_t(host::kStatusTransport));
  o.Set("hostStatusAuth", uint32_t(host::kStatusAuth));
  o.Set("histogramSubBits", perf::LatencyHistogram::kSubBits);
  o.Set("histogramBuckets", perf::LatencyHistogram::kBuckets);
  o.Set("targetLatencyBuckets", uint32_t(target::kLatencyBuckets));
  return o;
}

}  // namespace

Napi::Object init(Napi::Env env, Napi::Object exports) {
  util::report_fatal_signals();
  env.SetInstanceData(new AddonData());
  exports.Set("setErrorFactory", Napi::Function::New(env, set_error_factory));
  exports.Set("layout", layout(env));
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
