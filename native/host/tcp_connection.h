// One NVMe/TCP connection seen from the host: the socket's connect, the ICReq/ICResp
// exchange, and what each controller PDU means for the Handler (queue_pair), over the
// PduStream that frames, checks and moves PDUs for both sides.
#pragma once

#include <cstdint>
#include <string>

#include "host/failure.h"
#include "host/queue_transport.h"
#include "reactor/reactor.h"
#include "spec/tcp_pdu.h"
#include "tcp/pdu_stream.h"

namespace rdmagate::host {

using tcp::TxPdu;

class TcpConnection : private tcp::PduStream::Handler {
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
  ~TcpConnection() override;  // closes without callbacks; reactor thread only
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  // Reactor thread. Starts connecting (with `tls`: then a TLS handshake with that PSK);
  // on_established or on_failed follows.
  void connect(const std::string& traddr, uint16_t port, bool hdgst, bool ddgst, bool recv_pipe,
               const tls::TlsPsk* tls = nullptr);
  bool open() const { return stream_.is_open(); }
  const TcpParams& params() const { return params_; }

  // See PduStream: framing with the negotiated digests and the controller's alignment.
  void frame(TxPdu& pdu, uint8_t type, uint8_t flags, const uint8_t* data, uint32_t len) const {
    stream_.frame(pdu, type, flags, data, len);
  }
  // Queues `pdu`; it goes out on the next flush(), which the connection also runs at
  // the end of each burst of socket events.
  void send(TxPdu& pdu) { stream_.send(pdu); }
  void flush() { stream_.flush(); }

  // Closes with `failure` and reports it.
  void fail(const Failure& failure);
  // Sends an H2CTermReq for the PDU last received (when the stream is between PDUs),
  // then fails with ERR_NVME_TRANSPORT.
  void protocol_error(spec::PduError error, const std::string& what) { stream_.protocol_error(error, what); }
  // Closes without reporting.
  void close();

  // Host sockets open in this process, for leak checks.
  static uint64_t open_sockets();

 private:
  void on_connected() override;
  void on_pdu(const uint8_t* hdr, uint32_t data_len) override;
  void on_pdu_data(bool digest_ok) override;
  void on_sent(TxPdu& pdu) override { handler_.on_sent(pdu); }
  void on_burst_end() override { handler_.on_burst_end(); }
  void on_end(const tcp::StreamEnd& end) override;
  void on_icresp(const uint8_t* hdr);
  void closed();  // the socket is gone: counts it

  Handler& handler_;
  tcp::PduStream stream_;
  bool counted_ = false;  // in open_sockets()
  bool want_hdgst_ = false, want_ddgst_ = false;
  TcpParams params_;
  spec::DataPdu c2h_{};  // the C2HData whose data is being received
};

}  // namespace rdmagate::host
