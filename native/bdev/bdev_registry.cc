#include "bdev/bdev_registry.h"

#include "util/error.h"

namespace rdmagate::bdev {

void BdevRegistry::add(std::shared_ptr<Bdev> bdev) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (bdevs_.count(bdev->name())) throw Error("ERR_ALREADY_EXISTS", "bdev " + bdev->name() + " exists");
  bdevs_[bdev->name()] = std::move(bdev);
}

void BdevRegistry::remove(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = bdevs_.find(name);
  if (it == bdevs_.end()) throw Error("ERR_NOT_FOUND", "no bdev " + name);
  if (it->second.use_count() > 1) throw Error("ERR_BUSY", "bdev " + name + " is used by a namespace");
  bdevs_.erase(it);
}

std::shared_ptr<Bdev> BdevRegistry::find(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = bdevs_.find(name);
  return it == bdevs_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Bdev>> BdevRegistry::list() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::shared_ptr<Bdev>> out;
  for (auto& [n, b] : bdevs_) out.push_back(b);
  return out;
}

}  // namespace rdmagate::bdev
