#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "bdev/bdev.h"
#include "util/error.h"

namespace rdmagate::bdev {

namespace {

class MallocBdev final : public Bdev {
 public:
  MallocBdev(const std::string& name, uint64_t num_blocks, uint32_t block_size)
      : Bdev(name, block_size, num_blocks), bytes_(num_blocks * block_size) {
    // Anonymous memory reads as zeros until written, and is only committed when touched.
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      throw Error("ERR_NO_MEMORY", "malloc bdev " + name + ": " + strerror(e), e);
    }
    data_ = static_cast<uint8_t*>(p);
  }
  ~MallocBdev() override { munmap(data_, bytes_); }

  void submit(const IoRequest& io, IoDone done, void* ctx) override {
    const uint64_t bs = block_size();
    switch (io.type) {
      case IoType::kRead:
        memcpy(io.buf, data_ + io.offset_blocks * bs, io.num_blocks * bs);
        break;
      case IoType::kWrite:
        memcpy(data_ + io.offset_blocks * bs, io.buf, io.num_blocks * bs);
        break;
      case IoType::kWriteZeroes:
        memset(data_ + io.offset_blocks * bs, 0, io.num_blocks * bs);
        break;
      case IoType::kUnmap:
        for (uint32_t i = 0; i < io.nr_ranges; ++i)
          memset(data_ + io.ranges[i].slba * bs, 0, uint64_t(io.ranges[i].nlb) * bs);
        break;
      case IoType::kFlush:
        break;
    }
    done(ctx, spec::status::kSuccess);
  }

 private:
  uint64_t bytes_;
  uint8_t* data_;
};

class NullBdev final : public Bdev {
 public:
  NullBdev(const std::string& name, uint64_t num_blocks, uint32_t block_size)
      : Bdev(name, block_size, num_blocks) {}
  void submit(const IoRequest&, IoDone done, void* ctx) override { done(ctx, spec::status::kSuccess); }
  bool sized_by_caller() const override { return true; }
};

void check_geometry(const std::string& name, uint64_t num_blocks, uint32_t block_size) {
  if (block_size < 512 || block_size > 65536 || (block_size & (block_size - 1)))
    throw Error("ERR_INVALID_ARG", "bdev " + name + ": block size must be a power of two in [512, 65536]");
  if (num_blocks == 0 || num_blocks > (uint64_t(1) << 48) / block_size)
    throw Error("ERR_INVALID_ARG", "bdev " + name + ": size must be at least one block and at most 256 TiB");
}

}  // namespace

std::shared_ptr<Bdev> make_malloc_bdev(const std::string& name, uint64_t num_blocks, uint32_t block_size) {
  check_geometry(name, num_blocks, block_size);
  return std::make_shared<MallocBdev>(name, num_blocks, block_size);
}

std::shared_ptr<Bdev> make_null_bdev(const std::string& name, uint64_t num_blocks, uint32_t block_size) {
  check_geometry(name, num_blocks, block_size);
  return std::make_shared<NullBdev>(name, num_blocks, block_size);
}

}  // namespace rdmagate::bdev
