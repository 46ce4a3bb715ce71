// The target side of one NVMe/TCP connection: ICReq/ICResp, the PDU receive state
// machine, R2T and H2CData for host data, C2HData and CapsuleResp for the answers, and
// C2HTermReq for anything malformed. Lives on one reactor.
#pragma once

#include <sys/uio.h>

#include <deque>
#include <memory>
#include <vector>

#include "spec/tcp_pdu.h"
#include "target/qpair.h"

namespace rdmagate::tcp {

class TcpQpair final : public target::Qpair {
 public:
  // On `reactor`'s thread: takes ownership of the connected socket, and holds `admission`
  // (the listener's count of this connection) until the socket is closed.
  static void start(target::Target& target, Reactor& reactor, int fd, uint16_t portid,
                    std::shared_ptr<void> admission);
  ~TcpQpair() override;

  void transfer_in(target::Request* req) override;
  void send_response(target::Request* req) override;
  void disconnect() override;
  const char* transport_name() const override { return "tcp"; }
  spec::DataSglKind data_sgl_kind() const override { return spec::DataSglKind::TcpTransport; }
  std::string peer_address() const override { return peer_; }

 private:
  struct TcpRequest : target::Request {
    uint8_t data_hdr[128 + spec::kTcpDigestLen];  // C2HData or R2T header, digest, padding
    uint8_t rsp_pdu[sizeof(spec::CapsuleRespPdu) + spec::kTcpDigestLen];
    uint32_t data_digest;
    uint32_t h2c_received;
    bool digest_error;
  };
  enum class Rx { kHeader, kPadding, kData, kDataDigest };
  struct Out {
    iovec iov[3];
    int iovcnt;
    TcpRequest* completes;  // its response is fully sent with this item
  };

  TcpQpair(target::Target& target, Reactor& reactor, int fd, uint16_t portid, std::shared_ptr<void> admission);
  void on_events(uint32_t events);
  // Closes a connection that missed a deadline (TargetOptions::deadlines), then checks
  // again a while later.
  void watch_deadlines();
  bool missed_deadline(uint64_t now_us) const;
  bool poll_receive();  // the reactor's FdPoll: on_events(EPOLLIN) that tells whether it read
  void receive();
  void receive_pdus();
  bool fill(size_t bytes);
  size_t read_into(uint8_t* dst, size_t len);
  bool handle_header();
  void handle_ic_req();
  void handle_capsule();
  void handle_h2c_data();
  void expect_data(TcpRequest* req, uint8_t* dst, uint32_t len);
  void data_done();
  void fatal(spec::PduError error, const uint8_t* pdu, size_t len);
  void queue(const Out& out);
  void flush();
  void close_connection();
  TcpRequest* request_for_slot(uint16_t slot);

  int fd_;
  std::string peer_;
  std::shared_ptr<void> admission_;
  const uint64_t accepted_us_;
  uint64_t pdu_started_us_ = 0;  // when the PDU now half received was first seen; 0: none
  Reactor::TimerId deadline_timer_ = 0;
  bool closed_ = false;
  bool closing_ = false;  // a TermReq is queued; read nothing more
  bool in_receive_ = false;
  bool want_write_ = false;
  bool flush_deferred_ = false;

  // Negotiated by ICReq/ICResp.
  bool ic_done_ = false;
  bool hdgst_ = false, ddgst_ = false;
  uint8_t hpda_ = 0;
  uint32_t maxh2cdata_;

  std::vector<TcpRequest> requests_;
  std::vector<uint16_t> free_slots_;

  // Receive state. Headers are staged in rbuf_; data goes straight to its buffer.
  std::vector<uint8_t> rbuf_;
  size_t rpos_ = 0, rlen_ = 0;
  // A recv returned less than it asked for: the socket is empty until the next EPOLLIN
  // (level-triggered), so asking again would only cost a syscall for EAGAIN.
  bool drained_ = false;
  uint64_t bytes_received_ = 0;
  Rx rx_ = Rx::kHeader;
  uint8_t hdr_[256];
  spec::CommonHeader ch_{};
  TcpRequest* data_req_ = nullptr;
  bool data_is_capsule_ = false;
  uint8_t* data_dst_ = nullptr;
  uint32_t data_len_ = 0, data_got_ = 0, pad_left_ = 0;
  uint8_t ddgst_buf_[4];
  uint32_t ddgst_got_ = 0;

  std::deque<Out> out_;
};

}  // namespace rdmagate::tcp
