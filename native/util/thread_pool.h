// A fixed set of worker threads running queued tasks in FIFO order: for blocking system
// calls that must not stall a reactor.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace rdmagate {

class ThreadPool {
 public:
  using Task = std::function<void()>;

  // Throws std::system_error when a thread cannot be started.
  explicit ThreadPool(unsigned threads);
  // Drops the tasks not yet started and joins the workers once their current task ends.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Any thread but a worker's.
  void run(Task task);

 private:
  void work();
  void stop();

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Task> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace rdmagate
