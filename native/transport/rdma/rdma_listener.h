// An NVMe/RDMA listener of the target: one rdma_cm listener on one IP address (the IP
// selects the device, so hosts with differently named interfaces just work). It checks
// the NVMe/RDMA private data of each connect request and accepts or rejects with the
// spec's status.
#pragma once

#include <memory>
#include <string>

#include "target/transport.h"

namespace rdmagate::rdma_transport {

class PollGroups;

class RdmaTargetListener final : public target::TransportListener {
 public:
  RdmaTargetListener(target::TransportContext& context, std::shared_ptr<PollGroups> groups, const std::string& address,
                     uint16_t port, uint16_t portid);
  ~RdmaTargetListener() override;
  const target::ListenerInfo& info() const override { return info_; }
  void stop() override;

 private:
  class Sink;
  std::shared_ptr<Sink> sink_;
  bool stopped_ = false;
  target::ListenerInfo info_;
};

}  // namespace rdmagate::rdma_transport
