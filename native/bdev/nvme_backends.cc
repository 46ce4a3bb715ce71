#include "bdev/nvme_backends.h"

#include <algorithm>

#include "util/error.h"

namespace rdmagate::bdev {

namespace {

std::string bdev_name(const std::string& controller, uint32_t nsid) { return controller + "n" + std::to_string(nsid); }

}  // namespace

NvmeBackends::NvmeBackends(BdevRegistry& bdevs, std::function<void(const std::string&)> resized)
    : bdevs_(bdevs), resized_(std::move(resized)) {}

std::shared_ptr<NvmfBackend> NvmeBackends::start_attach(const std::string& name, const host::ControllerOptions& options,
                                                        const std::vector<Reactor*>& reactors, bool multipath) {
  if (multipath && !backends_.count(name)) throw Error("ERR_NOT_FOUND", "no NVMe controller named " + name);
  if (!multipath && backends_.count(name)) throw Error("ERR_ALREADY_EXISTS", "an NVMe controller named " + name + " is attached");
  auto backend = NvmfBackend::create(name, options, reactors);
  backends_[name].push_back(backend);  // reserved while attaching
  return backend;
}

std::vector<std::shared_ptr<NvmfBdev>> NvmeBackends::finish_attach(const std::string& name, const std::shared_ptr<NvmfBackend>& backend,
                                                                   const std::vector<RemoteNamespace>& namespaces) {
  auto it = backends_.find(name);
  if (it == backends_.end() || std::find(it->second.begin(), it->second.end(), backend) == it->second.end()) {
    backend->close();  // detached (or the target closed) while it attached
    throw Error("ERR_CLOSED", "NVMe controller " + name + " was detached while attaching");
  }
  // Another controller's namespaces join the bdevs they are paths of; a namespace new to the
  // backend is a bdev of its own. All or none.
  std::vector<std::shared_ptr<NvmfBdev>> out(namespaces.size());
  std::vector<bool> made(namespaces.size());
  try {
    for (size_t i = 0; i < namespaces.size(); ++i) {
      const std::string b = bdev_name(name, namespaces[i].nsid);
      auto joined = it->second.front() == backend ? nullptr : std::dynamic_pointer_cast<NvmfBdev>(bdevs_.find(b));
      if (joined) {
        joined->add_path(backend, namespaces[i]);
        out[i] = joined;
      } else {
        auto fresh = std::make_shared<NvmfBdev>(b, backend, namespaces[i]);
        bdevs_.add(fresh);
        out[i] = fresh;
        made[i] = true;
      }
    }
  } catch (const Error&) {
    for (size_t i = 0; i < namespaces.size(); ++i) {
      if (!out[i]) continue;
      std::string b = out[i]->name();
      if (made[i]) {
        out[i].reset();  // a reference held here would make it busy
        bdevs_.remove(b);
      } else {
        out[i]->remove_path(*backend);
      }
    }
    drop(name, *backend);
    rehold(name);
    throw;
  }
  // On a reactor thread, until the backend closes.
  backend->on_resized([this, b = backend.get(), name](uint32_t nsid) { backend_resized(*b, bdev_name(name, nsid)); });
  // A size that changed between the attach's Identify and the handler.
  for (auto& ns : namespaces) backend_resized(*backend, bdev_name(name, ns.nsid));
  return out;
}

void NvmeBackends::backend_resized(const NvmfBackend& backend, const std::string& bdev) {
  auto b = std::dynamic_pointer_cast<NvmfBdev>(bdevs_.find(bdev));
  // Only if it is still this backend's.
  if (b && b->has_path(backend)) resized_(bdev);
}

void NvmeBackends::drop(const std::string& name, const NvmfBackend& backend) {
  auto it = backends_.find(name);
  if (it == backends_.end()) return;
  Members& members = it->second;
  auto m = std::find_if(members.begin(), members.end(), [&](auto& b) { return b.get() == &backend; });
  if (m == members.end()) return;
  (*m)->close();
  // Its queues close on the target's reactors, which must outlive that (take_all() waits).
  closing_.erase(std::remove_if(closing_.begin(), closing_.end(), [](const auto& b) { return b->closed(); }), closing_.end());
  closing_.push_back(std::move(*m));
  members.erase(m);
  if (members.empty()) backends_.erase(it);
}

std::vector<std::string> NvmeBackends::bdevs_of(const std::string& name) const {
  std::vector<std::string> mine;
  for (auto& b : bdevs_.list()) {
    auto* n = dynamic_cast<NvmfBdev*>(b.get());
    if (n && n->controller() == name) mine.push_back(b->name());
  }
  return mine;
}

void NvmeBackends::detach(const std::string& name, const std::optional<host::TransportAddress>& at) {
  const Members members = this->members(name);
  auto m = std::find_if(members.begin(), members.end(), [&](auto& b) {
    auto paths = b->paths().paths;
    return at && std::find(paths.begin(), paths.end(), *at) != paths.end();
  });
  if (at && m == members.end()) throw Error("ERR_NOT_FOUND", name + " has no controller with the path " + at->text());
  if (at && members.size() > 1) {
    // The bdevs it alone reaches go with it, all or none (ERR_BUSY while a namespace uses
    // one); then the others lose it as a path.
    const NvmfBackend& member = **m;
    std::vector<std::string> alone;
    std::vector<std::shared_ptr<NvmfBdev>> shared;
    for (const std::string& b : bdevs_of(name)) {
      auto n = std::dynamic_pointer_cast<NvmfBdev>(bdevs_.find(b));
      if (!n || !n->has_path(member)) continue;
      if (n->path_count() == 1) alone.push_back(b);
      else shared.push_back(std::move(n));
    }
    bdevs_.remove_all(alone);
    for (auto& n : shared) n->remove_path(member);
    drop(name, member);
    rehold(name);
    return;
  }
  bdevs_.remove_all(bdevs_of(name));
  for (auto& c : members) drop(name, *c);
}

void NvmeBackends::rehold(const std::string& name) {
  auto it = backends_.find(name);
  if (it == backends_.end()) return;
  std::vector<std::shared_ptr<NvmfBdev>> bdevs;
  for (const std::string& b : bdevs_of(name)) {
    if (auto n = std::dynamic_pointer_cast<NvmfBdev>(bdevs_.find(b))) bdevs.push_back(std::move(n));
  }
  for (auto& m : it->second) {
    bool shared = std::any_of(bdevs.begin(), bdevs.end(), [&](auto& n) { return n->has_path(*m) && n->path_count() > 1; });
    if (!shared) m->hold_io(true);
  }
}

const NvmeBackends::Members& NvmeBackends::members(const std::string& name) const {
  auto it = backends_.find(name);
  if (it == backends_.end()) throw Error("ERR_NOT_FOUND", "no NVMe controller named " + name);
  return it->second;
}

NvmeBackends::Closing NvmeBackends::take_all() {
  Closing c;
  for (auto& [name, members] : backends_) c.attached.insert(c.attached.end(), members.begin(), members.end());
  c.detached.swap(closing_);
  backends_.clear();
  return c;
}

void NvmeBackends::Closing::close_and_wait() {
  for (auto& b : attached) b->close();
  for (auto& b : attached) b->wait_closed(5000);
  for (auto& b : detached) b->wait_closed(5000);
}

}  // namespace rdmagate::bdev
