#include "perf/perf_engine.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "host/failure.h"
#include "spec/nvme.h"
#include "util/clock.h"
#include "util/error.h"

namespace rdmagate::perf {

namespace {

// An operation id is (job << kSlotBits) | slot, so a completion finds its job and slot
// without a lookup.
constexpr unsigned kSlotBits = 16;
constexpr uint32_t kSlotMask = (1u << kSlotBits) - 1;
constexpr uint32_t kMaxQueues = 1024;
constexpr uint32_t kMaxBlocksPerCommand = 65536;  // NLB is 16 bits, 0's based
constexpr uint64_t kMaxBufferBytes = uint64_t(4) << 30;
constexpr size_t kPage = 4096;

// xorshift64*: offsets and the read/write mix need speed, not cryptographic quality.
class Random {
 public:
  explicit Random(uint64_t seed) : s_(seed ? seed : 0x9e3779b97f4a7c15ull) {}
  uint64_t next() {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return s_ * 0x2545f4914f6cdd1dull;
  }
  // Uniform in [0, n) by multiply-shift, which avoids a division per command.
  uint64_t below(uint64_t n) { return uint64_t((unsigned __int128)next() * n >> 64); }

 private:
  uint64_t s_;
};

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};

void check(const PerfConfig& c) {
  auto bad = [](const std::string& what) { throw Error("ERR_INVALID_ARG", "perf: " + what); };
  if (c.queues < 1 || c.queues > kMaxQueues) bad("queues must be in [1, 1024]");
  if (c.iodepth < 1 || c.iodepth > kSlotMask + 1) bad("iodepth must be in [1, 65536]");
  if (c.io_blocks < 1 || c.io_blocks > kMaxBlocksPerCommand) bad("blocks per command must be in [1, 65536]");
  if (c.block_size < 512 || (c.block_size & (c.block_size - 1))) bad("block size must be a power of two of at least 512");
  if (uint64_t(c.io_blocks) * c.block_size > UINT32_MAX) bad("a command may move at most 4 GiB");
  if (uint64_t(c.iodepth) * c.io_blocks * c.block_size > kMaxBufferBytes) bad("iodepth x block size must be at most 4 GiB per job");
  if (c.region_ios < 1 || c.region_ios > (UINT64_MAX - c.first_lba) / c.io_blocks) bad("the region is empty or too large");
  if (c.read_percent > 100) bad("read percentage must be in [0, 100]");
  if (c.nsid == 0 || c.nsid == 0xffffffff) bad("nsid must name one namespace");
}

}  // namespace

// Counts the jobs still running; run() waits on it.
class JobLatch {
 public:
  explicit JobLatch(size_t jobs) : left_(jobs) {}
  void done() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (--left_ == 0) all_done_.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    all_done_.wait(lock, [this] { return left_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable all_done_;
  size_t left_;
};

// One job drives one I/O queue, on that queue's reactor thread, as spdk_nvme_perf drives
// a queue from the thread that polls it: a completion's next command is submitted in the
// same reactor iteration, and the whole burst leaves in one send, with no thread hop.
class PerfEngine::Job {
 public:
  Job(uint32_t index, host::QueuePair& queue, const PerfConfig& c, const std::atomic<bool>& stop, JobLatch& latch)
      : index_(index),
        queue_(queue),
        config_(c),
        io_bytes_(c.io_blocks * c.block_size),
        stop_(stop),
        latch_(latch),
        rng_(c.seed * 0x9e3779b97f4a7c15ull + index + 1),
        slots_(c.iodepth) {
    size_t bytes = (size_t(c.iodepth) * io_bytes_ + kPage - 1) / kPage * kPage;
    buffers_.reset(static_cast<uint8_t*>(std::aligned_alloc(kPage, bytes)));
    if (!buffers_) throw Error("ERR_NO_MEMORY", "perf: cannot allocate " + std::to_string(bytes) + " bytes of I/O buffers");
    // Written data is not all zeros, so that nothing on the way can take a shortcut.
    for (size_t i = 0; i < bytes; i += sizeof(uint64_t)) {
      uint64_t v = rng_.next();
      std::memcpy(buffers_.get() + i, &v, sizeof v);
    }
  }

  // Any thread: has the queue's reactor fill the queue to iodepth.
  void start(uint64_t measure_ns, uint64_t end_ns) {
    measure_ns_ = measure_ns;
    end_ns_ = end_ns;
    queue_.reactor().post([this] {
      uint64_t now = util::monotonic_ns();
      for (uint32_t s = 0; s < config_.iodepth && !stopping_; ++s) submit(s, now);
      if (inflight_ == 0) latch_.done();
    });
  }

  // Reactor thread: one burst of this job's completions; each frees its slot for the next
  // command until the run ends, then the job drains.
  void deliver(const uint32_t* pairs, size_t count) {
    uint64_t now = util::monotonic_ns();
    if (!stopping_ && (now >= end_ns_ || stop_.load(std::memory_order_relaxed))) halt(now);
    uint64_t done = 0;
    for (size_t i = 0; i < count; ++i) {
      uint32_t slot = pairs[2 * i] & kSlotMask;
      uint32_t status = pairs[2 * i + 1];
      const Slot& s = slots_[slot];
      --inflight_;
      if (!host::status_ok(status)) {
        fail(status, s, now);
        continue;
      }
      ++done;
      if (now >= measure_ns_ && now < end_ns_) {
        DirectionResult& d = s.opcode == spec::kIoRead ? result_.read : result_.write;
        ++d.ios;
        d.bytes += io_bytes_;
        d.latency.record(now - s.start_ns);
      }
      if (!stopping_) submit(slot, now);
    }
    ios_.fetch_add(done, std::memory_order_relaxed);
    bytes_.fetch_add(done * io_bytes_, std::memory_order_relaxed);
    if (inflight_ == 0) latch_.done();
  }

  // Read after the latch has opened.
  const JobResult& result() const { return result_; }
  uint64_t stopped_ns() const { return stopped_ns_; }
  // Any thread.
  uint64_t ios() const { return ios_.load(std::memory_order_relaxed); }
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  struct Slot {
    uint64_t start_ns = 0;
    uint64_t lba = 0;
    uint8_t opcode = 0;
  };

  void submit(uint32_t slot, uint64_t now) {
    uint64_t unit;
    if (config_.random) {
      unit = rng_.below(config_.region_ios);
    } else {
      unit = next_unit_;
      if (++next_unit_ == config_.region_ios) next_unit_ = 0;
    }
    bool read = config_.read_percent == 100 ||
                (config_.read_percent != 0 && rng_.below(100) < config_.read_percent);
    Slot& s = slots_[slot];
    s.start_ns = now;
    s.lba = config_.first_lba + unit * config_.io_blocks;
    s.opcode = read ? spec::kIoRead : spec::kIoWrite;
    host::SubmitEntry e;
    e.op_id = index_ << kSlotBits | slot;
    e.opcode = s.opcode;
    e.nsid = config_.nsid;
    e.slba = s.lba;
    e.nlb = config_.io_blocks;
    e.data = buffers_.get() + size_t(slot) * io_bytes_;
    e.length = io_bytes_;
    if (!queue_.submit_now(e)) {
      // The ring holds the queue's depth; lib/perf keeps iodepth within it, so this is
      // a caller's mistake, reported rather than spun on.
      fail(kStatusSubmitRingFull, s, now);
      return;
    }
    ++inflight_;
  }

  // The first failed command is the one reported; the job stops there.
  void fail(uint32_t status, const Slot& s, uint64_t now) {
    if (!result_.failed) {
      result_.failed = true;
      result_.status = status;
      result_.opcode = s.opcode;
      result_.lba = s.lba;
    }
    halt(now);
  }

  void halt(uint64_t now) {
    stopping_ = true;
    stopped_ns_ = now;
  }

  const uint32_t index_;
  host::QueuePair& queue_;
  const PerfConfig config_;
  const uint32_t io_bytes_;
  const std::atomic<bool>& stop_;
  JobLatch& latch_;
  Random rng_;
  std::vector<Slot> slots_;
  std::unique_ptr<uint8_t, FreeDeleter> buffers_;  // iodepth commands' data, one after another

  // Reactor thread.
  uint64_t measure_ns_ = 0;
  uint64_t end_ns_ = 0;
  uint64_t stopped_ns_ = 0;
  uint64_t next_unit_ = 0;
  uint32_t inflight_ = 0;
  bool stopping_ = false;
  JobResult result_;

  std::atomic<uint64_t> ios_{0};
  std::atomic<uint64_t> bytes_{0};
};

struct PerfEngine::Run {
  explicit Run(size_t jobs) : latch(jobs) {}
  JobLatch latch;
  std::vector<std::unique_ptr<Job>> jobs;
  bool active = false;  // completions are routed here; guarded by run_mutex_
};

PerfEngine::PerfEngine(std::shared_ptr<host::ControllerEvents> next) : next_(std::move(next)) {}

PerfEngine::~PerfEngine() = default;

PerfResult PerfEngine::run(host::Controller& controller, const PerfConfig& config) {
  check(config);
  auto run = std::make_shared<Run>(config.queues);
  for (uint32_t q = 0; q < config.queues; ++q) {
    host::QueuePair* queue = controller.io_queue(q);
    if (!queue)
      throw Error("ERR_INVALID_ARG", "perf: the controller has no I/O queue " + std::to_string(q + 1) +
                                         " (it is not connected, or has fewer queues)");
    run->jobs.push_back(std::make_unique<Job>(q, *queue, config, stop_, run->latch));
  }
  {
    std::lock_guard<std::mutex> lock(run_mutex_);
    if (run_ && run_->active) throw Error("ERR_BUSY", "perf: a run is already going on this controller");
    run->active = true;
    run_ = run;
  }
  stop_.store(false, std::memory_order_relaxed);

  uint64_t measure_ns = util::monotonic_ns() + config.ramp_ns;
  uint64_t end_ns = measure_ns + config.run_ns;
  for (auto& job : run->jobs) job->start(measure_ns, end_ns);
  run->latch.wait();
  {
    std::lock_guard<std::mutex> lock(run_mutex_);
    run->active = false;
  }

  PerfResult result;
  uint64_t stopped = measure_ns;
  for (auto& job : run->jobs) {
    result.jobs.push_back(job->result());
    stopped = std::max(stopped, std::min(job->stopped_ns(), end_ns));
  }
  result.runtime_ns = stopped - measure_ns;
  return result;
}

void PerfEngine::progress(uint64_t* ios, uint64_t* bytes) const {
  std::lock_guard<std::mutex> lock(run_mutex_);
  *ios = *bytes = 0;
  if (!run_) return;
  for (auto& job : run_->jobs) {
    *ios += job->ios();
    *bytes += job->bytes();
  }
}

void PerfEngine::on_io_completions(uint64_t id, const uint32_t* pairs, size_t count) {
  std::shared_ptr<Run> run;
  {
    std::lock_guard<std::mutex> lock(run_mutex_);
    if (run_ && run_->active) run = run_;
  }
  if (!run) {
    next_->on_io_completions(id, pairs, count);
    return;
  }
  if (count == 0) return;
  // A burst comes from one queue, and one job owns each queue.
  uint32_t job = pairs[0] >> kSlotBits;
  if (job < run->jobs.size()) run->jobs[job]->deliver(pairs, count);
}

void PerfEngine::on_connected(uint64_t id, const host::ControllerInfo& info) { next_->on_connected(id, info); }
void PerfEngine::on_connect_failed(uint64_t id, const host::Failure& f) { next_->on_connect_failed(id, f); }
void PerfEngine::on_disconnected(uint64_t id, const host::Failure& f, bool reconnecting) {
  next_->on_disconnected(id, f, reconnecting);
}
void PerfEngine::on_reconnected(uint64_t id) { next_->on_reconnected(id); }
void PerfEngine::on_removed(uint64_t id, const host::Failure& f) { next_->on_removed(id, f); }
void PerfEngine::on_closed(uint64_t id) { next_->on_closed(id); }
void PerfEngine::on_namespaces_changed(uint64_t id, const std::vector<uint32_t>& nsids) {
  next_->on_namespaces_changed(id, nsids);
}
void PerfEngine::on_admin_done(uint64_t id, uint32_t op_id, uint32_t status, uint32_t dw0,
                               std::vector<uint8_t>&& data) {
  next_->on_admin_done(id, op_id, status, dw0, std::move(data));
}

}  // namespace rdmagate::perf
