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

void BdevRegistry::remove_all(const std::vector<std::string>& names) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const std::string& name : names) {
    auto it = bdevs_.find(name);
    if (it == bdevs_.end()) throw Error("ERR_NOT_FOUND", "no bdev " + name);
    if (it->second.use_count() > 1) throw Error("ERR_BUSY", "bdev " + name + " is used by a namespace");
  }
  for (const std::string& name : names) bdevs_.erase(name);
}

std::shared_ptr<Bdev> BdevRegistry::resize(const std::string& name, std::optional<uint64_t> num_blocks) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = bdevs_.find(name);
  if (it == bdevs_.end()) throw Error("ERR_NOT_FOUND", "no bdev " + name);
  Bdev& b = *it->second;
  if (num_blocks && !b.sized_by_caller())
    throw Error("ERR_NOT_SUPPORTED", "bdev " + name + " cannot be given a size: only a null bdev can (a file bdev " +
                                         "takes its file's on a rescan)");
  const uint64_t blocks = num_blocks ? *num_blocks : b.medium_blocks();
  const uint64_t old = b.num_blocks();
  if (blocks == old) return nullptr;
  if (blocks == 0 || blocks > (uint64_t(1) << 48) / b.block_size())
    throw Error("ERR_INVALID_ARG", "bdev " + name + ": size must be at least one block and at most 256 TiB");
  // Hosts may hold data past the new end: SPDK's bdev_notify_blockcnt_change refuses too.
  if (blocks < old && it->second.use_count() > 1)
    throw Error("ERR_BUSY", "bdev " + name + " cannot shrink from " + std::to_string(old) + " to " +
                                std::to_string(blocks) + " blocks while a namespace serves it");
  b.set_num_blocks(blocks);
  return it->second;
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
