#include "napi/rdma_binding.h"

#include <deque>
#include <memory>
#include <mutex>
#include <variant>

#include "napi/addon_data.h"
#include "napi/buffer_pool_binding.h"
#include "napi/batch_channel.h"
#include "napi/errors.h"
#include "rdma/connection.h"
#include "rdma/device.h"
#include "rdma/listener.h"
#include "rdma/loader.h"
#include "rdma/resources.h"

namespace rdmagate::napi {

using rdma::Completion;
using rdma::Connection;
using rdma::ConnectionEvent;
using rdma::Listener;

namespace {

// Queues what the reactor reports and wakes the JS thread once per batch. lib/ gets the
// whole batch in one call and resolves the promises it holds.
class JsEventSink : public rdma::EventSink {
 public:
  struct CompletionBatch { uint64_t connection; std::vector<Completion> completions; };
  struct Event { uint64_t connection; ConnectionEvent event; };
  struct Accepted { uint64_t listener; std::shared_ptr<Connection> connection; };
  using Item = std::variant<CompletionBatch, Event, Accepted>;

  void on_completions(uint64_t id, const std::vector<Completion>& batch) override {
    push(CompletionBatch{id, batch});  // JS takes it later, on its own thread
  }
  void on_connection_event(uint64_t id, ConnectionEvent&& event) override {
    push(Event{id, std::move(event)});
  }
  void on_accepted(uint64_t listener, std::shared_ptr<Connection> connection) override {
    push(Accepted{listener, std::move(connection)});
  }

  BatchChannel<Item> channel;

 private:
  void push(Item item) { channel.push(std::move(item)); }
};

}  // namespace

// One per environment, as the host's (host_binding.cc): each JS thread its own events.
struct RdmaRuntime {
  std::unique_ptr<Reactor> reactor;
  std::shared_ptr<JsEventSink> sink = std::make_shared<JsEventSink>();
  Napi::FunctionReference dispatcher;
};

namespace {

RdmaRuntime& runtime(Napi::Env env) {
  AddonData& data = addon_data(env);
  if (!data.rdma) data.rdma = new RdmaRuntime();
  return *data.rdma;
}

// The reactor that runs connection management and completion polling for the verbs API.
Reactor& verbs_reactor(Napi::Env env) {
  auto& rt = runtime(env);
  if (!rt.reactor) {
    rt.reactor = std::make_unique<Reactor>("rdma-verbs", IdleMode::kEvent);
    rt.reactor->start();
  }
  return *rt.reactor;
}

void require_sink(Napi::Env env) {
  if (!runtime(env).sink->channel.started())
    throw make_error(env, "ERR_INTERNAL", "the RDMA event dispatcher is not installed");
}

rdma::ConnectionOptions connection_options(Napi::Env env, Napi::Value v) {
  rdma::ConnectionOptions o;
  if (!v.IsObject()) return o;
  Napi::Object obj = v.As<Napi::Object>();
  auto u32 = [&](const char* key, uint32_t& out) {
    Napi::Value x = obj.Get(key);
    if (x.IsNumber()) out = x.As<Napi::Number>().Uint32Value();
  };
  u32("sendDepth", o.send_depth);
  u32("receiveDepth", o.recv_depth);
  u32("inlineSize", o.inline_size);
  uint32_t timeout = uint32_t(o.timeout_ms);
  u32("timeoutMs", timeout);
  o.timeout_ms = int(timeout);
  Napi::Value pd = obj.Get("privateData");
  if (pd.IsTypedArray()) {
    auto arr = pd.As<Napi::Uint8Array>();
    if (arr.ByteLength() > 56)
      throw make_error(env, "ERR_INVALID_ARG", "privateData is limited to 56 bytes by rdma_cm");
    o.private_data.assign(arr.Data(), arr.Data() + arr.ByteLength());
  }
  return o;
}

class ConnectionBinding : public Napi::ObjectWrap<ConnectionBinding> {
 public:
  static void init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(
        env, "NativeRdmaConnection",
        {InstanceMethod("post", &ConnectionBinding::post),
         InstanceMethod("remoteKey", &ConnectionBinding::remote_key),
         InstanceMethod("disconnect", &ConnectionBinding::disconnect),
         InstanceMethod("addresses", &ConnectionBinding::addresses),
         InstanceMethod("counters", &ConnectionBinding::counters)});
    addon_data(env).connection_ctor = Napi::Persistent(cls);
  }
  static Napi::Object wrap(Napi::Env env, std::shared_ptr<Connection> c) {
    Napi::Object o = addon_data(env).connection_ctor.New({});
    Unwrap(o)->connection_ = std::move(c);
    return o;
  }
  explicit ConnectionBinding(const Napi::CallbackInfo& info) : ObjectWrap(info) {}

 private:
  Napi::Value post(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t kind = arg_u32(info, 0, "kind");
    if (kind > uint32_t(rdma::OpKind::kRead)) throw make_error(env, "ERR_INVALID_ARG", "bad operation kind");
    uint32_t op_id = arg_u32(info, 1, "opId");
    BufferPool& pool = BufferPoolBinding::unwrap(env, info[2]);
    BufferPool::Chunk* chunk = BufferPoolBinding::chunk_out(env, pool, arg_u32(info, 3, "index"));
    uint32_t offset = arg_u32(info, 4, "offset");
    uint32_t length = arg_u32(info, 5, "length");
    if (uint64_t(offset) + length > pool.options().chunk_size)
      throw make_error(env, "ERR_OUT_OF_RANGE", "offset + length exceed the buffer");
    uint64_t remote = info.Length() > 6 && !info[6].IsUndefined() ? arg_u64(info, 6, "remoteAddress") : 0;
    uint32_t rkey = info.Length() > 7 && !info[7].IsUndefined() ? arg_u32(info, 7, "remoteKey") : 0;
    guarded(env, [&] {
      connection_->post(rdma::OpKind(kind), op_id, pool, chunk, offset, length, remote, rkey);
    });
    return env.Undefined();
  }
  Napi::Value remote_key(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    BufferPool& pool = BufferPoolBinding::unwrap(env, info[0]);
    BufferPool::Chunk* chunk = BufferPoolBinding::chunk_out(env, pool, arg_u32(info, 1, "index"));
    return Napi::Number::New(env, guarded(env, [&] { return connection_->remote_key(pool, chunk); }));
  }
  void disconnect(const Napi::CallbackInfo&) { connection_->disconnect(); }
  Napi::Value addresses(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("local", connection_->local_address());
    o.Set("peer", connection_->peer_address());
    return o;
  }
  Napi::Value counters(const Napi::CallbackInfo& info) {
    const auto& c = connection_->counters();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("bytesSent", double(c.bytes_sent));
    o.Set("bytesReceived", double(c.bytes_received));
    o.Set("bytesWritten", double(c.bytes_written));
    o.Set("bytesRead", double(c.bytes_read));
    o.Set("bytesCopied", 0.0);  // the verbs API never copies: the HCA moves the bytes
    return o;
  }

  std::shared_ptr<Connection> connection_;
};

Napi::Value dispatch_batch(Napi::Env env) {
  auto& rt = runtime(env);
  std::deque<JsEventSink::Item> items = rt.sink->channel.drain();
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (auto& item : items) {
    Napi::Object r = Napi::Object::New(env);
    if (auto* b = std::get_if<JsEventSink::CompletionBatch>(&item)) {
      r.Set("type", "completions");
      r.Set("connection", double(b->connection));
      // Flat [opId, status, byteLen] triples: one array per batch, not an object per op.
      Napi::Array flat = Napi::Array::New(env, b->completions.size() * 3);
      uint32_t i = 0;
      for (auto& c : b->completions) {
        flat.Set(i++, double(c.op_id));
        flat.Set(i++, double(c.status));
        flat.Set(i++, double(c.byte_len));
      }
      r.Set("completions", flat);
    } else if (auto* e = std::get_if<JsEventSink::Event>(&item)) {
      static const char* names[] = {"established", "disconnected", "failed"};
      r.Set("type", names[int(e->event.type)]);
      r.Set("connection", double(e->connection));
      r.Set("status", e->event.status);
      r.Set("message", e->event.message);
      r.Set("privateData", Napi::Buffer<uint8_t>::Copy(env, e->event.private_data.data(),
                                                      e->event.private_data.size()));
      if (e->event.type != ConnectionEvent::Type::kEstablished) rt.sink->channel.hold(env, -1);
    } else if (auto* a = std::get_if<JsEventSink::Accepted>(&item)) {
      r.Set("type", "accepted");
      r.Set("listener", double(a->listener));
      r.Set("connection", double(a->connection->id()));
      r.Set("handle", ConnectionBinding::wrap(env, a->connection));
      rt.sink->channel.hold(env, +1);
    }
    out.Set(n++, r);
  }
  return out;
}

class ListenerBinding : public Napi::ObjectWrap<ListenerBinding> {
 public:
  static void init(Napi::Env env, Napi::Object exports) {
    exports.Set("NativeRdmaListener",
                DefineClass(env, "NativeRdmaListener",
                            {InstanceMethod("close", &ListenerBinding::close),
                             InstanceAccessor("id", &ListenerBinding::id, nullptr),
                             InstanceAccessor("port", &ListenerBinding::port, nullptr)}));
  }
  // new NativeRdmaListener(host, port, backlog, options)
  explicit ListenerBinding(const Napi::CallbackInfo& info) : ObjectWrap(info) {
    Napi::Env env = info.Env();
    std::string host = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    uint32_t port = arg_u32(info, 1, "port");
    if (port > 65535) throw make_error(env, "ERR_INVALID_ARG", "port must be in [0, 65535]");
    uint32_t backlog = arg_u32(info, 2, "backlog");
    require_sink(env);
    listener_ = guarded(env, [&] {
      rdma::require_api();
      return Listener::listen(verbs_reactor(env), runtime(env).sink, rdma::resolve_address(host, uint16_t(port)),
                              int(backlog), connection_options(env, info[3]));
    });
    runtime(env).sink->channel.hold(env, +1);
  }

 private:
  void close(const Napi::CallbackInfo& info) {
    if (closed_) return;
    closed_ = true;
    listener_->close();
    runtime(info.Env()).sink->channel.hold(info.Env(), -1);
  }
  Napi::Value id(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(listener_->id())); }
  Napi::Value port(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), listener_->port()); }

  std::shared_ptr<Listener> listener_;
  bool closed_ = false;
};

// connect(host, port, options) -> { id, handle }
Napi::Value connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string host = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  uint32_t port = arg_u32(info, 1, "port");
  if (host.empty() || port == 0 || port > 65535)
    throw make_error(env, "ERR_INVALID_ARG", "connect needs a host and a port in [1, 65535]");
  require_sink(env);
  auto c = guarded(env, [&] {
    rdma::require_api();
    return Connection::connect(verbs_reactor(env), runtime(env).sink, rdma::resolve_address(host, uint16_t(port)),
                               connection_options(env, info[2]));
  });
  runtime(env).sink->channel.hold(env, +1);
  Napi::Object out = Napi::Object::New(env);
  out.Set("id", double(c->id()));
  out.Set("handle", ConnectionBinding::wrap(env, c));
  return out;
}

Napi::Value available(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", rdma::api() != nullptr);
  o.Set("reason", rdma::unavailable_reason());
  o.Set("libibverbs", rdma::ibverbs_library());
  o.Set("librdmacm", rdma::rdmacm_library());
  return o;
}

Napi::Value devices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto list = guarded(env, [] { return rdma::list_devices(); });
  Napi::Array out = Napi::Array::New(env, list.size());
  for (uint32_t i = 0; i < list.size(); ++i) {
    const auto& d = list[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", d.name);
    o.Set("guid", d.guid);
    o.Set("transport", d.transport);
    Napi::Object limits = Napi::Object::New(env);
    limits.Set("maxQp", d.max_qp);
    limits.Set("maxQpWr", d.max_qp_wr);
    limits.Set("maxCq", d.max_cq);
    limits.Set("maxCqe", d.max_cqe);
    limits.Set("maxMr", d.max_mr);
    limits.Set("maxMrSize", double(d.max_mr_size));
    limits.Set("maxPd", d.max_pd);
    limits.Set("maxSge", d.max_sge);
    limits.Set("maxSrq", d.max_srq);
    o.Set("limits", limits);
    Napi::Array ports = Napi::Array::New(env, d.ports.size());
    for (uint32_t p = 0; p < d.ports.size(); ++p) {
      const auto& pi = d.ports[p];
      Napi::Object po = Napi::Object::New(env);
      po.Set("number", pi.number);
      po.Set("state", pi.state);
      po.Set("linkLayer", pi.link_layer);
      po.Set("activeMtu", pi.active_mtu);
      po.Set("lid", pi.lid);
      Napi::Array gids = Napi::Array::New(env, pi.gids.size());
      for (uint32_t g = 0; g < pi.gids.size(); ++g) gids.Set(g, pi.gids[g]);
      po.Set("gids", gids);
      ports.Set(p, po);
    }
    o.Set("ports", ports);
    out.Set(i, o);
  }
  return out;
}

Napi::Value resources(const Napi::CallbackInfo& info) {
  auto& r = rdma::resources();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("qps", double(r.qps));
  o.Set("cqs", double(r.cqs));
  o.Set("mrs", double(r.mrs));
  o.Set("pds", double(r.pds));
  o.Set("srqs", double(r.srqs));
  o.Set("cmIds", double(r.cm_ids));
  o.Set("eventChannels", double(r.channels));
  return o;
}

// setEventDispatcher(fn): fn(records[]) is called once per batch on the JS thread.
void set_event_dispatcher(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction()) throw make_error(env, "ERR_INVALID_ARG", "dispatcher must be a function");
  RdmaRuntime* rt = &runtime(env);
  if (rt->sink->channel.started()) return;
  rt->dispatcher = Napi::Persistent(info[0].As<Napi::Function>());
  Napi::Function trampoline = Napi::Function::New(env, [](const Napi::CallbackInfo& ci) {
    Napi::Env e = ci.Env();
    Napi::Value batch = dispatch_batch(e);
    runtime(e).dispatcher.Call({batch});
    return e.Undefined();
  });
  rt->sink->channel.start(env, trampoline, "rdmagate-rdma-events");
  env.AddCleanupHook([rt] {
    if (rt->reactor) rt->reactor->stop();
    rt->sink->channel.shutdown();
    rt->dispatcher.Reset();
  });
}

}  // namespace

void init_rdma(Napi::Env env, Napi::Object exports) {
  ConnectionBinding::init(env, exports);
  ListenerBinding::init(env, exports);
  exports.Set("rdmaAvailable", Napi::Function::New(env, available));
  exports.Set("rdmaDevices", Napi::Function::New(env, devices));
  exports.Set("rdmaResources", Napi::Function::New(env, resources));
  exports.Set("rdmaConnect", Napi::Function::New(env, connect));
  exports.Set("setRdmaEventDispatcher", Napi::Function::New(env, set_event_dispatcher));
}

}  // namespace rdmagate::napi
