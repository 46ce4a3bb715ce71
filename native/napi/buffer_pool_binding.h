// JS handle of a native BufferPool. Each acquired chunk is an external ArrayBuffer;
// release detaches it (so a stale view reads nothing) and a GC'd chunk is returned by
// its finalizer.
#pragma once

#include <napi.h>

#include <memory>
#include <vector>

#include "mem/buffer_pool.h"

namespace rdmagate::napi {

struct PoolRegistry;

class BufferPoolBinding : public Napi::ObjectWrap<BufferPoolBinding> {
 public:
  static void init(Napi::Env env, Napi::Object exports);
  explicit BufferPoolBinding(const Napi::CallbackInfo& info);
  ~BufferPoolBinding() override;
  // Throws a typed error if `value` is not a live pool handle.
  static BufferPool& unwrap(Napi::Env env, Napi::Value value);
  // The pool whose `id` property is `id`; throws a typed error if none is, or it is destroyed.
  static BufferPool& by_id(Napi::Env env, uint32_t id);
  // The chunk `index` of `pool`, which must be out (acquired and not released).
  static BufferPool::Chunk* chunk_out(Napi::Env env, BufferPool& pool, uint32_t index);

  struct State;

 private:
  Napi::Value acquire(const Napi::CallbackInfo& info);
  void release(const Napi::CallbackInfo& info);
  Napi::Value stats(const Napi::CallbackInfo& info);
  void destroy(const Napi::CallbackInfo& info);
  Napi::Value address(const Napi::CallbackInfo& info);
  Napi::Value inflight(const Napi::CallbackInfo& info);
  Napi::Value id(const Napi::CallbackInfo& info);
  static BufferPool& live(Napi::Env env, State& state);

  std::shared_ptr<State> state_;
  std::shared_ptr<PoolRegistry> registry_;
  uint32_t id_;
};

}  // namespace rdmagate::napi
