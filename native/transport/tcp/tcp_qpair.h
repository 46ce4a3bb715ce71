// The target side of one NVMe/TCP connection: ICReq/ICResp, what each host PDU means for
// a request (command capsules, H2CData), R2T for host data, C2HData and CapsuleResp for
// the answers, and the connection's deadlines. PDUs are framed, checked and moved by the
// PduStream that the host uses too. Lives on one reactor.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "spec/tcp_pdu.h"
#include "target/qpair.h"
#include "tcp/pdu_stream.h"

namespace rdmagate::tcp {

class TcpQpair final : public target::Qpair, private PduStream::Handler {
 public:
  // On `reactor`'s thread: takes ownership of the connected socket, and holds `admission`
  // (the listener's count of this connection) until the socket is closed. With `tls`, the
  // host must complete a TLS handshake with a PSK the target has before ICReq.
  static void start(target::TransportContext& context, Reactor& reactor, int fd, uint16_t portid, bool tls,
                    std::shared_ptr<void> admission);
  ~TcpQpair() override;

  void transfer_in(target::Request* req) override;
  void send_response(target::Request* req) override;
  void disconnect() override;
  const char* transport_name() const override { return "tcp"; }
  spec::DataSglKind data_sgl_kind() const override { return spec::DataSglKind::TcpTransport; }
  std::string peer_address() const override { return stream_.peer(); }
  const target::SecureChannel* secure_channel() const override { return secure_ ? &*secure_ : nullptr; }

 private:
  struct TcpRequest : target::Request {
    TxPdu data_pdu;  // R2T or C2HData
    TxPdu rsp_pdu;   // CapsuleResp
    TxPdu* last_pdu = nullptr;  // whose sending completes the request
    uint32_t h2c_received;
    bool digest_error;
  };

  TcpQpair(target::TransportContext& context, Reactor& reactor, uint16_t portid, std::shared_ptr<void> admission);
  // PduStream::Handler
  void on_pdu(const uint8_t* hdr, uint32_t data_len) override;
  void on_pdu_data(bool digest_ok) override;
  void on_sent(TxPdu& pdu) override;
  void on_burst_end() override;
  void on_end(const StreamEnd& end) override;
  void on_secured(const tls::TlsSession& session) override;

  void handle_ic_req(const uint8_t* hdr);
  void handle_capsule(const uint8_t* hdr, uint32_t data_len);
  void handle_h2c_data(const uint8_t* hdr);
  void queue(TxPdu& pdu);
  // Closes a connection that missed a deadline (TargetOptions::deadlines), then checks
  // again a while later.
  void watch_deadlines();
  bool missed_deadline(uint64_t now_us) const;
  void close_connection();

  PduStream stream_;
  std::optional<target::SecureChannel> secure_;
  std::shared_ptr<void> admission_;
  const uint64_t accepted_us_;
  uint64_t pdu_started_us_ = 0;  // when the PDU now half received was first seen; 0: none
  Reactor::TimerId deadline_timer_ = 0;
  bool closed_ = false;
  bool flush_deferred_ = false;
  uint8_t hpda_ = 0;  // the host's data alignment
  const uint32_t maxh2cdata_;

  std::vector<TcpRequest> requests_;
  std::vector<uint16_t> free_slots_;
  // The PDU whose data is being received.
  TcpRequest* data_req_ = nullptr;
  bool data_is_capsule_ = false;
  uint32_t data_len_ = 0;
};

}  // namespace rdmagate::tcp
