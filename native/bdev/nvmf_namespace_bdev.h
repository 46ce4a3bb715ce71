// One remote namespace as a bdev, reached through one backend or, with SPDK's multipath
// mode "multipath", through several: a backend (controller) per path, each its own
// association. A command goes down the path the policy picks (active-passive: the first
// usable one; active-active: round-robin or the least queued), and one that comes back with
// a path error is sent down another; with none usable it waits for one (a reconnect, the
// end of an ANA transition) or fails when none is left.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "bdev/nvmf_bdev.h"

namespace rdmagate::bdev {

// SPDK's bdev_nvme_set_multipath_policy.
struct MultipathPolicy {
  enum class Policy : uint8_t { kActivePassive, kActiveActive };
  enum class Selector : uint8_t { kRoundRobin, kQueueDepth };
  Policy policy = Policy::kActivePassive;
  Selector selector = Selector::kRoundRobin;
  uint32_t rr_min_io = 1;  // round-robin: commands in a row down one path
};

class NvmfBdev final : public Bdev, public std::enable_shared_from_this<NvmfBdev> {
 public:
  NvmfBdev(const std::string& name, std::shared_ptr<NvmfBackend> backend, const RemoteNamespace& ns);
  void submit(const IoRequest& io, IoDone done, void* ctx) override;
  bool volatile_cache() const override { return true; }  // flushes are forwarded, so hosts should send them
  const RemoteNamespace& remote() const { return ns_; }
  // The backend controller's name, which its paths share.
  const std::string& controller() const { return controller_; }
  uint64_t medium_blocks() const override;

  // JS thread. Another path: `ns` as `backend` (another controller of the subsystem) shows
  // it. Throws ERR_INVALID_ARG when it is not the same namespace (NGUID, UUID, block size),
  // ERR_ALREADY_EXISTS when it is a path already. Every path's backend then fails I/O when
  // its association is lost, for this bdev to send it down another path.
  void add_path(std::shared_ptr<NvmfBackend> backend, const RemoteNamespace& ns);
  // JS thread: whether `backend` was a path, now removed. Throws ERR_BUSY for the only path.
  bool remove_path(const NvmfBackend& backend);
  bool has_path(const NvmfBackend& backend) const;
  size_t path_count() const;
  void set_policy(const MultipathPolicy& policy);
  MultipathPolicy policy() const;

 private:
  struct Path {
    NvmfBackend* backend;
    uint32_t nsid;
    const std::atomic<uint8_t>* ana;  // the namespace's ANA state through that backend
  };
  struct Lane;
  // A frontend command on its way down the paths.
  struct Attempt {
    Lane* lane;
    IoDone done;
    void* ctx;
    IoRequest io;
    const NvmfBackend* last;  // the path it last went down (compared, never used)
    uint32_t tries;
    spec::Status status;      // what it fails with when no path is left
  };
  // One per reactor, touched on that reactor only: its copy of the paths and policy, and
  // the commands in flight or waiting for a path.
  struct Lane {
    NvmfBdev* bdev = nullptr;
    Reactor* reactor = nullptr;
    std::vector<Path> paths;
    std::vector<int8_t> tiers;  // choose()'s scratch: each path's, -1 for none
    MultipathPolicy policy;
    size_t rr_path = 0;  // round-robin: the path in turn, and commands left on it
    uint32_t rr_left = 0;
    std::deque<Attempt> attempts;  // grows, never shrinks: pointers stay valid
    std::vector<Attempt*> free;
    std::vector<Attempt*> waiting;  // for a path to become usable
    bool wait_timer = false;
  };
  enum class Choice { kPath, kWait, kNone };

  Lane* lane_here();
  // JS thread: every lane takes the paths and policy as they are now.
  void publish(std::shared_ptr<NvmfBackend> removed = nullptr);
  void dispatch(Lane& lane, Attempt* a);
  Choice choose(Lane& lane, const NvmfBackend* avoid, const Path** out);
  void wait(Lane& lane, Attempt* a);
  static spec::Status none_status(const Lane& lane, spec::Status last);
  void finish(Lane& lane, Attempt* a, spec::Status status);
  static void attempt_done(void* ctx, spec::Status status);

  const RemoteNamespace ns_;
  const std::string controller_;
  NvmfBackend* const first_;  // the one path until multipath_: submitted to directly
  std::atomic<bool> multipath_{false};

  mutable std::mutex mutex_;  // JS thread against the registry's readers
  std::vector<std::shared_ptr<NvmfBackend>> backends_;
  std::vector<Path> paths_;
  MultipathPolicy policy_;
  std::vector<Lane> lanes_;
};

}  // namespace rdmagate::bdev
