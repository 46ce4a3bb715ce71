// JS handle of a native BufferPool. Each acquired chunk is an external ArrayBuffer;
// release detaches it (so a stale view reads nothing) and a GC'd chunk is returned by
// its finalizer.
#pragma once

#include <napi.h>

#include <memory>
#include <vector>

#include "mem/buffer_pool.h"

namespace rdmagate::napi {

class BufferPoolBinding : public Napi::ObjectWrap<BufferPoolBinding> {
 public:
  static void init(Napi::Env env, Napi::Object exports);
  explicit BufferPoolBinding(const Napi::CallbackInfo& info);
  // Throws a typed error if `value` is not a live pool handle.
  static BufferPool& unwrap(Napi::Env env, Napi::Value value);
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

  std::shared_ptr<State> state_;
};

}  // namespace rdmagate::napi
