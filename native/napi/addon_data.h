// Per-environment state of the addon: the constructors that unwrap() checks against.
#pragma once

#include <napi.h>

namespace rdmagate::napi {

struct AddonData {
  Napi::FunctionReference pool_ctor;
  Napi::FunctionReference connection_ctor;
};

inline AddonData& addon_data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace rdmagate::napi
