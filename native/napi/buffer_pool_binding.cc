#include "napi/buffer_pool_binding.h"

#include "napi/addon_data.h"
#include "napi/errors.h"

namespace rdmagate::napi {

struct BufferPoolBinding::State {
  std::shared_ptr<BufferPool> pool;
  std::vector<struct Lease*> leases;  // by chunk index: the lease of a chunk that is out
};

struct Lease {
  std::shared_ptr<BufferPoolBinding::State> state;
  uint32_t index;
  bool returned = false;
};

namespace {

void finalize_lease(Napi::Env, void*, Lease* lease) {
  if (!lease->returned) {
    // Collected without release(): the chunk goes back. In-flight I/O holds a reference
    // to its buffer, so nothing can be in flight here.
    auto& st = *lease->state;
    if (!st.pool->destroyed()) {
      if (auto* c = st.pool->chunk(lease->index)) {
        try {
          st.pool->release(c);
        } catch (const Error&) {
        }
      }
    }
    st.leases[lease->index] = nullptr;
  }
  delete lease;
}

BufferPoolOptions::Hugepages hugepage_mode(const std::string& s) {
  if (s == "require") return BufferPoolOptions::Hugepages::kRequire;
  if (s == "never") return BufferPoolOptions::Hugepages::kNever;
  return BufferPoolOptions::Hugepages::kAuto;
}

}  // namespace

void BufferPoolBinding::init(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, "NativeBufferPool",
                                   {InstanceMethod("acquire", &BufferPoolBinding::acquire),
                                    InstanceMethod("release", &BufferPoolBinding::release),
                                    InstanceMethod("stats", &BufferPoolBinding::stats),
                                    InstanceMethod("destroy", &BufferPoolBinding::destroy),
                                    InstanceMethod("address", &BufferPoolBinding::address),
                                    InstanceMethod("inflight", &BufferPoolBinding::inflight),
                                    InstanceAccessor("id", &BufferPoolBinding::id, nullptr)});
  exports.Set("NativeBufferPool", cls);
  addon_data(env).pool_ctor = Napi::Persistent(cls);
}

BufferPoolBinding::BufferPoolBinding(const Napi::CallbackInfo& info)
    : ObjectWrap(info), registry_(addon_data(info.Env()).pools), id_(registry_->next_id++) {
  Napi::Env env = info.Env();
  BufferPoolOptions o;
  o.chunk_size = arg_u32(info, 0, "chunkSize");
  o.region_size = arg_u32(info, 1, "regionSize");
  o.capacity = size_t(info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : 0);
  o.hugepages = hugepage_mode(info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "auto");
  state_ = std::make_shared<State>();
  state_->pool = guarded(env, [&] { return BufferPool::create(o); });
  registry_->by_id[id_] = this;
}

BufferPoolBinding::~BufferPoolBinding() { registry_->by_id.erase(id_); }

Napi::Value BufferPoolBinding::id(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), id_); }

BufferPool& BufferPoolBinding::live(Napi::Env env, State& st) {
  if (st.pool->destroyed()) throw make_error(env, "ERR_POOL_DESTROYED", "the buffer pool has been destroyed");
  return *st.pool;
}

BufferPool& BufferPoolBinding::by_id(Napi::Env env, uint32_t id) {
  auto& pools = addon_data(env).pools->by_id;
  auto it = pools.find(id);
  if (it == pools.end()) throw make_error(env, "ERR_INVALID_ARG", "no buffer pool has id " + std::to_string(id));
  return live(env, *it->second->state_);
}

BufferPool& BufferPoolBinding::unwrap(Napi::Env env, Napi::Value value) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(addon_data(env).pool_ctor.Value()))
    throw make_error(env, "ERR_INVALID_ARG", "not a buffer pool");
  return live(env, *Unwrap(value.As<Napi::Object>())->state_);
}

BufferPool::Chunk* BufferPoolBinding::chunk_out(Napi::Env env, BufferPool& pool, uint32_t index) {
  BufferPool::Chunk* c = pool.chunk(index);
  if (!c || !c->out) throw make_error(env, "ERR_BUFFER_RELEASED", "the buffer has been released");
  return c;
}

Napi::Value BufferPoolBinding::acquire(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BufferPool::Chunk* c = guarded(env, [&] { return state_->pool->acquire(); });
  if (!c) return env.Null();
  if (state_->leases.size() <= c->index) state_->leases.resize(c->index + 1, nullptr);
  auto* lease = new Lease{state_, c->index};
  state_->leases[c->index] = lease;
  Napi::ArrayBuffer ab =
      Napi::ArrayBuffer::New(env, c->data, state_->pool->options().chunk_size, finalize_lease, lease);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, c->index));
  out.Set(1u, ab);
  return out;
}

void BufferPoolBinding::release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t index = arg_u32(info, 0, "index");
  if (!info[1].IsArrayBuffer()) throw make_error(env, "ERR_INVALID_ARG", "arrayBuffer required");
  BufferPool::Chunk* c = chunk_out(env, *state_->pool, index);
  Napi::ArrayBuffer ab = info[1].As<Napi::ArrayBuffer>();
  if (ab.Data() != c->data) throw make_error(env, "ERR_INVALID_ARG", "the ArrayBuffer is not this chunk's");
  guarded(env, [&] { state_->pool->release(c); });
  if (Lease* lease = state_->leases[index]) {
    lease->returned = true;
    state_->leases[index] = nullptr;
  }
  ab.Detach();
}

Napi::Value BufferPoolBinding::stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BufferPoolStats s = state_->pool->stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("chunkSize", double(s.chunk_size));
  o.Set("capacity", double(s.capacity));
  o.Set("mappedBytes", double(s.mapped_bytes));
  o.Set("allocatedBytes", double(s.allocated_bytes));
  o.Set("freeBytes", double(s.free_bytes));
  o.Set("registeredBytes", double(s.registered_bytes));
  o.Set("regions", double(s.regions));
  o.Set("hugepageRegions", double(s.hugepage_regions));
  o.Set("registrations", double(s.registrations));
  return o;
}

void BufferPoolBinding::destroy(const Napi::CallbackInfo& info) {
  guarded(info.Env(), [&] { state_->pool->destroy(); });
}

Napi::Value BufferPoolBinding::address(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BufferPool::Chunk* c = chunk_out(env, *state_->pool, arg_u32(info, 0, "index"));
  return Napi::BigInt::New(env, uint64_t(reinterpret_cast<uintptr_t>(c->data)));
}

Napi::Value BufferPoolBinding::inflight(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BufferPool::Chunk* c = chunk_out(env, *state_->pool, arg_u32(info, 0, "index"));
  return Napi::Number::New(env, c->inflight.load());
}

}  // namespace rdmagate::napi
