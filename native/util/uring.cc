#include "util/uring.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "util/error.h"

namespace rdmagate {

namespace {

int sys_setup(unsigned entries, io_uring_params* p) {
  return int(syscall(__NR_io_uring_setup, entries, p));
}

int sys_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags) {
  return int(syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, nullptr, 0));
}

int sys_register(int fd, unsigned opcode, const void* arg, unsigned nr_args) {
  return int(syscall(__NR_io_uring_register, fd, opcode, arg, nr_args));
}

template <class T>
T* at(void* base, uint32_t offset) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

}  // namespace

Uring::Uring(unsigned entries) {
  io_uring_params p;
  memset(&p, 0, sizeof p);
  fd_ = sys_setup(entries, &p);
  if (fd_ < 0) {
    int e = errno;
    throw Error("ERR_SYSTEM", std::string("io_uring_setup: ") + strerror(e), e);
  }
  sq_ring_bytes_ = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  cq_ring_bytes_ = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
  const bool single_mmap = p.features & IORING_FEAT_SINGLE_MMAP;
  if (single_mmap) sq_ring_bytes_ = cq_ring_bytes_ = std::max(sq_ring_bytes_, cq_ring_bytes_);
  sqes_bytes_ = p.sq_entries * sizeof(io_uring_sqe);

  auto map = [this](size_t bytes, off_t what) {
    void* m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, what);
    return m == MAP_FAILED ? nullptr : m;
  };
  sq_ring_ = map(sq_ring_bytes_, IORING_OFF_SQ_RING);
  cq_ring_ = single_mmap ? sq_ring_ : map(cq_ring_bytes_, IORING_OFF_CQ_RING);
  sqes_ = static_cast<io_uring_sqe*>(map(sqes_bytes_, IORING_OFF_SQES));
  if (!sq_ring_ || !cq_ring_ || !sqes_) {
    int e = errno;
    release();  // a throwing constructor runs no destructor
    throw Error("ERR_SYSTEM", std::string("io_uring mmap: ") + strerror(e), e);
  }

  sq_head_ = at<unsigned>(sq_ring_, p.sq_off.head);
  sq_tail_ = at<unsigned>(sq_ring_, p.sq_off.tail);
  sq_mask_ = *at<unsigned>(sq_ring_, p.sq_off.ring_mask);
  sq_entries_ = p.sq_entries;
  sqe_tail_ = *sq_tail_;
  // SQE i always sits in slot i, so the indirection array is the identity, set once.
  unsigned* array = at<unsigned>(sq_ring_, p.sq_off.array);
  for (unsigned i = 0; i < sq_entries_; ++i) array[i] = i;

  cq_head_ = at<unsigned>(cq_ring_, p.cq_off.head);
  cq_tail_ = at<unsigned>(cq_ring_, p.cq_off.tail);
  cq_mask_ = *at<unsigned>(cq_ring_, p.cq_off.ring_mask);
  cq_entries_ = p.cq_entries;
  cqes_ = at<io_uring_cqe>(cq_ring_, p.cq_off.cqes);
}

Uring::~Uring() { release(); }

void Uring::release() {
  if (sqes_) munmap(sqes_, sqes_bytes_);
  if (cq_ring_ && cq_ring_ != sq_ring_) munmap(cq_ring_, cq_ring_bytes_);
  if (sq_ring_) munmap(sq_ring_, sq_ring_bytes_);
  if (fd_ >= 0) close(fd_);
}

io_uring_sqe* Uring::get_sqe() {
  if (sqe_tail_ - load_acquire(sq_head_) >= sq_entries_) return nullptr;
  io_uring_sqe* sqe = &sqes_[sqe_tail_ & sq_mask_];
  ++sqe_tail_;
  memset(sqe, 0, sizeof *sqe);
  return sqe;
}

int Uring::submit(unsigned wait_nr) {
  unsigned to_submit = queued();
  if (to_submit == 0 && wait_nr == 0) return 0;
  __atomic_store_n(sq_tail_, sqe_tail_, __ATOMIC_RELEASE);
  int r = sys_enter(fd_, to_submit, wait_nr, wait_nr ? IORING_ENTER_GETEVENTS : 0);
  return r < 0 ? -errno : r;
}

int Uring::register_eventfd(int event_fd) {
  return sys_register(fd_, IORING_REGISTER_EVENTFD, &event_fd, 1) < 0 ? -errno : 0;
}

bool Uring::supports(std::initializer_list<uint8_t> opcodes) const {
  constexpr unsigned kOps = 256;
  size_t bytes = sizeof(io_uring_probe) + kOps * sizeof(io_uring_probe_op);
  std::unique_ptr<void, decltype(&free)> mem(calloc(1, bytes), &free);
  if (!mem) return false;
  auto* probe = static_cast<io_uring_probe*>(mem.get());
  if (sys_register(fd_, IORING_REGISTER_PROBE, probe, kOps) < 0) return false;
  for (uint8_t op : opcodes)
    if (op > probe->last_op || !(probe->ops[op].flags & IO_URING_OP_SUPPORTED)) return false;
  return true;
}

}  // namespace rdmagate
