// Bdevs by name, as SPDK keeps them: created first, then attached to namespaces.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "bdev/bdev.h"

namespace rdmagate::bdev {

class BdevRegistry {
 public:
  // Throws ERR_ALREADY_EXISTS.
  void add(std::shared_ptr<Bdev> bdev);
  // Throws ERR_NOT_FOUND; ERR_BUSY while a namespace still uses it.
  void remove(const std::string& name);
  // All of them or, when one is missing or in use (the errors of remove()), none.
  void remove_all(const std::vector<std::string>& names);
  std::shared_ptr<Bdev> find(const std::string& name) const;
  // Sets the size of bdev `name` to `num_blocks` (a null bdev), or without it to its
  // medium's (a file that grew, as SPDK's bdev_uring_rescan). Returns the bdev when its
  // size changed, for the target to tell hosts, else nullptr. Throws ERR_NOT_FOUND,
  // ERR_NOT_SUPPORTED, ERR_INVALID_ARG for 0 blocks, and ERR_BUSY to shrink a bdev that
  // a namespace serves.
  std::shared_ptr<Bdev> resize(const std::string& name, std::optional<uint64_t> num_blocks);
  std::vector<std::shared_ptr<Bdev>> list() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Bdev>> bdevs_;
};

}  // namespace rdmagate::bdev
