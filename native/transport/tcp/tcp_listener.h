// A listening NVMe/TCP socket. Accepts on the target's first reactor and hands each
// connection to the next reactor, round-robin, for its whole life. A secure-channel
// listener speaks TLS only: a connection whose first bytes are no ClientHello with a PSK
// the target has is closed.
#pragma once

#include <memory>
#include <string>

#include "target/transport.h"

namespace rdmagate::tcp {

class TcpListener final : public target::TransportListener {
 public:
  // Binds and listens at once, so address errors reach the caller. Port 0 picks one.
  TcpListener(target::TransportContext& context, const std::string& address, uint16_t port, uint16_t portid,
              bool secure_channel);
  ~TcpListener() override;
  const target::ListenerInfo& info() const override { return info_; }
  target::ListenerCounters counters() const override;
  void stop() override;

 private:
  struct State;
  std::shared_ptr<State> state_;
  target::ListenerInfo info_;
};

}  // namespace rdmagate::tcp
