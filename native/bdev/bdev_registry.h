// Bdevs by name, as SPDK keeps them: created first, then attached to namespaces.
#pragma once

#include <map>
#include <memory>
#include <mutex>
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
  std::shared_ptr<Bdev> find(const std::string& name) const;
  std::vector<std::shared_ptr<Bdev>> list() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Bdev>> bdevs_;
};

}  // namespace rdmagate::bdev
