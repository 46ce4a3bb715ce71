// The gateway's backends by name (SPDK's bdev_nvme controllers): each one controller, or
// several with multipath mode "multipath", and the bdevs of their namespaces in the
// registry, "<name>n<nsid>". It keeps the rules of their life: a controller reserves its name
// while it attaches; its namespaces become bdevs, or further paths of the bdevs they are, all
// or none; a bdev takes a new size when its backend reports one; a detach takes the bdevs
// with it (refused while a namespace uses one), or one controller of several, whose bdevs keep
// their other paths. The caller runs the attach (NvmfBackend::attach, on the admin reactor)
// and reports its end here.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bdev/bdev_registry.h"
#include "bdev/nvmf_bdev.h"
#include "bdev/nvmf_namespace_bdev.h"

namespace rdmagate::bdev {

class NvmeBackends {
 public:
  using Members = std::vector<std::shared_ptr<NvmfBackend>>;

  // `resized(bdev)`, on any thread: a backend bdev may have a new size (the registry's
  // resize, which tells the hosts, is the caller's).
  NvmeBackends(BdevRegistry& bdevs, std::function<void(const std::string& bdev)> resized);

  // JS thread. Creates controller `name` and starts its connect; `multipath`: one more
  // controller of attached backend `name`. Throws ERR_ALREADY_EXISTS, ERR_NOT_FOUND, and the
  // host's option errors.
  std::shared_ptr<NvmfBackend> start_attach(const std::string& name, const host::ControllerOptions& options,
                                            const std::vector<Reactor*>& reactors, bool multipath);
  // JS thread: `backend`'s attach succeeded with `namespaces`: they become bdevs, or paths of
  // those of `name` (another controller's). Returns the bdevs. Throws (having dropped the
  // controller) ERR_CLOSED when it was detached meanwhile, ERR_INVALID_ARG for a namespace
  // that is not the bdev's, ERR_ALREADY_EXISTS for a bdev name taken.
  std::vector<std::shared_ptr<NvmfBdev>> finish_attach(const std::string& name, const std::shared_ptr<NvmfBackend>& backend,
                                                       const std::vector<RemoteNamespace>& namespaces);
  // JS thread: `backend`'s attach failed; it goes.
  void drop(const std::string& name, const NvmfBackend& backend);
  // JS thread: backend `name` goes with its bdevs; with `at`, of a backend with several
  // controllers, only the controller with that path. Throws ERR_NOT_FOUND, ERR_BUSY.
  void detach(const std::string& name, const std::optional<host::TransportAddress>& at);
  // Throws ERR_NOT_FOUND.
  const Members& members(const std::string& name) const;
  const std::map<std::string, Members>& all() const { return backends_; }

  // Every backend, attached and detached-but-closing, for the target's shutdown: the attached
  // close, and all are waited for (up to 5 s each), before the reactors stop.
  struct Closing {
    Members attached, detached;
    void close_and_wait();
  };
  Closing take_all();

 private:
  // The names of `name`'s bdevs: a reference held here would make them busy.
  std::vector<std::string> bdevs_of(const std::string& name) const;
  // Any thread: bdev `bdev` of `backend` may have a new size.
  void backend_resized(const NvmfBackend& backend, const std::string& bdev);
  // After `name`'s bdevs lost a path: a controller that is no longer one of several paths of
  // any bdev holds its I/O through a reconnect again (NvmfBackend::hold_io), so that a bdev
  // back to one path is sent to at once, not by the bdev's waits.
  void rehold(const std::string& name);

  BdevRegistry& bdevs_;
  const std::function<void(const std::string&)> resized_;
  // By name: its controllers, the first attached first.
  std::map<std::string, Members> backends_;
  Members closing_;  // detached, not closed yet
};

}  // namespace rdmagate::bdev
