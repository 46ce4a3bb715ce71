#include "napi/perf_binding.h"

#include <cmath>
#include <exception>
#include <functional>
#include <memory>
#include <string>

#include "napi/errors.h"
#include "napi/host_binding.h"
#include "perf/perf_engine.h"
#include "perf/tcp_round_trip.h"

namespace rdmagate::napi {

namespace {

using perf::PerfConfig;
using perf::PerfEngine;
using perf::PerfResult;

[[noreturn]] void invalid(Napi::Env env, const std::string& message) {
  throw make_error(env, "ERR_INVALID_ARG", message);
}

// The config as lib/perf/native-engine.ts builds it; the engine checks the ranges.
PerfConfig parse_config(Napi::Env env, Napi::Value value) {
  if (!value.IsObject()) invalid(env, "config must be an object");
  Napi::Object o = value.As<Napi::Object>();
  auto num = [&](const char* key) {
    Napi::Value v = o.Get(key);
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
    if (!(d >= 0 && d <= 9007199254740991.0 && d == std::floor(d)))
      invalid(env, std::string(key) + " must be an integer in [0, 2^53)");
    return uint64_t(d);
  };
  auto u32 = [&](const char* key) {
    uint64_t v = num(key);
    if (v > UINT32_MAX) invalid(env, std::string(key) + " must be an integer in [0, 2^32)");
    return uint32_t(v);
  };
  Napi::Value random = o.Get("random");
  if (!random.IsBoolean()) invalid(env, "random must be a boolean");
  PerfConfig c;
  c.queues = u32("queues");
  c.iodepth = u32("iodepth");
  c.nsid = u32("nsid");
  c.block_size = u32("blockSize");
  c.io_blocks = u32("ioBlocks");
  c.first_lba = num("firstLba");
  c.region_ios = num("regionIos");
  c.random = random.As<Napi::Boolean>().Value();
  c.read_percent = u32("readPercent");
  c.ramp_ns = num("rampNs");
  c.run_ns = num("runNs");
  c.seed = num("seed");
  return c;
}

Napi::Object direction_object(Napi::Env env, const perf::DirectionResult& d) {
  const perf::LatencyHistogram& h = d.latency;
  Napi::Float64Array counts = Napi::Float64Array::New(env, perf::LatencyHistogram::kBuckets);
  for (size_t i = 0; i < perf::LatencyHistogram::kBuckets; ++i) counts[i] = double(h.counts()[i]);
  Napi::Object latency = Napi::Object::New(env);
  latency.Set("count", double(h.count()));
  latency.Set("min", h.count() ? double(h.min()) : 0);
  latency.Set("max", double(h.max()));
  latency.Set("sum", h.sum());
  latency.Set("sumSquares", h.sum_squares());
  latency.Set("counts", counts);
  Napi::Object o = Napi::Object::New(env);
  o.Set("ios", double(d.ios));
  o.Set("bytes", double(d.bytes));
  o.Set("latency", latency);
  return o;
}

Napi::Object result_object(Napi::Env env, const PerfResult& r) {
  Napi::Array jobs = Napi::Array::New(env, r.jobs.size());
  for (uint32_t i = 0; i < r.jobs.size(); ++i) {
    const perf::JobResult& j = r.jobs[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("read", direction_object(env, j.read));
    o.Set("write", direction_object(env, j.write));
    o.Set("failed", j.failed);
    o.Set("status", j.status);
    o.Set("opcode", j.opcode);
    o.Set("lba", double(j.lba));
    jobs.Set(i, o);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("runtimeNs", double(r.runtime_ns));
  o.Set("jobs", jobs);
  return o;
}

// Runs `work` on a libuv pool thread and settles a promise with its result (`to_js`), or
// with a typed error. The perf run only waits there for its reactors; the round trip
// drives its two sockets there.
template <class Result>
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using ToJs = Napi::Value (*)(Napi::Env, const Result&);
  PromiseWorker(Napi::Env env, const char* name, std::function<Result()> work, ToJs to_js)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)),
        to_js_(to_js) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    try {
      result_ = work_();
    } catch (...) {
      error_ = std::current_exception();
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (!error_) return deferred_.Resolve(to_js_(env, result_));
    try {
      guarded(env, [&] { std::rethrow_exception(error_); });  // typed, errno kept
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (const std::exception& e) {  // a thread that could not start, say
      deferred_.Reject(make_error(env, "ERR_PERF", e.what()).Value());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  const std::function<Result()> work_;
  const ToJs to_js_;
  Result result_;
  std::exception_ptr error_;
};

Napi::Object start_run(const Napi::CallbackInfo& info, const std::shared_ptr<PerfEngine>& engine,
                       const std::shared_ptr<host::Controller>& controller) {
  Napi::Env env = info.Env();
  auto* worker = new PromiseWorker<PerfResult>(
      env, "rdmagate-perf",
      [engine, controller, config = parse_config(env, info[0])] { return engine->run(*controller, config); },
      [](Napi::Env e, const PerfResult& r) -> Napi::Value { return result_object(e, r); });
  Napi::Object run = Napi::Object::New(env);
  run.Set("done", worker->promise());
  run.Set("progress", Napi::Function::New(env, [engine](const Napi::CallbackInfo& ci) {
    uint64_t ios = 0, bytes = 0;
    engine->progress(&ios, &bytes);
    Napi::Object o = Napi::Object::New(ci.Env());
    o.Set("ios", double(ios));
    o.Set("bytes", double(bytes));
    return o;
  }));
  run.Set("stop", Napi::Function::New(env, [engine](const Napi::CallbackInfo&) { engine->stop(); }));
  worker->Queue();
  return run;
}

// perfConnect(options) -> { id, handle, engine }.
Napi::Value perf_connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<PerfEngine> engine;
  ConnectedController c = connect_controller(env, info[0], [&engine](std::shared_ptr<host::ControllerEvents> js) {
    engine = std::make_shared<PerfEngine>(std::move(js));
    return engine;
  });
  Napi::Object runner = Napi::Object::New(env);
  runner.Set("run", Napi::Function::New(env, [engine, controller = c.controller](const Napi::CallbackInfo& ci) {
    return start_run(ci, engine, controller);
  }));
  c.js.Set("engine", runner);
  return c.js;
}

// tcpRoundTrip(roundTrips, requestBytes, responseBytes): the loopback TCP floor (perf/tcp_round_trip.h).
Napi::Value tcp_round_trip(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto count = [&](size_t i, const char* name, uint32_t max) {
    double d = info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : NAN;
    if (!(d >= 1 && d <= max && d == std::floor(d)))
      invalid(env, std::string(name) + " must be an integer in [1, " + std::to_string(max) + "]");
    return uint32_t(d);
  };
  uint32_t round_trips = count(0, "roundTrips", 10000000), request = count(1, "requestBytes", 1 << 20),
           response = count(2, "responseBytes", 1 << 20);
  // Resolves with { meanUs, minUs }.
  auto* worker = new PromiseWorker<perf::RoundTripResult>(
      env, "rdmagate.tcpRoundTrip", [=] { return perf::tcp_round_trip(round_trips, request, response); },
      [](Napi::Env e, const perf::RoundTripResult& r) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("meanUs", r.mean_us);
        o.Set("minUs", r.min_us);
        return o;
      });
  Napi::Promise p = worker->promise();
  worker->Queue();
  return p;
}

}  // namespace

void init_perf(Napi::Env env, Napi::Object exports) {
  exports.Set("perfConnect", Napi::Function::New(env, perf_connect));
  exports.Set("tcpRoundTrip", Napi::Function::New(env, tcp_round_trip));
}

}  // namespace rdmagate::napi
