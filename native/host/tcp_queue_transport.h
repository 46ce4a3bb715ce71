// NVMe/TCP under a host queue pair: each command is a CapsuleCmd PDU (with its data when
// it fits in the capsule), write data follows each R2T as H2CData PDUs, read data lands
// from C2HData straight in the caller's buffer, and a CapsuleResp (or a C2HData with
// SUCCESS) ends the command. One TcpConnection per connect.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "host/queue_transport.h"
#include "host/tcp_connection.h"
#include "reactor/reactor.h"

namespace rdmagate::host {

class TcpQueueTransport final : public QueueTransport, private TcpConnection::Handler {
 public:
  TcpQueueTransport(Reactor& reactor, QueueEndpoint endpoint, QueueTransport::Handler& handler,
                    TransportCounters& counters);
  ~TcpQueueTransport() override;

  void connect(const TransportAddress& to, uint16_t cntlid) override;
  void enable_incapsule(uint32_t max) override { incapsule_max_ = max; }
  uint32_t incapsule_capacity() const override { return UINT32_MAX; }  // IOCCSZ alone limits it
  uint32_t send(const TransportCommand& cmd) override;
  void flush() override;
  void fail(const Failure& failure) override;
  void close() override;
  void when_released(std::function<void()> done) override { done(); }  // sockets close at once
  const TcpParams& tcp_params() const override;

 private:
  // The wire state of command `cid`.
  struct Slot {
    bool active = false;
    bool incapsule = false;
    bool cqe_pending = false;  // the CapsuleResp came while our PDU was still queued
    spec::DataDirection dir = spec::kXferNone;
    uint16_t ttag = 0;
    uint8_t* data = nullptr;
    uint32_t length = 0;
    uint32_t h2c_offset = 0;  // data sent so far
    uint32_t r2t_end = 0;     // end of the data the current R2T asks for
    uint32_t c2h_received = 0;
    uint32_t status_override = 0;  // a data digest error turns success into this
    spec::CompletionEntry cqe{};
    TxPdu tx;
  };

  // TcpConnection::Handler
  void on_established() override;
  void on_capsule_resp(const spec::CompletionEntry& cqe) override;
  uint8_t* on_c2h_data(const spec::DataPdu& pdu) override;
  void on_c2h_data_done(const spec::DataPdu& pdu, bool digest_ok) override;
  void on_r2t(const spec::R2tPdu& pdu) override;
  void on_sent(TxPdu& pdu) override;
  void on_burst_end() override;
  void on_failed(const Failure& failure) override;

  Slot* active(uint16_t cid);
  void send_h2c(Slot& s);
  void complete(uint16_t cid, uint32_t status, const spec::CompletionEntry& cqe);

  Reactor& reactor_;
  const QueueEndpoint endpoint_;
  QueueTransport::Handler& handler_;
  TransportCounters& counters_;
  uint32_t incapsule_max_ = 0;
  std::unique_ptr<TcpConnection> conn_;
  std::vector<Slot> slots_;  // by cid
};

}  // namespace rdmagate::host
