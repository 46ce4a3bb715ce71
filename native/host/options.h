// What a host controller connection is asked for: where, as whom, how many queues, and
// how it behaves when the controller goes away.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "auth/dhchap_secret.h"
#include "mem/buffer_pool.h"
#include "spec/tcp_pdu.h"
#include "tls/psk.h"

namespace rdmagate::host {

enum class Transport : uint8_t { kTcp, kRdma };

// Where a controller is reached: one path to it.
struct TransportAddress {
  std::string traddr;  // numeric IPv4 or IPv6 address
  uint16_t trsvcid = spec::kTcpPort;  // NVMe/RDMA's port is 4420 too

  bool operator==(const TransportAddress& o) const { return traddr == o.traddr && trsvcid == o.trsvcid; }
  // "addr:port", "[v6]:port".
  std::string text() const;
};

// What happens to I/O in flight when the connection is lost.
enum class IoFailureMode : uint8_t {
  kFail,   // fail it at once with kStatusDisconnected
  kRetry,  // hold it and resend it after the reconnect; fail it only when the controller is given up
};

struct ControllerOptions {
  Transport transport = Transport::kTcp;
  std::string traddr;  // numeric IPv4 or IPv6 address
  uint16_t trsvcid = spec::kTcpPort;  // NVMe/RDMA's port is 4420 too
  std::string subnqn;
  std::string hostnqn;
  std::array<uint8_t, 16> hostid{};
  uint16_t nr_io_queues = 1;  // 0: admin queue only (discovery)
  uint16_t queue_size = 128;  // I/O queue depth; clamped to CAP.MQES + 1
  uint32_t kato_ms = 5000;    // keep-alive timeout; 0 disables keep-alive
  uint32_t reconnect_delay_ms = 10000;
  // Below reconnect_delay_ms: the first reconnect comes after this, and each next delay
  // doubles up to reconnect_delay_ms, so a short outage is ridden out quickly and a long
  // one is not hammered. Then ctrl_loss_tmo counts time since the loss, not attempts.
  // Equal (the default, as Linux): every attempt waits reconnect_delay_ms.
  uint32_t first_reconnect_delay_ms = 10000;
  int64_t ctrl_loss_tmo_ms = 600000;  // < 0: reconnect forever; 0: never reconnect
  // Once given up (ctrl_loss_tmo): 0, for good; else one connect attempt this often, I/O
  // failing at once meanwhile, so that a target that comes back is used again with no one
  // attaching it anew (a gateway's backends: their hosts stay connected to the gateway).
  uint32_t revive_interval_ms = 0;
  bool hdgst = false;  // NVMe/TCP only
  bool ddgst = false;  // NVMe/TCP only
  bool disable_sqflow = false;  // ask for SQ flow control off (then C2HData may carry SUCCESS)
  bool recv_pipe = true;  // NVMe/TCP: read small PDUs through a staging buffer (TcpConnection)
  IoFailureMode io_failure = IoFailureMode::kFail;
  uint32_t timeout_ms = 30000;  // per command, and for each connect step
  // DH-HMAC-CHAP, when the controller asks for it (nvme-cli's --dhchap-secret): the host's
  // key, and the controller's for two-way authentication (--dhchap-ctrl-secret).
  auth::SecretRef dhchap_key, dhchap_ctrlr_key;
  // NVMe/TCP TLS 1.3 (nvme-cli's --tls-key, SPDK's psk): every queue connects over TLS with
  // the TLS PSK derived from this configured PSK, offered with a version 0 or 1 identity.
  tls::PskRef tls_psk;
  int tls_identity_version = 0;
  // NVMe/RDMA: the pool I/O buffers are lent from (a gateway's request buffers). Each I/O
  // queue registers what it has mapped with its device as it connects, rather than the first
  // I/O lent from it; regions mapped later are registered as they are mapped.
  std::shared_ptr<BufferPool> lend_pool;
};

inline constexpr uint32_t kMinReconnectDelayMs = 10;

// The wait before reconnect attempt `failed_attempts` + 1 after the association was lost.
uint64_t reconnect_delay_ms(const ControllerOptions& o, uint32_t failed_attempts);

// Throw Error("ERR_INVALID_ARG") naming the first bad field, and ERR_RDMA_UNAVAILABLE
// for NVMe/RDMA without rdma-core.
void validate(const TransportAddress& a);
void validate(const ControllerOptions& o);

}  // namespace rdmagate::host
