#include "bdev/file_bdev.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <system_error>
#include <utility>

#include "reactor/reactor.h"
#include "util/error.h"
#include "util/thread_pool.h"
#include "util/uring.h"

namespace rdmagate::bdev {

namespace {

constexpr uint64_t kMaxStepBytes = uint64_t(1) << 30;  // io_uring lengths are 32-bit
constexpr unsigned kRingEntries = 256;
constexpr unsigned kPoolThreads = 2;

// Written where the file system can neither zero nor deallocate a range itself. Never
// written to, so its pages all map the kernel's zero page; a multiple of every block size.
alignas(4096) uint8_t g_zeros[1 << 20];

enum class Engine : uint8_t { kIoUring, kThreads };

// One blocking system call: a pool worker's task, or one io_uring SQE.
struct Step {
  enum Kind : uint8_t { kRead, kWrite, kFdatasync, kFallocate } kind;
  int fd;
  int mode;  // kFallocate
  uint8_t* buf;
  uint64_t offset;
  uint64_t len;
};

// How Write Zeroes and Unmap make a range read as zeros, best first.
enum class Zeroing : uint8_t { kPunchHole, kZeroRange, kWriteZeros };

class FileBdev;

// An I/O in flight: the request and the step it is at.
struct Op {
  // Held while in flight: the target may drop a namespace with I/O outstanding, and the
  // fd and the callback must outlive it.
  std::shared_ptr<FileBdev> bdev;
  IoRequest io;
  IoDone done;
  void* ctx;
  Engine engine;
  Zeroing zeroing;
  uint32_t range;  // kUnmap: the range being worked on
  uint64_t pos;    // bytes of the current extent done
  Step step;
  int64_t result;  // of `step`, from a pool worker
  Op* next;        // in the free list or the ring backlog
};

int64_t run_step(const Step& s) {
  ssize_t r = -1;
  switch (s.kind) {
    case Step::kRead: r = pread(s.fd, s.buf, s.len, off_t(s.offset)); break;
    case Step::kWrite: r = pwrite(s.fd, s.buf, s.len, off_t(s.offset)); break;
    case Step::kFdatasync: r = fdatasync(s.fd); break;
    case Step::kFallocate: r = fallocate(s.fd, s.mode, off_t(s.offset), off_t(s.len)); break;
  }
  return r < 0 ? -int64_t(errno) : int64_t(r);
}

void prep_sqe(io_uring_sqe* sqe, const Step& s) {
  sqe->fd = s.fd;
  sqe->off = s.offset;
  switch (s.kind) {
    case Step::kRead:
    case Step::kWrite:
      sqe->opcode = s.kind == Step::kRead ? IORING_OP_READ : IORING_OP_WRITE;
      sqe->addr = uintptr_t(s.buf);
      sqe->len = uint32_t(s.len);
      break;
    case Step::kFdatasync:
      sqe->opcode = IORING_OP_FSYNC;
      sqe->fsync_flags = IORING_FSYNC_DATASYNC;
      break;
    case Step::kFallocate:  // io_uring's own packing of fallocate's arguments
      sqe->opcode = IORING_OP_FALLOCATE;
      sqe->addr = s.len;
      sqe->len = uint32_t(s.mode);
      break;
  }
}

spec::Status error_status(Step::Kind kind, int err) {
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return spec::status::kCapExceeded;  // a sparse file outgrew its file system
    case EIO:
    case ENODATA:
    case EBADMSG:
    case EROFS:
      return kind == Step::kRead ? spec::status::kUnrecoveredReadError : spec::status::kWriteFault;
    default:
      return spec::status::kInternal;
  }
}

// fallocate errors that mean "not on this file" rather than failure: the next zeroing
// method is correct too. EINVAL included, as some file systems answer unknown modes so.
bool zeroing_unsupported(int err) {
  return err == EOPNOTSUPP || err == ENOSYS || err == ENODEV || err == EINVAL;
}

// Whether this process may use io_uring with every opcode the bdev needs (Linux 5.6+).
// Probed once: a ring refused for lack of privilege or kernel support stays refused.
bool io_uring_usable() {
  static const bool usable = [] {
    try {
      Uring ring(4);
      return ring.supports({IORING_OP_READ, IORING_OP_WRITE, IORING_OP_FSYNC, IORING_OP_FALLOCATE});
    } catch (const Error&) {
      return false;
    }
  }();
  return usable;
}

Engine choose_engine() {
  const char* env = getenv("RDMAGATE_FILE_BDEV_ENGINE");
  const std::string forced = env ? env : "";
  if (forced == "threads") return Engine::kThreads;
  if (!forced.empty() && forced != "auto")
    throw Error("ERR_INVALID_ARG", "RDMAGATE_FILE_BDEV_ENGINE must be 'auto' or 'threads', not '" + forced + "'");
  return io_uring_usable() ? Engine::kIoUring : Engine::kThreads;
}

class FileBdev final : public Bdev, public std::enable_shared_from_this<FileBdev> {
 public:
  FileBdev(const std::string& name, uint32_t block_size, uint64_t num_blocks, int fd, Engine engine, bool direct,
           bool block_device, bool volatile_cache)
      : Bdev(name, block_size, num_blocks),
        fd_(fd),
        engine_(engine),
        direct_(direct),
        block_device_(block_device),
        volatile_cache_(volatile_cache) {}
  ~FileBdev() override { close(fd_); }

  bool volatile_cache() const override { return volatile_cache_; }
  void submit(const IoRequest& io, IoDone done, void* ctx) override;
  uint64_t medium_blocks() const override;

  Engine engine() const { return engine_; }
  FileBdevInfo info() const {
    return {engine_ == Engine::kIoUring ? "io_uring" : "threads", direct_, block_device_};
  }

  // The steps of an I/O, the same on every engine. begin() sets the first step and is
  // false when there is none; advance() takes a step's result (bytes or -errno), sets the
  // next step, or is true when the I/O is finished, with `status` set.
  bool begin(Op& op) const;
  bool advance(Op& op, int64_t result, spec::Status& status);

 private:
  struct Extent {
    uint64_t offset;
    uint64_t len;
  };
  Extent extent(const Op& op) const;
  void prepare(Op& op) const;
  static void skip_empty_ranges(Op& op);

  const int fd_;
  const Engine engine_;
  const bool direct_;
  const bool block_device_;
  const bool volatile_cache_;
  // Cleared the first time the file refuses the call, so later I/O skips it.
  std::atomic<bool> punch_ok_{true};
  std::atomic<bool> zero_range_ok_{true};
};

// The file I/O machinery of one reactor thread, shared by all file bdevs: created on the
// reactor's first file I/O, destroyed when its thread ends. That is inside
// Reactor::stop(), before the Reactor object can go, so it may still deregister from it,
// and no bdev destructor ever has to reach into a reactor.
class ReactorIo {
 public:
  explicit ReactorIo(Reactor& reactor) : reactor_(reactor) {}
  ~ReactorIo();
  ReactorIo(const ReactorIo&) = delete;
  ReactorIo& operator=(const ReactorIo&) = delete;

  // The calling reactor thread's.
  static ReactorIo& of(Reactor& reactor);
  void start(FileBdev& bdev, const IoRequest& io, IoDone done, void* ctx);

 private:
  Op* alloc();
  void release(Op* op);
  void issue(Op* op);
  void resume(Op* op, int64_t result);
  bool ring_ready();
  bool pool_ready();
  void ring_issue(Op* op);
  bool ring_queue(Op* op);
  int ring_poll();

  Reactor& reactor_;
  std::deque<Op> ops_;  // never shrinks: addresses stay valid, and the I/O path reuses them
  Op* free_ = nullptr;

  std::unique_ptr<Uring> ring_;
  bool ring_failed_ = false;
  int event_fd_ = -1;
  Reactor::PollerId poller_ = 0;
  // In the ring and not yet reaped: at most the CQ size, so completions never overflow.
  unsigned ring_ops_ = 0;
  // Waiting for room in the ring, in order.
  Op* backlog_ = nullptr;
  Op** backlog_tail_ = &backlog_;

  std::unique_ptr<ThreadPool> pool_;
};

thread_local std::unique_ptr<ReactorIo> t_reactor_io;

ReactorIo& ReactorIo::of(Reactor& reactor) {
  if (!t_reactor_io) t_reactor_io = std::make_unique<ReactorIo>(reactor);
  return *t_reactor_io;
}

ReactorIo::~ReactorIo() {
  // The reactor runs nothing more, so I/O still in flight is waited for (a worker or the
  // kernel may still use its buffer) and its callback dropped.
  pool_.reset();
  if (!ring_) return;
  reactor_.remove_poller(poller_);
  reactor_.remove_fd(event_fd_);
  while (ring_ops_ > 0) {
    int r = ring_->submit(1);
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) break;  // cannot wait: leave it to the kernel
    ring_ops_ -= ring_->drain([](const io_uring_cqe&) {});
  }
  ring_.reset();
  close(event_fd_);
}

Op* ReactorIo::alloc() {
  if (!free_) return &ops_.emplace_back();
  Op* op = free_;
  free_ = op->next;
  return op;
}

void ReactorIo::release(Op* op) {
  op->next = free_;
  free_ = op;
}

void ReactorIo::start(FileBdev& bdev, const IoRequest& io, IoDone done, void* ctx) {
  Op* op = alloc();
  op->io = io;
  op->done = done;
  op->ctx = ctx;
  if (!bdev.begin(*op)) {
    release(op);
    return done(ctx, spec::status::kSuccess);
  }
  // A reactor whose ring the kernel refuses uses the pool instead.
  op->engine = bdev.engine() == Engine::kIoUring && ring_ready() ? Engine::kIoUring : Engine::kThreads;
  if (op->engine == Engine::kThreads && !pool_ready()) {
    release(op);
    return reactor_.post([done, ctx] { done(ctx, spec::status::kInternal); });
  }
  op->bdev = bdev.shared_from_this();
  issue(op);
}

void ReactorIo::issue(Op* op) {
  if (op->engine == Engine::kIoUring) return ring_issue(op);
  pool_->run([this, op] {
    op->result = run_step(op->step);
    reactor_.post([this, op] { resume(op, op->result); });
  });
}

void ReactorIo::resume(Op* op, int64_t result) {
  spec::Status status;
  if (!op->bdev->advance(*op, result, status)) return issue(op);
  // Released after `done`, which must not run on a destroyed bdev, and the op before it,
  // as `done` may submit again.
  std::shared_ptr<FileBdev> bdev = std::move(op->bdev);
  IoDone done = op->done;
  void* ctx = op->ctx;
  release(op);
  done(ctx, status);
}

bool ReactorIo::pool_ready() {
  if (pool_) return true;
  try {
    pool_ = std::make_unique<ThreadPool>(kPoolThreads);
    return true;
  } catch (const std::system_error&) {
    return false;
  }
}

bool ReactorIo::ring_ready() {
  if (ring_ || ring_failed_) return bool(ring_);
  ring_failed_ = true;  // until everything below succeeds
  std::unique_ptr<Uring> ring;
  try {
    ring = std::make_unique<Uring>(kRingEntries);
  } catch (const Error&) {
    return false;
  }
  int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (efd < 0) return false;
  // Completions wake an event-mode reactor through the eventfd; a busy-polling one sees
  // them in the poller without a system call.
  if (ring->register_eventfd(efd) != 0) {
    close(efd);
    return false;
  }
  try {
    reactor_.add_fd(efd, EPOLLIN, [this, efd](uint32_t) {
      uint64_t count;
      ssize_t unused = read(efd, &count, sizeof count);  // clears the level-triggered fd
      (void)unused;
      ring_poll();
    });
  } catch (const Error&) {
    close(efd);
    return false;
  }
  event_fd_ = efd;
  ring_ = std::move(ring);
  poller_ = reactor_.add_poller([this] { return ring_poll(); });
  ring_failed_ = false;
  return true;
}

void ReactorIo::ring_issue(Op* op) {
  if (!backlog_ && ring_queue(op)) return;
  op->next = nullptr;
  *backlog_tail_ = op;
  backlog_tail_ = &op->next;
}

bool ReactorIo::ring_queue(Op* op) {
  if (ring_ops_ >= ring_->cq_entries()) return false;
  io_uring_sqe* sqe = ring_->get_sqe();
  if (!sqe) {
    ring_->submit();
    if (!(sqe = ring_->get_sqe())) return false;
  }
  prep_sqe(sqe, op->step);
  sqe->user_data = uintptr_t(op);
  ++ring_ops_;
  return true;
}

// Reaps completions, moves waiting I/O into the freed room, and submits everything queued
// since the last call, so SQEs are batched into one io_uring_enter per reactor iteration.
// I/O that a later poller submits goes in the next iteration, which an event-mode reactor
// runs before sleeping, since an iteration with work never sleeps.
int ReactorIo::ring_poll() {
  int work = int(ring_->drain([this](const io_uring_cqe& cqe) {
    --ring_ops_;
    resume(reinterpret_cast<Op*>(uintptr_t(cqe.user_data)), cqe.res);
  }));
  while (backlog_ && ring_queue(backlog_)) {
    backlog_ = backlog_->next;
    if (!backlog_) backlog_tail_ = &backlog_;
  }
  ring_->submit();
  // What the kernel did not take (EAGAIN, EBUSY) counts as work, so the reactor does not
  // sleep on it but retries.
  return work + int(ring_->queued());
}

FileBdev::Extent FileBdev::extent(const Op& op) const {
  const uint64_t bs = block_size();
  if (op.io.type == IoType::kUnmap) {
    const spec::DsmRange& r = op.io.ranges[op.range];
    return {r.slba * bs, uint64_t(r.nlb) * bs};
  }
  return {op.io.offset_blocks * bs, op.io.num_blocks * bs};
}

void FileBdev::prepare(Op& op) const {
  const Extent e = extent(op);
  const uint64_t offset = e.offset + op.pos;
  const uint64_t left = e.len - op.pos;
  switch (op.io.type) {
    case IoType::kRead:
    case IoType::kWrite: {
      Step::Kind kind = op.io.type == IoType::kRead ? Step::kRead : Step::kWrite;
      op.step = {kind, fd_, 0, op.io.buf + op.pos, offset, std::min(left, kMaxStepBytes)};
      return;
    }
    case IoType::kFlush:
      op.step = {Step::kFdatasync, fd_, 0, nullptr, 0, 0};
      return;
    case IoType::kWriteZeroes:
    case IoType::kUnmap:
      switch (op.zeroing) {
        case Zeroing::kPunchHole:
          // On a block device: zeroing by discard or Write Zeroes, or EOPNOTSUPP when the
          // device cannot promise zeros (unlike BLKDISCARD, which promises nothing).
          op.step = {Step::kFallocate, fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, nullptr, offset, left};
          return;
        case Zeroing::kZeroRange:
          // On a block device the same as BLKZEROOUT, but asynchronous on io_uring.
          op.step = {Step::kFallocate, fd_, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, nullptr, offset, left};
          return;
        case Zeroing::kWriteZeros:
          op.step = {Step::kWrite, fd_, 0, g_zeros, offset, std::min<uint64_t>(left, sizeof g_zeros)};
          return;
      }
  }
}

void FileBdev::skip_empty_ranges(Op& op) {
  while (op.range < op.io.nr_ranges && op.io.ranges[op.range].nlb == 0) ++op.range;
}

bool FileBdev::begin(Op& op) const {
  op.range = 0;
  op.pos = 0;
  if (op.io.type == IoType::kUnmap) {
    skip_empty_ranges(op);
    if (op.range == op.io.nr_ranges) return false;
  } else if (op.io.type != IoType::kFlush && op.io.num_blocks == 0) {
    return false;
  }
  if (op.io.type == IoType::kUnmap && punch_ok_.load(std::memory_order_relaxed))
    op.zeroing = Zeroing::kPunchHole;
  else
    op.zeroing = zero_range_ok_.load(std::memory_order_relaxed) ? Zeroing::kZeroRange : Zeroing::kWriteZeros;
  prepare(op);
  return true;
}

bool FileBdev::advance(Op& op, int64_t result, spec::Status& status) {
  const Step::Kind kind = op.step.kind;
  if (result == -EINTR || result == -EAGAIN) return false;  // the same step again
  if (result < 0 && kind == Step::kFallocate && zeroing_unsupported(int(-result))) {
    if (op.zeroing == Zeroing::kPunchHole) {
      punch_ok_.store(false, std::memory_order_relaxed);
      op.zeroing = zero_range_ok_.load(std::memory_order_relaxed) ? Zeroing::kZeroRange : Zeroing::kWriteZeros;
    } else {
      zero_range_ok_.store(false, std::memory_order_relaxed);
      op.zeroing = Zeroing::kWriteZeros;
    }
    prepare(op);
    return false;
  }
  if (result < 0 || kind == Step::kFdatasync) {
    status = result < 0 ? error_status(kind, int(-result)) : spec::status::kSuccess;
    return true;
  }
  if (kind == Step::kRead || kind == Step::kWrite) {
    if (result == 0) {  // end of file: it shrank under us
      status = kind == Step::kRead ? spec::status::kUnrecoveredReadError : spec::status::kWriteFault;
      return true;
    }
    op.pos += uint64_t(result);  // short transfers go on from where they stopped
  } else {
    op.pos += op.step.len;  // fallocate does the whole extent or fails
  }
  if (op.pos < extent(op).len) {
    prepare(op);
    return false;
  }
  if (op.io.type == IoType::kUnmap) {
    ++op.range;
    op.pos = 0;
    skip_empty_ranges(op);
    if (op.range < op.io.nr_ranges) {
      prepare(op);
      return false;
    }
  }
  status = spec::status::kSuccess;
  return true;
}

void FileBdev::submit(const IoRequest& io, IoDone done, void* ctx) {
  if (Reactor* reactor = Reactor::current()) return ReactorIo::of(*reactor).start(*this, io, done, ctx);
  // Off reactor threads (tools, tests) the steps run here, blocking.
  Op op{};
  op.io = io;
  spec::Status status = spec::status::kSuccess;
  if (begin(op))
    while (!advance(op, run_step(op.step), status)) {
    }
  done(ctx, status);
}

// Closes the descriptor unless released: the factory throws on many paths.
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) close(fd_);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

[[noreturn]] void throw_errno(const std::string& what, int e) {
  const char* code = e == ENOENT || e == ENOTDIR ? "ERR_NOT_FOUND" : e == EISDIR ? "ERR_INVALID_ARG" : "ERR_SYSTEM";
  throw Error(code, what + ": " + strerror(e), e);
}

// The bytes a regular file or block device holds now; false with errno set.
bool medium_bytes(int fd, bool block_device, uint64_t* bytes) {
  if (block_device) return ioctl(fd, BLKGETSIZE64, bytes) == 0;
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  *bytes = uint64_t(st.st_size);
  return true;
}

// Whether a block device caches writes ("write back" in sysfs; a partition's queue is its
// disk's). Unknown counts as caching: a needless flush is cheap, a missing one loses data.
bool device_caches_writes(dev_t dev) {
  const std::string sys = "/sys/dev/block/" + std::to_string(major(dev)) + ":" + std::to_string(minor(dev));
  for (const char* queue : {"/queue/write_cache", "/../queue/write_cache"}) {
    std::ifstream f(sys + queue);
    std::string mode;
    if (std::getline(f, mode)) return mode != "write through";
  }
  return true;
}

// O_DIRECT needs I/O aligned to the file system's block, 4 KiB on many disks: a smaller
// block size would fail every I/O with EINVAL, so refuse it now with a clear message.
void check_direct_alignment(int fd, uint32_t block_size, const std::string& what) {
  std::unique_ptr<void, decltype(&free)> buf(aligned_alloc(4096, std::max<size_t>(block_size, 4096)), &free);
  if (!buf) throw Error("ERR_NO_MEMORY", what + ": out of memory");
  if (pread(fd, buf.get(), block_size, 0) < 0 && errno == EINVAL)
    throw Error("ERR_INVALID_ARG", what + ": O_DIRECT refuses " + std::to_string(block_size) +
                                       "-byte blocks on this file system; use a larger block size or direct=false");
}

}  // namespace

std::shared_ptr<Bdev> make_file_bdev(const std::string& name, const std::string& path, uint32_t block_size,
                                     bool direct) {
  const std::string what = "file bdev " + name + ": " + path;
  if (path.empty()) throw Error("ERR_INVALID_ARG", "file bdev " + name + ": path is empty");
  const Engine engine = choose_engine();

  int raw_fd = open(path.c_str(), O_RDWR | O_CLOEXEC | (direct ? O_DIRECT : 0));
  if (raw_fd < 0 && direct && errno == EINVAL) {
    // The file system refuses O_DIRECT (tmpfs before Linux 6.6): use the page cache, which
    // volatile_cache() then reports so that hosts flush.
    direct = false;
    raw_fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  }
  if (raw_fd < 0) throw_errno(what, errno);
  FdGuard fd(raw_fd);

  struct stat st;
  if (fstat(fd.get(), &st) != 0) throw_errno(what, errno);
  const bool block_device = S_ISBLK(st.st_mode);
  if (!block_device && !S_ISREG(st.st_mode))
    throw Error("ERR_INVALID_ARG", what + " is neither a regular file nor a block device");
  uint64_t bytes = 0;
  uint32_t logical_block = 512;
  if (!medium_bytes(fd.get(), block_device, &bytes)) throw_errno(what, errno);
  if (block_device) {
    int ssz = 0;
    if (ioctl(fd.get(), BLKSSZGET, &ssz) != 0) throw_errno(what, errno);
    logical_block = uint32_t(ssz);
  }
  if (block_size == 0) block_size = logical_block;
  if (block_size < 512 || block_size > 65536 || (block_size & (block_size - 1)))
    throw Error("ERR_INVALID_ARG", what + ": block size " + std::to_string(block_size) +
                                       " is not a power of two in [512, 65536]");
  if (block_device && direct && block_size < logical_block)
    throw Error("ERR_INVALID_ARG", what + ": block size " + std::to_string(block_size) +
                                       " is below the device's logical block size " + std::to_string(logical_block));
  const uint64_t num_blocks = bytes / block_size;
  if (num_blocks == 0)
    throw Error("ERR_INVALID_ARG", what + " holds " + std::to_string(bytes) + " bytes, less than one block");
  if (num_blocks > (uint64_t(1) << 48) / block_size)
    throw Error("ERR_INVALID_ARG", what + " is larger than 256 TiB");
  if (direct && !block_device) check_direct_alignment(fd.get(), block_size, what);

  // Page-cache writes and file systems (metadata, allocation) need fdatasync to persist.
  const bool volatile_cache = !direct || !block_device || device_caches_writes(st.st_rdev);
  return std::make_shared<FileBdev>(name, block_size, num_blocks, fd.release(), engine, direct, block_device,
                                    volatile_cache);
}

uint64_t FileBdev::medium_blocks() const {
  uint64_t bytes = 0;
  if (!medium_bytes(fd_, block_device_, &bytes)) throw_errno("file bdev " + name() + ": size", errno);
  return bytes / block_size();
}

std::optional<FileBdevInfo> file_bdev_info(const Bdev& b) {
  if (auto* f = dynamic_cast<const FileBdev*>(&b)) return f->info();
  return std::nullopt;
}

}  // namespace rdmagate::bdev
