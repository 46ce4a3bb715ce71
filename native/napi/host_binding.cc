#include "napi/host_binding.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_set>
#include <variant>

#include <uv.h>

#include "host/completion_groups.h"
#include "host/controller.h"
#include "host/discovery.h"
#include "host/tcp_connection.h"
#include "napi/buffer_pool_binding.h"
#include "napi/addon_data.h"
#include "napi/batch_channel.h"
#include "napi/dhchap_keys.h"
#include "napi/tls_psk.h"
#include "napi/errors.h"
#include "spec/status.h"

namespace rdmagate::napi {

namespace {

using host::ControllerInfo;
using host::Failure;

constexpr uint32_t kMaxReactors = 64;
constexpr uint32_t kMaxIoQueues = 1024;
constexpr uint32_t kMaxBlocksPerCommand = 65536;  // NLB is a 16-bit 0's based field

// The words of one I/O submission entry, as lib/nvmf/host/submission-batch.ts writes them.
enum SubmissionWord : uint32_t {
  kSubQueue, kSubOpcode, kSubNsid, kSubSlbaLow, kSubSlbaHigh, kSubNlb,
  kSubPool, kSubChunk, kSubOffset, kSubLength, kSubOpId, kSubmissionWords
};

// Queues what the host reports and wakes the JS thread once per batch; lib/ takes the
// whole batch in one call. I/O completions from one controller that arrive back to back
// share one flat array.
class JsHostSink : public host::ControllerEvents {
 public:
  struct Connected { uint64_t id; ControllerInfo info; };
  struct Lost { uint64_t id; const char* type; Failure failure; bool reconnecting; };
  struct Plain { uint64_t id; const char* type; };
  struct Admin { uint64_t id; uint32_t op_id, status, dw0; std::vector<uint8_t> data; };
  struct Io { uint64_t id; std::vector<uint32_t> pairs; };
  struct Discovered { uint32_t op_id; host::DiscoveryResult result; };
  struct NamespacesChanged { uint64_t id; std::vector<uint32_t> nsids; };
  using Item = std::variant<Connected, Lost, Plain, Admin, Io, Discovered, NamespacesChanged>;

  void on_connected(uint64_t id, const ControllerInfo& info) override { push(Connected{id, info}); }
  void on_connect_failed(uint64_t id, const Failure& f) override {
    push(Lost{id, "connectFailed", f, false});
  }
  void on_disconnected(uint64_t id, const Failure& f, bool reconnecting) override {
    push(Lost{id, "disconnect", f, reconnecting});
  }
  void on_reconnected(uint64_t id) override { push(Plain{id, "reconnect"}); }
  void on_removed(uint64_t id, const Failure& f) override { push(Lost{id, "removed", f, false}); }
  void on_closed(uint64_t id) override { push(Plain{id, "closed"}); }
  void on_namespaces_changed(uint64_t id, const std::vector<uint32_t>& nsids) override {
    push(NamespacesChanged{id, nsids});
  }
  void on_ana_changed(uint64_t id) override { push(Plain{id, "anaChanged"}); }
  void on_admin_done(uint64_t id, uint32_t op_id, uint32_t status, uint32_t dw0,
                     std::vector<uint8_t>&& data) override {
    push(Admin{id, op_id, status, dw0, std::move(data)});
  }
  void on_io_completions(uint64_t id, const uint32_t* pairs, size_t count) override {
    Reactor* polled_by_js = caller.load(std::memory_order_acquire);
    if (polled_by_js && polled_by_js->on_thread()) {  // a controller the JS thread polls: no wake-up
      polled.add(uint32_t(id), pairs, count);
      return;
    }
    channel.update([&](std::deque<Item>& queue) {
      Io* last = queue.empty() ? nullptr : std::get_if<Io>(&queue.back());
      if (last && last->id == id) last->pairs.insert(last->pairs.end(), pairs, pairs + 2 * count);
      else queue.push_back(Io{id, std::vector<uint32_t>(pairs, pairs + 2 * count)});
    });
  }
  void on_discovered(uint32_t op_id, host::DiscoveryResult&& result) {
    push(Discovered{op_id, std::move(result)});
  }

  BatchChannel<Item> channel;
  // The reactor the JS thread polls (ConnectOptions.polling 'event-loop'), and what its
  // controllers completed since the last poll. Set once, read by every reactor.
  std::atomic<Reactor*> caller{nullptr};
  host::CompletionGroups polled;

 private:
  void push(Item item) { channel.push(std::move(item)); }
};

}  // namespace

// One per environment (the main thread's, each worker's), so that every JS thread gets
// its own controllers' events. Never destroyed: a controller finalized after its
// environment's teardown still unregisters its sockets from a (stopped) reactor.
struct HostRuntime {
  std::vector<Reactor*> reactors;
  uint32_t next_spread = 0;
  std::shared_ptr<JsHostSink> sink = std::make_shared<JsHostSink>();
  uint64_t next_id = 1;
  // Controllers that keep the process alive (JS thread): from connect to their first
  // terminal event, and from close() to 'closed'. Two holds, not one: a close() between a
  // 'disconnect' and the 'removed' after it must still hold the process until 'closed'.
  std::unordered_set<uint64_t> live;
  std::unordered_set<uint64_t> closing;
  Napi::FunctionReference dispatcher;
  Napi::FunctionReference controller_ctor;
  // The polled reactor's readiness watch (nvmeWaitReady), made on first use.
  struct ReadinessWatch* readiness_watch = nullptr;
};

namespace {

HostRuntime& runtime(Napi::Env env) {
  AddonData& data = addon_data(env);
  if (!data.host) data.host = new HostRuntime();
  return *data.host;
}

std::vector<Reactor*> host_reactors(HostRuntime& rt, uint32_t count) {
  while (rt.reactors.size() < count) {
    auto* r = new Reactor("nvme-host-" + std::to_string(rt.reactors.size()), IdleMode::kEvent);
    r->start();
    rt.reactors.push_back(r);
  }
  // Spread controllers: each starts at the next reactor, so admin queues do not pile up.
  std::vector<Reactor*> out;
  for (uint32_t i = 0; i < count; ++i) out.push_back(rt.reactors[(rt.next_spread + i) % count]);
  ++rt.next_spread;
  return out;
}

// The reactor of the controllers that the JS thread polls; made on the JS thread, on
// first use, so that it is that thread's.
Reactor* caller_reactor(Napi::Env env, bool create) {
  auto& sink = *runtime(env).sink;
  Reactor* r = sink.caller.load(std::memory_order_acquire);
  if (!r && create) {
    r = new Reactor("nvme-host-js", IdleMode::kCaller);
    sink.caller.store(r, std::memory_order_release);
  }
  return r && r->on_thread() ? r : nullptr;
}

void require_sink(Napi::Env env) {
  if (!runtime(env).sink->channel.started())
    throw make_error(env, "ERR_INTERNAL", "the NVMe host event dispatcher is not installed");
}

// A controller keeps the process alive from connect to its first terminal event, and
// again from close() to 'closed' (a controller given up has let go already).
void hold(Napi::Env env, std::unordered_set<uint64_t>& holders, uint64_t id) {
  if (holders.insert(id).second) runtime(env).sink->channel.hold(env, +1);
}

[[noreturn]] void invalid(Napi::Env env, const std::string& message) {
  throw make_error(env, "ERR_INVALID_ARG", message);
}

// Options as lib/nvmf/host/options.ts builds them; checked again here so that no call
// reaches the host with a wrong type.
struct ParsedOptions {
  host::ControllerOptions controller;
  uint32_t reactors = 1;
  bool polled_by_js = false;  // polling 'event-loop'
};

ParsedOptions parse_options(Napi::Env env, Napi::Value value) {
  if (!value.IsObject()) invalid(env, "options must be an object");
  Napi::Object o = value.As<Napi::Object>();
  auto str = [&](const char* key) {
    Napi::Value v = o.Get(key);
    if (!v.IsString()) invalid(env, std::string(key) + " must be a string");
    return v.As<Napi::String>().Utf8Value();
  };
  auto num = [&](const char* key, double min, double max) {
    Napi::Value v = o.Get(key);
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
    if (!(d >= min && d <= max && d == std::floor(d)))
      invalid(env, std::string(key) + " must be an integer in [" + std::to_string(int64_t(min)) + ", " +
                       std::to_string(int64_t(max)) + "]");
    return d;
  };
  auto flag = [&](const char* key) {
    Napi::Value v = o.Get(key);
    if (!v.IsBoolean()) invalid(env, std::string(key) + " must be a boolean");
    return v.As<Napi::Boolean>().Value();
  };
  ParsedOptions p;
  host::ControllerOptions& c = p.controller;
  std::string transport = str("transport");
  if (transport != "tcp" && transport != "rdma") invalid(env, "transport must be 'tcp' or 'rdma'");
  c.transport = transport == "rdma" ? host::Transport::kRdma : host::Transport::kTcp;
  c.traddr = str("traddr");
  c.trsvcid = uint16_t(num("trsvcid", 1, 65535));
  c.subnqn = str("subnqn");
  c.hostnqn = str("hostnqn");
  Napi::Value hostid = o.Get("hostid");
  if (!hostid.IsTypedArray() || hostid.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      hostid.As<Napi::Uint8Array>().ByteLength() != c.hostid.size())
    invalid(env, "hostid must be a Uint8Array of 16 bytes");
  std::memcpy(c.hostid.data(), hostid.As<Napi::Uint8Array>().Data(), c.hostid.size());
  c.nr_io_queues = uint16_t(num("nrIoQueues", 0, kMaxIoQueues));
  c.queue_size = uint16_t(num("queueSize", 2, 65535));
  c.kato_ms = uint32_t(num("keepAliveTmoMs", 0, 4294967295.0));
  c.reconnect_delay_ms = uint32_t(num("reconnectDelayMs", 0, 4294967295.0));
  c.first_reconnect_delay_ms = uint32_t(num("firstReconnectDelayMs", 0, 4294967295.0));
  c.ctrl_loss_tmo_ms = int64_t(num("ctrlLossTmoMs", -1, 1e15));
  c.hdgst = flag("headerDigest");
  c.ddgst = flag("dataDigest");
  c.disable_sqflow = flag("disableSqFlow");
  c.recv_pipe = flag("recvPipe");
  std::string mode = str("ioFailureMode");
  if (mode != "fail" && mode != "retry") invalid(env, "ioFailureMode must be 'fail' or 'retry'");
  c.io_failure = mode == "retry" ? host::IoFailureMode::kRetry : host::IoFailureMode::kFail;
  c.timeout_ms = uint32_t(num("timeoutMs", 1, 4294967295.0));
  auth::DhchapKeys keys = parse_dhchap_keys(env, o);
  c.dhchap_key = keys.host;
  c.dhchap_ctrlr_key = keys.ctrlr;
  c.tls_psk = parse_tls_psk(env, o);
  c.tls_identity_version = int(num("tlsIdentityVersion", 0, 1));
  p.reactors = uint32_t(num("reactors", 1, kMaxReactors));
  std::string polling = str("polling");
  if (polling != "reactor" && polling != "event-loop") invalid(env, "polling must be 'reactor' or 'event-loop'");
  p.polled_by_js = polling == "event-loop";
  guarded(env, [&] { host::validate(c); });
  return p;
}

class ControllerBinding : public Napi::ObjectWrap<ControllerBinding> {
 public:
  static void init(Napi::Env env) {
    Napi::Function cls = DefineClass(env, "NativeNvmeController",
                                     {InstanceMethod("setSubmissionBuffer", &ControllerBinding::set_submission_buffer),
                                      InstanceMethod("submitBatch", &ControllerBinding::submit_batch),
                                      InstanceMethod("identify", &ControllerBinding::identify),
                                      InstanceMethod("getLogPage", &ControllerBinding::get_log_page),
                                      InstanceMethod("authenticate", &ControllerBinding::authenticate),
                                      InstanceMethod("close", &ControllerBinding::close),
                                      InstanceMethod("counters", &ControllerBinding::counters)});
    runtime(env).controller_ctor = Napi::Persistent(cls);
  }
  static Napi::Object wrap(Napi::Env env, std::shared_ptr<host::Controller> c) {
    Napi::Object o = runtime(env).controller_ctor.New({});
    Unwrap(o)->controller_ = std::move(c);
    return o;
  }
  explicit ControllerBinding(const Napi::CallbackInfo& info) : ObjectWrap(info) {}
  // Collected without close(): close it, so that its sockets do not outlive it.
  ~ControllerBinding() override {
    if (controller_ && !closed_) controller_->close();
  }

 private:
  // setSubmissionBuffer(words): the Uint32Array that JS writes I/O submissions into,
  // kSubmissionWords words each (lib/nvmf/host/submission-batch.ts has the same layout).
  void set_submission_buffer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
      invalid(env, "the submission buffer must be a Uint32Array");
    auto words = info[0].As<Napi::Uint32Array>();
    submissions_ = Napi::Persistent(words);
    submission_entries_ = uint32_t(words.ElementLength() / kSubmissionWords);
  }

  // submitBatch(first, end): entries [first, end) of the submission buffer, in order, into
  // their queues' rings; then one reactor wake-up per queue at most. A bad entry throws
  // with `entry` set to its index, after the entries before it went in.
  void submit_batch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t first = arg_u32(info, 0, "first");
    uint32_t end = arg_u32(info, 1, "end");
    if (submissions_.IsEmpty() || first > end || end > submission_entries_)
      invalid(env, "entries " + std::to_string(first) + ".." + std::to_string(end) + " are not in the submission buffer");
    const uint32_t* words = submissions_.Value().Data();
    touched_.clear();
    // Whatever went in is kicked, also when an entry throws. kick() skips a queue already due.
    struct KickTouched {
      std::vector<host::QueuePair*>& queues;
      ~KickTouched() {
        for (host::QueuePair* q : queues) q->kick();
      }
    } kick_touched{touched_};
    // No JS runs during the batch, so a pool found once stays valid for its entries.
    CachedPool pool;
    for (uint32_t i = first; i < end; ++i) {
      try {
        host::QueuePair* q = submit(env, words + size_t(i) * kSubmissionWords, pool);
        if (touched_.empty() || touched_.back() != q) touched_.push_back(q);
      } catch (Napi::Error& e) {
        e.Value().Set("entry", i);
        throw;
      }
    }
  }

  struct CachedPool {
    uint32_t id = 0;  // pool ids start at 1
    BufferPool* pool = nullptr;
  };

  // One submission entry into its queue's ring; returns the queue.
  host::QueuePair* submit(Napi::Env env, const uint32_t* w, CachedPool& cached) {
    host::SubmitEntry e;
    uint32_t opcode = w[kSubOpcode];
    e.opcode = uint8_t(opcode);
    e.nsid = w[kSubNsid];
    e.slba = uint64_t(w[kSubSlbaHigh]) << 32 | w[kSubSlbaLow];
    e.nlb = w[kSubNlb];
    e.op_id = w[kSubOpId];
    if (closed_) throw make_error(env, "ERR_NVME_DISCONNECTED", "the controller is closed");
    host::QueuePair* q = controller_->io_queue(w[kSubQueue]);
    if (!q) invalid(env, "there is no I/O queue " + std::to_string(w[kSubQueue]));
    if (e.nsid == 0 || e.nsid == 0xffffffff) invalid(env, "nsid must name one namespace");
    switch (opcode) {
      case spec::kIoRead:
      case spec::kIoWrite: {
        if (e.nlb == 0 || e.nlb > kMaxBlocksPerCommand) invalid(env, "nlb must be in [1, 65536]");
        if (w[kSubPool] != cached.id) {
          cached.pool = &BufferPoolBinding::by_id(env, w[kSubPool]);
          cached.id = w[kSubPool];
        }
        BufferPool& pool = *cached.pool;
        BufferPool::Chunk* chunk = BufferPoolBinding::chunk_out(env, pool, w[kSubChunk]);
        uint32_t offset = w[kSubOffset];
        uint32_t length = w[kSubLength];
        if (length == 0 || uint64_t(offset) + length > pool.options().chunk_size)
          throw make_error(env, "ERR_OUT_OF_RANGE", "offset + length exceed the buffer");
        uint32_t max = controller_->max_transfer();
        if (max && length > max)
          invalid(env, "length " + std::to_string(length) + " exceeds the controller's transfer size " + std::to_string(max));
        e.pool = &pool;  // alive while the chunk is out, which it is until completion
        e.chunk = chunk;
        e.data = chunk->data + offset;
        e.length = length;
        break;
      }
      case spec::kIoWriteZeroes:
        if (e.nlb == 0 || e.nlb > kMaxBlocksPerCommand) invalid(env, "nlb must be in [1, 65536]");
        break;
      case spec::kIoDsm:
        if (e.nlb == 0) invalid(env, "nlb must be at least 1");
        break;
      case spec::kIoFlush:
        break;
      default:
        invalid(env, "opcode must be read, write, flush, write zeroes or dataset management");
    }
    if (e.chunk) e.chunk->inflight.fetch_add(1, std::memory_order_acq_rel);
    if (!q->push(e)) {
      if (e.chunk) e.chunk->inflight.fetch_sub(1, std::memory_order_acq_rel);
      throw make_error(env, "ERR_NVME_QUEUE_FULL", "the I/O queue is full");
    }
    return q;
  }

  // identify(opId, cns, nsid): the 4096 bytes come back as an 'admin' event.
  // authenticate(opId, { dhchapKey?, dhchapCtrlrKey? }): re-authenticates every queue; the
  // 'admin' event of opId says how it went.
  Napi::Value authenticate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t op_id = arg_u32(info, 0, "opId");
    auth::DhchapKeys keys = parse_dhchap_keys(env, info[1]);
    if (closed_) throw make_error(env, "ERR_NVME_DISCONNECTED", "the controller is closed");
    controller_->authenticate(op_id, keys.host, keys.ctrlr);
    return env.Undefined();
  }

  Napi::Value identify(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t op_id = arg_u32(info, 0, "opId");
    uint32_t cns = arg_u32(info, 1, "cns");
    uint32_t nsid = arg_u32(info, 2, "nsid");
    if (cns > 0xff) invalid(env, "cns must be in [0, 255]");
    if (closed_) throw make_error(env, "ERR_NVME_DISCONNECTED", "the controller is closed");
    controller_->identify(op_id, uint8_t(cns), nsid);
    return env.Undefined();
  }

  // getLogPage(opId, lid, lsp, nsid, bytes): bytes a multiple of 4, at most 1 MiB.
  Napi::Value get_log_page(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t op_id = arg_u32(info, 0, "opId"), lid = arg_u32(info, 1, "lid"), lsp = arg_u32(info, 2, "lsp");
    uint32_t nsid = arg_u32(info, 3, "nsid"), bytes = arg_u32(info, 4, "bytes");
    if (lid > 0xff || lsp > 0x7f) invalid(env, "lid must be in [0, 255] and lsp in [0, 127]");
    if (bytes == 0 || bytes % 4 || bytes > (1u << 20)) invalid(env, "bytes must be a multiple of 4 in [4, 1 MiB]");
    if (closed_) throw make_error(env, "ERR_NVME_DISCONNECTED", "the controller is closed");
    controller_->get_log_page(op_id, uint8_t(lid), uint8_t(lsp), nsid, bytes);
    return env.Undefined();
  }

  void close(const Napi::CallbackInfo& info) {
    if (closed_) return;
    closed_ = true;
    hold(info.Env(), runtime(info.Env()).closing, controller_->id());
    controller_->close();
  }

  Napi::Value counters(const Napi::CallbackInfo& info) { return host_counters_object(info.Env(), controller_->counters()); }

  std::shared_ptr<host::Controller> controller_;
  bool closed_ = false;
  Napi::Reference<Napi::Uint32Array> submissions_;
  uint32_t submission_entries_ = 0;
  std::vector<host::QueuePair*> touched_;  // submit_batch's queues, in order of first use
};

void set_failure(Napi::Object r, const Failure& f) {
  r.Set("code", f.code);
  r.Set("message", f.message);
  r.Set("errno", f.errnum);
  r.Set("status", f.status);
}

Napi::Object info_object(Napi::Env env, const ControllerInfo& i) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("cntlid", i.cntlid);
  o.Set("cap", Napi::BigInt::New(env, i.cap));
  o.Set("vs", i.vs);
  o.Set("ioQueues", i.io_queues);
  o.Set("queueSize", i.queue_size);
  o.Set("maxTransfer", i.max_transfer);
  o.Set("incapsuleMax", i.incapsule_max);
  o.Set("maxh2cdata", i.maxh2cdata);
  o.Set("headerDigest", i.hdgst);
  o.Set("dataDigest", i.ddgst);
  o.Set("identify", Napi::Buffer<uint8_t>::Copy(env, i.identify.data(), i.identify.size()));
  return o;
}

Napi::Object discovered_object(Napi::Env env, uint32_t op_id, const host::DiscoveryResult& d) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("type", "discovered");
  r.Set("opId", op_id);
  r.Set("ok", d.ok);
  if (!d.ok) set_failure(r, d.failure);
  r.Set("genctr", Napi::BigInt::New(env, d.genctr));
  Napi::Array entries = Napi::Array::New(env, d.entries.size());
  for (uint32_t i = 0; i < d.entries.size(); ++i) {
    const host::DiscoveryEntry& e = d.entries[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("trtype", e.trtype);
    o.Set("adrfam", e.adrfam);
    o.Set("subtype", e.subtype);
    o.Set("treq", e.treq);
    o.Set("portid", e.portid);
    o.Set("cntlid", e.cntlid);
    o.Set("asqsz", e.asqsz);
    o.Set("eflags", e.eflags);
    o.Set("trsvcid", e.trsvcid);
    o.Set("subnqn", e.subnqn);
    o.Set("traddr", e.traddr);
    o.Set("sectype", e.sectype);
    entries.Set(i, o);
  }
  r.Set("entries", entries);
  return r;
}

// A terminal event of a controller lets go of the hold it took at connect; 'closed', the
// last event of all, of both.
void release(Napi::Env env, std::unordered_set<uint64_t>& holders, uint64_t id) {
  if (holders.erase(id)) runtime(env).sink->channel.hold(env, -1);
}

Napi::Value dispatch_batch(Napi::Env env) {
  auto& rt = runtime(env);
  std::deque<JsHostSink::Item> items = rt.sink->channel.drain();
  Napi::Array out = Napi::Array::New(env, items.size());
  uint32_t n = 0;
  for (auto& item : items) {
    Napi::Object r = Napi::Object::New(env);
    if (auto* io = std::get_if<JsHostSink::Io>(&item)) {
      r.Set("type", "io");
      r.Set("id", double(io->id));
      // Flat [opId, status] pairs in one typed array: no object per I/O.
      Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, io->pairs.size() * sizeof(uint32_t));
      std::memcpy(ab.Data(), io->pairs.data(), io->pairs.size() * sizeof(uint32_t));
      r.Set("completions", Napi::Uint32Array::New(env, io->pairs.size(), ab, 0));
    } else if (auto* c = std::get_if<JsHostSink::Connected>(&item)) {
      r.Set("type", "connected");
      r.Set("id", double(c->id));
      r.Set("info", info_object(env, c->info));
    } else if (auto* l = std::get_if<JsHostSink::Lost>(&item)) {
      r.Set("type", l->type);
      r.Set("id", double(l->id));
      set_failure(r, l->failure);
      r.Set("reconnecting", l->reconnecting);
      if (std::strcmp(l->type, "disconnect") != 0) release(env, rt.live, l->id);
    } else if (auto* p = std::get_if<JsHostSink::Plain>(&item)) {
      r.Set("type", p->type);
      r.Set("id", double(p->id));
      if (std::strcmp(p->type, "closed") == 0) {
        release(env, rt.live, p->id);
        release(env, rt.closing, p->id);
      }
    } else if (auto* a = std::get_if<JsHostSink::Admin>(&item)) {
      r.Set("type", "admin");
      r.Set("id", double(a->id));
      r.Set("opId", a->op_id);
      r.Set("status", a->status);
      r.Set("dw0", a->dw0);
      r.Set("data", Napi::Buffer<uint8_t>::Copy(env, a->data.data(), a->data.size()));
    } else if (auto* n = std::get_if<JsHostSink::NamespacesChanged>(&item)) {
      r.Set("type", "namespacesChanged");
      r.Set("id", double(n->id));
      Napi::Array nsids = Napi::Array::New(env, n->nsids.size());
      for (uint32_t i = 0; i < n->nsids.size(); ++i) nsids.Set(i, n->nsids[i]);
      r.Set("nsids", nsids);
    } else if (auto* d = std::get_if<JsHostSink::Discovered>(&item)) {
      r = discovered_object(env, d->op_id, d->result);
      rt.sink->channel.hold(env, -1);
    }
    out.Set(n++, r);
  }
  return out;
}

}  // namespace

ConnectedController connect_controller(Napi::Env env, Napi::Value options, const WrapEvents& wrap) {
  require_sink(env);
  ParsedOptions p = parse_options(env, options);
  auto& rt = runtime(env);
  uint64_t id = rt.next_id++;
  std::shared_ptr<host::ControllerEvents> events = rt.sink;
  if (wrap) events = wrap(events);
  auto controller = guarded(env, [&] {
    std::vector<Reactor*> reactors = p.polled_by_js ? std::vector<Reactor*>{caller_reactor(env, true)} : host_reactors(rt, p.reactors);
    return host::Controller::create(id, std::move(reactors), p.controller, events);
  });
  Napi::Object handle = ControllerBinding::wrap(env, controller);
  hold(env, rt.live, id);
  controller->start();
  Napi::Object out = Napi::Object::New(env);
  out.Set("id", double(id));
  out.Set("handle", handle);
  return {out, controller};
}

namespace {

// nvmeConnect(options) -> { id, handle }: connecting starts now; 'connected' or
// 'connectFailed' follows for `id`.
Napi::Value connect(const Napi::CallbackInfo& info) {
  return connect_controller(info.Env(), info[0], nullptr).js;
}

// nvmeDiscover(opId, options): a 'discovered' event with opId follows.
Napi::Value discover(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  require_sink(env);
  uint32_t op_id = arg_u32(info, 0, "opId");
  ParsedOptions p = parse_options(env, info[1]);
  auto& rt = runtime(env);
  uint64_t id = rt.next_id++;
  std::shared_ptr<JsHostSink> sink = rt.sink;
  rt.sink->channel.hold(env, +1);
  guarded(env, [&] {
    host::discover(id, host_reactors(rt, p.reactors), p.controller,
                   [sink, op_id](host::DiscoveryResult&& r) { sink->on_discovered(op_id, std::move(r)); });
  });
  return env.Undefined();
}

// nvmePoll(words): one turn of the polled controllers' reactor; their I/O completions go
// into `words` as [controller id, n, (op id, status) × n] groups. Returns the words
// written; what did not fit comes with the next poll.
Napi::Value poll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
    invalid(env, "the completion buffer must be a Uint32Array");
  auto words = info[0].As<Napi::Uint32Array>();
  Reactor* reactor = caller_reactor(env, false);
  if (!reactor) return Napi::Number::New(env, 0);
  reactor->poll();
  return Napi::Number::New(env, double(runtime(env).sink->polled.take(words.Data(), words.ElementLength())));
}

// Lets the JS thread sleep in its event loop while the polled controllers are idle: a
// one-shot watch on the polled reactor's readiness fd, which calls back on the JS thread.
}  // namespace

struct ReadinessWatch {
  uv_poll_t handle;
  Napi::FunctionReference callback;
};

namespace {

void on_readiness(uv_poll_t* handle, int, int) {
  uv_poll_stop(handle);
  auto* watch = static_cast<ReadinessWatch*>(handle->data);
  if (watch->callback.IsEmpty()) return;
  Napi::Env env = watch->callback.Env();
  Napi::HandleScope scope(env);
  Napi::FunctionReference callback = std::move(watch->callback);
  try {
    callback.MakeCallback(env.Global(), {});
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());  // as an uncaught exception from a timer would be
  }
}

// nvmeWaitReady(callback | undefined): `callback` runs once, on the JS thread, as soon as
// the polled reactor has an fd event or a posted task; undefined cancels. Returns the ms
// until its next timer is due, -1 with none (JS sets its own timer for that).
Napi::Value wait_ready(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Reactor* reactor = caller_reactor(env, false);
  if (!reactor) return Napi::Number::New(env, -1);
  ReadinessWatch*& readiness_watch = runtime(env).readiness_watch;
  if (!readiness_watch) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) throw make_error(env, "ERR_INTERNAL", "no event loop");
    readiness_watch = new ReadinessWatch();
    readiness_watch->handle.data = readiness_watch;
    uv_poll_init(loop, &readiness_watch->handle, reactor->readiness_fd());
    uv_unref(reinterpret_cast<uv_handle_t*>(&readiness_watch->handle));  // the controllers' JS timers hold the loop
    env.AddCleanupHook([&readiness_watch] {
      uv_close(reinterpret_cast<uv_handle_t*>(&readiness_watch->handle),
               [](uv_handle_t* h) { delete static_cast<ReadinessWatch*>(h->data); });
      readiness_watch = nullptr;
    });
  }
  if (info[0].IsFunction()) {
    readiness_watch->callback = Napi::Persistent(info[0].As<Napi::Function>());
    uv_poll_start(&readiness_watch->handle, UV_READABLE, on_readiness);
  } else {
    uv_poll_stop(&readiness_watch->handle);
    readiness_watch->callback.Reset();
  }
  return Napi::Number::New(env, reactor->next_timeout_ms());
}

Napi::Value resources(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("sockets", double(host::TcpConnection::open_sockets()));
  return o;
}

Napi::Value status_name(const Napi::CallbackInfo& info) {
  uint32_t sct = arg_u32(info, 0, "sct");
  uint32_t sc = arg_u32(info, 1, "sc");
  return Napi::String::New(info.Env(), spec::status_name(uint8_t(sct), uint8_t(sc)));
}

// nvmeSetEventDispatcher(fn): fn(records[]) runs once per batch on the JS thread.
void set_event_dispatcher(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction()) invalid(env, "dispatcher must be a function");
  auto& rt = runtime(env);
  if (rt.sink->channel.started()) return;
  rt.dispatcher = Napi::Persistent(info[0].As<Napi::Function>());
  Napi::Function trampoline = Napi::Function::New(env, [](const Napi::CallbackInfo& ci) {
    Napi::Env e = ci.Env();
    Napi::Value batch = dispatch_batch(e);
    runtime(e).dispatcher.Call({batch});
    return e.Undefined();
  });
  rt.sink->channel.start(env, trampoline, "rdmagate-nvme-host");
  HostRuntime* r = &rt;
  env.AddCleanupHook([r] {
    for (Reactor* reactor : r->reactors) reactor->stop();
    r->sink->channel.shutdown();
    r->dispatcher.Reset();
  });
}

}  // namespace

Napi::Object host_counters_object(Napi::Env env, const host::ControllerCounters& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("bytesSent", double(c.bytes_sent));
  o.Set("bytesReceived", double(c.bytes_received));
  o.Set("bytesCopied", double(c.bytes_copied));
  o.Set("pdusSent", double(c.pdus_sent));
  o.Set("pdusReceived", double(c.pdus_received));
  o.Set("digestErrors", double(c.digest_errors));
  o.Set("commands", double(c.commands));
  o.Set("completions", double(c.completions));
  o.Set("r2ts", double(c.r2ts));
  o.Set("timeouts", double(c.timeouts));
  o.Set("retries", double(c.retries));
  o.Set("reconnects", double(c.reconnects));
  o.Set("failovers", double(c.failovers));
  return o;
}

uint32_t submission_words() { return kSubmissionWords; }

host::ControllerOptions parse_host_options(Napi::Env env, Napi::Value value) {
  return parse_options(env, value).controller;
}

void init_host(Napi::Env env, Napi::Object exports) {
  ControllerBinding::init(env);
  HostRuntime* rt = &runtime(env);
  env.AddCleanupHook([rt] { rt->controller_ctor.Reset(); });
  exports.Set("nvmeConnect", Napi::Function::New(env, connect));
  exports.Set("nvmeDiscover", Napi::Function::New(env, discover));
  exports.Set("nvmePoll", Napi::Function::New(env, poll));
  exports.Set("nvmeWaitReady", Napi::Function::New(env, wait_ready));
  exports.Set("nvmeResources", Napi::Function::New(env, resources));
  exports.Set("nvmeStatusName", Napi::Function::New(env, status_name));
  exports.Set("setNvmeEventDispatcher", Napi::Function::New(env, set_event_dispatcher));
}

}  // namespace rdmagate::napi
