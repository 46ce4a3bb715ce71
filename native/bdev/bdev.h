// The block-device interface of the target. A bdev is submitted to on a reactor and
// completes on the same reactor, by a plain function pointer and context, so the I/O
// path neither allocates nor hops threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "mem/buffer_pool.h"
#include "spec/nvme.h"
#include "spec/status.h"

namespace rdmagate::bdev {

enum class IoType : uint8_t { kRead, kWrite, kFlush, kWriteZeroes, kUnmap };

struct IoRequest {
  IoType type;
  uint64_t offset_blocks;
  uint64_t num_blocks;
  uint8_t* buf;                    // kRead, kWrite: num_blocks * block_size bytes
  const spec::DsmRange* ranges;    // kUnmap
  uint32_t nr_ranges;              // kUnmap
  // The chunk of the target's request pool `buf` lies in, where it has one: an NVMe/RDMA
  // backend lets its controller reach that memory itself instead of bouncing it.
  BufferPool::Chunk* chunk = nullptr;
};

using IoDone = void (*)(void* ctx, spec::Status status);

class Bdev {
 public:
  virtual ~Bdev() = default;
  const std::string& name() const { return name_; }
  uint32_t block_size() const { return block_size_; }
  // Read on every I/O's range check, and changed by a resize (BdevRegistry::resize).
  uint64_t num_blocks() const { return num_blocks_.load(std::memory_order_acquire); }
  void set_num_blocks(uint64_t n) { num_blocks_.store(n, std::memory_order_release); }
  // Whether writes are volatile until flushed (the NVMe VWC bit).
  virtual bool volatile_cache() const { return false; }
  // Ranges are checked by the caller. `done` may run before submit() returns.
  virtual void submit(const IoRequest& io, IoDone done, void* ctx) = 0;
  // Whether a caller may set the size (a null bdev, which keeps no data); false where
  // the size comes from the medium, or is fixed.
  virtual bool sized_by_caller() const { return false; }
  // The medium's size now, in blocks: a file or block device may have grown.
  virtual uint64_t medium_blocks() const { return num_blocks(); }

 protected:
  Bdev(std::string name, uint32_t block_size, uint64_t num_blocks)
      : name_(std::move(name)), block_size_(block_size), num_blocks_(num_blocks) {}

 private:
  std::string name_;
  uint32_t block_size_;
  std::atomic<uint64_t> num_blocks_;
};

// RAM-backed: reads and writes memcpy to an anonymous mapping; unmap zeroes.
std::shared_ptr<Bdev> make_malloc_bdev(const std::string& name, uint64_t num_blocks, uint32_t block_size);
// Completes every I/O at once and moves no data, like SPDK's null bdev: for benchmarks.
std::shared_ptr<Bdev> make_null_bdev(const std::string& name, uint64_t num_blocks, uint32_t block_size);

}  // namespace rdmagate::bdev
