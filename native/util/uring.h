// A minimal io_uring over the raw system calls and <linux/io_uring.h>, so that nothing
// needs liburing at run time. A ring is used by one thread: get_sqe() and submit() queue
// and hand over submissions, drain() consumes completions.
#pragma once

#include <linux/io_uring.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>

namespace rdmagate {

class Uring {
 public:
  // Throws Error("ERR_SYSTEM") with errnum set when the kernel refuses a ring: ENOSYS
  // without io_uring, EPERM under seccomp or kernel.io_uring_disabled, ENOMEM over
  // RLIMIT_MEMLOCK on kernels before 5.12.
  explicit Uring(unsigned entries);
  ~Uring();
  Uring(const Uring&) = delete;
  Uring& operator=(const Uring&) = delete;

  int fd() const { return fd_; }
  unsigned cq_entries() const { return cq_entries_; }

  // A zeroed SQE to fill, or nullptr while the submission ring is full.
  io_uring_sqe* get_sqe();
  // SQEs filled but not yet taken by the kernel.
  unsigned queued() const { return sqe_tail_ - load_acquire(sq_head_); }
  // Hands every queued SQE to the kernel and, with wait_nr > 0, blocks until that many
  // completions are ready. Returns the number of SQEs taken, or -errno.
  int submit(unsigned wait_nr = 0);

  // Calls f(const io_uring_cqe&) on each ready completion. Each is consumed before f runs,
  // so f may queue and submit more. Returns how many there were.
  template <class F>
  unsigned drain(F&& f) {
    unsigned n = 0;
    for (unsigned head = *cq_head_; head != load_acquire(cq_tail_); head = *cq_head_) {
      const io_uring_cqe cqe = cqes_[head & cq_mask_];
      __atomic_store_n(cq_head_, head + 1, __ATOMIC_RELEASE);
      f(cqe);
      ++n;
    }
    return n;
  }

  // Makes the kernel signal `event_fd` on each completion. 0 or -errno.
  int register_eventfd(int event_fd);
  // Whether the kernel implements every opcode (IORING_REGISTER_PROBE, Linux 5.6+).
  bool supports(std::initializer_list<uint8_t> opcodes) const;

 private:
  void release();
  static unsigned load_acquire(const unsigned* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }

  int fd_ = -1;
  void* sq_ring_ = nullptr;
  size_t sq_ring_bytes_ = 0;
  void* cq_ring_ = nullptr;  // == sq_ring_ with IORING_FEAT_SINGLE_MMAP
  size_t cq_ring_bytes_ = 0;
  io_uring_sqe* sqes_ = nullptr;
  size_t sqes_bytes_ = 0;

  unsigned* sq_head_ = nullptr;
  unsigned* sq_tail_ = nullptr;
  unsigned sq_mask_ = 0;
  unsigned sq_entries_ = 0;
  unsigned sqe_tail_ = 0;  // ours: SQEs handed out by get_sqe(), published by submit()

  unsigned* cq_head_ = nullptr;
  unsigned* cq_tail_ = nullptr;
  unsigned cq_mask_ = 0;
  unsigned cq_entries_ = 0;
  io_uring_cqe* cqes_ = nullptr;
};

}  // namespace rdmagate
