#include "bdev/nvmf_namespace_bdev.h"

#include <algorithm>
#include <cstring>

#include "spec/log_pages.h"
#include "util/error.h"

namespace rdmagate::bdev {

using namespace spec;

namespace {

// A command waiting for a usable path looks again this often.
constexpr uint64_t kWaitRetryUs = 20000;

// Tiers of usable paths by their ANA state: optimized (or unknown: a controller without ANA)
// before non-optimized; -1 for a state no command may go down.
int ana_tier(uint8_t state) {
  switch (state) {
    case 0:
    case kAnaOptimized: return 0;
    case kAnaNonOptimized: return 1;
    default: return -1;
  }
}

bool same_namespace(const RemoteNamespace& a, const RemoteNamespace& b) {
  return a.block_size == b.block_size && memcmp(a.nguid, b.nguid, 16) == 0 && memcmp(a.uuid, b.uuid, 16) == 0;
}

}  // namespace

NvmfBdev::NvmfBdev(const std::string& name, std::shared_ptr<NvmfBackend> backend, const RemoteNamespace& ns)
    : Bdev(name, ns.block_size, ns.num_blocks), ns_(ns), controller_(backend->name()), first_(backend.get()) {
  paths_.push_back(Path{first_, ns.nsid, backend->ana_state(ns.nsid)});
  backends_.push_back(std::move(backend));
  lanes_.resize(first_->reactors().size());
  for (size_t i = 0; i < lanes_.size(); ++i) {
    lanes_[i].bdev = this;
    lanes_[i].reactor = first_->reactors()[i];
    lanes_[i].paths = paths_;
  }
}

uint64_t NvmfBdev::medium_blocks() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return backends_.front()->namespace_blocks(paths_.front().nsid);
}

// ---- paths (JS thread) ------------------------------------------------------------

void NvmfBdev::add_path(std::shared_ptr<NvmfBackend> backend, const RemoteNamespace& ns) {
  if (!same_namespace(ns, ns_))
    throw Error("ERR_INVALID_ARG", "namespace " + std::to_string(ns.nsid) + " through the new path is not " + name() +
                                       "'s namespace (its NGUID, UUID or block size differ)");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& b : backends_)
      if (b == backend) throw Error("ERR_ALREADY_EXISTS", name() + " has that path already");
    paths_.push_back(Path{backend.get(), ns.nsid, backend->ana_state(ns.nsid)});
    backends_.push_back(backend);
    // From here on a lost association fails its commands to us rather than holding them.
    for (auto& b : backends_) b->hold_io(false);
  }
  multipath_.store(true, std::memory_order_release);
  publish();
}

bool NvmfBdev::remove_path(const NvmfBackend& backend) {
  std::shared_ptr<NvmfBackend> removed;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = std::find_if(backends_.begin(), backends_.end(), [&](auto& b) { return b.get() == &backend; });
    if (it == backends_.end()) return false;
    if (backends_.size() == 1) throw Error("ERR_BUSY", name() + " has no other path");
    removed = *it;
    paths_.erase(paths_.begin() + (it - backends_.begin()));
    backends_.erase(it);
  }
  publish(removed);
  return true;
}

bool NvmfBdev::has_path(const NvmfBackend& backend) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::any_of(backends_.begin(), backends_.end(), [&](auto& b) { return b.get() == &backend; });
}

size_t NvmfBdev::path_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return paths_.size();
}

void NvmfBdev::set_policy(const MultipathPolicy& policy) {
  if (policy.rr_min_io == 0) throw Error("ERR_INVALID_ARG", "rr_min_io must be at least 1");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    policy_ = policy;
  }
  publish();
}

MultipathPolicy NvmfBdev::policy() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return policy_;
}

void NvmfBdev::publish(std::shared_ptr<NvmfBackend> removed) {
  std::vector<Path> paths;
  MultipathPolicy policy;
  std::vector<std::shared_ptr<NvmfBackend>> keep;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    paths = paths_;
    policy = policy_;
    keep = backends_;
  }
  if (removed) keep.push_back(std::move(removed));
  // The backends, and one removed, stay alive until every lane has let go of them.
  auto self = shared_from_this();
  for (auto& lane : lanes_) {
    Lane* l = &lane;
    l->reactor->post([self, l, paths, policy, keep] {
      l->paths = paths;
      l->policy = policy;
      l->rr_path = 0;
      l->rr_left = 0;
    });
  }
}

// ---- data path (reactor threads) -------------------------------------------------

NvmfBdev::Lane* NvmfBdev::lane_here() {
  Reactor* r = Reactor::current();
  for (auto& lane : lanes_)
    if (lane.reactor == r) return &lane;
  return nullptr;
}

void NvmfBdev::submit(const IoRequest& io, IoDone done, void* ctx) {
  // One path whose backend holds I/O through a reconnect: straight to it. A backend that is
  // also a path of another bdev fails I/O instead, and this bdev holds it (wait()).
  if (!multipath_.load(std::memory_order_acquire) && first_->holds_io()) return first_->submit(ns_.nsid, io, block_size(), done, ctx);
  Lane* lane = lane_here();
  if (!lane) return done(ctx, status::kControllerPathingError);
  if (lane->free.empty()) {
    lane->attempts.emplace_back();
    lane->free.push_back(&lane->attempts.back());
  }
  Attempt* a = lane->free.back();
  lane->free.pop_back();
  *a = Attempt{lane, done, ctx, io, nullptr, 0, status::kControllerPathingError};
  dispatch(*lane, a);
}

NvmfBdev::Choice NvmfBdev::choose(Lane& lane, const NvmfBackend* avoid, const Path** out) {
  // Each path's tier as of now (backends change state on other threads), the best tier
  // any path is in, and whether a path not usable now may become so.
  const size_t n = lane.paths.size();
  lane.tiers.resize(n);
  int best = 2;
  bool may_come = false;
  for (size_t i = 0; i < n; ++i) {
    const Path& p = lane.paths[i];
    NvmfBackend::State s = p.backend->state();
    uint8_t ana = p.ana ? p.ana->load(std::memory_order_relaxed) : 0;
    int tier = s == NvmfBackend::State::kLive ? ana_tier(ana) : -1;
    if (tier >= 0 && p.backend == avoid) {
      tier = -1;
      may_come = true;
    }
    if (s == NvmfBackend::State::kConnecting || s == NvmfBackend::State::kReconnecting ||
        (s == NvmfBackend::State::kLive && ana == kAnaChange))
      may_come = true;
    lane.tiers[i] = int8_t(tier);
    if (tier >= 0) best = std::min(best, tier);
  }
  if (best == 2) return may_come ? Choice::kWait : Choice::kNone;
  size_t at = 0;
  if (lane.policy.policy == MultipathPolicy::Policy::kActivePassive) {
    while (lane.tiers[at] != best) ++at;
  } else if (lane.policy.selector == MultipathPolicy::Selector::kQueueDepth) {
    size_t least = SIZE_MAX;
    for (size_t i = 0; i < n; ++i) {
      if (lane.tiers[i] != best) continue;
      size_t queued = lane.paths[i].backend->queued_here();
      if (queued < least) least = queued, at = i;
    }
  } else {
    // rr_min_io commands down a path, then on to the next one of the best tier.
    at = lane.rr_path % n;
    if (lane.rr_left == 0 || lane.tiers[at] != best) {
      do at = (at + 1) % n;
      while (lane.tiers[at] != best);
      lane.rr_path = at;
      lane.rr_left = lane.policy.rr_min_io;
    }
    --lane.rr_left;
  }
  *out = &lane.paths[at];
  return Choice::kPath;
}

// What a command fails with when no path is left: a live path in an inaccessible (or lost) ANA
// state says so, for the host to try its own other paths; else the status it last met.
Status NvmfBdev::none_status(const Lane& lane, Status last) {
  for (const Path& p : lane.paths) {
    if (p.backend->state() != NvmfBackend::State::kLive || !p.ana) continue;
    uint8_t ana = p.ana->load(std::memory_order_relaxed);
    if (ana == kAnaInaccessible) return status::kAnaInaccessible;
    if (ana == kAnaPersistentLoss) last = status::kAnaPersistentLoss;
  }
  return last;
}

void NvmfBdev::dispatch(Lane& lane, Attempt* a) {
  const Path* p = nullptr;
  switch (choose(lane, a->last, &p)) {
    case Choice::kNone: return finish(lane, a, none_status(lane, a->status));
    case Choice::kWait: return wait(lane, a);
    case Choice::kPath: break;
  }
  a->last = p->backend;
  ++a->tries;
  p->backend->submit(p->nsid, a->io, block_size(), &NvmfBdev::attempt_done, a);
}

void NvmfBdev::attempt_done(void* ctx, Status status) {
  auto* a = static_cast<Attempt*>(ctx);
  Lane& lane = *a->lane;
  // A path status (SCT 3: ANA inaccessible or in transition, a pathing error, a lost
  // connection), or the queue deleted under the command (its controller going away, with DNR
  // set), is the path's, not the command's: another path may take it. Each path a
  // few times at most, so that paths that keep refusing it end in their status.
  const bool path_error = status.sct == kSctPath || (status.sct == kSctGeneric && status.sc == status::kSqDeletion.sc);
  if (path_error && a->tries < 4 * lane.paths.size()) {
    a->status = status;
    return lane.bdev->dispatch(lane, a);
  }
  lane.bdev->finish(lane, a, status);
}

void NvmfBdev::wait(Lane& lane, Attempt* a) {
  a->last = nullptr;  // after the wait, any path will do
  lane.waiting.push_back(a);
  if (lane.wait_timer) return;
  lane.wait_timer = true;
  lane.reactor->add_timer(kWaitRetryUs, [self = shared_from_this(), l = &lane] {
    l->wait_timer = false;
    std::vector<Attempt*> again;
    again.swap(l->waiting);
    for (Attempt* a : again) self->dispatch(*l, a);
  });
}

void NvmfBdev::finish(Lane& lane, Attempt* a, Status status) {
  IoDone done = a->done;
  void* ctx = a->ctx;
  lane.free.push_back(a);
  done(ctx, status);
}

}  // namespace rdmagate::bdev
