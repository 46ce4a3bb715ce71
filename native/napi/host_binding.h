// N-API bindings of the NVMe-oF host (native/host): NativeNvmeController, discovery,
// and the batch channel that brings controller events and I/O completions to JS.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>

#include "host/controller.h"
#include "host/options.h"

namespace rdmagate::napi {

void init_host(Napi::Env env, Napi::Object exports);
// The words of one I/O submission entry (lib/nvmf/host/submission-batch.ts writes them).
uint32_t submission_words();
// The controller options lib/nvmf/host/options.ts builds, checked (ERR_INVALID_ARG).
host::ControllerOptions parse_host_options(Napi::Env env, Napi::Value value);
// A controller's counters as lib/native/host.ts's HostCounters.
Napi::Object host_counters_object(Napi::Env env, const host::ControllerCounters& c);

// nvmeConnect for a binding that takes a controller's events natively (the perf engine):
// `wrap` gets the JS event sink and returns the events the controller is created with,
// which must pass on what they do not consume. `js` is nvmeConnect's { id, handle }.
struct ConnectedController {
  Napi::Object js;
  std::shared_ptr<host::Controller> controller;
};
using WrapEvents =
    std::function<std::shared_ptr<host::ControllerEvents>(std::shared_ptr<host::ControllerEvents>)>;
ConnectedController connect_controller(Napi::Env env, Napi::Value options, const WrapEvents& wrap);

}  // namespace rdmagate::napi
