// One NVMe/TCP byte stream, for either side: a non-blocking socket on a reactor and the
// PDU framing in both directions (header staging, validation, header and data digests,
// PDO padding, TermReq), and TLS when the connection has it. What a PDU means is the
// owner's business: the host's TcpConnection, the target's TcpQpair.
//
// Receive, with the receive pipe (SPDK's name; the default), reads the socket into a
// staging buffer and parses PDUs out of it, copying the small payloads it holds to the
// destination the owner names: one readv then serves many small PDUs, where a read per
// PDU costs more than the copy. A payload that has not arrived yet is read straight into
// its destination, and after a large payload the stream stages headers alone, so large
// transfers stay zero-copy. Without the pipe, every read stops at the end of a header and
// every payload lands in place: no CPU copy, one read per PDU.
//
// Send gathers queued PDUs (header, the owner's data, digest) into one sendmsg per burst,
// with partial sends resumed on EPOLLOUT (edge triggered: no epoll_ctl per blocked send).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "reactor/reactor.h"
#include "spec/tcp_pdu.h"
#include "tls/tls_session.h"
#include "util/wire_counters.h"

namespace rdmagate::tcp {

// An outgoing PDU. The header (with its digest and padding) is built in `hdr`, the data
// stays in the owner's memory. The owner (a request slot) must keep it and the data
// unchanged until Handler::on_sent.
struct TxPdu {
  // The largest header sent: a TermReq with all 128 bytes of error data; a C2HData
  // padded to the host's largest alignment (128 bytes) is shorter.
  static constexpr uint32_t kMaxHeader = spec::kTermReqMaxLen + spec::kTcpDigestLen;

  alignas(8) uint8_t hdr[kMaxHeader];
  uint32_t hdr_len = 0;
  const uint8_t* data = nullptr;
  uint32_t data_len = 0;
  uint8_t ddgst[spec::kTcpDigestLen];
  uint32_t ddgst_len = 0;
  uint32_t tag = 0;  // the owner's: which request this is
  // Send-queue state, the stream's.
  uint32_t sent = 0;
  bool queued = false;
  TxPdu* next = nullptr;

  uint32_t total() const { return hdr_len + data_len + ddgst_len; }
};

// What ICReq/ICResp settled, as far as framing goes.
struct StreamParams {
  bool hdgst = false;
  bool ddgst = false;
  uint8_t peer_pda = 0;  // the receiver's data alignment for the PDUs we send (0's based dwords)
};

// Why a stream closed itself; the owner turns it into its own error.
struct StreamEnd {
  enum class Kind : uint8_t {
    kSocketError,    // connect, send or receive failed: err is the errno
    kPeerClosed,     // end of stream
    kProtocolError,  // the peer sent something invalid; we sent a TermReq (if we could)
    kTermReq,        // the peer terminated the connection
    kTlsError,       // the TLS handshake failed, or a record did not decrypt
  };
  Kind kind;
  int err;
  std::string what;  // a sentence that names the peer
};

class PduStream {
 public:
  // Called on the reactor thread. A handler may close or fail the stream from any
  // callback, but not destroy it (the owner's keep-alive covers that, see open()).
  class Handler {
   public:
    virtual ~Handler() = default;
    // A connect started by open(connecting) finished (with TLS: and its handshake); ICReq
    // goes next.
    virtual void on_connected() {}
    // The TLS handshake is done (a TLS stream only); before any PDU.
    virtual void on_secured(const tls::TlsSession&) {}
    // A whole header, checked: its common header and fields, its header digest, and its
    // place in the handshake (IC PDUs before established(), none after). `hdr` holds the
    // header; a PDU with data (data_len > 0) may name where the data goes with
    // receive_data(), or it is dropped. TermReqs end the stream and never come here.
    virtual void on_pdu(const uint8_t* hdr, uint32_t data_len) = 0;
    // The data of the last on_pdu is in (only where it had some). digest_ok is false
    // when its data digest did not match; dropped data is not checked.
    virtual void on_pdu_data(bool digest_ok) = 0;
    virtual void on_sent(TxPdu& pdu) = 0;
    // End of one burst of socket events: what the burst queued has been flushed.
    virtual void on_burst_end() {}
    // The stream closed itself; no callback follows. Not called for close().
    virtual void on_end(const StreamEnd& end) = 0;
  };

  // `receives`: who sends the PDUs this side receives; `max_data`: the most data one
  // received PDU may carry; `peer_role`: "the controller" or "the host", for messages.
  PduStream(Reactor& reactor, Handler& handler, util::WireCounters& counters, spec::Direction receives,
            uint32_t max_data, const char* peer_role);
  ~PduStream();  // closes without callbacks; reactor thread only
  PduStream(const PduStream&) = delete;
  PduStream& operator=(const PduStream&) = delete;

  // Takes the socket and registers it with the reactor (which may throw util::Error).
  // `connecting`: a non-blocking connect is in progress; on_connected or on_end follows.
  // `keep_alive` is held by the reactor's registration, so the owner outlives any
  // callback that ends in close(). With `tls` (made for this socket), the PDUs go over TLS
  // once its handshake is done.
  void open(int fd, std::string peer, bool connecting, bool recv_pipe, std::shared_ptr<void> keep_alive = nullptr,
            std::unique_ptr<tls::TlsSession> tls = nullptr);
  bool is_open() const { return fd_ >= 0; }
  bool connecting() const { return connecting_; }
  const std::string& peer() const { return peer_; }

  // ICReq/ICResp is done: from now on PDUs are framed and checked with `params`.
  void establish(const StreamParams& params);
  bool established() const { return established_; }
  const StreamParams& params() const { return params_; }

  // Fills in the common header of `pdu`, whose type-specific fields the caller has
  // written to pdu.hdr already, with its header digest, padding and data digest.
  void frame(TxPdu& pdu, uint8_t type, uint8_t flags, const uint8_t* data, uint32_t len) const;
  // Queues `pdu`; it goes out on the next flush(), which the stream also runs at the end
  // of each burst of socket events (in_burst() tells whether one is running).
  void send(TxPdu& pdu);
  // Frames and queues an ICReq or ICResp from its header bytes; no on_sent follows.
  void send_handshake(const void* pdu, uint8_t type);
  void flush();
  bool in_burst() const { return in_burst_; }

  // From on_pdu only: the data of this PDU goes to `dst` (data_len bytes).
  void receive_data(uint8_t* dst) { data_dst_ = dst; }
  // Part of a PDU is in and the rest is not.
  bool mid_pdu() const { return in_payload_ || hdr_have_ > 0; }

  // Sends a TermReq for the header last received (when our own stream is between PDUs),
  // then closes and reports kProtocolError with `what`.
  void protocol_error(spec::PduError error, const std::string& what);
  // Closes and reports `end`.
  void fail(const StreamEnd& end);
  // Closes without reporting.
  void close();

 private:
  enum class Payload : uint8_t { kData, kTermReq };
  struct Segment {
    uint8_t* p;  // nullptr: bytes to drop
    uint32_t len;
  };

  void on_events(uint32_t events);
  bool poll_receive();  // the reactor's FdPoll: on_events(EPOLLIN) that tells whether it read
  void on_connect_done();
  // Steps the TLS handshake; true once it is done and the stream open.
  bool advance_tls();
  ssize_t read_socket(iovec* iov, int n);
  void send_queued();
  // `hangup`: the peer closed or reset as well, so read on to the end of the stream.
  void receive(bool hangup);
  // Moves staged bytes into the header or payload being received, handling each PDU as
  // it completes; stops when the staging buffer is empty or the stream closed.
  void consume_staged();
  void start_header();
  void on_header();
  void start_payload(Payload kind, uint32_t data_len);
  void on_payload_done();
  StreamEnd socket_error(const char* what, int err) const;
  StreamEnd tls_error() const;

  Reactor& reactor_;
  Handler& handler_;
  util::WireCounters& counters_;
  const spec::Direction receives_;
  const uint32_t max_data_;
  const char* const peer_role_;
  const uint32_t header_read_;  // bytes staged for a header when payloads are read in place
  int fd_ = -1;
  std::string peer_;
  std::unique_ptr<tls::TlsSession> tls_;
  bool connected_pending_ = false;  // a TLS client: on_connected waits for the handshake
  bool connecting_ = false;
  bool established_ = false;
  bool recv_pipe_ = true;
  bool in_burst_ = false;
  StreamParams params_;

  // Receive: a header, then (data-carrying PDUs, TermReqs) a payload of up to three
  // segments: padding, data, data digest.
  alignas(8) uint8_t hdr_[256];
  uint32_t hdr_have_ = 0, hdr_need_ = 0;
  bool common_checked_ = false;  // hdr_'s common header passed; hdr_need_ is its whole header
  uint32_t hdr_len_ = 0;  // of the last whole header, which a TermReq echoes
  bool in_payload_ = false;
  Payload payload_ = Payload::kData;
  Segment seg_[3];
  uint32_t nseg_ = 0, cur_seg_ = 0, seg_off_ = 0;
  uint32_t data_seg_ = 0;   // which segment is the data
  uint32_t data_len_ = 0;   // of the payload being (or last) received
  uint8_t* data_dst_ = nullptr;
  // Staged socket bytes not yet consumed: [rx_head_, rx_tail_) of rx_.
  static constexpr uint32_t kRxStaging = 32 * 1024;
  alignas(64) uint8_t rx_[kRxStaging];
  uint32_t rx_head_ = 0, rx_tail_ = 0;
  uint8_t pad_[256];  // PDO padding is read here and dropped
  uint8_t rx_ddgst_[spec::kTcpDigestLen];

  // Send queue, in wire order.
  TxPdu* tx_head_ = nullptr;
  TxPdu* tx_tail_ = nullptr;
  bool flushing_ = false;  // a handler's on_sent may queue more; the running flush sends it
  TxPdu handshake_;        // ICReq or ICResp
};

}  // namespace rdmagate::tcp
