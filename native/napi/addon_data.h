// Per-environment state of the addon: the constructors that unwrap() checks against,
// and the live buffer pools by id (I/O submitted in batches names its pool by number).
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <unordered_map>

namespace rdmagate::napi {

class BufferPoolBinding;

// Shared with every pool, so that it outlives them all whatever order teardown takes.
struct PoolRegistry {
  std::unordered_map<uint32_t, BufferPoolBinding*> by_id;
  uint32_t next_id = 1;
};

struct AddonData {
  Napi::FunctionReference pool_ctor;
  Napi::FunctionReference connection_ctor;
  std::shared_ptr<PoolRegistry> pools = std::make_shared<PoolRegistry>();
};

inline AddonData& addon_data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace rdmagate::napi
