// Per-environment state of the addon (the main thread and each worker have their own):
// the constructors that unwrap() checks against, the error factory, the live buffer pools
// by id (I/O submitted in batches names its pool by number) and the event runtimes.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <unordered_map>

namespace rdmagate::napi {

class BufferPoolBinding;
struct HostRuntime;
struct RdmaRuntime;

// Shared with every pool, so that it outlives them all whatever order teardown takes.
struct PoolRegistry {
  std::unordered_map<uint32_t, BufferPoolBinding*> by_id;
  uint32_t next_id = 1;
};

struct AddonData {
  Napi::FunctionReference error_factory;  // lib/errors.ts's, so errors are typed per environment
  Napi::FunctionReference pool_ctor;
  Napi::FunctionReference connection_ctor;
  std::shared_ptr<PoolRegistry> pools = std::make_shared<PoolRegistry>();
  // The host's and the verbs API's reactors and event channels, made on first use. Left
  // behind at teardown on purpose: objects finalized after it still reach their reactors.
  HostRuntime* host = nullptr;
  RdmaRuntime* rdma = nullptr;
};

inline AddonData& addon_data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace rdmagate::napi
