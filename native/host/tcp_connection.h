// One NVMe/TCP connection seen from the host: a non-blocking socket on a reactor, the
// ICReq/ICResp exchange, and PDU framing in both directions (headers, padding, digests,
// validation). It knows PDUs, not commands: what a PDU means for a request is the
// Handler's business (queue_pair).
//
// Receive, with the receive pipe (SPDK's name; the default), reads the socket into a
// staging buffer and parses PDUs out of it, copying the small payloads it holds to the
// destination the Handler names: one readv then serves many small PDUs, where a read per
// PDU costs more than the copy. A payload that has not arrived yet is read straight into
// its destination, and after a large C2HData the connection stages headers alone, so
// large transfers stay zero-copy. Without the pipe, every read stops at the end of a
// header and every payload lands in place: no CPU copy, one read per PDU. Send gathers
// queued PDUs (header, caller's data, digest) into one sendmsg per burst.
#pragma once

#include <cstdint>
#include <string>

#include "host/failure.h"
#include "host/queue_transport.h"
#include "reactor/reactor.h"
#include "spec/tcp_pdu.h"

namespace rdmagate::host {

// An outgoing PDU. The header (with its digest and padding) is built in `hdr`, the data
// stays in the caller's memory. Owned by the caller (a request slot), which must keep it
// and the data unchanged until Handler::on_sent.
struct TxPdu {
  // The largest header we send: an H2CTermReq with all 128 bytes of error data.
  static constexpr uint32_t kMaxHeader = spec::kTermReqMaxLen + spec::kTcpDigestLen;

  alignas(8) uint8_t hdr[kMaxHeader];
  uint32_t hdr_len = 0;
  const uint8_t* data = nullptr;
  uint32_t data_len = 0;
  uint8_t ddgst[spec::kTcpDigestLen];
  uint32_t ddgst_len = 0;
  uint32_t tag = 0;  // the owner's: which request this is
  // Send-queue state, the connection's.
  uint32_t sent = 0;
  bool queued = false;
  TxPdu* next = nullptr;

  uint32_t total() const { return hdr_len + data_len + ddgst_len; }
};

class TcpConnection {
 public:
  // Called on the reactor thread. A handler may fail the connection from any callback;
  // it must not destroy the connection from one.
  class Handler {
   public:
    virtual ~Handler() = default;
    virtual void on_established() = 0;
    virtual void on_capsule_resp(const spec::CompletionEntry& cqe) = 0;
    // Where the payload of `pdu` goes (pdu.datal bytes), or nullptr after failing the
    // connection with protocol_error().
    virtual uint8_t* on_c2h_data(const spec::DataPdu& pdu) = 0;
    virtual void on_c2h_data_done(const spec::DataPdu& pdu, bool digest_ok) = 0;
    virtual void on_r2t(const spec::R2tPdu& pdu) = 0;
    virtual void on_sent(TxPdu& pdu) = 0;
    // End of one burst of socket events: the moment to hand completions on.
    virtual void on_burst_end() = 0;
    // The connection is closed; no callback follows. Called once.
    virtual void on_failed(const Failure& failure) = 0;
  };

  TcpConnection(Reactor& reactor, Handler& handler, TransportCounters& counters);
  ~TcpConnection();  // closes without callbacks; reactor thread only
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  // Reactor thread. Starts connecting; on_established or on_failed follows.
  void connect(const std::string& traddr, uint16_t port, bool hdgst, bool ddgst, bool recv_pipe);
  bool open() const { return fd_ >= 0; }
  const TcpParams& params() const { return params_; }

  // Fills in the common header of `pdu`, whose type-specific header fields the caller
  // has written to pdu.hdr already, with its header digest, padding and data digest.
  void frame(TxPdu& pdu, uint8_t type, uint8_t flags, const uint8_t* data, uint32_t len) const;
  // Queues `pdu`; it goes out on the next flush(), which the connection also runs at
  // the end of each burst of socket events.
  void send(TxPdu& pdu);
  void flush();

  // Closes with `failure` and reports it.
  void fail(const Failure& failure);
  // Sends an H2CTermReq for the PDU in the header buffer (when the stream is between
  // PDUs), then fails with ERR_NVME_TRANSPORT.
  void protocol_error(spec::PduError error, const std::string& what);
  // Closes without reporting.
  void close();

  // Host sockets open in this process, for leak checks.
  static uint64_t open_sockets();

 private:
  enum class State : uint8_t { kIdle, kConnecting, kIcReq, kEstablished, kClosed };
  enum class Payload : uint8_t { kC2HData, kTermReq };
  struct Segment {
    uint8_t* p;
    uint32_t len;
  };

  void on_events(uint32_t events);
  bool poll_receive();  // the reactor's FdPoll: on_events(EPOLLIN) that tells whether it read
  void on_connect_done();
  void send_icreq();
  void send_queued();
  // `hangup`: the peer closed or reset as well, so read on to the end of the stream.
  void receive(bool hangup);
  // Moves staged bytes into the header or payload being received, handling each PDU
  // as it completes; stops when the staging buffer is empty or the connection closed.
  void consume_staged();
  void start_header();
  void on_header();
  void on_icresp();
  void start_payload(Payload kind);
  void on_payload_done();
  Failure socket_failure(const char* what, int err) const;

  Reactor& reactor_;
  Handler& handler_;
  TransportCounters& counters_;
  int fd_ = -1;
  State state_ = State::kIdle;
  std::string peer_;
  bool want_hdgst_ = false, want_ddgst_ = false;
  TcpParams params_;

  // Receive: a header, then (C2HData, TermReq) a payload of up to three segments.
  alignas(8) uint8_t hdr_[256];
  uint32_t hdr_have_ = 0, hdr_need_ = 0;
  bool in_payload_ = false;
  Payload payload_ = Payload::kC2HData;
  Segment seg_[3];
  uint32_t nseg_ = 0, cur_seg_ = 0, seg_off_ = 0;
  uint32_t data_seg_ = 0;  // which segment is the C2HData's data
  spec::DataPdu c2h_{};  // the C2HData whose payload is being received
  // Staged socket bytes not yet consumed: [rx_head_, rx_tail_) of rx_.
  static constexpr uint32_t kRxStaging = 32 * 1024;
  alignas(64) uint8_t rx_[kRxStaging];
  uint32_t rx_head_ = 0, rx_tail_ = 0;
  bool recv_pipe_ = true;
  uint8_t pad_[256];        // PDO padding is read here and dropped
  uint8_t rx_ddgst_[spec::kTcpDigestLen];

  // Send queue, in wire order.
  TxPdu* tx_head_ = nullptr;
  TxPdu* tx_tail_ = nullptr;
  bool flushing_ = false;  // a handler's on_sent may queue more; the running flush sends it
  TxPdu own_;  // ICReq or H2CTermReq
};

}  // namespace rdmagate::host
