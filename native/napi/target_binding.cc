#include "napi/target_binding.h"

#include <algorithm>

#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <system_error>
#include <thread>

#include "bdev/bdev_registry.h"
#include "bdev/file_bdev.h"
#include "bdev/nvme_backends.h"
#include "napi/host_binding.h"
#include "napi/dhchap_keys.h"
#include "napi/tls_psk.h"
#include "napi/errors.h"
#include "target/qpair.h"
#include "target/target.h"

namespace rdmagate::napi {

namespace {

std::string str(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsString()) throw make_error(info.Env(), "ERR_INVALID_ARG", std::string(name) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

void id16(const Napi::CallbackInfo& info, size_t i, const char* name, uint8_t out[16]) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::Uint8Array>().ByteLength() != 16)
    throw make_error(info.Env(), "ERR_INVALID_ARG", std::string(name) + " must be 16 bytes");
  memcpy(out, info[i].As<Napi::Uint8Array>().Data(), 16);
}

Napi::Buffer<uint8_t> bytes(Napi::Env env, const uint8_t* p, size_t n) { return Napi::Buffer<uint8_t>::Copy(env, p, n); }

// latencyUsSum and latencyBuckets, as lib/nvmf/target/types.ts names them.
void set_latency(Napi::Env env, Napi::Object& o, uint64_t sum_us, const util::Counter (&buckets)[target::kLatencyBuckets]) {
  o.Set("latencyUsSum", double(sum_us));
  Napi::Array hist = Napi::Array::New(env, target::kLatencyBuckets);
  for (uint32_t b = 0; b < target::kLatencyBuckets; ++b) hist.Set(b, double(buckets[b]));
  o.Set("latencyBuckets", hist);
}

class TargetBinding : public Napi::ObjectWrap<TargetBinding> {
 public:
  static void init(Napi::Env env, Napi::Object exports) {
    exports.Set("NativeTarget",
                DefineClass(env, "NativeTarget",
                            {InstanceMethod("createBdev", &TargetBinding::create_bdev),
                             InstanceMethod("createFileBdev", &TargetBinding::create_file_bdev),
                             InstanceMethod("deleteBdev", &TargetBinding::delete_bdev),
                             InstanceMethod("resizeBdev", &TargetBinding::resize_bdev),
                             InstanceMethod("attachNvmeController", &TargetBinding::attach_nvme_controller),
                             InstanceMethod("detachNvmeController", &TargetBinding::detach_nvme_controller),
                             InstanceMethod("nvmeControllers", &TargetBinding::nvme_controllers),
                             InstanceMethod("resetNvmeController", &TargetBinding::reset_nvme_controller),
                             InstanceMethod("addNvmeControllerPath", &TargetBinding::add_nvme_controller_path),
                             InstanceMethod("removeNvmeControllerPath", &TargetBinding::remove_nvme_controller_path),
                             InstanceMethod("setNvmeControllerKeys", &TargetBinding::set_nvme_controller_keys),
                             InstanceMethod("setMultipathPolicy", &TargetBinding::set_multipath_policy),
                             InstanceMethod("bdevs", &TargetBinding::bdevs),
                             InstanceMethod("addSubsystem", &TargetBinding::add_subsystem),
                             InstanceMethod("removeSubsystem", &TargetBinding::remove_subsystem),
                             InstanceMethod("addNamespace", &TargetBinding::add_namespace),
                             InstanceMethod("removeNamespace", &TargetBinding::remove_namespace),
                             InstanceMethod("setAllowAnyHost", &TargetBinding::set_allow_any_host),
                             InstanceMethod("addHost", &TargetBinding::add_host),
                             InstanceMethod("removeHost", &TargetBinding::remove_host),
                             InstanceMethod("setHostKeys", &TargetBinding::set_host_keys),
                             InstanceMethod("setDhchapConfig", &TargetBinding::set_dhchap_config),
                             InstanceMethod("subsystems", &TargetBinding::subsystems),
                             InstanceMethod("subsystemAddListener", &TargetBinding::subsystem_add_listener),
                             InstanceMethod("subsystemRemoveListener", &TargetBinding::subsystem_remove_listener),
                             InstanceMethod("setAllowAnyListener", &TargetBinding::set_allow_any_listener),
                             InstanceMethod("setListenerAnaState", &TargetBinding::set_listener_ana_state),
                             InstanceMethod("setNamespaceAnaGroup", &TargetBinding::set_namespace_ana_group),
                             InstanceMethod("listen", &TargetBinding::listen),
                             InstanceMethod("removeListener", &TargetBinding::remove_listener),
                             InstanceMethod("listeners", &TargetBinding::listeners),
                             InstanceMethod("controllers", &TargetBinding::controllers),
                             InstanceMethod("qpairs", &TargetBinding::qpairs),
                             InstanceMethod("namespaceStats", &TargetBinding::namespace_stats),
                             InstanceMethod("close", &TargetBinding::close),
                             InstanceMethod("closeAsync", &TargetBinding::close_async)}));
  }

  // new NativeTarget({ reactors, pollMode, maxIoSize, inCapsuleDataSize, maxQueueDepth, maxIoQueues,
  //                   bufferPoolBytes, maxConnectionsPerListener, maxConnectionsPerAddress,
  //                   deadlines: { icReqMs, connectMs, pduMs, dataMs } })
  explicit TargetBinding(const Napi::CallbackInfo& info) : ObjectWrap(info) {
    Napi::Env env = info.Env();
    target::TargetOptions o;
    if (info[0].IsObject()) {
      Napi::Object obj = info[0].As<Napi::Object>();
      auto u32 = [&](const char* k, auto& out) {
        if (obj.Get(k).IsNumber()) out = decltype(+out)(obj.Get(k).As<Napi::Number>().Uint32Value());
      };
      u32("reactors", o.reactors);
      u32("maxIoSize", o.max_io_size);
      u32("inCapsuleDataSize", o.in_capsule_data_size);
      u32("maxQueueDepth", o.max_queue_depth);
      u32("maxIoQueues", o.max_io_queues);
      u32("maxConnectionsPerListener", o.max_connections_per_listener);
      u32("maxConnectionsPerAddress", o.max_connections_per_address);
      if (obj.Get("deadlines").IsObject()) {
        Napi::Object d = obj.Get("deadlines").As<Napi::Object>();
        auto ms = [&](const char* k, uint32_t& out) {
          if (d.Get(k).IsNumber()) out = d.Get(k).As<Napi::Number>().Uint32Value();
        };
        ms("icReqMs", o.deadlines.ic_req_ms);
        ms("connectMs", o.deadlines.connect_ms);
        ms("pduMs", o.deadlines.pdu_ms);
        ms("dataMs", o.deadlines.data_ms);
      }
      if (obj.Get("bufferPoolBytes").IsNumber())
        o.buffer_pool_bytes = uint64_t(obj.Get("bufferPoolBytes").As<Napi::Number>().DoubleValue());
      if (obj.Get("pollMode").IsBoolean() && obj.Get("pollMode").As<Napi::Boolean>().Value())
        o.idle_mode = IdleMode::kBusyPoll;
    }
    target_ = guarded(env, [&] { return std::make_unique<target::Target>(o); });
  }
  ~TargetBinding() override { shutdown(); }

 private:
  // Settles a pending promise on the JS thread, with an error `code` unless it is empty;
  // called with a null env when the environment is going away (nothing to settle).
  using Finish = std::function<void(Napi::Env, Napi::Promise::Deferred&, const std::string& code, const std::string& message)>;

  target::Target& t(Napi::Env env) {
    if (!target_) throw make_error(env, "ERR_CLOSED", "the target is closed");
    return *target_;
  }

  // createBdev(type, name, blocks, blockSize) for malloc and null; createFileBdev(name, path,
  // blockSize, direct) for files and block devices. Both return { numBlocks, blockSize }.
  Napi::Value create_bdev(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string type = str(info, 0, "type"), name = str(info, 1, "name");
    double blocks = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : -1;
    uint32_t bs = arg_u32(info, 3, "blockSize");
    if (!(blocks >= 1 && blocks <= 9007199254740991.0)) throw make_error(env, "ERR_INVALID_ARG", "blocks must be a positive integer");
    t(env);
    return add_bdev(env, [&]() -> std::shared_ptr<bdev::Bdev> {
      if (type == "malloc") return bdev::make_malloc_bdev(name, uint64_t(blocks), bs);
      if (type == "null") return bdev::make_null_bdev(name, uint64_t(blocks), bs);
      throw Error("ERR_INVALID_ARG", "unknown bdev type '" + type + "'");
    });
  }
  Napi::Value create_file_bdev(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = str(info, 0, "name"), path = str(info, 1, "path");
    uint32_t bs = arg_u32(info, 2, "blockSize");
    bool direct = info[3].ToBoolean().Value();
    t(env);
    return add_bdev(env, [&] { return bdev::make_file_bdev(name, path, bs, direct); });
  }
  template <typename Make>
  Napi::Value add_bdev(Napi::Env env, Make make) {
    auto b = guarded(env, [&] {
      auto made = make();
      bdevs_.add(made);
      return made;
    });
    return bdev_object(env, *b);
  }
  static Napi::Object bdev_object(Napi::Env env, const bdev::Bdev& b) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", b.name());
    o.Set("blockSize", b.block_size());
    o.Set("numBlocks", double(b.num_blocks()));
    if (auto* n = dynamic_cast<const bdev::NvmfBdev*>(&b)) {
      o.Set("nvmeController", n->controller());
      o.Set("nsid", n->remote().nsid);
      o.Set("nguid", bytes(env, n->remote().nguid, 16));
      o.Set("uuid", bytes(env, n->remote().uuid, 16));
      bdev::MultipathPolicy mp = n->policy();
      Napi::Object m = Napi::Object::New(env);
      m.Set("paths", double(n->path_count()));
      m.Set("policy", mp.policy == bdev::MultipathPolicy::Policy::kActiveActive ? "active_active" : "active_passive");
      m.Set("selector", mp.selector == bdev::MultipathPolicy::Selector::kQueueDepth ? "queue_depth" : "round_robin");
      m.Set("rrMinIo", mp.rr_min_io);
      o.Set("multipath", m);
    }
    if (auto f = bdev::file_bdev_info(b)) {
      o.Set("engine", f->engine);
      o.Set("direct", f->direct);
    }
    return o;
  }
  // attachNvmeController(name, hostOptions, timeoutMs, multipath) -> Promise<bdev info[]>:
  // the remote controller's namespaces become bdevs "<name>n<nsid>". With `multipath`,
  // controller `name` is attached already and this is another controller of its subsystem
  // (SPDK's multipath mode "multipath"): its namespaces become further paths of those bdevs.
  // The attach waits for the connection and the Identify commands, up to `timeoutMs`, on the
  // target's reactor (NvmfBackend::attach), blocking no thread; its end comes back here.
  Napi::Value attach_nvme_controller(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = str(info, 0, "name");
    host::ControllerOptions o = parse_host_options(env, info[1]);
    o.lend_pool = t(env).shared_pool();  // frontend I/O is forwarded in the target's own buffers
    uint32_t timeout = arg_u32(info, 2, "timeoutMs");
    bool multipath = info[3].ToBoolean().Value();
    std::vector<Reactor*> reactors;
    for (size_t i = 0; i < t(env).reactor_count(); ++i) reactors.push_back(&t(env).reactor(i));
    auto backend = guarded(env, [&] { return backends_.start_attach(name, o, reactors, multipath); });
    auto found = std::make_shared<std::vector<bdev::RemoteNamespace>>();
    std::shared_ptr<Pending> pending;
    try {
      pending = Pending::create(env, this, attach_finish(name, backend, found));
    } catch (...) {
      backends_.drop(name, *backend);
      throw;
    }
    backend->attach(timeout, [pending, found](std::vector<bdev::RemoteNamespace> namespaces, const std::string& code,
                                              const std::string& message) {
      *found = std::move(namespaces);
      pending->settle(code, message);
    });
    return pending->promise();
  }

  // JS thread: the attach of `backend` (controller `name`) ended: with `found`, its
  // namespaces become bdevs; with an error code, it goes.
  Finish attach_finish(const std::string& name, std::shared_ptr<bdev::NvmfBackend> backend,
                       std::shared_ptr<std::vector<bdev::RemoteNamespace>> found) {
    return [this, name, backend, found](Napi::Env env, Napi::Promise::Deferred& deferred, const std::string& code,
                                        const std::string& message) {
      if (static_cast<napi_env>(env) == nullptr) return backend->close();  // the environment is going away
      if (!code.empty()) {
        backends_.drop(name, *backend);
        return deferred.Reject(make_error(env, code, message).Value());
      }
      try {
        auto bdevs = backends_.finish_attach(name, backend, *found);
        Napi::Array out = Napi::Array::New(env, bdevs.size());
        for (uint32_t i = 0; i < bdevs.size(); ++i) out.Set(i, bdev_object(env, *bdevs[i]));
        deferred.Resolve(out);
      } catch (const Error& e) {
        deferred.Reject(make_error(env, e.code(), e.what()).Value());
      }
    };
  }

  // Any thread: the registry's resize, then the hosts of the bdev's namespaces are told.
  bool resize(const std::string& name, std::optional<uint64_t> num_blocks) {
    auto resized = bdevs_.resize(name, num_blocks);
    if (resized && target_) target_->bdev_resized(*resized);
    return resized != nullptr;
  }

  // detachNvmeController(name[, traddr, trsvcid]): its bdevs go (ERR_BUSY while a namespace
  // uses one). With a path, of a backend with several controllers: only the controller with
  // that path goes, and its bdevs keep their other paths (those it alone reaches go with it).
  void detach_nvme_controller(const Napi::CallbackInfo& info) {
    std::string name = str(info, 0, "name");
    std::optional<host::TransportAddress> at;
    if (!info[1].IsUndefined()) at = address_arg(info);
    guarded(info.Env(), [&] { backends_.detach(name, at); });
  }

  // setMultipathPolicy(bdev, policy, selector, rrMinIo): SPDK's bdev_nvme_set_multipath_policy.
  void set_multipath_policy(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = str(info, 0, "name");
    auto b = std::dynamic_pointer_cast<bdev::NvmfBdev>(bdevs_.find(name));
    if (!b) throw make_error(env, "ERR_NOT_FOUND", "no NVMe bdev named " + name);
    std::string policy = str(info, 1, "policy"), selector = str(info, 2, "selector");
    bdev::MultipathPolicy mp;
    if (policy == "active_active") mp.policy = bdev::MultipathPolicy::Policy::kActiveActive;
    else if (policy != "active_passive") throw make_error(env, "ERR_INVALID_ARG", "policy must be active_passive or active_active");
    if (selector == "queue_depth") mp.selector = bdev::MultipathPolicy::Selector::kQueueDepth;
    else if (selector != "round_robin") throw make_error(env, "ERR_INVALID_ARG", "selector must be round_robin or queue_depth");
    mp.rr_min_io = arg_u32(info, 3, "rrMinIo");
    guarded(env, [&] { b->set_policy(mp); });
  }

  // setNvmeControllerKeys(name, keys, timeoutMs) -> Promise: the backend re-authenticates
  // every queue with `keys` (SPDK's bdev_nvme_set_keys), each of its controllers, waited for
  // on a thread of its own (off_thread, below).
  Napi::Value set_nvme_controller_keys(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auth::DhchapKeys keys = parse_dhchap_keys(env, info[1]);
    uint32_t timeout = arg_u32(info, 2, "timeoutMs");
    bdev::NvmeBackends::Members members = members_named(info);
    return off_thread(env, [members, keys, timeout] {
      for (auto& m : members) m->authenticate(keys.host, keys.ctrlr, timeout);
    });
  }

  // A promise settled from any thread, once, through a thread-safe function that keeps the
  // event loop alive meanwhile as the promise's pending I/O. Dropped unsettled (its work
  // never ran: the reactors stopped), it settles with ERR_CLOSED.
  class Pending {
   public:
    static std::shared_ptr<Pending> create(Napi::Env env, TargetBinding* owner, Finish finish) {
      std::shared_ptr<Pending> p(new Pending(env, owner, std::move(finish)));
      owner->Ref();  // the binding stays while a call may still report to it
      return p;
    }
    ~Pending() {
      if (call_) settle("ERR_CLOSED", "the target closed first");
    }
    Napi::Promise promise() const { return promise_; }
    void settle(const std::string& code, const std::string& message) {
      Call* call = call_;
      if (!call) return;
      call_ = nullptr;
      call->code = code;
      call->message = message;
      auto report = [](Napi::Env env, Napi::Function, Call* c) {
        c->finish(env, c->deferred, c->code, c->message);
        if (static_cast<napi_env>(env) != nullptr) c->owner->Unref();
        delete c;
      };
      // napi_closing: the environment is going away; finish hears of it with no env.
      if (tsfn_.BlockingCall(call, report) != napi_ok) {
        call->finish(Napi::Env(nullptr), call->deferred, call->code, call->message);
        delete call;
      }
      tsfn_.Release();
    }

   private:
    struct Call {
      Napi::Promise::Deferred deferred;
      TargetBinding* owner;
      Finish finish;
      std::string code, message;
    };
    Pending(Napi::Env env, TargetBinding* owner, Finish finish)
        : call_(new Call{Napi::Promise::Deferred::New(env), owner, std::move(finish), {}, {}}),
          promise_(call_->deferred.Promise()),
          tsfn_(Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "rdmagate-backend", 0, 1)) {}
    Call* call_;
    Napi::Promise promise_;
    Napi::ThreadSafeFunction tsfn_;
  };

  // Without `finish`, a promise resolves, or rejects with the typed error for a native Error.
  static Finish settle_plainly() {
    return [](Napi::Env env, Napi::Promise::Deferred& d, const std::string& code, const std::string& message) {
      if (static_cast<napi_env>(env) == nullptr) return;
      if (code.empty()) d.Resolve(env.Undefined());
      else d.Reject(make_error(env, code, message).Value());
    };
  }

  // Runs `work` on a thread of its own, then `finish` on the JS thread. A thread of its own:
  // not one of libuv's four, which a few backends that answer slowly would otherwise hold,
  // stalling every fs and dns call of the process.
  Napi::Value off_thread(Napi::Env env, std::function<void()> work, Finish finish = nullptr) {
    auto pending = Pending::create(env, this, finish ? std::move(finish) : settle_plainly());
    Napi::Promise promise = pending->promise();
    try {
      std::thread([pending, work = std::move(work)]() mutable {
        std::string code, message;
        try {
          work();
        } catch (const Error& e) {
          code = e.code();
          message = e.what();
        } catch (const std::exception& e) {
          code = "ERR_INTERNAL";
          message = e.what();
        }
        pending->settle(code, message);
      }).detach();
    } catch (const std::system_error& e) {
      pending->settle("ERR_NO_MEMORY", std::string("no thread: ") + e.what());
    }
    return promise;
  }

  // The controllers of backend `name`: one, or several with multipath.
  const bdev::NvmeBackends::Members& members_named(const Napi::CallbackInfo& info) {
    std::string name = str(info, 0, "name");
    return guarded(info.Env(), [&]() -> const bdev::NvmeBackends::Members& { return backends_.members(name); });
  }
  bdev::NvmfBackend& backend_named(const Napi::CallbackInfo& info) { return *members_named(info).front(); }

  // resetNvmeController(name): each of its controllers reconnects now; their states say how it ends.
  void reset_nvme_controller(const Napi::CallbackInfo& info) {
    for (auto& m : members_named(info)) m->reset();
  }

  // addNvmeControllerPath(name, traddr, trsvcid), removeNvmeControllerPath(name, traddr,
  // trsvcid): failover paths of backend `name` (of its first controller).
  host::TransportAddress address_arg(const Napi::CallbackInfo& info) {
    uint32_t port = arg_u32(info, 2, "trsvcid");
    if (port > 65535) throw make_error(info.Env(), "ERR_INVALID_ARG", "trsvcid must be in [1, 65535]");
    return host::TransportAddress{str(info, 1, "traddr"), uint16_t(port)};
  }
  void add_nvme_controller_path(const Napi::CallbackInfo& info) {
    bdev::NvmfBackend& backend = backend_named(info);
    host::TransportAddress to = address_arg(info);
    guarded(info.Env(), [&] { backend.add_path(to); });
  }
  void remove_nvme_controller_path(const Napi::CallbackInfo& info) {
    bdev::NvmfBackend& backend = backend_named(info);
    host::TransportAddress to = address_arg(info);
    guarded(info.Env(), [&] { backend.remove_path(to); });
  }

  Napi::Value nvme_controllers(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env);
    uint32_t n = 0;
    for (auto& [name, members] : backends_.all()) {
      // The first controller's fields, but enabled while any is, and every one's counters.
      Napi::Object o = controller_object(env, *members.front());
      o.Set("name", name);
      host::ControllerCounters sum;
      Napi::Array each = Napi::Array::New(env, members.size());
      for (uint32_t i = 0; i < members.size(); ++i) {
        sum += members[i]->counters();
        if (members[i]->state() == bdev::NvmfBackend::State::kLive) o.Set("state", members[i]->state_name());
        each.Set(i, controller_object(env, *members[i]));
      }
      o.Set("counters", host_counters_object(env, sum));
      o.Set("controllers", each);
      out.Set(n++, o);
    }
    return out;
  }
  static Napi::Object controller_object(Napi::Env env, bdev::NvmfBackend& backend) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("state", backend.state_name());
    if (std::string why = backend.reason(); !why.empty()) o.Set("reason", why);
    o.Set("counters", host_counters_object(env, backend.counters()));
    host::ControllerPaths paths = backend.paths();
    Napi::Array list = Napi::Array::New(env);
    for (size_t i = 0; i < paths.paths.size(); ++i) {
      Napi::Object p = Napi::Object::New(env);
      p.Set("traddr", paths.paths[i].traddr);
      p.Set("trsvcid", double(paths.paths[i].trsvcid));
      p.Set("active", i == paths.active);
      list.Set(uint32_t(i), p);
    }
    o.Set("paths", list);
    Napi::Array ana = Napi::Array::New(env);
    uint32_t n = 0;
    for (auto [nsid, state] : backend.ana_states()) {
      if (state == 0) continue;  // not read (a controller without ANA)
      Napi::Object a = Napi::Object::New(env);
      a.Set("nsid", nsid);
      a.Set("state", ana_state_name(spec::AnaState(state)));
      ana.Set(n++, a);
    }
    o.Set("anaStates", ana);
    return o;
  }

  void delete_bdev(const Napi::CallbackInfo& info) {
    std::string name = str(info, 0, "name");
    guarded(info.Env(), [&] { bdevs_.remove(name); });
  }
  // resizeBdev(name, numBlocks | undefined) -> whether the size changed; without numBlocks,
  // the bdev takes its medium's size. Hosts of its namespaces get a notice.
  Napi::Value resize_bdev(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = str(info, 0, "name");
    std::optional<uint64_t> blocks;
    if (!info[1].IsUndefined()) {
      double n = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
      if (!(n >= 1 && n <= 9007199254740991.0 && n == double(uint64_t(n))))
        throw make_error(env, "ERR_INVALID_ARG", "numBlocks must be a positive integer");
      blocks = uint64_t(n);
    }
    t(env);
    return Napi::Boolean::New(env, guarded(env, [&] { return resize(name, blocks); }));
  }
  Napi::Value bdevs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto list = bdevs_.list();
    Napi::Array out = Napi::Array::New(env, list.size());
    for (uint32_t i = 0; i < list.size(); ++i) out.Set(i, bdev_object(env, *list[i]));
    return out;
  }

  // addSubsystem(nqn, serial, model, maxNamespaces, anaReporting, minCntlid, maxCntlid)
  void add_subsystem(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string nqn = str(info, 0, "nqn"), serial = str(info, 1, "serial"), model = str(info, 2, "model");
    target::Subsystem::Options o;
    o.max_namespaces = arg_u32(info, 3, "maxNamespaces");
    o.ana_reporting = info[4].ToBoolean().Value();
    uint32_t min = arg_u32(info, 5, "minCntlid"), max = arg_u32(info, 6, "maxCntlid");
    if (min > 0xffff || max > 0xffff) throw make_error(env, "ERR_INVALID_ARG", "min_cntlid and max_cntlid must be in [1, 65519]");
    o.min_cntlid = uint16_t(min);
    o.max_cntlid = uint16_t(max);
    guarded(env, [&] { t(env).add_subsystem(nqn, serial, model, o); });
  }
  void remove_subsystem(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string nqn = str(info, 0, "nqn");
    guarded(env, [&] { t(env).remove_subsystem(nqn); });
  }
  std::shared_ptr<target::Subsystem> subsystem(Napi::Env env, const std::string& nqn) {
    auto s = t(env).find_subsystem(nqn);
    if (!s || s->type() == target::Subsystem::Type::kDiscovery)
      throw make_error(env, "ERR_NOT_FOUND", "no subsystem " + nqn);
    return s;
  }
  // addNamespace(nqn, bdevName, nsid, nguid, uuid, anagrpid) -> nsid
  Napi::Value add_namespace(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string nqn = str(info, 0, "nqn"), bdev_name = str(info, 1, "bdev");
    uint32_t nsid = arg_u32(info, 2, "nsid");
    uint8_t nguid[16], uuid[16];
    id16(info, 3, "nguid", nguid);
    id16(info, 4, "uuid", uuid);
    auto s = subsystem(env, nqn);
    auto b = bdevs_.find(bdev_name);
    if (!b) throw make_error(env, "ERR_NOT_FOUND", "no bdev " + bdev_name);
    uint32_t anagrpid = arg_u32(info, 5, "anagrpid");
    uint32_t id = guarded(env, [&] { return s->add_namespace(nsid, b, nguid, uuid, anagrpid); });
    t(env).namespaces_changed(s, id);
    return Napi::Number::New(env, id);
  }
  void remove_namespace(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto s = subsystem(env, str(info, 0, "nqn"));
    uint32_t nsid = arg_u32(info, 1, "nsid");
    guarded(env, [&] { s->remove_namespace(nsid); });
    t(env).namespaces_changed(s, nsid);
  }
  void set_allow_any_host(const Napi::CallbackInfo& info) {
    auto s = subsystem(info.Env(), str(info, 0, "nqn"));
    s->set_allow_any_host(info[1].ToBoolean().Value());
    t(info.Env()).enforce_access(s);
  }
  // addHost(nqn, hostnqn, keys?) and setHostKeys(nqn, hostnqn, keys): keys is
  // { dhchapKey?, dhchapCtrlrKey? }, DH-HMAC-CHAP secrets in their DHHC-1 form, and for
  // addHost also psk?, the host's NVMe/TCP TLS PSK in its interchange form.
  void add_host(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto s = subsystem(env, str(info, 0, "nqn"));
    std::string hostnqn = str(info, 1, "hostnqn");
    auth::DhchapKeys keys = parse_dhchap_keys(env, info[2]);
    tls::PskRef psk = parse_tls_psk(env, info[2]);
    s->add_host(hostnqn, std::move(keys));
    s->set_host_psk(hostnqn, std::move(psk));
  }
  void set_host_keys(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto s = subsystem(env, str(info, 0, "nqn"));
    std::string hostnqn = str(info, 1, "hostnqn");
    auth::DhchapKeys keys = parse_dhchap_keys(env, info[2]);
    guarded(env, [&] { s->set_host_keys(hostnqn, std::move(keys)); });
  }
  // setDhchapConfig(digests, dhgroups): names, in the order preferred.
  void set_dhchap_config(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto names = [&](size_t i, const char* what) {
      if (!info[i].IsArray()) throw make_error(env, "ERR_INVALID_ARG", std::string(what) + " must be an array of strings");
      Napi::Array a = info[i].As<Napi::Array>();
      std::vector<std::string> out;
      for (uint32_t k = 0; k < a.Length(); ++k) {
        Napi::Value v = a.Get(k);
        if (!v.IsString()) throw make_error(env, "ERR_INVALID_ARG", std::string(what) + " must be an array of strings");
        out.push_back(v.As<Napi::String>().Utf8Value());
      }
      return out;
    };
    std::vector<std::string> digests = names(0, "digests"), dhgroups = names(1, "dhgroups");
    guarded(env, [&] {
      auth::DhchapPolicy policy;
      policy.digests.clear();
      policy.dhgroups.clear();
      for (const auto& d : digests) policy.digests.push_back(auth::digest_id(d));
      for (const auto& g : dhgroups) policy.dhgroups.push_back(auth::dhgroup_id(g));
      t(env).set_dhchap_policy(std::move(policy));
    });
  }
  void remove_host(const Napi::CallbackInfo& info) {
    auto s = subsystem(info.Env(), str(info, 0, "nqn"));
    s->remove_host(str(info, 1, "hostnqn"));
    t(info.Env()).enforce_access(s);
  }
  // subsystemAddListener(nqn, trtype, traddr, trsvcid, secureChannel) -> listener info
  Napi::Value subsystem_add_listener(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto s = subsystem(env, str(info, 0, "nqn"));
    std::string trtype = str(info, 1, "trtype"), addr = str(info, 2, "traddr");
    uint32_t port = arg_u32(info, 3, "trsvcid");
    bool secure = info[4].ToBoolean().Value();
    if (port == 0 || port > 65535) throw make_error(env, "ERR_INVALID_ARG", "trsvcid must be a port in [1, 65535]");
    target::ListenerInfo l =
        guarded(env, [&] { return t(env).ensure_listener(trtype, addr, uint16_t(port), secure); });
    s->add_listener(l.portid);
    return listener_object(env, l);
  }
  void subsystem_remove_listener(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto s = subsystem(env, str(info, 0, "nqn"));
    std::string trtype = str(info, 1, "trtype"), addr = str(info, 2, "traddr");
    uint32_t port = arg_u32(info, 3, "trsvcid");
    auto l = t(env).find_listener(trtype, addr, uint16_t(port));
    if (!l || port > 65535) throw make_error(env, "ERR_NOT_FOUND", "no " + trtype + " listener on " + addr + ":" + std::to_string(port));
    guarded(env, [&] { s->remove_listener(l->portid); });
    t(env).enforce_access(s);
  }
  // setListenerAnaState(nqn, trtype, traddr, trsvcid, state, anagrpid): anagrpid 0 sets every group's.
  void set_listener_ana_state(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto s = subsystem(env, str(info, 0, "nqn"));
    std::string trtype = str(info, 1, "trtype"), addr = str(info, 2, "traddr"), state = str(info, 4, "state");
    uint32_t port = arg_u32(info, 3, "trsvcid"), grpid = arg_u32(info, 5, "anagrpid");
    auto l = port > 65535 ? std::nullopt : t(env).find_listener(trtype, addr, uint16_t(port));
    auto ports = s->listener_ports();
    if (!l || std::find(ports.begin(), ports.end(), l->portid) == ports.end())
      throw make_error(env, "ERR_NOT_FOUND", s->nqn() + " has no " + trtype + " listener on " + addr + ":" + std::to_string(port));
    std::optional<spec::AnaState> st = ana_state_named(state);
    if (!st) throw make_error(env, "ERR_INVALID_ARG", "ana_state must be optimized, non_optimized or inaccessible, got '" + state + "'");
    guarded(env, [&] { t(env).set_ana_state(s, l->portid, grpid, *st); });
  }
  // setNamespaceAnaGroup(nqn, nsid, anagrpid)
  void set_namespace_ana_group(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto s = subsystem(env, str(info, 0, "nqn"));
    uint32_t nsid = arg_u32(info, 1, "nsid"), grpid = arg_u32(info, 2, "anagrpid");
    guarded(env, [&] { t(env).set_namespace_ana_group(s, nsid, grpid); });
  }
  static std::optional<spec::AnaState> ana_state_named(const std::string& name) {
    if (name == "optimized") return spec::kAnaOptimized;
    if (name == "non_optimized") return spec::kAnaNonOptimized;
    if (name == "inaccessible") return spec::kAnaInaccessible;
    return std::nullopt;
  }
  static const char* ana_state_name(spec::AnaState state) {
    switch (state) {
      case spec::kAnaOptimized: return "optimized";
      case spec::kAnaNonOptimized: return "non_optimized";
      case spec::kAnaInaccessible: return "inaccessible";
      case spec::kAnaPersistentLoss: return "persistent_loss";
      case spec::kAnaChange: return "change";
    }
    return "unknown";
  }
  void set_allow_any_listener(const Napi::CallbackInfo& info) {
    auto s = subsystem(info.Env(), str(info, 0, "nqn"));
    s->set_allow_any_listener(info[1].ToBoolean().Value());
    t(info.Env()).enforce_access(s);
  }
  Napi::Value subsystems(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto list = t(env).subsystems();
    Napi::Array out = Napi::Array::New(env);
    uint32_t n = 0;
    for (auto& s : list) {
      Napi::Object o = Napi::Object::New(env);
      bool disc = s->type() == target::Subsystem::Type::kDiscovery;
      o.Set("nqn", s->nqn());
      o.Set("subtype", disc ? "Discovery" : "NVMe");
      o.Set("serialNumber", s->serial());
      o.Set("modelNumber", s->model());
      o.Set("maxNamespaces", s->max_namespaces());
      o.Set("anaReporting", s->ana_reporting());
      o.Set("minCntlid", s->min_cntlid());
      o.Set("maxCntlid", s->max_cntlid());
      o.Set("allowAnyHost", s->allow_any_host());
      auto hosts = s->hosts();
      Napi::Array h = Napi::Array::New(env, hosts.size());
      for (uint32_t i = 0; i < hosts.size(); ++i) h.Set(i, hosts[i]);
      o.Set("hosts", h);
      Napi::Array nss = Napi::Array::New(env);
      uint32_t k = 0;
      auto table = s->namespaces();  // held: the loop outlives a temporary
      for (auto& [nsid, ns] : *table) {
        Napi::Object x = Napi::Object::New(env);
        x.Set("nsid", nsid);
        x.Set("bdevName", ns->bdev->name());
        x.Set("nguid", bytes(env, ns->nguid, 16));
        x.Set("uuid", bytes(env, ns->uuid, 16));
        x.Set("anagrpid", ns->anagrpid);
        nss.Set(k++, x);
      }
      o.Set("namespaces", nss);
      o.Set("allowAnyListener", s->allow_any_listener());
      auto all = t(env).listeners();
      Napi::Array ls = Napi::Array::New(env);
      uint32_t m = 0;
      for (uint16_t portid : s->listener_ports()) {
        for (auto& l : all) {
          if (l.portid != portid) continue;
          Napi::Object lo = listener_object(env, l);
          if (s->ana_reporting()) {
            // Every group its namespaces are in, and any other one set apart.
            auto view = s->ana().view(portid);
            std::set<uint32_t> groups;
            for (auto& [nsid, ns] : *table) groups.insert(ns->anagrpid);
            for (auto& [grpid, st] : view.groups) groups.insert(grpid);
            Napi::Array states = Napi::Array::New(env);
            uint32_t j = 0;
            for (uint32_t grpid : groups) {
              Napi::Object g = Napi::Object::New(env);
              g.Set("anagrpid", grpid);
              g.Set("state", ana_state_name(view.of(grpid)));
              states.Set(j++, g);
            }
            lo.Set("anaStates", states);
            lo.Set("anaState", ana_state_name(view.all));
          }
          ls.Set(m++, lo);
        }
      }
      o.Set("listeners", ls);
      out.Set(n++, o);
    }
    return out;
  }
  // listen(trtype, address, port, secureChannel) -> { trtype, traddr, trsvcid, adrfam,
  // portid, secureChannel }
  Napi::Value listen(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string trtype = str(info, 0, "trtype"), addr = str(info, 1, "traddr");
    uint32_t port = arg_u32(info, 2, "trsvcid");
    bool secure = info[3].ToBoolean().Value();
    if (port > 65535) throw make_error(env, "ERR_INVALID_ARG", "trsvcid must be a port in [0, 65535]");
    target::ListenerInfo l = guarded(env, [&] { return t(env).add_listener(trtype, addr, uint16_t(port), secure); });
    return listener_object(env, l);
  }
  void remove_listener(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string trtype = str(info, 0, "trtype"), addr = str(info, 1, "traddr");
    uint32_t port = arg_u32(info, 2, "trsvcid");
    guarded(env, [&] { t(env).remove_listener(trtype, addr, uint16_t(port)); });
  }
  static Napi::Object listener_object(Napi::Env env, const target::ListenerInfo& l) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("trtype", l.trtype);
    o.Set("adrfam", l.ipv6 ? "IPv6" : "IPv4");
    o.Set("traddr", l.traddr);
    o.Set("trsvcid", l.trsvcid);
    o.Set("portid", l.portid);
    o.Set("secureChannel", l.secure_channel);
    return o;
  }
  Napi::Value listeners(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto list = t(env).listeners();
    Napi::Array out = Napi::Array::New(env, list.size());
    for (uint32_t i = 0; i < list.size(); ++i) {
      Napi::Object o = listener_object(env, list[i]);
      o.Set("connections", double(list[i].counters.connections));
      o.Set("refusedConnections", double(list[i].counters.refused));
      o.Set("acceptPauses", double(list[i].counters.accept_pauses));
      out.Set(i, o);
    }
    return out;
  }
  Napi::Value controllers(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto list = t(env).controllers();
    Napi::Array out = Napi::Array::New(env, list.size());
    for (uint32_t i = 0; i < list.size(); ++i) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("cntlid", list[i].cntlid);
      o.Set("subnqn", list[i].subnqn);
      o.Set("hostnqn", list[i].hostnqn);
      o.Set("peer", list[i].peer);
      o.Set("queues", double(list[i].queues));
      o.Set("kato", list[i].kato_ms);
      out.Set(i, o);
    }
    return out;
  }
  Napi::Value qpairs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto list = t(env).qpairs();
    Napi::Array out = Napi::Array::New(env, list.size());
    for (uint32_t i = 0; i < list.size(); ++i) {
      const auto& q = list[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("cntlid", q.cntlid);
      o.Set("qid", q.qid);
      o.Set("transport", q.transport);
      o.Set("peer", q.peer);
      o.Set("reactor", q.reactor);
      if (q.auth.state != target::Qpair::AuthSummary::kNone) {
        static const char* const kStates[] = {"none", "in-progress", "completed", "failed"};
        Napi::Object a = Napi::Object::New(env);
        a.Set("state", kStates[q.auth.state]);
        if (q.auth.digest) {  // negotiated
          a.Set("digest", auth::digest_name(q.auth.digest));
          a.Set("dhgroup", auth::dhgroup_name(q.auth.dhgroup));
        }
        a.Set("bidirectional", q.auth.bidirectional);
        o.Set("auth", a);
      }
      if (q.tls) {
        Napi::Object tls = Napi::Object::New(env);
        tls.Set("cipher", q.tls->cipher);
        tls.Set("ktls", q.tls->ktls);
        o.Set("tls", tls);
      }
      o.Set("commands", double(q.counters.commands));
      o.Set("errors", double(q.counters.errors));
      o.Set("bytesRead", double(q.counters.bytes_read));
      o.Set("bytesWritten", double(q.counters.bytes_written));
      o.Set("inCapsuleBytes", double(q.counters.in_capsule_bytes));
      o.Set("rdmaReadBytes", double(q.counters.rdma_read_bytes));
      o.Set("rdmaWriteBytes", double(q.counters.rdma_write_bytes));
      o.Set("bytesCopied", double(q.counters.wire.bytes_copied));
      o.Set("poolExhausted", double(q.counters.pool_exhausted));
      set_latency(env, o, q.counters.latency_us_sum, q.counters.latency);
      out.Set(i, o);
    }
    return out;
  }
  Napi::Value namespace_stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto list = t(env).namespace_stats();
    Napi::Array out = Napi::Array::New(env, list.size());
    for (uint32_t i = 0; i < list.size(); ++i) {
      const auto& n = list[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("subnqn", n.subnqn);
      o.Set("nsid", n.nsid);
      o.Set("bdevName", n.bdev);
      o.Set("reads", double(n.counters.reads));
      o.Set("writes", double(n.counters.writes));
      o.Set("otherOps", double(n.counters.other));
      o.Set("bytesRead", double(n.counters.bytes_read));
      o.Set("bytesWritten", double(n.counters.bytes_written));
      o.Set("errors", double(n.counters.errors));
      set_latency(env, o, n.counters.latency_us_sum, n.counters.latency);
      out.Set(i, o);
    }
    return out;
  }
  void close(const Napi::CallbackInfo&) { shutdown(); }

  // closeAsync() -> Promise: what close() does, off the JS thread: the backends' shutdown
  // waits for their controllers (up to 5 s each), and the JS thread may be what serves them.
  Napi::Value close_async(const Napi::CallbackInfo& info) {
    struct Closing {
      bdev::NvmeBackends::Closing backends;
      std::unique_ptr<target::Target> target;
    };
    auto closing = std::make_shared<Closing>(Closing{backends_.take_all(), std::move(target_)});  // closed from here on
    return off_thread(info.Env(), [closing] { shutdown(closing->backends, closing->target); });
  }

  void shutdown() {
    auto backends = backends_.take_all();
    shutdown(backends, target_);
  }

  // Backends run on the target's reactors: they close before the reactors stop.
  static void shutdown(bdev::NvmeBackends::Closing& backends, std::unique_ptr<target::Target>& target) {
    backends.close_and_wait();
    if (target) target->close();
    target.reset();
  }

  std::unique_ptr<target::Target> target_;
  bdev::BdevRegistry bdevs_;
  // Backend bdevs take a new size as their backend reports one (on a reactor thread); a
  // shrink while served is refused, and the bdev keeps its size (I/O past the backend's end
  // fails there).
  bdev::NvmeBackends backends_{bdevs_, [this](const std::string& name) {
    try {
      resize(name, std::nullopt);
    } catch (const Error&) {
    }
  }};
};

}  // namespace

void init_target(Napi::Env env, Napi::Object exports) { TargetBinding::init(env, exports); }

}  // namespace rdmagate::napi
