// A bdev on a regular file or a block device. I/O runs on an io_uring per reactor thread,
// shared by every file bdev submitting from that reactor, or, where io_uring is
// unavailable or RDMAGATE_FILE_BDEV_ENGINE=threads, on a pool of two threads per reactor.
// Both are created on a reactor's first file I/O and end with the reactor's thread; I/O
// still in flight then is waited for and its callback dropped, as the reactor runs
// nothing more. I/O in flight holds a reference to its bdev, so dropping the last other
// one is safe. Called off reactor threads, submit() runs the I/O synchronously.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "bdev/bdev.h"

namespace rdmagate::bdev {

// Opens `path` read-write, with O_DIRECT when `direct` unless the file system refuses it.
// block_size 0 takes a block device's logical block size, else 512. Throws
// Error("ERR_NOT_FOUND") for a missing path, Error("ERR_INVALID_ARG") for a bad block
// size, an empty file or something neither a regular file nor a block device, and
// Error("ERR_SYSTEM") for other failures.
std::shared_ptr<Bdev> make_file_bdev(const std::string& name, const std::string& path, uint32_t block_size,
                                     bool direct);

struct FileBdevInfo {
  const char* engine;  // "io_uring" or "threads"
  bool direct;         // opened with O_DIRECT
  bool block_device;
};

// nullopt when `b` is not a file bdev.
std::optional<FileBdevInfo> file_bdev_info(const Bdev& b);

}  // namespace rdmagate::bdev
