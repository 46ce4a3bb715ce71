// Hands items from reactor threads to the JS thread in batches: any thread queues, the
// first item of a batch wakes the JS thread once (a thread-safe function call), and JS
// takes the whole batch in one drain(). The host's and the verbs API's event sinks are
// both made of one.
#pragma once

#include <napi.h>

#include <deque>
#include <mutex>
#include <utility>

namespace rdmagate::napi {

// Calls the dispatcher without node-addon-api's Function::Call: while the environment is
// torn down (a late item at exit) JS cannot run, and the C++ exception that Call would
// throw from this uv callback ends the process. A dispatcher's own exception stays
// pending, and Node reports it as uncaught.
inline void call_dispatcher(Napi::Env env, Napi::Function dispatch, std::nullptr_t*, std::nullptr_t*) {
  if (env == nullptr || dispatch.IsEmpty()) return;
  napi_value global, result;
  if (napi_get_global(env, &global) != napi_ok) return;
  napi_call_function(env, global, dispatch, 0, nullptr, &result);
}

template <class Item>
class BatchChannel {
 public:
  // JS thread, once: `dispatch` is called (on the JS thread) after items arrive.
  void start(Napi::Env env, Napi::Function dispatch, const char* name) {
    std::lock_guard<std::mutex> lock(mutex_);
    tsfn_ = Tsfn::New(env, dispatch, name, 0, 1);
    tsfn_.Unref(env);
    started_ = true;
  }
  bool started() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return started_;
  }
  // JS thread: keeps the process alive while something that will report is alive.
  void hold(Napi::Env env, int delta) {
    live_ += delta;
    if (live_ > 0) tsfn_.Ref(env);
    else tsfn_.Unref(env);
  }
  // Any thread.
  void push(Item item) {
    update([&](std::deque<Item>& q) { q.push_back(std::move(item)); });
  }
  // Any thread: `f` changes the queue under the lock (to merge into the last item, say).
  template <class F>
  void update(F&& f) {
    std::lock_guard<std::mutex> lock(mutex_);
    bool wake = queue_.empty();
    f(queue_);
    // Under the lock, so that shutdown() cannot release the function in between.
    if (wake && started_ && !queue_.empty()) tsfn_.NonBlockingCall();
  }
  // JS thread.
  std::deque<Item> drain() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::deque<Item> out;
    out.swap(queue_);
    return out;
  }
  void shutdown() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (started_) tsfn_.Release();
    started_ = false;
  }

 private:
  mutable std::mutex mutex_;
  std::deque<Item> queue_;
  using Tsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, std::nullptr_t, call_dispatcher>;
  Tsfn tsfn_;
  bool started_ = false;
  int live_ = 0;  // JS thread
};

}  // namespace rdmagate::napi
