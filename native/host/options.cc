#include "host/options.h"

#include <netdb.h>

#include <algorithm>

#include "rdma/loader.h"
#include "spec/fabrics.h"
#include "util/error.h"

namespace rdmagate::host {

namespace {
[[noreturn]] void invalid(const std::string& message) { throw Error("ERR_INVALID_ARG", message); }
}  // namespace

uint64_t reconnect_delay_ms(const ControllerOptions& o, uint32_t failed_attempts) {
  // A floor: a target that refuses at once must not be hammered in a tight loop.
  uint64_t cap = std::max(o.reconnect_delay_ms, kMinReconnectDelayMs);
  uint64_t delay = std::max(o.first_reconnect_delay_ms, kMinReconnectDelayMs);
  for (uint32_t i = 0; i < failed_attempts && delay < cap; ++i) delay *= 2;
  return std::min(delay, cap);
}

std::string TransportAddress::text() const {
  bool v6 = traddr.find(':') != std::string::npos;
  return (v6 ? "[" + traddr + "]" : traddr) + ":" + std::to_string(trsvcid);
}

void validate(const TransportAddress& a) {
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  // Numeric only: a name lookup would block the reactor, and NVMe/TCP addresses are IPs.
  if (a.traddr.empty() || getaddrinfo(a.traddr.c_str(), nullptr, &hints, &res) != 0)
    invalid("traddr must be a numeric IPv4 or IPv6 address, got '" + a.traddr + "'");
  freeaddrinfo(res);
  if (a.trsvcid == 0) invalid("trsvcid must be in [1, 65535]");
}

void validate(const ControllerOptions& o) {
  validate(TransportAddress{o.traddr, o.trsvcid});
  if (!spec::valid_nqn(o.subnqn)) invalid("subnqn is not a valid NQN: '" + o.subnqn + "'");
  if (!spec::valid_nqn(o.hostnqn)) invalid("hostnqn is not a valid NQN: '" + o.hostnqn + "'");
  if (o.queue_size < 2) invalid("queueSize must be at least 2");
  if (o.timeout_ms == 0) invalid("timeoutMs must be positive");
  if (o.first_reconnect_delay_ms > o.reconnect_delay_ms)
    invalid("firstReconnectDelay must be at most reconnectDelay");
  if (o.dhchap_ctrlr_key && !o.dhchap_key) invalid("dhchapCtrlrKey needs dhchapKey: two-way authentication is both ways");
  if (o.tls_identity_version != 0 && o.tls_identity_version != 1) invalid("tlsIdentityVersion must be 0 or 1");
  if (o.transport == Transport::kRdma) {
    if (o.hdgst || o.ddgst) invalid("headerDigest and dataDigest are NVMe/TCP's; NVMe/RDMA has none");
    if (o.tls_psk) invalid("psk is NVMe/TCP's (TLS); NVMe/RDMA has none");
    rdma::require_api();
  }
}

}  // namespace rdmagate::host
