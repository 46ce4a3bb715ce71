// The I/O loop of `rdmagate perf --engine native`, as spdk_nvme_perf runs it: one job per
// I/O queue of a connected host controller, run on that queue's reactor thread, keeping
// `iodepth` commands in flight and recording every command's latency into a
// LatencyHistogram.
//
// A controller reports I/O completions to the IoCompletionSink it was created with, so
// the engine is that sink: it is handed the events the bindings would have received and
// passes everything on, except the completions of its own commands while a run is going.
// Between runs the controller works for JS as any other.
//
// While a run goes, its job is the only producer of its queue's submission ring;
// nothing else may submit to that controller's I/O queues.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "host/controller.h"
#include "host/failure.h"
#include "perf/latency_histogram.h"

namespace rdmagate::perf {

// A job's status when its queue's submission ring was full: iodepth exceeded the queue's
// depth. Above every host status (host/failure.h).
inline constexpr uint32_t kStatusSubmitRingFull = host::kHostStatusBase + 0x100;

struct PerfConfig {
  uint32_t queues = 1;         // jobs: I/O queues 0 .. queues-1
  uint32_t iodepth = 1;        // commands in flight per job
  uint32_t nsid = 1;
  uint32_t block_size = 512;   // the namespace's LBA size
  uint32_t io_blocks = 8;      // blocks per command
  uint64_t first_lba = 0;      // the region the jobs work in: whole commands from here
  uint64_t region_ios = 1;     // commands that fit in the region
  bool random = false;         // random offsets, else sequential (wrapping)
  uint32_t read_percent = 100; // share of reads; the rest are writes
  uint64_t ramp_ns = 0;        // run, but do not count, this long first
  uint64_t run_ns = 0;         // then count this long
  uint64_t seed = 1;
};

struct DirectionResult {
  uint64_t ios = 0;
  uint64_t bytes = 0;
  LatencyHistogram latency;  // ns, from the push into the ring to the completion
};

struct JobResult {
  DirectionResult read, write;
  // The first failed command, when one failed; the job stops there.
  bool failed = false;
  uint32_t status = 0;  // host status word (host/failure.h)
  uint8_t opcode = 0;
  uint64_t lba = 0;
};

struct PerfResult {
  uint64_t runtime_ns = 0;  // the counted window
  std::vector<JobResult> jobs;
};

class PerfEngine final : public host::ControllerEvents {
 public:
  // Events that are not this engine's completions go to `next`.
  explicit PerfEngine(std::shared_ptr<host::ControllerEvents> next);
  ~PerfEngine() override;

  // Runs the jobs on `controller` (created with this engine as its events) and blocks
  // until every command has completed. Throws Error(ERR_BUSY) while another run is going,
  // ERR_INVALID_ARG for a bad config or a queue that does not exist.
  PerfResult run(host::Controller& controller, const PerfConfig& config);
  // Any thread: ends the current run early; what completed so far is reported.
  void stop() { stop_.store(true, std::memory_order_relaxed); }
  // Any thread: commands completed and bytes moved so far in the current run, ramp included.
  void progress(uint64_t* ios, uint64_t* bytes) const;

  // host::ControllerEvents, on reactor threads.
  void on_io_completions(uint64_t id, const uint32_t* pairs, size_t count) override;
  void on_connected(uint64_t id, const host::ControllerInfo& info) override;
  void on_connect_failed(uint64_t id, const host::Failure& failure) override;
  void on_disconnected(uint64_t id, const host::Failure& failure, bool reconnecting) override;
  void on_reconnected(uint64_t id) override;
  void on_removed(uint64_t id, const host::Failure& failure) override;
  void on_closed(uint64_t id) override;
  void on_namespaces_changed(uint64_t id, const std::vector<uint32_t>& nsids) override;
  void on_admin_done(uint64_t id, uint32_t op_id, uint32_t status, uint32_t dw0,
                     std::vector<uint8_t>&& data) override;

 private:
  class Job;
  struct Run;

  const std::shared_ptr<host::ControllerEvents> next_;
  std::atomic<bool> stop_{false};
  // The run in progress, if any. Reactor threads take a reference per completion burst,
  // so a run is never freed under a delivery.
  mutable std::mutex run_mutex_;
  std::shared_ptr<Run> run_;
};

}  // namespace rdmagate::perf
