// Unit tests for the file bdev: both engines (io_uring where the kernel allows it, and the
// thread pool) on a real reactor and a sparse temporary file, the synchronous path off
// reactors, teardown in either order, and the factory's errors.
// test-sources: native/bdev/file_bdev.cc native/reactor/reactor.cc
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bdev/file_bdev.h"
#include "check.h"
#include "reactor/reactor.h"
#include "util/error.h"

using namespace rdmagate;
using bdev::IoRequest;
using bdev::IoType;

namespace {

constexpr uint64_t kFileBytes = 16u << 20;
constexpr uint32_t kBlock = 512;

// Page-aligned, as the target's buffer pool hands them out.
struct Buffer {
  explicit Buffer(size_t bytes) : size(bytes), data(static_cast<uint8_t*>(aligned_alloc(4096, (bytes + 4095) & ~4095ul))) {}
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { free(data); }
  size_t size;
  uint8_t* data;
};

// The byte a pattern write puts at a file offset.
uint8_t pattern(uint64_t offset, uint8_t seed) { return uint8_t((offset * 2654435761u) >> 13) ^ seed; }

void fill(Buffer& b, uint64_t lba, uint8_t seed) {
  for (size_t i = 0; i < b.size; ++i) b.data[i] = pattern(lba * kBlock + i, seed);
}

// Whether b holds the pattern, or zeros where `zero(lba)` says so.
bool holds(const Buffer& b, uint64_t lba, uint8_t seed, const std::function<bool(uint64_t)>& zero) {
  for (size_t i = 0; i < b.size; ++i) {
    uint64_t off = lba * kBlock + i;
    if (b.data[i] != (zero(off / kBlock) ? 0 : pattern(off, seed))) {
      std::fprintf(stderr, "  mismatch at byte %llu\n", static_cast<unsigned long long>(off));
      return false;
    }
  }
  return true;
}

bool none(uint64_t) { return false; }

std::thread::id thread_of(Reactor& r) {
  std::promise<std::thread::id> p;
  r.post([&p] { p.set_value(std::this_thread::get_id()); });
  return p.get_future().get();
}

// I/O submitted together from one reactor task, so it is in flight at once.
class Batch {
 public:
  Batch(Reactor& reactor, bdev::Bdev& b) : reactor_(reactor), bdev_(b), thread_(thread_of(reactor)) {}

  void add(const IoRequest& io) { ios_.push_back(io); }

  // Returns once every I/O is submitted (not completed).
  void submit() {
    slots_.resize(ios_.size());
    left_ = ios_.size();
    for (size_t i = 0; i < slots_.size(); ++i) slots_[i] = {this, spec::status::kSuccess, false, false};
    std::promise<void> submitted;
    reactor_.post([this, &submitted] {
      for (size_t i = 0; i < ios_.size(); ++i) bdev_.submit(ios_[i], &Batch::done, &slots_[i]);
      submitted.set_value();
    });
    submitted.get_future().wait();
  }

  // Every status, once all completed; exits the test if they hang.
  std::vector<spec::Status> wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!cv_.wait_for(lock, std::chrono::seconds(30), [this] { return left_ == 0; })) {
      std::fprintf(stderr, "FAILED: %zu I/Os never completed\n", left_);
      std::exit(1);
    }
    std::vector<spec::Status> out;
    for (auto& s : slots_) {
      CHECK(s.on_reactor_thread);
      out.push_back(s.status);
    }
    return out;
  }

  std::vector<spec::Status> run() {
    submit();
    return wait();
  }

  // How many completed so far, each checked to have completed on the reactor thread.
  size_t completed() {
    std::lock_guard<std::mutex> lock(mutex_);
    bool on_reactor_thread = true;
    for (auto& s : slots_) on_reactor_thread &= !s.completed || s.on_reactor_thread;
    CHECK(on_reactor_thread);
    return slots_.size() - left_;
  }

 private:
  struct Slot {
    Batch* batch;
    spec::Status status;
    bool completed;
    bool on_reactor_thread;
  };

  // Records rather than CHECKs: the harness's counters belong to the main thread.
  static void done(void* ctx, spec::Status status) {
    auto* slot = static_cast<Slot*>(ctx);
    Batch* b = slot->batch;
    std::lock_guard<std::mutex> lock(b->mutex_);
    slot->status = status;
    slot->completed = true;
    slot->on_reactor_thread = std::this_thread::get_id() == b->thread_;
    --b->left_;
    b->cv_.notify_all();
  }

  Reactor& reactor_;
  bdev::Bdev& bdev_;
  const std::thread::id thread_;
  std::vector<IoRequest> ios_;
  std::vector<Slot> slots_;
  std::mutex mutex_;
  std::condition_variable cv_;
  size_t left_ = 0;
};

bool all_ok(const std::vector<spec::Status>& statuses) {
  for (auto s : statuses)
    if (!s.ok()) {
      std::fprintf(stderr, "  status sct %u sc 0x%x\n", s.sct, s.sc);
      return false;
    }
  return true;
}

IoRequest rw(IoType type, uint64_t lba, uint64_t blocks, Buffer& buf) {
  return {type, lba, blocks, buf.data, nullptr, 0};
}

// A sparse file of kFileBytes in `dir`; the caller unlinks it.
std::string make_file(const std::string& dir, uint64_t bytes) {
  std::string path = dir + "/rdmagate-file-bdev-XXXXXX";
  int fd = mkstemp(path.data());
  CHECK(fd >= 0);
  CHECK_EQ(ftruncate(fd, off_t(bytes)), 0);
  close(fd);
  return path;
}

void set_engine(const char* engine) {
  if (engine)
    setenv("RDMAGATE_FILE_BDEV_ENGINE", engine, 1);
  else
    unsetenv("RDMAGATE_FILE_BDEV_ENGINE");
}

struct Region {
  uint64_t lba;
  uint64_t blocks;
};

void test_engine(const char* forced, IdleMode mode, const std::string& dir, bool stop_reactor_first) {
  set_engine(forced);
  std::string path = make_file(dir, kFileBytes);
  auto b = bdev::make_file_bdev("f0", path, 0, true);
  unlink(path.c_str());  // the bdev keeps its descriptor
  auto info = bdev::file_bdev_info(*b);
  CHECK(info.has_value());
  std::printf("  engine %s on %s, %s reactor, direct %s\n", info->engine, dir.c_str(),
              mode == IdleMode::kEvent ? "event" : "busy-poll", info->direct ? "yes" : "no");
  if (forced) CHECK(std::string(info->engine) == forced);
  CHECK(!info->block_device);
  CHECK_EQ(b->block_size(), kBlock);
  CHECK_EQ(b->num_blocks(), kFileBytes / kBlock);
  CHECK(b->volatile_cache());  // a regular file: metadata needs fdatasync

  // A spin count of 1 makes an event-mode reactor sleep at once, so completions must wake it.
  Reactor reactor("file-bdev-test", mode, 1);
  reactor.start();
  const uint8_t seed = uint8_t(mode) * 16 + (forced ? 1 : 2);

  // 512 B to 128 KiB, then 600 of 4 KiB at once: more than the ring takes.
  std::vector<Region> regions = {{0, 1}, {1, 1}, {7, 3}, {64, 8}, {100, 16}, {1000, 64}, {2048, 256}, {32512, 256}};
  for (uint64_t i = 0; i < 600; ++i) regions.push_back({4096 + i * 8, 8});
  regions.push_back({9216, 6144});  // 3 MiB, zeroed below in more than one zero-buffer write
  {
    std::vector<std::unique_ptr<Buffer>> bufs;
    Batch writes(reactor, *b);
    for (auto& r : regions) {
      bufs.push_back(std::make_unique<Buffer>(r.blocks * kBlock));
      fill(*bufs.back(), r.lba, seed);
      writes.add(rw(IoType::kWrite, r.lba, r.blocks, *bufs.back()));
    }
    CHECK(all_ok(writes.run()));

    Batch reads(reactor, *b);
    for (size_t i = 0; i < regions.size(); ++i) {
      memset(bufs[i]->data, 0xee, bufs[i]->size);
      reads.add(rw(IoType::kRead, regions[i].lba, regions[i].blocks, *bufs[i]));
    }
    CHECK(all_ok(reads.run()));
    for (size_t i = 0; i < regions.size(); ++i) CHECK(holds(*bufs[i], regions[i].lba, seed, none));
  }

  {  // never written: the sparse file reads as zeros
    Buffer buf(16 * kBlock);
    memset(buf.data, 0xee, buf.size);
    Batch read(reactor, *b);
    read.add(rw(IoType::kRead, 20000, 16, buf));
    CHECK(all_ok(read.run()));
    CHECK(holds(buf, 20000, seed, [](uint64_t) { return true; }));
  }

  {  // Write Zeroes inside written ranges; the blocks around keep their data
    Batch zero(reactor, *b);
    zero.add({IoType::kWriteZeroes, 1008, 32, nullptr, nullptr, 0});
    zero.add({IoType::kWriteZeroes, 9217, 6142, nullptr, nullptr, 0});
    CHECK(all_ok(zero.run()));
    Buffer a(64 * kBlock), c(6144 * kBlock);
    Batch read(reactor, *b);
    read.add(rw(IoType::kRead, 1000, 64, a));
    read.add(rw(IoType::kRead, 9216, 6144, c));
    CHECK(all_ok(read.run()));
    CHECK(holds(a, 1000, seed, [](uint64_t lba) { return lba >= 1008 && lba < 1040; }));
    CHECK(holds(c, 9216, seed, [](uint64_t lba) { return lba > 9216 && lba < 15359; }));
  }

  {  // Unmap: deallocated blocks read as zeros; empty ranges are skipped
    spec::DsmRange ranges[3] = {{0, 16, 2064}, {0, 0, 0}, {0, 50, 2148}};
    spec::DsmRange empty{0, 0, 5};
    Batch unmap(reactor, *b);
    unmap.add({IoType::kUnmap, 0, 0, nullptr, ranges, 3});
    unmap.add({IoType::kUnmap, 0, 0, nullptr, &empty, 1});
    CHECK(all_ok(unmap.run()));
    Buffer buf(256 * kBlock);
    Batch read(reactor, *b);
    read.add(rw(IoType::kRead, 2048, 256, buf));
    CHECK(all_ok(read.run()));
    CHECK(holds(buf, 2048, seed, [](uint64_t lba) { return (lba >= 2064 && lba < 2080) || (lba >= 2148 && lba < 2198); }));
  }

  {
    Batch flush(reactor, *b);
    flush.add({IoType::kFlush, 0, 0, nullptr, nullptr, 0});
    CHECK(all_ok(flush.run()));
  }

  {  // off reactor threads the I/O completes before submit() returns, on the caller's thread
    Buffer w(8 * kBlock), r(8 * kBlock);
    fill(w, 30000, seed);
    struct Sync {
      std::thread::id thread;
      bool called = false;
      spec::Status status{0xff, 0xff};
    } sync;
    auto done = [](void* ctx, spec::Status s) {
      auto* c = static_cast<Sync*>(ctx);
      c->called = c->thread == std::this_thread::get_id();
      c->status = s;
    };
    sync.thread = std::this_thread::get_id();
    b->submit(rw(IoType::kWrite, 30000, 8, w), done, &sync);
    CHECK(sync.called && sync.status.ok());
    sync.called = false;
    b->submit(rw(IoType::kRead, 30000, 8, r), done, &sync);
    CHECK(sync.called && sync.status.ok());
    CHECK(holds(r, 30000, seed, none));
  }

  Buffer buf(64 * 4096);
  memset(buf.data, 0, buf.size);
  Batch late(reactor, *b);
  for (uint64_t i = 0; i < 64; ++i) late.add({IoType::kWrite, 24000 + i * 8, 8, buf.data + i * 4096, nullptr, 0});
  late.submit();
  if (stop_reactor_first) {
    // As Target::close() may: the reactor stops with I/O in flight, the bdev outlives it.
    // The engine waits for that I/O when the thread ends and drops its callbacks.
    reactor.stop();
    CHECK(late.completed() <= 64);
    b.reset();
  } else {
    // As removing a namespace may: the last reference goes with I/O in flight, which
    // keeps the bdev until it completes.
    b.reset();
    CHECK(all_ok(late.wait()));
    reactor.stop();
  }
}

template <class F>
void expect_error(F&& f, const std::string& code) {
  try {
    f();
    check::fail(__FILE__, __LINE__, "no error, expected " + code);
  } catch (const Error& e) {
    CHECK_EQ(e.code(), code);
    if (e.code() != code) std::fprintf(stderr, "  message: %s\n", e.what());
  }
}

void test_errors(const std::string& dir) {
  set_engine(nullptr);
  expect_error([] { bdev::make_file_bdev("e", "/nonexistent-rdmagate/disk.img", 0, true); }, "ERR_NOT_FOUND");
  expect_error([&] { bdev::make_file_bdev("e", dir, 0, true); }, "ERR_INVALID_ARG");
  expect_error([] { bdev::make_file_bdev("e", "", 0, true); }, "ERR_INVALID_ARG");

  std::string empty = make_file(dir, 0);
  expect_error([&] { bdev::make_file_bdev("e", empty, 0, true); }, "ERR_INVALID_ARG");
  unlink(empty.c_str());

  std::string tiny = make_file(dir, 4096);
  expect_error([&] { bdev::make_file_bdev("e", tiny, 8192, true); }, "ERR_INVALID_ARG");  // below one block
  expect_error([&] { bdev::make_file_bdev("e", tiny, 1000, true); }, "ERR_INVALID_ARG");
  set_engine("uring");
  expect_error([&] { bdev::make_file_bdev("e", tiny, 0, true); }, "ERR_INVALID_ARG");
  set_engine(nullptr);

  auto b = bdev::make_file_bdev("buffered", tiny, 4096, false);
  CHECK_EQ(b->num_blocks(), 1);
  CHECK_EQ(b->block_size(), 4096);
  CHECK(!bdev::file_bdev_info(*b)->direct);
  CHECK(b->volatile_cache());
  struct OtherBdev : bdev::Bdev {
    OtherBdev() : Bdev("other", 512, 8) {}
    void submit(const IoRequest&, bdev::IoDone done, void* ctx) override { done(ctx, spec::status::kSuccess); }
  } other;
  CHECK(!bdev::file_bdev_info(other).has_value());
  unlink(tiny.c_str());
}

bool is_dir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && access(path.c_str(), W_OK) == 0;
}

}  // namespace

int main() {
  const char* tmp = std::getenv("TMPDIR");
  const std::string dir = tmp && *tmp ? tmp : "/tmp";
  test_errors(dir);
  std::printf("file bdev on %s:\n", dir.c_str());
  test_engine(nullptr, IdleMode::kEvent, dir, false);
  test_engine("threads", IdleMode::kEvent, dir, true);
  // tmpfs has no FALLOC_FL_ZERO_RANGE: Write Zeroes falls back to writing zeros.
  if (is_dir("/dev/shm")) {
    test_engine(nullptr, IdleMode::kBusyPoll, "/dev/shm", true);
    test_engine("threads", IdleMode::kBusyPoll, "/dev/shm", false);
  }
  set_engine(nullptr);
  return check::report("test_file_bdev");
}
