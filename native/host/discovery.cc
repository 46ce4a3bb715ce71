#include "host/discovery.h"

#include <cstring>
#include <memory>

#include "host/controller.h"
#include "spec/fabrics.h"
#include "spec/log_pages.h"

namespace rdmagate::host {

namespace {

using spec::CompletionEntry;

// nvme-cli's bound on re-reads while the log keeps changing under us.
constexpr int kMaxReads = 10;
// A bound on what a controller can make us allocate: 64 MiB of records.
constexpr uint64_t kMaxRecords = 65536;

template <size_t N>
std::string trimmed(const char (&field)[N]) {
  std::string s(spec::field_view(field));
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

class DiscoverySession final : public ControllerEvents,
                               public std::enable_shared_from_this<DiscoverySession> {
 public:
  explicit DiscoverySession(std::function<void(DiscoveryResult&&)> done) : done_(std::move(done)) {}

  void run(uint64_t id, std::vector<Reactor*> reactors, ControllerOptions options) {
    options.nr_io_queues = 0;
    options.kato_ms = 0;
    options.ctrl_loss_tmo_ms = 0;
    controller_ = Controller::create(id, std::move(reactors), std::move(options), shared_from_this());
    controller_->start();
  }

  void on_connected(uint64_t, const ControllerInfo& info) override {
    max_transfer_ = info.max_transfer;
    read_header();
  }
  void on_connect_failed(uint64_t, const Failure& failure) override {
    result_.failure = failure;
    deliver();
  }
  void on_disconnected(uint64_t, const Failure& failure, bool) override { fail(failure); }
  void on_removed(uint64_t, const Failure& failure) override { fail(failure); }
  void on_reconnected(uint64_t) override {}
  void on_closed(uint64_t) override { deliver(); }
  void on_admin_done(uint64_t, uint32_t, uint32_t, uint32_t, std::vector<uint8_t>&&) override {}
  void on_io_completions(uint64_t, const uint32_t*, size_t) override {}

 private:
  // Get Log Page 0x70 from offset 0; LPA offsets are optional, and one read of the
  // whole log is what makes the generation check meaningful.
  void get_log(uint32_t length, std::function<void(std::vector<uint8_t>&)> then) {
    spec::SubmissionEntry sqe{};
    sqe.opcode = spec::kAdminGetLogPage;
    uint32_t numd = length / 4 - 1;
    sqe.cdw10 = spec::kLogDiscovery | (numd & 0xffff) << 16;
    sqe.cdw11 = numd >> 16;
    auto self = shared_from_this();
    controller_->admin_command(
        sqe, spec::kXferControllerToHost, std::vector<uint8_t>(length),
        [self, then = std::move(then)](uint32_t status, const CompletionEntry&, std::vector<uint8_t>& data) {
          if (!status_ok(status)) {
            self->fail(status >= kHostStatusBase
                           ? Failure{status == kStatusTimeout ? kErrTimeout : kErrDisconnected,
                                     "the discovery controller went away during Get Log Page", 0, 0}
                           : status_failure(kErrStatus, "Get Log Page (discovery)", status));
            return;
          }
          then(data);
        });
  }

  void read_header() {
    if (++reads_ > kMaxReads) {
      fail(Failure{kErrTransport, "the discovery log kept changing while being read", 0, 0});
      return;
    }
    get_log(sizeof(spec::DiscoveryLogHeader), [this](std::vector<uint8_t>& data) {
      spec::DiscoveryLogHeader h;
      std::memcpy(&h, data.data(), sizeof h);
      if (h.numrec > kMaxRecords) {
        fail(Failure{kErrTransport, "the discovery log claims " + std::to_string(h.numrec) + " records", 0, 0});
        return;
      }
      uint64_t length = (h.numrec + 1) * sizeof(spec::DiscoveryLogEntry);
      if (max_transfer_ && length > max_transfer_) {
        fail(Failure{kErrTransport, "the discovery log (" + std::to_string(length) +
                                        " bytes) exceeds the controller's transfer size", 0, 0});
        return;
      }
      read_all(h.genctr, h.numrec, uint32_t(length));
    });
  }

  void read_all(uint64_t genctr, uint64_t numrec, uint32_t length) {
    get_log(length, [this, genctr, numrec](std::vector<uint8_t>& data) {
      spec::DiscoveryLogHeader h;
      std::memcpy(&h, data.data(), sizeof h);
      if (h.genctr != genctr || h.numrec != numrec) {
        read_header();  // changed between the two reads
        return;
      }
      result_.ok = true;
      result_.genctr = genctr;
      for (uint64_t i = 0; i < numrec; ++i) {
        spec::DiscoveryLogEntry e;
        std::memcpy(&e, data.data() + (i + 1) * sizeof e, sizeof e);
        result_.entries.push_back(DiscoveryEntry{
            e.trtype, e.adrfam, e.subtype, e.treq, e.portid, e.cntlid, e.asqsz, e.eflags,
            trimmed(e.trsvcid), trimmed(e.subnqn), trimmed(e.traddr),
            e.trtype == spec::kTrtypeTcp ? e.tsas.tcp.sectype : uint8_t(0)});
      }
      closing_ = true;
      controller_->close();
    });
  }

  void fail(const Failure& failure) {
    if (closing_) return;
    closing_ = true;
    result_.ok = false;
    result_.failure = failure;
    controller_->close();
  }

  // Once the sockets are closed, so that a caller checking for leaks sees none.
  void deliver() {
    if (!controller_) return;
    auto keep = shared_from_this();
    // The controller holds us as its events: dropping it breaks the cycle.
    std::shared_ptr<Controller> controller = std::move(controller_);
    done_(std::move(result_));
  }

  std::function<void(DiscoveryResult&&)> done_;
  std::shared_ptr<Controller> controller_;
  DiscoveryResult result_;
  uint32_t max_transfer_ = 0;
  int reads_ = 0;
  bool closing_ = false;
};

}  // namespace

void discover(uint64_t id, std::vector<Reactor*> reactors, ControllerOptions options,
              std::function<void(DiscoveryResult&&)> done) {
  auto session = std::make_shared<DiscoverySession>(std::move(done));
  session->run(id, std::move(reactors), std::move(options));
}

}  // namespace rdmagate::host
